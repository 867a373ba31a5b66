"""torch.nn.functional-style entry points to the fastnn kernels."""
from typing import Optional

import torch


def linear(input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None,
           activation: str = "none") -> torch.Tensor:
    """F.linear(input, weight, bias) followed by `activation` (none, relu, gelu, silu,
    tanh, sigmoid), fused into the GEMM epilogue."""
    return torch.ops.fastnn.linear(input, weight, bias, activation)


# Recurrent cells (torch._VF.*_cell signatures): one fused step of fastnn::rnn_layer.
def lstm_cell(input: torch.Tensor, hx, w_ih: torch.Tensor, w_hh: torch.Tensor,
              b_ih: Optional[torch.Tensor] = None, b_hh: Optional[torch.Tensor] = None):
    """One LSTM step: input [batch, input_size], hx = (h, c) -> (h', c'). Gates i, f, g, o."""
    from .ops.rnn import cell
    return cell("lstm", input, hx[0], hx[1], w_ih, w_hh, b_ih, b_hh)


def gru_cell(input: torch.Tensor, hx: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
             b_ih: Optional[torch.Tensor] = None, b_hh: Optional[torch.Tensor] = None) -> torch.Tensor:
    """One GRU step (torch's r, z, n formulation) -> h'."""
    from .ops.rnn import cell
    return cell("gru", input, hx, None, w_ih, w_hh, b_ih, b_hh)[0]


def rnn_tanh_cell(input: torch.Tensor, hx: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
                  b_ih: Optional[torch.Tensor] = None, b_hh: Optional[torch.Tensor] = None) -> torch.Tensor:
    """One Elman RNN step, h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    from .ops.rnn import cell
    return cell("rnn_tanh", input, hx, None, w_ih, w_hh, b_ih, b_hh)[0]


def rnn_relu_cell(input: torch.Tensor, hx: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
                  b_ih: Optional[torch.Tensor] = None, b_hh: Optional[torch.Tensor] = None) -> torch.Tensor:
    """One Elman RNN step with relu."""
    from .ops.rnn import cell
    return cell("rnn_relu", input, hx, None, w_ih, w_hh, b_ih, b_hh)[0]
