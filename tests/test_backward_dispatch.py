"""How autograd calls fastnn's backward ops (csrc/backward_op_scope.h): below the autograd keys
(their results are checked against torch.nn in every layer's parity tests), also under
create_graph, where the first-order gradients must still be right and backpropagating through
them must raise a clear error instead of torch's fallback result (zeros for the missing
second-order terms, with only a warning)."""
import warnings

import pytest
import torch

import fastnn


def _linear():
    return fastnn.Linear(6, 5), torch.nn.Linear(6, 5), torch.randn(3, 6, dtype=torch.float64, requires_grad=True)


def _conv():
    return (fastnn.Conv2d(2, 3, 3, padding=1), torch.nn.Conv2d(2, 3, 3, padding=1),
            torch.randn(2, 2, 5, 5, dtype=torch.float64, requires_grad=True))


def _cell():
    return fastnn.LSTMCell(4, 3), torch.nn.LSTMCell(4, 3), torch.randn(2, 4, dtype=torch.float64, requires_grad=True)


def _layer():
    return fastnn.GRU(4, 3), torch.nn.GRU(4, 3), torch.randn(5, 2, 4, dtype=torch.float64, requires_grad=True)


FAMILIES = {"linear": (_linear, "fastnn.Linear"), "conv2d": (_conv, "fastnn.Conv1d/Conv2d"),
            "lstm_cell": (_cell, "fastnn.LSTMCell/GRUCell/RNNCell"), "gru": (_layer, "fastnn.LSTM/GRU/RNN")}


def _first(out):
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


def _penalty_grads(module, x):
    """A gradient penalty: d/dparams of |d loss / dx|^2 (tanh makes it depend on the backward's outputs)."""
    loss = torch.tanh(_first(module(x))).sum()
    (gx,) = torch.autograd.grad(loss, x, create_graph=True)
    return gx


@pytest.mark.parametrize("family", list(FAMILIES))
def test_create_graph_first_order_right_second_order_raises(family):
    make, name = FAMILIES[family]
    fast, ref, x = make()
    fast.double()
    ref.double()
    fast.load_state_dict(ref.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "autograd kernel was not registered" warning must not come
        gx_fast = _penalty_grads(fast, x)
        gx_ref = _penalty_grads(ref, x)
        torch.testing.assert_close(gx_fast, gx_ref)
        assert gx_fast.requires_grad
        with pytest.raises(RuntimeError, match=f"{name} .*does not support second-order gradients"):
            (gx_fast ** 2).sum().backward()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_create_graph_without_second_backward_still_trains(family):
    """create_graph=True alone (the gradients kept with their graph, not differentiated again) works
    as with torch.nn: same gradients in .grad."""
    make, _ = FAMILIES[family]
    fast, ref, x = make()
    fast.double()
    ref.double()
    fast.load_state_dict(ref.state_dict())
    for m in (fast, ref):
        torch.tanh(_first(m(x))).sum().backward(create_graph=True)
    for (name, pf), pr in zip(fast.named_parameters(), ref.parameters()):
        torch.testing.assert_close(pf.grad, pr.grad, msg=lambda msg: f"grad of {name}: {msg}")
