"""Autocast rules for every fastnn operator.

The CPU kernels compute in float32 (or float64); they have no bfloat16 path yet.
Under torch.autocast("cpu") torch.nn layers run in bfloat16, which fastnn cannot
do on CPU, so fastnn ops cast their floating inputs to float32 instead: layers keep
working inside autocast regions (mixed with torch layers that produce bfloat16),
and return float32. This deviation is documented in the README.
"""
import torch


def fastnn_op_names():
    return sorted(name for name in torch._C._dispatch_get_all_op_names() if name.startswith("fastnn::"))


def register_all():
    for name in fastnn_op_names():
        torch.library.register_autocast(name, "cpu", torch.float32)
