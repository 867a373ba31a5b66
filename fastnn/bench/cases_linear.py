"""Linear benchmark shapes (issue: CPU dense path). batch x in -> out."""
import torch

import fastnn

from .case import Case

SHAPES = [(512, 784, 512), (128, 1024, 4096), (4096, 256, 256), (16, 2048, 2048), (1024, 1024, 1024)]
QUICK_SHAPES = [(64, 256, 256)]


def _make(batch, fin, fout):
    def make(device, dtype):
        ref = torch.nn.Linear(fin, fout, device=device, dtype=dtype)
        fast = fastnn.Linear(fin, fout, device=device, dtype=dtype)
        fast.load_state_dict(ref.state_dict())
        x = torch.randn(batch, fin, device=device, dtype=dtype, requires_grad=True)
        return ref, fast, (x,)
    return make


def cases(quick: bool = False):
    return [Case("linear", f"{b}x{i}->{o}", _make(b, i, o), 2.0 * b * i * o)
            for b, i, o in (QUICK_SHAPES if quick else SHAPES)]
