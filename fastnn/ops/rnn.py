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


# Autograd for rnn_layer is registered in C++ (csrc/rnn_autograd.cpp): a cell runs the op
# once per time step, so per-call overhead matters. Its backward is fastnn::rnn_layer_backward.


def cell(mode, input, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of a batched cell ([batch, input_size] -> hy, cy): rnn_layer with T = 1."""
    _, hy, cy, _ = torch.ops.fastnn.rnn_layer(mode, input.unsqueeze(0), None, hx, cx, w_ih, w_hh, b_ih, b_hh,
                                              None, False)
    return hy, cy
