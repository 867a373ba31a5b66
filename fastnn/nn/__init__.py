"""Drop-in replacements for torch.nn layers (each subclasses the layer it replaces)."""
from .linear import Linear
from .conv import Conv1d, Conv2d

__all__ = ["Linear"]
__all__ += ["Conv1d", "Conv2d"]
