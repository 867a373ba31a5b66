"""Linear benchmark shapes (issue: CPU dense path). batch x in -> out.

Also Linear followed by GELU: torch.nn runs nn.Linear then nn.GELU (two ops, the
output written and read again), fastnn one Linear(activation="gelu") with the GELU
in the GEMM epilogue and its derivative fused into the backward.
"""
import torch

import fastnn

from .case import Case

SHAPES = [(512, 784, 512), (128, 1024, 4096), (4096, 256, 256), (16, 2048, 2048), (1024, 1024, 1024)]
GELU_SHAPES = [(512, 784, 512), (1024, 1024, 1024)]
QUICK_SHAPES = [(64, 256, 256)]


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


def cases(quick: bool = False):
    plain = [Case("linear", f"{b}x{i}->{o}", _make(b, i, o), 2.0 * b * i * o)
             for b, i, o in (QUICK_SHAPES if quick else SHAPES)]
    gelu = [Case("linear", f"{b}x{i}->{o}+gelu", _make(b, i, o, "gelu"), 2.0 * b * i * o)
            for b, i, o in ([] if quick else GELU_SHAPES)]
    return plain + gelu
