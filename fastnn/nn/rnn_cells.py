"""fastnn.LSTMCell, GRUCell, RNNCell: the torch.nn cells on fastnn's fused kernels
(torch.ops.fastnn.rnn_cell: one step, a missing state is a zero state). Same constructor, parameters,
initialisation and state_dict as torch.nn; forward is overridden only."""
import torch

from ..ops.rnn import cell

# The op's overload itself: going through the packet (torch.ops.fastnn.rnn_cell) costs ~1 us a call.
_RNN_CELL = torch.ops.fastnn.rnn_cell.default


def _check_cell(name, input, hx, input_size, hidden_size):
    """torch's cell checks, before any work (same messages as torch.nn)."""
    if input.size(-1) != input_size:
        raise RuntimeError(f"{name}: input has inconsistent input_size: got {input.size(-1)} expected {input_size}")
    for i, h in enumerate(hx):
        if input.size(0) != h.size(0):
            raise RuntimeError(f"{name}: Input batch size {input.size(0)} doesn't match hidden{i} batch size "
                               f"{h.size(0)}")
        if h.size(1) != hidden_size:
            raise RuntimeError(f"{name}: hidden{i} has inconsistent hidden_size: got {h.size(1)}, expected "
                               f"{hidden_size}")


def _weights(module):
    """(weight_ih, weight_hh, bias_ih, bias_hh), read from _parameters directly: nn.Module.__getattr__
    costs ~0.5 us a parameter, a fifth of a small cell's Python time. A parametrized weight
    (torch.nn.utils.parametrize) is no longer in _parameters and goes through getattr."""
    p = module._parameters
    try:
        return p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"]
    except KeyError:
        return module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh


def _step_ready(input, states, input_size, hidden_size):
    """The usual call of a step loop, checked at once: input [B, input_size] and every state a
    tensor [B, hidden_size]. Anything else (unbatched input, None states, a wrong size) goes
    through the full checks and their messages. Measured: 2-4 us less Python per step than those
    checks, a quarter of a batch-1 LSTMCell 64->64 step without grad."""
    shape = input.shape
    if len(shape) != 2 or shape[1] != input_size:
        return False
    want = (shape[0], hidden_size)
    for state in states:
        if not isinstance(state, torch.Tensor) or state.shape != want:
            return False
    return True


def _batched(name, input, states):
    if input.dim() not in (1, 2):
        raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
    for i, h in enumerate(states):
        if h is not None and h.dim() not in (1, 2):
            what = "hidden" if len(states) == 1 else f"hx[{i}]"
            raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {h.dim()}D instead")
    return input.dim() == 2


class LSTMCell(torch.nn.LSTMCell):
    """torch.nn.LSTMCell with fastnn's fused kernel (gates i, f, g, o)."""

    def forward(self, input, hx=None):
        if hx is not None and len(hx) == 2 and _step_ready(input, hx, self.input_size, self.hidden_size):
            h, c, _ = _RNN_CELL("lstm", input, hx[0], hx[1], *_weights(self))
            return h, c
        batched = _batched("LSTMCell", input, tuple(hx) if hx is not None else ())
        if not batched:
            input = input.unsqueeze(0)
        if hx is None:
            hx = (None, None)  # zero state: the kernel skips the hidden GEMM
        elif not batched:
            hx = (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        _check_cell("LSTMCell", input, hx if hx[0] is not None else (), self.input_size, self.hidden_size)
        h, c = cell("lstm", input, hx[0], hx[1], *_weights(self))
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(torch.nn.GRUCell):
    """torch.nn.GRUCell with fastnn's fused kernel (gates r, z, n; b_hn inside the reset product)."""

    def forward(self, input, hx=None):
        return _single_state_cell(self, "GRUCell", "gru", input, hx)


class RNNCell(torch.nn.RNNCell):
    """torch.nn.RNNCell (tanh or relu) with fastnn's fused kernel."""

    def forward(self, input, hx=None):
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return _single_state_cell(self, "RNNCell", "rnn_" + self.nonlinearity, input, hx)


def _single_state_cell(module, name, mode, input, hx):
    """GRUCell / RNNCell forward: one hidden state, unbatched input, optional hx."""
    if hx is not None and _step_ready(input, (hx,), module.input_size, module.hidden_size):
        return _RNN_CELL(mode, input, hx, None, *_weights(module))[0]
    batched = _batched(name, input, (hx,))
    if not batched:
        input = input.unsqueeze(0)
    if hx is not None and not batched:
        hx = hx.unsqueeze(0)
    _check_cell(name, input, (hx,) if hx is not None else (), module.input_size, module.hidden_size)
    h, _ = cell(mode, input, hx, None, *_weights(module))
    return h if batched else h.squeeze(0)
