"""fastnn.Conv1d / fastnn.Conv2d: torch.nn.Conv1d / Conv2d running fastnn's convolution kernels."""
import torch
from torch.nn.modules.utils import _pair, _single

from .. import functional as F
from ..ops.linear import ACTIVATIONS


def _check_activation(name, activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"{name}: activation must be one of {ACTIVATIONS}, got {activation!r}")


def _extra_repr(rep, activation):
    return rep if activation == "none" else f"{rep}, activation={activation!r}"


class Conv2d(torch.nn.Conv2d):
    """torch.nn.Conv2d with fastnn kernels. Same constructor, parameters, initialisation and
    state_dict (every option: stride, padding int/tuple/'same'/'valid', dilation, groups, bias,
    padding_mode); `activation=` (none, relu, gelu, silu, tanh, sigmoid) fuses an activation
    into the GEMM epilogue (default none: identical to nn.Conv2d)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None, activation: str = "none"):
        _check_activation("Conv2d", activation)
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias, padding_mode=padding_mode, device=device,
                         dtype=dtype)
        self.activation = activation

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != "zeros":  # pad as torch.nn.Conv2d does, then convolve unpadded
            input = torch.nn.functional.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv2d(input, self.weight, self.bias, self.stride, _pair(0), self.dilation, self.groups,
                            self.activation)
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                        self.activation)

    def extra_repr(self) -> str:
        return _extra_repr(super().extra_repr(), self.activation)


class Conv1d(torch.nn.Conv1d):
    """torch.nn.Conv1d with fastnn kernels (through the conv2d kernels on a height-1
    image); same options as Conv2d, including `activation=`."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None, activation: str = "none"):
        _check_activation("Conv1d", activation)
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias, padding_mode=padding_mode, device=device,
                         dtype=dtype)
        self.activation = activation

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != "zeros":
            input = torch.nn.functional.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv1d(input, self.weight, self.bias, self.stride, _single(0), self.dilation, self.groups,
                            self.activation)
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                        self.activation)

    def extra_repr(self) -> str:
        return _extra_repr(super().extra_repr(), self.activation)
