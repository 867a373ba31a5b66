"""Bad input to fastnn linear: a clear error naming the argument, expected and actual value."""
import pytest
import torch

import fastnn

lin = fastnn.functional.linear


def test_integer_input():
    with pytest.raises(RuntimeError, match=r"linear: input must be a floating-point tensor, got Long"):
        lin(torch.ones(2, 3, dtype=torch.long), torch.ones(4, 3, dtype=torch.long))


def test_dtype_mismatch():
    with pytest.raises(RuntimeError, match=r"weight dtype must match input dtype Float, got Double"):
        lin(torch.ones(2, 3), torch.ones(4, 3, dtype=torch.float64))


def test_bias_dtype_mismatch():
    with pytest.raises(RuntimeError, match=r"bias dtype must match input dtype Float, got Double"):
        lin(torch.ones(2, 3), torch.ones(4, 3), torch.ones(4, dtype=torch.float64))


def test_wrong_in_features():
    with pytest.raises(RuntimeError, match=r"last dimension must equal in_features = 3, got input of shape \[2, 5\]"):
        lin(torch.ones(2, 5), torch.ones(4, 3))


def test_weight_not_2d():
    with pytest.raises(RuntimeError, match=r"weight must be 2-D \[out_features, in_features\], got 3-D"):
        lin(torch.ones(2, 3), torch.ones(4, 3, 1))


def test_wrong_bias_shape():
    with pytest.raises(RuntimeError, match=r"bias must have shape \[out_features\] = \[4\], got \[5\]"):
        lin(torch.ones(2, 3), torch.ones(4, 3), torch.ones(5))


def test_scalar_input():
    with pytest.raises(RuntimeError, match=r"input must have at least 1 dimension"):
        lin(torch.tensor(1.0), torch.ones(4, 1))


def test_unknown_activation():
    with pytest.raises(RuntimeError, match=r"activation must be one of .*got 'swish'"):
        torch.ops.fastnn.linear(torch.ones(2, 3), torch.ones(4, 3), None, "swish")
    with pytest.raises(ValueError, match=r"activation must be one of .*got 'swish'"):
        fastnn.Linear(3, 4, activation="swish")


def test_unsupported_cpu_dtype_is_loud():
    with pytest.raises(RuntimeError, match=r"input must be float32 or float64 on CPU, got Half"):
        lin(torch.ones(2, 3, dtype=torch.half), torch.ones(4, 3, dtype=torch.half))


def test_device_mismatch():
    w = torch.ones(4, 3, device="meta")
    with pytest.raises(RuntimeError, match=r"weight must be on the input's device cpu, got meta"):
        torch.ops.fastnn.linear.default.redispatch(
            torch._C.DispatchKeySet(torch._C.DispatchKey.CPU), torch.ones(2, 3), w, None, "none")
