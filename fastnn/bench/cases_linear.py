"""Linear benchmark shapes. batch x in -> out (on the GPU: tokens x in -> out).

Also Linear followed by GELU: torch.nn runs nn.Linear then nn.GELU (two ops, the
output written and read again), fastnn one Linear(activation="gelu") with the GELU
in the GEMM epilogue and its derivative fused into the backward.

CPU (issue: CPU dense path) and CUDA (issue: CUDA kernels) have their own shapes; the GPU
cases carry the issue's bars: plain Linear forward geomean >= 0.9x torch, Linear+GELU
forward+backward >= 1.15x, and the large GEMMs (every dimension >= 4096) at >= 70% of the
measured torch.matmul rate (the "% of peak" on CUDA, see fastnn/bench/peak.py).
"""
import torch

import fastnn

from .case import Case

SHAPES = [(512, 784, 512), (128, 1024, 4096), (4096, 256, 256), (16, 2048, 2048), (1024, 1024, 1024)]
GELU_SHAPES = [(512, 784, 512), (1024, 1024, 1024)]
QUICK_SHAPES = [(64, 256, 256)]

# GPU suite (the shapes): LLM-style projections, one decode-sized batch (16 tokens), and
# the transformer MLP: up-projection 4096 -> 16384 with GELU, down-projection 16384 -> 4096 plain.
GPU_SHAPES = [(8192, 4096, 4096), (4096, 4096, 16384), (4096, 16384, 4096), (16, 4096, 4096),
              (8192, 8192, 8192), (8192, 16384, 4096)]
GPU_GELU_SHAPES = [(8192, 4096, 16384)]
GPU_QUICK_SHAPES = [(256, 1024, 1024)]
GPU_QUICK_GELU_SHAPES = [(256, 1024, 4096)]
GPU_BARS_PLAIN = {"forward": 0.9}
GPU_BARS_GELU = {"forward+backward": 1.15}
LARGE_GEMM_PEAK_BAR = 70.0  # % of the measured torch.matmul rate, forward, every dimension >= 4096


def _make(batch, fin, fout, activation="none"):
    def make(device, dtype):
        ref = torch.nn.Linear(fin, fout, device=device, dtype=dtype)
        fast = fastnn.Linear(fin, fout, device=device, dtype=dtype, activation=activation)
        fast.load_state_dict(ref.state_dict())
        if activation == "gelu":
            ref = torch.nn.Sequential(ref, torch.nn.GELU())
        x = torch.randn(batch, fin, device=device, dtype=dtype, requires_grad=True)
        return ref, fast, (x,)
    return make


def _gpu_cases(quick: bool):
    plain = []
    for b, i, o in (GPU_QUICK_SHAPES if quick else GPU_SHAPES):
        large = min(b, i, o) >= 4096
        plain.append(Case("linear", f"{b}x{i}->{o}", _make(b, i, o), 2.0 * b * i * o, group="linear plain",
                          bars=GPU_BARS_PLAIN, peak_bar=LARGE_GEMM_PEAK_BAR if large else None))
    gelu = [Case("linear", f"{b}x{i}->{o}+gelu", _make(b, i, o, "gelu"), 2.0 * b * i * o, group="linear+gelu",
                 bars=GPU_BARS_GELU)
            for b, i, o in (GPU_QUICK_GELU_SHAPES if quick else GPU_GELU_SHAPES)]
    return plain + gelu


def cases(quick: bool = False, device: str = "cpu"):
    if device == "cuda":
        return _gpu_cases(quick)
    plain = [Case("linear", f"{b}x{i}->{o}", _make(b, i, o), 2.0 * b * i * o)
             for b, i, o in (QUICK_SHAPES if quick else SHAPES)]
    gelu = [Case("linear", f"{b}x{i}->{o}+gelu", _make(b, i, o, "gelu"), 2.0 * b * i * o)
            for b, i, o in ([] if quick else GELU_SHAPES)]
    return plain + gelu
