"""Drop-in replacements for torch.nn layers (each subclasses the layer it replaces)."""
from .linear import Linear

__all__ = ["Linear"]

from .rnn import GRU, LSTM, RNN  # noqa: E402
from .rnn_cells import GRUCell, LSTMCell, RNNCell  # noqa: E402

__all__ += ["LSTMCell", "GRUCell", "RNNCell", "LSTM", "GRU", "RNN"]
