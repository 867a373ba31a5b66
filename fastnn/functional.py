"""torch.nn.functional-style entry points to the fastnn kernels."""
from typing import Optional

import torch


def linear(input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None,
           activation: str = "none") -> torch.Tensor:
    """F.linear(input, weight, bias) followed by `activation` (none, relu, gelu, silu,
    tanh, sigmoid), fused into the GEMM epilogue."""
    return torch.ops.fastnn.linear(input, weight, bias, activation)
