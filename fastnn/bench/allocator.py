"""Puts the C heap in the state of a process that has already freed a large tensor, before the CPU
cases are timed, so that torch.nn is timed in its steady state and not in a fresh process's.

torch's CPU tensors come from malloc. glibc serves blocks above its mmap threshold (128 KiB at
start) with mmap and returns them to the kernel on free, so a tensor allocated on every call
page-faults on every 4 KiB of it, every call. The threshold rises to the size of the largest
mmapped block freed so far (up to 32 MiB), after which such blocks come from the heap and stay
mapped. Which state torch.nn's per-call gradients met therefore depended on what the process had
freed before: measured on the 2-core VM, torch.nn.LSTMCell 64,512->512 forward+backward took
7.5-9.4 ms with 1400-2000 page faults per call in a fresh process and 4.7-5.4 ms with 20-30
after one 16 MiB tensor had been freed. A training process frees large tensors all the time, so
the benchmark times torch in that state. (fastnn's outputs come from its own cache,
csrc/cpu/output_cache.h, and do not depend on it.)
"""
import torch

# Just under glibc's largest dynamic mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX, 32 MiB on 64-bit),
# so that freeing it raises the threshold as far as it goes.
SETTLE_BYTES = 31 << 20


def settle_c_heap() -> str:
    """Allocates and frees one SETTLE_BYTES tensor (touched, so that malloc really maps it);
    returns a line for the report."""
    block = torch.empty(SETTLE_BYTES, dtype=torch.uint8)
    block.fill_(0)
    del block
    return (f"C heap settled before timing: one {SETTLE_BYTES >> 20} MiB tensor allocated and freed, "
            f"as a training process would have (see fastnn/bench/allocator.py)")
