"""Drop-in replacements for torch.nn layers (each subclasses the layer it replaces)."""
from .linear import Linear

__all__ = ["Linear"]
