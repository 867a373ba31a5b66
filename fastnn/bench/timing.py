"""Timing one benchmark case: torch.nn against fastnn, interleaved: with torch.utils.benchmark on
the CPU, with CUDA events on a GPU (after warm-up; each block is bracketed by events recorded on
the current stream, and its end event is waited for before the next block is timed).

Before a fastnn module is timed, one forward (and forward+backward) runs under an operator
recorder: a module that reaches no fastnn kernel, or that also runs torch's own heavy kernels
(mm, convolution, lstm, ...), is reported as such instead of being timed as "fastnn".
"""
import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import torch
from torch.utils import benchmark

from ..convert import recorded_ops
from .case import first_tensor

# aten operators that do the work of a layer (a fastnn layer must not call them).
HEAVY_ATEN = re.compile(r"^aten::(_?\w*mm\w*|\w*conv\w*|\w*lstm\w*|\w*gru\w*|\w*rnn\w*|linear\w*|matmul|mv|addmv|"
                        r"dot|vdot|einsum|tensordot)$")


@dataclass
class KernelCheck:
    """Which kernels a module's pass ran: 'fastnn', 'mixed' (fastnn and heavy aten ops),
    'fallback' (no fastnn op) or 'error' (it raised)."""
    status: str
    fastnn_ops: List[str] = field(default_factory=list)
    aten_heavy: List[str] = field(default_factory=list)
    error: Optional[str] = None

    def describe(self) -> str:
        if self.status == "error":
            return f"unsupported: {self.error}"
        if self.status == "fallback":
            return f"NOT fastnn: ran {', '.join(self.aten_heavy) or 'no fastnn op'}"
        if self.status == "mixed":
            return f"partly torch: also {', '.join(self.aten_heavy)}"
        return ", ".join(self.fastnn_ops)


def check_kernels(fn: Callable[[], object]) -> KernelCheck:
    try:
        ops, _ = recorded_ops(fn)
    except Exception as exc:
        return KernelCheck("error", error=str(exc).strip().splitlines()[0][:160])
    fast = sorted({op for op in ops if op.startswith("fastnn::")})
    heavy = sorted({op for op in ops if HEAVY_ATEN.match(op)})
    status = "fallback" if not fast else ("mixed" if heavy else "fastnn")
    return KernelCheck(status, fast, heavy)


def _tensors(obj):
    """The tensors in a (nested) tuple/list of inputs, e.g. (x, (h0, c0)) for an LSTM."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    return []


def forward_fn(module: torch.nn.Module, inputs: Tuple[torch.Tensor, ...]) -> Callable[[], None]:
    def run():
        with torch.no_grad():
            module(*inputs)
    return run


def forward_backward_fn(module: torch.nn.Module, inputs: Tuple[torch.Tensor, ...],
                        grad: torch.Tensor) -> Callable[[], None]:
    """One training step's layer work: forward, then backward with a fixed output gradient.
    Gradients are reset to None first (as optimizer.zero_grad() does), so none accumulate."""
    leaves = [p for p in module.parameters() if p.requires_grad] + [t for t in _tensors(inputs) if t.is_leaf]

    def run():
        for t in leaves:
            t.grad = None
        first_tensor(module(*inputs)).backward(grad)
    return run


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _runs_per_block(fn: Callable[[], None], device: torch.device, block_s: float) -> int:
    """How many calls make one timed block of about block_s seconds."""
    fn()
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    once = max(time.perf_counter() - start, 1e-7)
    return int(min(max(1, block_s / once), 100_000))


@dataclass
class Timing:
    median_s: float
    iqr_s: float           # spread of the block times (interquartile range)
    samples: List[float]


CUDA_WARMUP_CALLS = 3  # before calibrating: cuBLAS/cuDNN plan selection, allocator growth, lazy loading


class _CudaEventTimer:
    """Times `number` back-to-back calls of fn between two CUDA events on the current stream;
    .timeit(number).mean is the per-call time in seconds (the torch.utils.benchmark interface)."""

    def __init__(self, fn: Callable[[], None]):
        self.fn = fn

    def timeit(self, number: int):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()  # nothing queued from before the block
        start.record()
        for _ in range(number):
            self.fn()
        end.record()
        end.synchronize()
        return _Measurement(start.elapsed_time(end) / 1e3 / number)


@dataclass
class _Measurement:
    mean: float


def _cuda_runs_per_block(fn: Callable[[], None], block_s: float) -> int:
    for _ in range(CUDA_WARMUP_CALLS):
        fn()
    torch.cuda.synchronize()
    once = max(_CudaEventTimer(fn).timeit(2).mean, 1e-7)
    return int(min(max(1, block_s / once), 10_000))


def time_interleaved(fns: List[Callable[[], None]], device: torch.device, repeats: int,
                     block_s: float) -> List[Timing]:
    """Times each callable in repeats blocks, alternating the callables block by block (and the order
    from one round to the next) so machine noise hits them alike; per-call medians over blocks."""
    if device.type == "cuda":
        timers = [_CudaEventTimer(fn) for fn in fns]
        numbers = [_cuda_runs_per_block(fn, block_s) for fn in fns]
        return _interleave(timers, numbers, repeats)
    threads = torch.get_num_threads()
    timers, numbers = [], []
    for fn in fns:
        numbers.append(_runs_per_block(fn, device, block_s))
        # Timer defaults to one thread: time with the threads the user asked for.
        timers.append(benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads))
    return _interleave(timers, numbers, repeats)


def _interleave(timers, numbers: List[int], repeats: int) -> List[Timing]:
    samples: List[List[float]] = [[] for _ in timers]
    for r in range(repeats):
        order = range(len(timers)) if r % 2 == 0 else reversed(range(len(timers)))
        for i in order:
            samples[i].append(timers[i].timeit(numbers[i]).mean)
    out = []
    for s in samples:
        q = statistics.quantiles(s, n=4) if len(s) >= 2 else [s[0], s[0], s[0]]
        out.append(Timing(statistics.median(s), q[2] - q[0], s))
    return out
