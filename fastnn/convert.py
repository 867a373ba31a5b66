"""fastnn.convert / fastnn.revert: swap the torch.nn layers of a model for their fastnn twins
(and back), in place.

A fastnn layer subclasses the torch.nn layer it replaces and overrides forward only, so a
swap is a change of the module's class: the module object stays the same, and with it its
Parameter objects (an optimizer built before the swap keeps stepping them), buffers, hooks,
state_dict keys, training/eval mode, device and dtype. Shared submodules are swapped once.

Each candidate is checked before it is swapped: the fastnn class is built (on the meta
device) with the layer's own constructor options, and a one-element probe forward runs on the
layer's device and dtype, recording which operators it dispatches. A layer whose options,
dtype or device the fastnn kernels do not take, or whose probe would not reach a fastnn
kernel, is left as it was, with the reason in the summary.
"""
import fnmatch
import warnings
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple, Type

import torch
import torch.nn.utils.parametrize  # noqa: F401  (is_parametrized)
from torch.utils._python_dispatch import TorchDispatchMode

# The torch.nn layers fastnn may replace, in the order they are reported.
LAYER_NAMES = ("Linear", "Conv1d", "Conv2d", "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell")

# Constructor options read back from a layer (they are attributes of the same name).
_CTOR_ATTRS = {
    "Linear": ("in_features", "out_features", "bias"),
    "Conv1d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
               "bias", "padding_mode"),
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
               "bias", "padding_mode"),
    "LSTM": ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
             "proj_size"),
    "GRU": ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional"),
    "RNN": ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first", "dropout",
            "bidirectional"),
    "LSTMCell": ("input_size", "hidden_size", "bias"),
    "GRUCell": ("input_size", "hidden_size", "bias"),
    "RNNCell": ("input_size", "hidden_size", "bias", "nonlinearity"),
}


def supported_layers() -> Dict[Type[torch.nn.Module], Type[torch.nn.Module]]:
    """{torch.nn class: fastnn class} for every fastnn layer this build exports."""
    import fastnn

    mapping = {}
    for name in LAYER_NAMES:
        fast_cls = getattr(fastnn, name, None)
        torch_cls = getattr(torch.nn, name)
        if isinstance(fast_cls, type) and issubclass(fast_cls, torch_cls) and fast_cls is not torch_cls:
            mapping[torch_cls] = fast_cls
    return mapping


@dataclass
class Swap:
    names: List[str]          # every qualified name the module is reachable under ("" is the root)
    source: str               # class before, e.g. "torch.nn.Linear"
    target: Optional[str]     # class after; None when it was left
    reason: Optional[str] = None

    @property
    def name(self) -> str:
        shown = [n or "<root>" for n in self.names]
        return shown[0] + (f" (also {', '.join(shown[1:])})" if len(shown) > 1 else "")


@dataclass
class ConvertSummary:
    """What convert / revert did: `swapped` and `left` (with the reason), one entry per module."""
    action: str
    swapped: List[Swap] = field(default_factory=list)
    left: List[Swap] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.swapped)

    def __str__(self) -> str:
        lines = [f"fastnn.{self.action}: {len(self.swapped)} swapped, {len(self.left)} left"]
        for s in self.swapped:
            lines.append(f"  swapped {s.name}: {s.source} -> {s.target}")
        for s in self.left:
            lines.append(f"  left    {s.name}: {s.source} ({s.reason})")
        return "\n".join(lines)

    __repr__ = __str__


def _qualname(cls: type) -> str:
    module = cls.__module__
    if module.startswith("torch.nn.modules"):
        module = "torch.nn"
    elif module.startswith("fastnn."):
        module = "fastnn"
    return f"{module}.{cls.__name__}"


def _ctor_kwargs(module: torch.nn.Module, name: str, param: torch.Tensor) -> dict:
    kwargs = {}
    for attr in _CTOR_ATTRS[name]:
        value = getattr(module, attr)
        if attr == "bias" and not isinstance(value, bool):  # Linear/Conv keep the bias Parameter
            value = value is not None
        kwargs[attr] = value
    kwargs["device"] = "meta"
    kwargs["dtype"] = param.dtype
    return kwargs


def _prototype(cls: type, kwargs: dict) -> torch.nn.Module:
    with warnings.catch_warnings():  # e.g. RNN's "dropout with num_layers=1" warning: the user saw it once
        warnings.simplefilter("ignore")
        return cls(**kwargs)


