"""Puts the C heap in the state of a process that has already freed a large tensor, before the CPU
cases are timed, so that torch.nn is timed at its best and the same way in every run.

torch's CPU tensors come from malloc. glibc serves a block above its mmap threshold (128 KiB at
start) with mmap and unmaps it on free; a smaller one comes from the heap, whose top goes back to
the kernel once more than the trim threshold lies free. Both thresholds rise as the process frees
large blocks (to the largest mmapped block freed, at most 32 MiB, and twice that). Until then a
tensor allocated on every call page-faults on every 4 KiB of it, every call, so torch.nn's time
depended on what the process had freed before. Measured on the 2-core VM:
- torch.nn.LSTMCell 64,512->512 forward+backward: 7.5-9.4 ms with 1400-2000 page faults per call
  in a fresh process, 4.7-5.4 ms with 20-30 after one 16 MiB tensor had been freed;
- torch's depthwise 3x3 convolution forward, 8x128x56x56: 9.2 ms with 5800 faults per call fresh,
  1.8 ms with 30 settled.
A training process usually has freed large tensors, so the benchmark times torch in that state;
--fresh-heap skips this. (fastnn's outputs come from its own cache, csrc/cpu/output_cache.h, and
do not depend on it.)
"""
import torch

# Just under glibc's largest dynamic mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX, 32 MiB on 64-bit),
# so that freeing it raises the threshold as far as it goes.
SETTLE_BYTES = 31 << 20
FRESH_HEAP_NOTE = ("C heap NOT settled (--fresh-heap): torch.nn may page-fault on its per-call blocks, "
                   "as in a fresh process")


def settle_c_heap() -> str:
    """Allocates and frees one SETTLE_BYTES tensor (touched, so that malloc really maps it);
    returns a line for the report."""
    block = torch.empty(SETTLE_BYTES, dtype=torch.uint8)
    block.fill_(0)
    del block
    return (f"C heap settled before timing: one {SETTLE_BYTES >> 20} MiB tensor allocated and freed, "
            f"as a training process would have (see fastnn/bench/allocator.py)")
