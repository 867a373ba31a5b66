"""Autocast rules for every fastnn operator.

CPU: the kernels compute in float32 (or float64); they have no bfloat16 path yet. Under
torch.autocast("cpu") torch.nn layers run in bfloat16, which fastnn cannot do on CPU, so
fastnn ops cast their floating inputs to float32 instead: layers keep working inside autocast
regions (mixed with torch layers that produce bfloat16), and return float32. This deviation is
documented in the README.

CUDA: csrc/autocast_cuda.cpp casts Linear and Conv inputs to the autocast dtype, as torch.nn does.

The CPU rule is registered here rather than with torch.library.register_autocast: in torch 2.11
that helper also touches the AutocastCUDA key and fails (KeyError) for an op that has a C++
AutocastCUDA kernel, which fastnn's Linear and Conv ops have.
"""
import torch

_LIB = torch.library.Library("fastnn", "IMPL")
_KEY = torch._C.DispatchKey.AutocastCPU


def fastnn_op_names():
    return sorted(name for name in torch._C._dispatch_get_all_op_names() if name.startswith("fastnn::"))


def _to_float32(value):
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() and value.device.type == "cpu" else value
    if isinstance(value, (list, tuple)):
        return type(value)(_to_float32(v) for v in value)
    return value


def _register(name):
    op = getattr(torch.ops.fastnn, name.split("::")[1]).default

    def run(*args):
        with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(_KEY)):
            return op(*_to_float32(args))

    def kernel(_keyset, *args, **kwargs):
        if kwargs:
            raise AssertionError(f"{name}: autocast kernel takes positional arguments only")
        return run(*args)

    _LIB.impl(name.split("::")[1], kernel, "AutocastCPU", with_keyset=True)
    op.py_impl(_KEY)(run)  # the same rule under the Python dispatcher (torch.compile tracing)


def register_all():
    for name in fastnn_op_names():
        _register(name)
