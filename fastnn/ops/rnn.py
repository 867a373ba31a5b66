"""torch.ops.fastnn.rnn_layer / rnn_layer_backward: fake kernels and autograd.

rnn_layer runs one recurrent layer in one direction over a whole sequence (a cell
is the same op with T = 1); see csrc/rnn.h for the argument conventions."""
import torch

MODES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def workspace_cols(mode, hidden):
    return 5 * hidden if mode == "lstm" else 4 * hidden if mode == "gru" else 0


def _sizes(mode, input, batch_sizes, w_ih, w_hr):
    torch._check(mode in MODES, lambda: f"rnn_layer: mode must be one of {tuple(MODES)}, got '{mode}'")
    hidden = w_ih.shape[0] // MODES[mode]
    out_size = w_hr.shape[0] if w_hr is not None else hidden
    rows = input.shape[0] if batch_sizes is not None else input.shape[0] * input.shape[1]
    return hidden, out_size, rows


@torch.library.register_fake("fastnn::rnn_layer")
def _rnn_layer_fake(mode, input, batch_sizes, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr, reverse):
    hidden, out_size, rows = _sizes(mode, input, batch_sizes, w_ih, w_hr)
    torch._check(input.shape[-1] == w_ih.shape[1],
                 lambda: f"rnn_layer: input.size(-1) must equal input_size = w_ih.size(1) = {w_ih.shape[1]}, "
                         f"got {input.shape[-1]}")
    output = input.new_empty((*input.shape[:-1], out_size))
    hy = hx.new_empty(hx.shape)
    cy = cx.new_empty(cx.shape) if mode == "lstm" else input.new_empty((0,))
    workspace = input.new_empty((rows, workspace_cols(mode, hidden)))
    return output, hy, cy, workspace


@torch.library.register_fake("fastnn::rnn_layer_backward")
def _rnn_layer_backward_fake(mode, grad_output, grad_hy, grad_cy, input, batch_sizes, hx, cx, w_ih, w_hh,
                             w_hr, output, workspace, reverse, output_mask):
    hidden, _, _ = _sizes(mode, input, batch_sizes, w_ih, w_hr)
    empty = input.new_empty((0,))
    gates = w_ih.shape[0]
    return (
        input.new_empty(input.shape) if output_mask[0] else empty,
        hx.new_empty(hx.shape),
        cx.new_empty(cx.shape) if mode == "lstm" else empty,
        w_ih.new_empty(w_ih.shape) if output_mask[1] else empty,
        w_hh.new_empty(w_hh.shape) if output_mask[1] else empty,
        w_ih.new_empty((gates,)) if output_mask[2] else empty,
        w_ih.new_empty((gates,)) if output_mask[2] else empty,
        w_hr.new_empty(w_hr.shape) if output_mask[1] and w_hr is not None else empty,
    )


def _setup(ctx, inputs, output):
    mode, input, batch_sizes, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr, reverse = inputs
    output, _hy, cy, workspace = output
    ctx.mode, ctx.reverse = mode, reverse
    ctx.has_bias, ctx.has_proj, ctx.has_cx = b_ih is not None, w_hr is not None, cx is not None
    ctx.save_for_backward(input, batch_sizes, hx, cx, w_ih, w_hh, w_hr, output, workspace)
    ctx.mark_non_differentiable(workspace)
    if mode != "lstm":
        ctx.mark_non_differentiable(cy)


def _backward(ctx, grad_output, grad_hy, grad_cy, _grad_workspace):
    input, batch_sizes, hx, cx, w_ih, w_hh, w_hr, output, workspace = ctx.saved_tensors
    need = ctx.needs_input_grad
    mask = [need[1], need[5] or need[6] or need[9], ctx.has_bias and (need[7] or need[8])]
    gi, ghx, gcx, gw_ih, gw_hh, gb_ih, gb_hh, gw_hr = torch.ops.fastnn.rnn_layer_backward(
        ctx.mode, grad_output, grad_hy, grad_cy if ctx.mode == "lstm" else None, input, batch_sizes, hx, cx,
        w_ih, w_hh, w_hr, output, workspace, ctx.reverse, mask)
    return (None, gi if mask[0] else None, None, ghx, gcx if ctx.mode == "lstm" else None,
            gw_ih if mask[1] else None, gw_hh if mask[1] else None,
            gb_ih if mask[2] else None, gb_hh if mask[2] else None,
            gw_hr if mask[1] and ctx.has_proj else None, None)


torch.library.register_autograd("fastnn::rnn_layer", _backward, setup_context=_setup)


def cell(mode, input, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of a batched cell ([batch, input_size] -> hy, cy): rnn_layer with T = 1."""
    _, hy, cy, _ = torch.ops.fastnn.rnn_layer(mode, input.unsqueeze(0), None, hx, cx, w_ih, w_hh, b_ih, b_hh,
                                              None, False)
    return hy, cy
