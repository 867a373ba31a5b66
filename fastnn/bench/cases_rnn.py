"""Recurrent benchmark shapes (issue 4). Cells: batch, input -> hidden, called with a state.
Sequences: T, batch, input -> hidden. Names start with the layer class."""
import torch

import fastnn

from .case import Case

CELLS = [("LSTMCell", 32, 256, 256), ("LSTMCell", 64, 512, 512), ("LSTMCell", 8, 128, 128),
         ("GRUCell", 32, 256, 256)]
# (class, T, batch, input, hidden, extra kwargs)
SEQS = [("LSTM", 50, 32, 256, 256, {}), ("LSTM", 100, 4, 256, 256, {}),
        ("LSTM", 100, 16, 128, 256, {"num_layers": 2, "batch_first": True}), ("LSTM", 200, 1, 512, 512, {}),
        ("GRU", 50, 32, 256, 256, {}), ("GRU", 100, 4, 256, 256, {})]
QUICK_CELLS = [("LSTMCell", 8, 64, 64), ("GRUCell", 8, 64, 64)]
QUICK_SEQS = [("LSTM", 10, 4, 64, 64, {}), ("GRU", 10, 4, 64, 64, {})]
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _make_cell(cls, batch, fin, hidden):
    """A cell as it runs inside a recurrent loop: with a state that needs its gradient
    (without one, fastnn would skip the hidden GEMM and the FLOP count would overstate it)."""
    def make(device, dtype):
        ref = getattr(torch.nn, cls)(fin, hidden, device=device, dtype=dtype)
        fast = getattr(fastnn, cls)(fin, hidden, device=device, dtype=dtype)
        fast.load_state_dict(ref.state_dict())

        def state():
            return torch.randn(batch, hidden, device=device, dtype=dtype, requires_grad=True)
        x = torch.randn(batch, fin, device=device, dtype=dtype, requires_grad=True)
        return ref, fast, (x, (state(), state()) if cls == "LSTMCell" else state())
    return make


def _make_seq(cls, T, batch, fin, hidden, kw):
    def make(device, dtype):
        ref = getattr(torch.nn, cls)(fin, hidden, device=device, dtype=dtype, **kw)
        fast = getattr(fastnn, cls)(fin, hidden, device=device, dtype=dtype, **kw)
        fast.load_state_dict(ref.state_dict())
        shape = (batch, T, fin) if kw.get("batch_first") else (T, batch, fin)
        x = torch.randn(*shape, device=device, dtype=dtype, requires_grad=True)
        return ref, fast, (x,)
    return make


def _seq_flops(cls, T, batch, fin, hidden, kw):
    g = GATES[cls] * hidden
    layers = kw.get("num_layers", 1)
    first = 2.0 * T * batch * g * (fin + hidden)
    rest = 2.0 * T * batch * g * (hidden + hidden) * (layers - 1)
    return first + rest


def cases(quick: bool = False, device: str = "cpu"):
    if device != "cpu":  # the recurrent layers have no CUDA kernels yet (a later issue)
        return []
    out = []
    for cls, b, i, h in (QUICK_CELLS if quick else CELLS):
        out.append(Case("rnn", f"{cls} {b},{i}->{h}", _make_cell(cls, b, i, h), 2.0 * b * GATES[cls[:-4]] * h * (i + h)))
    for cls, T, b, i, h, kw in (QUICK_SEQS if quick else SEQS):
        extra = "".join(f" {k}={v}" for k, v in kw.items())
        out.append(Case("rnn", f"{cls} {T},{b},{i}->{h}{extra}", _make_seq(cls, T, b, i, h, kw),
                        _seq_flops(cls, T, b, i, h, kw)))
    return out