def _state_keys(module: torch.nn.Module) -> Tuple[set, set, set]:
    return set(module._parameters), set(module._buffers), set(module._modules)


class _OpRecorder(TorchDispatchMode):
    """Records the operator names dispatched below autograd (e.g. 'fastnn::linear', 'aten::addmm')."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func._schema.name)
        return func(*args, **(kwargs or {}))


def probe_input(module: torch.nn.Module, name: str, param: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """The smallest valid forward input of a layer (batch 1), on the layer's device and dtype."""
    opts = dict(device=param.device, dtype=param.dtype, fill_value=0.5)  # no RNG: convert leaves the seed alone
    if name == "Linear":
        return (torch.full((1, module.in_features), **opts),)
    if name in ("Conv1d", "Conv2d"):
        dims = 1 if name == "Conv1d" else 2
        pad = module.padding if isinstance(module.padding, tuple) else (0,) * dims
        # one output position (more with padding); at least as large as the padding, which
        # padding_mode='circular'/'reflect' need
        spatial = [(k - 1) * d + 1 + p for k, d, p in zip(module.kernel_size, module.dilation, pad)]
        return (torch.full((1, module.in_channels, *spatial), **opts),)
    if name in ("LSTM", "GRU", "RNN"):
        return (torch.full((1, 1, module.input_size), **opts),)
    return (torch.full((1, module.input_size), **opts),)  # cells


def recorded_ops(fn, *args) -> Tuple[list, object]:
    """Runs fn(*args) recording the operators it dispatches; returns (op names, result)."""
    recorder = _OpRecorder()
    with recorder:
        result = fn(*args)
    return recorder.ops, result


def _probe(module: torch.nn.Module, name: str, param: torch.Tensor) -> Optional[str]:
    """Runs the (already swapped) layer's forward once on a tiny input; returns why it does not run
    a fastnn kernel, or None when it does. Calls forward directly so hooks do not fire."""
    inputs = probe_input(module, name, param)
    try:
        # a documented fallback warns once: keep its words for the reason
        # fork_rng: a training-mode dropout in the probe must not move the user's random stream
        devices = [param.device.index or 0] if param.device.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ops, _ = recorded_ops(type(module).forward, module, *inputs)
    except Exception as exc:  # the kernel's own argument checks say what is unsupported
        return f"fastnn kernel refused it: {str(exc).splitlines()[0]}"
    if not any(op.startswith("fastnn::") for op in ops):
        said = f"; it warned: {caught[0].message}" if caught else ""
        return f"forward would not run a fastnn kernel (ran {', '.join(sorted(set(ops))) or 'nothing'}){said}"
    return None


def _matches(patterns, name: str, module: torch.nn.Module) -> bool:
    for p in patterns:
        if isinstance(p, type):
            if isinstance(module, p):
                return True
        elif p == type(module).__name__ or fnmatch.fnmatchcase(name, p):
            return True
    return False


