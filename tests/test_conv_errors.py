"""Every fastnn convolution error: raised before any work, naming the argument, expected and got."""
import pytest
import torch

import fastnn
import fastnn.functional as FF


def x4(*shape):
    return torch.randn(*shape)


OP = torch.ops.fastnn.conv2d


@pytest.mark.parametrize("call, exc, match", [
    # channel mismatch
    (lambda: FF.conv2d(x4(2, 5, 8, 8), x4(4, 4, 3, 3)), RuntimeError,
     r"Given groups=1, weight of size \[4, 4, 3, 3\], expected input\[2, 5, 8, 8\] to have 4 channels, but got 5"),
    (lambda: FF.conv1d(x4(2, 5, 8), x4(4, 4, 3)), RuntimeError,
     r"conv1d: Given groups=1, weight of size \[4, 4, 3\], expected input\[2, 5, 8\] to have 4 channels"),
    # groups that do not divide the channels
    (lambda: FF.conv2d(x4(2, 6, 8, 8), x4(5, 2, 3, 3), groups=3), RuntimeError,
     r"Given groups=3, expected weight to be divisible by 3 at dimension 0"),
    (lambda: FF.conv2d(x4(2, 6, 8, 8), x4(6, 2, 3, 3), groups=0), RuntimeError,
     r"groups must be a positive integer, got 0"),
    # kernel larger than the padded input
    (lambda: FF.conv2d(x4(2, 3, 2, 2), x4(4, 3, 5, 5), padding=1), RuntimeError,
     r"Calculated padded input size per channel: \(4 x 4\). Kernel size: \(5 x 5\). Kernel size can't be greater"),
    (lambda: FF.conv1d(x4(2, 3, 4), x4(4, 3, 3), dilation=3), RuntimeError,
     r"conv1d: Calculated padded input size per channel: \(4\). Kernel size: \(7\)"),
    # negative padding, bad stride / dilation
    (lambda: FF.conv2d(x4(2, 3, 8, 8), x4(4, 3, 3, 3), padding=(-1, 0)), RuntimeError,
     r"padding must be non-negative \(negative padding is not supported\), got \[-1, 0\]"),
    (lambda: FF.conv2d(x4(2, 3, 8, 8), x4(4, 3, 3, 3), stride=0), RuntimeError, r"stride must be positive.*\[0, 0\]"),
    (lambda: FF.conv2d(x4(2, 3, 8, 8), x4(4, 3, 3, 3), dilation=(1, 0)), RuntimeError,
     r"dilation must be positive.*\[1, 0\]"),
    # wrong number of dimensions
    (lambda: FF.conv2d(x4(2, 3, 8, 8, 1), x4(4, 3, 3, 3)), RuntimeError,
     r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input of size: \[2, 3, 8, 8, 1\]"),
    (lambda: FF.conv1d(x4(2, 3, 8, 8), x4(4, 3, 3)), RuntimeError,
     r"Expected 2D \(unbatched\) or 3D \(batched\) input to conv1d, but got input of size: \[2, 3, 8, 8\]"),
    (lambda: FF.conv2d(x4(2, 3, 8, 8), x4(4, 3, 3)), RuntimeError, r"conv2d: weight must be 4-D .* got 3-D"),
    (lambda: FF.conv1d(x4(2, 3, 8), x4(4, 3, 3, 3)), RuntimeError, r"conv1d: weight must be 3-D .* got 4-D"),
    (lambda: OP(x4(3, 8, 8), x4(4, 3, 3, 3)), RuntimeError, r"conv2d: expected 4-D input .* got 3-D"),
    # 'same' with stride > 1, unknown padding string
    (lambda: FF.conv2d(x4(2, 3, 8, 8), x4(4, 3, 3, 3), stride=2, padding="same"), RuntimeError,
     r"padding='same' is not supported for strided convolutions"),
    (lambda: FF.conv1d(x4(2, 3, 8), x4(4, 3, 3), stride=2, padding="same"), RuntimeError,
     r"conv1d: padding='same' is not supported for strided convolutions"),
    (lambda: FF.conv2d(x4(2, 3, 8, 8), x4(4, 3, 3, 3), padding="full"), RuntimeError,
     r"Invalid padding string 'full', should be one of \{'valid', 'same'\}"),
    # bias, dtype, activation
    (lambda: FF.conv2d(x4(2, 3, 8, 8), x4(4, 3, 3, 3), x4(5)), RuntimeError,
     r"bias must have shape \[out_channels\] = \[4\], got \[5\]"),
    (lambda: FF.conv2d(x4(2, 3, 8, 8), x4(4, 3, 3, 3).double()), RuntimeError,
     r"weight dtype must match input dtype Float, got Double"),
    (lambda: FF.conv2d(x4(2, 3, 8, 8).half(), x4(4, 3, 3, 3).half()), RuntimeError,
     r"conv2d: input must be float32 or float64 on CPU, got Half"),
    (lambda: FF.conv2d(x4(2, 3, 8, 8), x4(4, 3, 3, 3), activation="elu"), RuntimeError,
     r"conv2d: activation must be one of 'none', 'relu', 'gelu', 'silu', 'tanh', 'sigmoid', got 'elu'"),
    (lambda: fastnn.Conv2d(3, 4, 3, activation="elu"), ValueError, r"Conv2d: activation must be one of"),
    (lambda: fastnn.Conv1d(3, 4, 3, activation="elu"), ValueError, r"Conv1d: activation must be one of"),
    # backward op: grad_output shape
    (lambda: torch.ops.fastnn.conv2d_backward(x4(2, 4, 5, 5), x4(2, 3, 8, 8), x4(4, 3, 3, 3), x4(0), [1, 1],
                                              [0, 0], [1, 1], 1, "none", [True, True, True]), RuntimeError,
     r"conv2d_backward: grad_output must have shape \[2, 4, 6, 6\], got \[2, 4, 5, 5\]"),
    (lambda: torch.ops.fastnn.conv2d_backward(x4(2, 4, 6, 6), x4(2, 3, 8, 8), x4(4, 3, 3, 3), x4(1), [1, 1],
                                              [0, 0], [1, 1], 1, "relu", [True, True, True]), RuntimeError,
     r"conv2d_backward: saved \(output or pre-activation\) must have grad_output's shape"),
])
def test_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_torch_raises_too_for_same_cases():
    # the conditions above are errors in torch as well (spot check of the shared ones)
    with pytest.raises(RuntimeError):
        torch.nn.functional.conv2d(x4(2, 5, 8, 8), x4(4, 4, 3, 3))
    with pytest.raises(RuntimeError):
        torch.nn.functional.conv2d(x4(2, 3, 2, 2), x4(4, 3, 5, 5), padding=1)
    with pytest.raises(ValueError):
        torch.nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError):
        fastnn.Conv2d(3, 4, 3, stride=2, padding="same")
