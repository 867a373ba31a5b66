"""Fake (meta) kernels and autograd formulas for the torch.ops.fastnn operators,
one module per op family."""
from . import linear  # noqa: F401
from . import conv  # noqa: F401
from . import rnn  # noqa: F401
