"""torch.ops.fastnn.rnn_layer / rnn_cell and their backward ops: fake kernels.

rnn_layer runs one recurrent layer in one direction over a whole sequence (see
csrc/rnn.h); rnn_cell runs one step of a cell (see csrc/rnn_cell.h)."""
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


@torch.library.register_fake("fastnn::rnn_cell")
def _rnn_cell_fake(mode, input, hx, cx, w_ih, w_hh, b_ih, b_hh):
    torch._check(mode in MODES, lambda: f"rnn_cell: mode must be one of {tuple(MODES)}, got '{mode}'")
    torch._check(input.dim() == 2, lambda: f"rnn_cell: input must be 2-D [batch, input_size], got {input.dim()}-D")
    hidden = w_ih.shape[0] // MODES[mode]
    batch = input.shape[0]
    hy = input.new_empty((batch, hidden))
    cy = input.new_empty((batch, hidden)) if mode == "lstm" else input.new_empty((0,))
    return hy, cy, input.new_empty((batch, workspace_cols(mode, hidden)))


@torch.library.register_fake("fastnn::rnn_cell_backward")
def _rnn_cell_backward_fake(mode, grad_hy, grad_cy, input, hx, cx, w_ih, w_hh, hy, workspace, output_mask):
    gates = w_ih.shape[0]
    empty = input.new_empty((0,))

    def like(t, wanted):
        return t.new_empty(t.shape) if wanted and t is not None else empty
    return (like(input, output_mask[0]), like(hx, output_mask[1]), like(cx, output_mask[1]),
            like(w_ih, output_mask[2]), like(w_hh, output_mask[2]),
            input.new_empty((gates,)) if output_mask[3] else empty,
            input.new_empty((gates,)) if output_mask[3] else empty)


# Autograd for rnn_cell is registered in C++ as well (csrc/rnn_cell_autograd.cpp).


def cell(mode, input, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of a batched cell ([batch, input_size] -> hy, cy); hx / cx None are zero states."""
    hy, cy, _ = torch.ops.fastnn.rnn_cell(mode, input, hx, cx, w_ih, w_hh, b_ih, b_hh)
    return hy, cy
