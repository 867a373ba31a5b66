"""fastnn: fast drop-in replacements for torch.nn layers, with custom CPU (and CUDA) kernels.

    import fastnn
    layer = fastnn.Linear(784, 512)          # where you had torch.nn.Linear
    model = fastnn.convert(model)            # or swap every supported layer of a model
    fastnn.info()                            # versions, backends, CPU micro-kernel
"""
import torch  # noqa: F401  (first: _C links against libc10/libtorch, which torch loads)

from . import _C  # noqa: F401  (loads the kernels and registers torch.ops.fastnn.*)
from . import ops  # noqa: F401  (fake kernels and autograd for the ops)
from . import functional
from ._info import info
from .nn import GRU, LSTM, RNN, Conv1d, Conv2d, GRUCell, Linear, LSTMCell, RNNCell
from .ops import autocast as _autocast
from .convert import convert, revert

_autocast.register_all()  # after every op family is imported

__version__ = "0.1.0"

__all__ = ["Linear", "Conv1d", "Conv2d", "LSTMCell", "GRUCell", "RNNCell", "LSTM", "GRU", "RNN",
           "functional", "info", "convert", "revert", "__version__"]
