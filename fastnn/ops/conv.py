"""torch.ops.fastnn.conv2d / conv2d_with_preact / conv2d_backward: fake kernels and autograd.

The ops take 4-D inputs, int[2] stride/padding/dilation and symmetric zero padding; the
functional layer (fastnn.functional.conv1d/conv2d) maps every torch.nn option onto them.
"""
import torch
from torch._prims_common import suggest_memory_format

from .linear import ACTIVATIONS


def _require(cond, msg):
    """msg: the error text, or a function that builds it (only on failure: under
    torch.compile with dynamic shapes, formatting symbolic sizes cannot be traced)."""
    if not cond:
        raise RuntimeError(msg() if callable(msg) else msg)


def check_conv_args(name, input, weight, bias, stride, padding, dilation, groups):
    """The argument checks of csrc/conv.cpp, for fake tensors and for conv1d (whose
    messages should speak of conv1d shapes). `input` and `weight` have 2 + d dims.
    Plain raises (not torch._check closures) so torch.compile can trace them."""
    d = weight.dim() - 2
    _require(groups > 0, f"{name}: groups must be a positive integer, got {groups}")
    _require(all(s > 0 for s in stride),
             f"{name}: stride must be positive (non-positive stride is not supported), got {list(stride)}")
    _require(all(x > 0 for x in dilation),
             f"{name}: dilation must be positive (dilation should be greater than zero), got {list(dilation)}")
    _require(all(p >= 0 for p in padding),
             f"{name}: padding must be non-negative (negative padding is not supported), got {list(padding)}")
    _require(weight.shape[0] % groups == 0,
             lambda: f"{name}: Given groups={groups}, expected weight to be divisible by {groups} at "
                     f"dimension 0 (out_channels), but got weight of size {list(weight.shape)}")
    _require(input.shape[1] == weight.shape[1] * groups,
             lambda: f"{name}: Given groups={groups}, weight of size {list(weight.shape)}, expected "
                     f"input{list(input.shape)} to have {weight.shape[1] * groups} channels, but got "
                     f"{input.shape[1]} channels instead")
    padded = [input.shape[2 + i] + 2 * padding[i] for i in range(d)]
    span = [dilation[i] * (weight.shape[2 + i] - 1) + 1 for i in range(d)]
    _require(all(s <= p for s, p in zip(span, padded)),
             lambda: f"{name}: Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
                     f"Kernel size: ({' x '.join(map(str, span))}). Kernel size can't be greater than actual input size")
    if bias is not None:
        _require(bias.shape == (weight.shape[0],),
                 lambda: f"{name}: bias must have shape [out_channels] = [{weight.shape[0]}], got {list(bias.shape)}")


def _fmt(input, weight):
    cl = torch.channels_last
    if suggest_memory_format(input) == cl or suggest_memory_format(weight) == cl:
        return cl
    return torch.contiguous_format


def _out_shape(input, weight, stride, padding, dilation):
    return [input.shape[0], weight.shape[0]] + [
        (input.shape[2 + i] + 2 * padding[i] - dilation[i] * (weight.shape[2 + i] - 1) - 1) // stride[i] + 1
        for i in range(2)]


def _fake_out(input, weight, bias, stride, padding, dilation, groups, activation):
    torch._check(activation in ACTIVATIONS,
                 lambda: f"conv2d: activation must be one of {ACTIVATIONS}, got '{activation}'")
    torch._check(input.dim() == 4, lambda: f"conv2d: expected 4-D input, got {input.dim()}-D")
    torch._check(weight.dim() == 4, lambda: f"conv2d: weight must be 4-D, got {weight.dim()}-D")
    torch._check(input.dtype == weight.dtype,
                 lambda: f"conv2d: weight dtype must match input dtype {input.dtype}, got {weight.dtype}")
    check_conv_args("conv2d", input, weight, bias, stride, padding, dilation, groups)
    return torch.empty(_out_shape(input, weight, stride, padding, dilation), dtype=input.dtype,
                       device=input.device, memory_format=_fmt(input, weight))


@torch.library.register_fake("fastnn::conv2d")
def _conv2d_fake(input, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
                 activation="none"):
    return _fake_out(input, weight, bias, stride, padding, dilation, groups, activation)


@torch.library.register_fake("fastnn::conv2d_with_preact")
def _conv2d_with_preact_fake(input, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
                             activation="none"):
    out = _fake_out(input, weight, bias, stride, padding, dilation, groups, activation)
    return out, torch.empty_like(out)


@torch.library.register_fake("fastnn::conv2d_backward")
def _conv2d_backward_fake(grad_output, input, weight, saved, stride, padding, dilation, groups, activation,
                          output_mask):
    fmt = _fmt(input, weight)
    return (  # a fresh empty tensor for each gradient not asked for (outputs never alias)
        torch.empty(input.shape, dtype=input.dtype, device=input.device, memory_format=fmt)
        if output_mask[0] else input.new_empty((0,)),
        torch.empty(weight.shape, dtype=weight.dtype, device=weight.device, memory_format=fmt)
        if output_mask[1] else weight.new_empty((0,)),
        weight.new_empty((weight.shape[0],)) if output_mask[2] else weight.new_empty((0,)),
    )


# Autograd for conv2d and conv2d_with_preact is registered in C++ (csrc/conv_autograd.cpp):
# a Python autograd.Function cost ~30 us a call, more than a small convolution. Each
# backward is the fastnn::conv2d_backward op.
