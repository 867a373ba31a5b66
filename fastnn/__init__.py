"""fastnn: fast drop-in replacements for torch.nn layers, with custom CPU (and CUDA) kernels.

    import fastnn
    layer = fastnn.Linear(784, 512)          # where you had torch.nn.Linear
    fastnn.info()                            # versions, backends, CPU micro-kernel
"""
from . import _C  # noqa: F401  (loads the kernels and registers torch.ops.fastnn.*)
from . import ops  # noqa: F401  (fake kernels and autograd for the ops)
from . import functional
from ._info import info
from .nn import Linear
from .nn import Conv1d, Conv2d

__version__ = "0.1.0"

__all__ = ["Linear", "functional", "info", "__version__"]
__all__ += ["Conv1d", "Conv2d"]
