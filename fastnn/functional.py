"""torch.nn.functional-style entry points to the fastnn kernels."""
from typing import Optional

import torch

from .ops.linear import NEEDS_PREACT


def linear(input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None,
           activation: str = "none") -> torch.Tensor:
    """F.linear(input, weight, bias) followed by `activation` (none, relu, gelu, silu,
    tanh, sigmoid), fused into the GEMM epilogue."""
    if activation in NEEDS_PREACT and torch.is_grad_enabled() and (
            input.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)):
        return torch.ops.fastnn.linear_with_preact(input, weight, bias, activation)[0]
    return torch.ops.fastnn.linear(input, weight, bias, activation)
