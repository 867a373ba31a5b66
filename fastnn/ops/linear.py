"""torch.ops.fastnn.linear / linear_with_preact / linear_backward: fake (meta) kernels."""
import torch

ACTIVATIONS = ("none", "relu", "gelu", "silu", "tanh", "sigmoid")
# gelu and silu derivatives need the pre-activation; the others derive from the output.
NEEDS_PREACT = ("gelu", "silu")


def _check(input, weight, bias, activation):
    torch._check(activation in ACTIVATIONS,
                 lambda: f"linear: activation must be one of {ACTIVATIONS}, got '{activation}'")
    torch._check(weight.dim() == 2, lambda: f"linear: weight must be 2-D, got {weight.dim()}-D")
    torch._check(input.dim() >= 1, lambda: "linear: input must have at least 1 dimension")
    torch._check(input.shape[-1] == weight.shape[1],
                 lambda: f"linear: input's last dimension must equal in_features = {weight.shape[1]}, "
                         f"got input of shape {tuple(input.shape)}")
    torch._check(input.dtype == weight.dtype,
                 lambda: f"linear: weight dtype must match input dtype {input.dtype}, got {weight.dtype}")
    if bias is not None:
        torch._check(bias.shape == (weight.shape[0],),
                     lambda: f"linear: bias must have shape [{weight.shape[0]}], got {tuple(bias.shape)}")


def _out(input, weight):
    return input.new_empty((*input.shape[:-1], weight.shape[0]))


@torch.library.register_fake("fastnn::linear")
def _linear_fake(input, weight, bias=None, activation="none"):
    _check(input, weight, bias, activation)
    return _out(input, weight)


@torch.library.register_fake("fastnn::linear_with_preact")
def _linear_with_preact_fake(input, weight, bias=None, activation="none"):
    _check(input, weight, bias, activation)
    return _out(input, weight), _out(input, weight)


@torch.library.register_fake("fastnn::linear_backward")
def _linear_backward_fake(grad_output, input, weight, saved, activation, output_mask):
    return (
        input.new_empty(input.shape if output_mask[0] else (0,)),
        weight.new_empty(weight.shape if output_mask[1] else (0,)),
        weight.new_empty((weight.shape[0],) if output_mask[2] else (0,)),
    )

# Autograd for linear / linear_with_preact is registered in C++ (csrc/linear_autograd.cpp):
# per-call overhead matters for small layers. Its backward is fastnn::linear_backward.
