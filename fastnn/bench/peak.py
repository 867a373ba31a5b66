"""The machine's peak FLOP rate, the denominator of "% of peak".

A large torch.mm would measure MKL, not the hardware. On the CPU the peak is measured at the
start of the run with fastnn's own FMA loop (fastnn._C.fma_peak_gflops: independent FMA chains
on every thread torch uses, with the widest ISA fastnn's kernels use). float64 runs half the
lanes per FMA. On a GPU the reference is the measured torch.matmul rate (cuBLAS) of an
8192 x 8192 x 8192 product in the run's dtype, after warm-up, timed with CUDA events: the issue
states its bar for large GEMMs against the GPU's measured bf16 matmul rate, not the data-sheet
peak. To fix the number, pass --peak-gflops. A machine busy with other work measures low:
benchmark on a quiet machine.
"""
from dataclasses import dataclass
from typing import Optional

import torch

import fastnn._C as _C


@dataclass
class Peak:
    gflops: Optional[float]  # None: unknown, "% of peak" is left blank
    source: str


def peak_gflops(device: torch.device, dtype: torch.dtype, threads: int, override: Optional[float],
                cpu_isa: str, seconds: float = 0.3) -> Peak:
    if override is not None:
        return Peak(override, f"--peak-gflops {override:g} (given)")
    if device.type == "cuda":
        return cuda_matmul_peak(device, dtype)
    if device.type != "cpu":
        return Peak(None, "unknown for this device: pass --peak-gflops to get % of peak")
    if dtype not in (torch.float32, torch.float64):
        return Peak(None, f"no measured peak for {dtype}: pass --peak-gflops to get % of peak")
    fp32 = _C.fma_peak_gflops(seconds)
    value, what = (fp32, "fp32") if dtype == torch.float32 else (fp32 / 2, "fp64 (half the fp32 lanes)")
    return Peak(value, f"{value:.0f} GFLOP/s {what}, measured now: {cpu_isa} FMA loop on {threads} thread(s)")


def cuda_matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 8192, calls: int = 10,
                     repeats: int = 5) -> Peak:
    """The measured torch.matmul rate on this GPU: n x n times n x n in `dtype` (with the current
    TF32 setting, which the benchmark pins off), `calls` back-to-back products between two CUDA
    events, the median over `repeats` such blocks after warm-up."""
    import statistics

    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    with torch.cuda.device(device):
        for _ in range(3):
            torch.matmul(a, b, out=out)
        torch.cuda.synchronize()
        rates = []
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(calls):
                torch.matmul(a, b, out=out)
            end.record()
            end.synchronize()
            rates.append(2.0 * n ** 3 * calls / (start.elapsed_time(end) / 1e3) / 1e9)
    del a, b, out
    torch.cuda.empty_cache()
    value = statistics.median(rates)
    name = str(dtype).replace("torch.", "")
    tf32 = ""
    if dtype == torch.float32:
        tf32 = f", TF32 {'on' if torch.backends.cuda.matmul.allow_tf32 else 'off'}"
    return Peak(value, f"{value:.0f} GFLOP/s: measured torch.matmul rate, {name} {n}x{n}x{n}{tf32}, median of "
                       f"{repeats} x {calls} calls after warm-up (CUDA events) on {torch.cuda.get_device_name(device)}")
