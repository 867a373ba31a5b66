"""torch.nn.functional-style entry points to the fastnn kernels."""
from typing import Optional

import torch


def linear(input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None,
           activation: str = "none") -> torch.Tensor:
    """F.linear(input, weight, bias) followed by `activation` (none, relu, gelu, silu,
    tanh, sigmoid), fused into the GEMM epilogue."""
    return torch.ops.fastnn.linear(input, weight, bias, activation)


# --- convolution (fastnn/ops/conv.py) ---------------------------------------
from torch.nn.modules.utils import _pair, _single  # noqa: E402

from .ops.conv import check_conv_args as _check_conv_args  # noqa: E402
from .ops.linear import NEEDS_PREACT  # noqa: E402


def _same_padding(name, input, kernel, stride, dilation):
    """padding='same': torch pads d*(k-1) in total, the odd element at the end, by
    padding the input; returns (input, symmetric padding)."""
    if any(s != 1 for s in stride):
        raise RuntimeError(f"{name}: padding='same' is not supported for strided convolutions, "
                           f"got stride={tuple(stride)}")
    left = [d * (k - 1) // 2 for k, d in zip(kernel, dilation)]
    extra = [d * (k - 1) - 2 * lft for k, d, lft in zip(kernel, dilation, left)]
    if any(extra):
        pad = []
        for e in reversed(extra):  # F.pad lists the last dimension first
            pad += [0, e]
        input = torch.nn.functional.pad(input, pad)
    return input, tuple(left)


def _conv_padding(name, input, weight, padding, stride, dilation, tuple_fn):
    if isinstance(padding, str):
        if padding == "valid":
            return input, tuple_fn(0)
        if padding == "same":
            return _same_padding(name, input, weight.shape[2:], stride, dilation)
        raise RuntimeError(f"{name}: Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
    return input, tuple_fn(padding)


def _conv2d_op(input, weight, bias, stride, padding, dilation, groups, activation):
    if activation in NEEDS_PREACT and torch.is_grad_enabled() and (
            input.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)):
        return torch.ops.fastnn.conv2d_with_preact(input, weight, bias, stride, padding, dilation, groups,
                                                   activation)[0]
    return torch.ops.fastnn.conv2d(input, weight, bias, stride, padding, dilation, groups, activation)


def conv2d(input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None, stride=1,
           padding=0, dilation=1, groups: int = 1, activation: str = "none") -> torch.Tensor:
    """F.conv2d (input (N, C, H, W) or unbatched (C, H, W); padding int, tuple, 'valid' or
    'same') followed by `activation`, fused into the GEMM epilogue. The output is
    channels_last when the input or the weight is, as with torch."""
    if input.dim() not in (3, 4):
        raise RuntimeError("Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: "
                           f"{list(input.shape)}")
    if weight.dim() != 4:
        raise RuntimeError("conv2d: weight must be 4-D [out_channels, in_channels/groups, kernel_h, kernel_w], "
                           f"got {weight.dim()}-D weight of size {list(weight.shape)}")
    unbatched = input.dim() == 3
    if unbatched:
        input = input.unsqueeze(0)
    stride, dilation = _pair(stride), _pair(dilation)
    input, padding = _conv_padding("conv2d", input, weight, padding, stride, dilation, _pair)
    out = _conv2d_op(input, weight, bias, stride, padding, dilation, groups, activation)
    return out.squeeze(0) if unbatched else out


def conv1d(input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None, stride=1,
           padding=0, dilation=1, groups: int = 1, activation: str = "none") -> torch.Tensor:
    """F.conv1d (input (N, C, L) or unbatched (C, L)) followed by `activation`; runs the
    conv2d kernels on a height-1 image."""
    if input.dim() not in (2, 3):
        raise RuntimeError("Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: "
                           f"{list(input.shape)}")
    if weight.dim() != 3:
        raise RuntimeError("conv1d: weight must be 3-D [out_channels, in_channels/groups, kernel_size], "
                           f"got {weight.dim()}-D weight of size {list(weight.shape)}")
    unbatched = input.dim() == 2
    if unbatched:
        input = input.unsqueeze(0)
    stride, dilation = _single(stride), _single(dilation)
    input, padding = _conv_padding("conv1d", input, weight, padding, stride, dilation, _single)
    _check_conv_args("conv1d", input, weight, bias, stride, padding, dilation, groups)
    out = _conv2d_op(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, stride[0]), (0, padding[0]),
                     (1, dilation[0]), groups, activation).squeeze(2)
    return out.squeeze(0) if unbatched else out


# Recurrent cells (torch._VF.*_cell signatures): one fused step, fastnn::rnn_cell.
def lstm_cell(input: torch.Tensor, hx, w_ih: torch.Tensor, w_hh: torch.Tensor,
              b_ih: Optional[torch.Tensor] = None, b_hh: Optional[torch.Tensor] = None):
    """One LSTM step: input [batch, input_size], hx = (h, c) -> (h', c'). Gates i, f, g, o."""
    from .ops.rnn import cell
    return cell("lstm", input, hx[0], hx[1], w_ih, w_hh, b_ih, b_hh)


def gru_cell(input: torch.Tensor, hx: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
             b_ih: Optional[torch.Tensor] = None, b_hh: Optional[torch.Tensor] = None) -> torch.Tensor:
    """One GRU step (torch's r, z, n formulation) -> h'."""
    from .ops.rnn import cell
    return cell("gru", input, hx, None, w_ih, w_hh, b_ih, b_hh)[0]


def rnn_tanh_cell(input: torch.Tensor, hx: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
                  b_ih: Optional[torch.Tensor] = None, b_hh: Optional[torch.Tensor] = None) -> torch.Tensor:
    """One Elman RNN step, h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    from .ops.rnn import cell
    return cell("rnn_tanh", input, hx, None, w_ih, w_hh, b_ih, b_hh)[0]


def rnn_relu_cell(input: torch.Tensor, hx: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
                  b_ih: Optional[torch.Tensor] = None, b_hh: Optional[torch.Tensor] = None) -> torch.Tensor:
    """One Elman RNN step with relu."""
    from .ops.rnn import cell
    return cell("rnn_relu", input, hx, None, w_ih, w_hh, b_ih, b_hh)[0]
