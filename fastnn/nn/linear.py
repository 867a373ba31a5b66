"""fastnn.Linear: torch.nn.Linear running fastnn's GEMM kernels."""
import torch

from .. import functional as F
from ..ops.linear import ACTIVATIONS


class Linear(torch.nn.Linear):
    """torch.nn.Linear with fastnn kernels. Same constructor, parameters, initialisation and
    state_dict; `activation=` (none, relu, gelu, silu, tanh, sigmoid) fuses an activation into
    the GEMM epilogue (default none: identical to nn.Linear)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None,
                 activation: str = "none"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"Linear: activation must be one of {ACTIVATIONS}, got {activation!r}")
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.activation = activation

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.linear(input, self.weight, self.bias, self.activation)

    def extra_repr(self) -> str:
        rep = super().extra_repr()
        return rep if self.activation == "none" else f"{rep}, activation={self.activation!r}"
