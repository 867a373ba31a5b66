"""The machine's peak FLOP rate, the denominator of "% of peak".

No measurement here: a large torch.mm would measure MKL, not the hardware. The default is the
fp32 FMA peak measured once on the project's machine (DESIGN.md: 527 GFLOP/s on 2 threads of a
2-core AVX-512 CPU, i.e. 263.5 per core), scaled by the threads used (up to the core count);
float64 runs half as many lanes per FMA. On another machine, pass --peak-gflops.
"""
import os
from dataclasses import dataclass
from typing import Optional

import torch

FP32_PEAK_2_THREADS_AVX512 = 527.0  # GFLOP/s, measured on the dev machine (DESIGN.md)


@dataclass
class Peak:
    gflops: Optional[float]  # None: unknown, "% of peak" is left blank
    source: str


def peak_gflops(device: torch.device, dtype: torch.dtype, threads: int, override: Optional[float],
                cpu_isa: str) -> Peak:
    if override is not None:
        return Peak(override, f"--peak-gflops {override:g} (given)")
    if device.type != "cpu":
        return Peak(None, "unknown for this device: pass --peak-gflops to get % of peak")
    if cpu_isa != "avx512":
        return Peak(None, f"no default for cpu_isa={cpu_isa}: pass --peak-gflops to get % of peak")
    cores = min(threads, os.cpu_count() or threads)
    per_core = FP32_PEAK_2_THREADS_AVX512 / 2
    if dtype == torch.float32:
        value, what = per_core * cores, "fp32"
    elif dtype == torch.float64:
        value, what = per_core * cores / 2, "fp64 (half the fp32 lanes)"
    else:
        return Peak(None, f"no default for {dtype}: pass --peak-gflops to get % of peak")
    return Peak(value, f"{value:g} GFLOP/s {what}: the fp32 FMA peak measured on the project's 2-core "
                       f"AVX-512 machine (527 GFLOP/s on 2 threads, DESIGN.md) scaled to {cores} "
                       f"thread(s); not measured now, pass --peak-gflops for another machine")
