"""A benchmark case: one layer configuration, timed as torch.nn against fastnn.

Each layer family contributes `fastnn/bench/cases_<family>.py` with a function
`cases(quick: bool, device: str = "cpu") -> list[Case]`; the runner (fastnn.bench) discovers
them. A family returns the cases of the device type asked for ("cpu" or "cuda"): the GPU
suite has its own shapes, and a family without kernels on a device returns none.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch

# make(device, dtype) -> (torch_module, fastnn_module, inputs): both modules hold
# the same weights; inputs is the tuple of positional arguments of forward.
MakeFn = Callable[[torch.device, torch.dtype], Tuple[torch.nn.Module, torch.nn.Module, Tuple[torch.Tensor, ...]]]


@dataclass
class Case:
    family: str            # "linear", "conv", "rnn", ...
    name: str              # shape label shown in the table, e.g. "512x784->512"
    make: MakeFn
    flops: float           # forward FLOPs (a multiply-add counts 2); forward+backward is counted as 3x
    backward: bool = True  # also time forward+backward
    note: Optional[str] = None
    # GPU suite: the group the case counts in for the geomean summary (e.g. "linear plain"),
    # the bar on that group's geomean speedup per pass ({"forward": 0.9}), and the bar on
    # fastnn's forward "% of peak" (the peak being the measured torch.matmul rate on CUDA).
    group: Optional[str] = None
    bars: Optional[Dict[str, float]] = None
    peak_bar: Optional[float] = None


def first_tensor(output):
    """The tensor a benchmark back-propagates from: the output, or its first element
    for layers that return tuples (RNNs)."""
    while isinstance(output, (tuple, list)):
        output = output[0]
    return output
