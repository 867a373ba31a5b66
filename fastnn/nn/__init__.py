"""Drop-in replacements for torch.nn layers (each subclasses the layer it replaces)."""
from .conv import Conv1d, Conv2d
from .linear import Linear
from .rnn import GRU, LSTM, RNN
from .rnn_cells import GRUCell, LSTMCell, RNNCell

__all__ = ["Linear", "Conv1d", "Conv2d", "LSTMCell", "GRUCell", "RNNCell", "LSTM", "GRU", "RNN"]
