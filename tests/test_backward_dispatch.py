"""How autograd calls fastnn's backward ops (csrc/backward_op_scope.h): below the autograd keys for a
plain backward (its results are checked against torch.nn in every layer's parity tests), through
torch's autograd fallback under create_graph. The ops have no second-order gradients, and there
torch's warning must still say so instead of a silently wrong result."""
import pytest
import torch

import fastnn


def _linear():
    return fastnn.Linear(6, 5), torch.randn(3, 6, dtype=torch.float64, requires_grad=True)


def _conv():
    return fastnn.Conv2d(2, 3, 3, padding=1), torch.randn(2, 2, 5, 5, dtype=torch.float64, requires_grad=True)


def _cell():
    return fastnn.LSTMCell(4, 3), torch.randn(2, 4, dtype=torch.float64, requires_grad=True)


def _layer():
    return fastnn.GRU(4, 3), torch.randn(5, 2, 4, dtype=torch.float64, requires_grad=True)


def _first(out):
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


@pytest.mark.parametrize("make", [_linear, _conv, _cell, _layer], ids=["linear", "conv2d", "lstm_cell", "gru"])
def test_create_graph_keeps_the_fallback_warning(make):
    module, x = make()
    module.double()
    # tanh makes the second derivative depend on the backward op's outputs
    loss = torch.tanh(_first(module(x))).sum()
    (gx,) = torch.autograd.grad(loss, x, create_graph=True)
    assert gx.requires_grad
    with pytest.warns(UserWarning, match="autograd kernel was not registered"):
        gx.sum().backward()

