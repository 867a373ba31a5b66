"""A benchmark case: one layer configuration, timed as torch.nn against fastnn.

Each layer family contributes `fastnn/bench/cases_<family>.py` with a function
`cases(quick: bool) -> list[Case]`; the runner (fastnn.bench) discovers them.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

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


def first_tensor(output):
    """The tensor a benchmark back-propagates from: the output, or its first element
    for layers that return tuples (RNNs)."""
    while isinstance(output, (tuple, list)):
        output = output[0]
    return output
