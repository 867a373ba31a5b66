"""torch.ops.fastnn.linear / linear_with_preact / linear_backward: fake kernels and autograd."""
import torch

ACTIVATIONS = ("none", "relu", "gelu", "silu", "tanh", "sigmoid")
# gelu and silu derivatives need the pre-activation; the others use the output.
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


def _grads(ctx, grad_output, saved):
    input, weight = ctx.saved_tensors[:2]
    mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]]
    gi, gw, gb = torch.ops.fastnn.linear_backward(
        grad_output, input, weight, saved, ctx.activation, mask)
    return (gi if mask[0] else None, gw if mask[1] else None, gb if mask[2] else None)


# linear: relu/tanh/sigmoid derive from the output; gelu/silu recompute the
# pre-activation (fastnn.functional.linear uses linear_with_preact instead).
def _linear_setup(ctx, inputs, output):
    input, weight, bias, activation = inputs
    ctx.activation = activation
    ctx.has_bias = bias is not None
    ctx.save_for_backward(input, weight, bias, output)


def _linear_backward(ctx, grad_output):
    input, weight, bias, output = ctx.saved_tensors
    saved = output
    if ctx.activation in NEEDS_PREACT:
        saved = torch.ops.fastnn.linear(input, weight, bias, "none")
    return (*_grads(ctx, grad_output, saved), None)


torch.library.register_autograd("fastnn::linear", _linear_backward, setup_context=_linear_setup)


def _preact_setup(ctx, inputs, output):
    input, weight, bias, activation = inputs
    ctx.activation = activation
    ctx.has_bias = bias is not None
    out, preact = output
    ctx.save_for_backward(input, weight, preact)
    ctx.mark_non_differentiable(preact)


def _preact_backward(ctx, grad_output, _grad_preact):
    preact = ctx.saved_tensors[2]
    return (*_grads(ctx, grad_output, preact), None)


torch.library.register_autograd("fastnn::linear_with_preact", _preact_backward, setup_context=_preact_setup)


