"""Shared helpers for the recurrent tests: paired torch.nn / fastnn modules and
comparison of nested outputs (tensors, tuples, PackedSequence) and gradients."""
import torch
from torch.nn.utils.rnn import PackedSequence

TOL = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=2e-4, atol=2e-5)}


def pair(ref_cls, fast_cls, *args, dtype=torch.float64, **kw):
    ref = ref_cls(*args, dtype=dtype, **kw)
    fast = fast_cls(*args, dtype=dtype, **kw)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


def flatten(out):
    """Tensors of a nested output in order (PackedSequence -> its data; batch_sizes checked apart)."""
    if isinstance(out, PackedSequence):
        return [out.data]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flatten(o)]
    return [out]


def assert_same_structure(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, PackedSequence):
        assert torch.equal(a.batch_sizes, b.batch_sizes)
        for x, y in ((a.sorted_indices, b.sorted_indices), (a.unsorted_indices, b.unsorted_indices)):
            assert (x is None) == (y is None) and (x is None or torch.equal(x, y))
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_structure(x, y)
    else:
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape)


def check_parity(ref, fast, inputs, dtype, leaves=(), retain=False):
    """retain: keep the graph of the inputs (a PackedSequence built from the leaves) for the second run."""
    """Forward outputs and the gradients of every leaf (inputs/states) and parameter."""
    out_r = ref(*inputs)
    grads_r = _grads(out_r, list(leaves) + list(ref.parameters()), retain=retain)
    out_f = fast(*inputs)
    assert_same_structure(out_r, out_f)
    for a, b in zip(flatten(out_f), flatten(out_r)):
        torch.testing.assert_close(a, b, **TOL[dtype])
    grads_f = _grads(out_f, list(leaves) + list(fast.parameters()), seed_like=flatten(out_r), retain=retain)
    names = [f"leaf{i}" for i in range(len(leaves))] + [n for n, _ in fast.named_parameters()]
    for name, a, b in zip(names, grads_f, grads_r):
        torch.testing.assert_close(a, b, **TOL[dtype], msg=lambda m: f"grad of {name}: {m}")


_SEEDS = {}


def _grads(out, wrt, seed_like=None, retain=False):
    outs = flatten(out)
    key = tuple(o.shape for o in outs)
    if seed_like is None:
        _SEEDS[key] = [torch.randn_like(o) for o in outs]
    seeds = _SEEDS[key]
    total = sum((o * s).sum() for o, s in zip(outs, seeds))
    return torch.autograd.grad(total, wrt, retain_graph=retain)