def _unique_modules(model: torch.nn.Module):
    """(module, [qualified names]) for each distinct module object, in registration order."""
    seen: Dict[int, Tuple[torch.nn.Module, List[str]]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        seen.setdefault(id(module), (module, []))[1].append(name)
    return list(seen.values())


def _selected(names, module, include, exclude) -> bool:
    if include is not None and not any(_matches(include, n, module) for n in names):
        return False
    return not (exclude is not None and any(_matches(exclude, n, module) for n in names))


def _first_param(module: torch.nn.Module) -> Optional[torch.Tensor]:
    return next(iter(module.parameters(recurse=False)), None)


def _same_value(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # e.g. tensors: not a plain option value
        return a is b


def _as_patterns(patterns):
    """include/exclude as a list: a lone class or string is one pattern, not its characters."""
    if patterns is None or isinstance(patterns, (str, type)):
        return None if patterns is None else [patterns]
    return list(patterns)


def _swap(module, names, source_cls, target_cls, torch_name, probe, check_extra_defaults=False) -> Swap:
    """Changes module's class from source_cls to target_cls after checking it is safe; returns the
    summary entry (target None and a reason when it was left)."""
    entry = Swap(list(names), _qualname(source_cls), None)
    param = _first_param(module)
    if param is None:
        entry.reason = "has no parameters to read its device and dtype from"
        return entry
    kwargs = _ctor_kwargs(module, torch_name, param)
    try:
        target_proto = _prototype(target_cls, kwargs)
        source_proto = _prototype(source_cls, kwargs)
    except Exception as exc:
        entry.reason = f"{_qualname(target_cls)} does not take its options: {str(exc).splitlines()[0]}"
        return entry
    if _state_keys(target_proto) != _state_keys(source_proto):
        entry.reason = (f"{_qualname(target_cls)} holds other parameters/buffers/submodules than "
                        f"{_qualname(source_cls)}; a class swap would not carry them")
        return entry
    # Plain attributes the target's __init__ sets and the source's does not (e.g. fastnn.Linear's
    # activation) take the target's defaults; attributes only the source has are dropped. Reverting
    # a layer whose extra attribute is not at its default would change what it computes.
    added = {k: v for k, v in vars(target_proto).items() if k not in vars(source_proto)}
    removed = [k for k in vars(source_proto) if k not in vars(target_proto)]
    if check_extra_defaults:
        for k in removed:
            default = getattr(source_proto, k)
            if not _same_value(getattr(module, k, default), default):
                entry.reason = f"{k}={getattr(module, k)!r} has no {_qualname(target_cls)} equivalent"
                return entry
    saved = {k: module.__dict__[k] for k in removed if k in module.__dict__}
    for k in removed:
        module.__dict__.pop(k, None)
    for k, v in added.items():
        module.__dict__.setdefault(k, v)
    module.__class__ = target_cls
    if probe:
        reason = _probe(module, torch_name, param)
        if reason is not None:  # undo: the layer stays exactly as it was
            module.__class__ = source_cls
            for k in added:
                module.__dict__.pop(k, None)
            module.__dict__.update(saved)
            entry.reason = reason
            return entry
    entry.target = _qualname(target_cls)
    return entry


def convert(model: torch.nn.Module, include: Optional[Iterable] = None, exclude: Optional[Iterable] = None,
            probe: bool = True) -> ConvertSummary:
    """Swaps, in place, every torch.nn layer of `model` that fastnn has (Linear, Conv1d, Conv2d, LSTM,
    GRU, RNN and the cells, as far as this build exports them) for its fastnn twin.

    include / exclude: iterables of torch.nn classes, class names ("Conv2d") or fnmatch patterns on
    qualified module names ("encoder.*"); a module is swapped when it matches include (default: all)
    and not exclude. Only exact torch.nn classes are swapped (a user subclass has its own forward).
    probe: run each swapped layer once on a tiny input to check it reaches a fastnn kernel (default).
    Returns a ConvertSummary of what was swapped and what was left, with the reason.
    """
    mapping = supported_layers()
    include, exclude = _as_patterns(include), _as_patterns(exclude)
    summary = ConvertSummary("convert")
    for module, names in _unique_modules(model):
        cls = type(module)
        if cls in mapping.values() or not isinstance(module, tuple(getattr(torch.nn, n) for n in LAYER_NAMES)):
            continue  # already fastnn, or not a layer fastnn is about
        if not _selected(names, module, include, exclude):
            continue
        base = next((b for b in (getattr(torch.nn, n) for n in LAYER_NAMES) if isinstance(module, b)))
        if cls is not base:
            if torch.nn.utils.parametrize.is_parametrized(module):
                why = "parametrized (torch.nn.utils.parametrize): its class carries the parametrization"
            else:
                why = f"a subclass of torch.nn.{base.__name__} with its own class"
            summary.left.append(Swap(names, _qualname(cls), None, f"{why}; not swapped"))
            continue
        if cls not in mapping:
            summary.left.append(Swap(names, _qualname(cls), None,
                                     f"fastnn.{cls.__name__} is not in this build"))
            continue
        entry = _swap(module, names, cls, mapping[cls], cls.__name__, probe)
        (summary.swapped if entry.target else summary.left).append(entry)
    return summary


def revert(model: torch.nn.Module, include: Optional[Iterable] = None,
           exclude: Optional[Iterable] = None) -> ConvertSummary:
    """Swaps every fastnn layer of `model` back to its torch.nn class, in place (same Parameter
    objects). A layer using a fastnn-only option (e.g. Linear(activation='relu')) is left, with the
    reason. Returns a ConvertSummary."""
    mapping = supported_layers()
    back = {fast: base for base, fast in mapping.items()}
    include, exclude = _as_patterns(include), _as_patterns(exclude)
    summary = ConvertSummary("revert")
    for module, names in _unique_modules(model):
        cls = type(module)
        if cls not in back or not _selected(names, module, include, exclude):
            continue
        base = back[cls]
        entry = _swap(module, names, cls, base, base.__name__, probe=False, check_extra_defaults=True)
        (summary.swapped if entry.target else summary.left).append(entry)
    return summary
