"""The machine's peak FLOP rate, the denominator of "% of peak".

A large torch.mm would measure MKL, not the hardware. On the CPU the peak is measured at the
start of the run with fastnn's own FMA loop (fastnn._C.fma_peak_gflops: independent FMA chains
on every thread torch uses, with the widest ISA fastnn's kernels use). float64 runs half the
lanes per FMA. Elsewhere, or to fix the number, pass --peak-gflops. A machine busy with other
work measures low: benchmark on a quiet machine.
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
    if device.type != "cpu":
        return Peak(None, "unknown for this device: pass --peak-gflops to get % of peak")
    if dtype not in (torch.float32, torch.float64):
        return Peak(None, f"no measured peak for {dtype}: pass --peak-gflops to get % of peak")
    fp32 = _C.fma_peak_gflops(seconds)
    value, what = (fp32, "fp32") if dtype == torch.float32 else (fp32 / 2, "fp64 (half the fp32 lanes)")
    return Peak(value, f"{value:.0f} GFLOP/s {what}, measured now: {cpu_isa} FMA loop on {threads} thread(s)")
