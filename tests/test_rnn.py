"""fastnn.LSTM / GRU / RNN and torch.ops.fastnn.rnn_layer against torch.nn: every
option, packed sequences of mixed lengths, gradcheck, opcheck, compile, errors."""
import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pack_sequence

import fastnn
from rnn_testutil import TOL, check_parity, pair

LAYERS = {
    "lstm": (torch.nn.LSTM, fastnn.LSTM, {}),
    "gru": (torch.nn.GRU, fastnn.GRU, {}),
    "rnn_tanh": (torch.nn.RNN, fastnn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (torch.nn.RNN, fastnn.RNN, {"nonlinearity": "relu"}),
}
F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _states(mode, layers_dirs, batch, hidden, proj=0, dtype=F64):
    shape = (layers_dirs, batch) if batch is not None else (layers_dirs,)
    h = torch.randn(*shape, proj or hidden, dtype=dtype, requires_grad=True)
    if mode == "lstm":
        c = torch.randn(*shape, hidden, dtype=dtype, requires_grad=True)
        return (h, c), [h, c]
    return h, [h]


# every combination of the structural options, tiny sizes, float64
GRID = list(itertools.product(LAYERS, [1, 2], [False, True], [False, True], [True, False], [True, False]))


@pytest.mark.parametrize("mode,num_layers,bidirectional,batch_first,bias,with_state", GRID)
def test_layer_options_f64(mode, num_layers, bidirectional, batch_first, bias, with_state):
    ref_cls, fast_cls, kw = LAYERS[mode]
    ref, fast = pair(ref_cls, fast_cls, 5, 6, num_layers=num_layers, bidirectional=bidirectional,
                     batch_first=batch_first, bias=bias, **kw)
    T, B = 4, 3
    x = torch.randn(*((B, T) if batch_first else (T, B)), 5, dtype=F64, requires_grad=True)
    dirs = 2 if bidirectional else 1
    if with_state:
        state, leaves = _states(mode, num_layers * dirs, B, 6)
        check_parity(ref, fast, (x, state), F64, leaves=[x, *leaves])
    else:
        check_parity(ref, fast, (x,), F64, leaves=[x])


@pytest.mark.parametrize("num_layers,bidirectional,with_state", list(itertools.product([1, 2], [False, True], [True, False])))
def test_lstm_proj_size(num_layers, bidirectional, with_state):
    ref, fast = pair(torch.nn.LSTM, fastnn.LSTM, 5, 7, num_layers=num_layers, bidirectional=bidirectional,
                     proj_size=3)
    x = torch.randn(5, 2, 5, dtype=F64, requires_grad=True)
    if with_state:
        state, leaves = _states("lstm", num_layers * (2 if bidirectional else 1), 2, 7, proj=3)
        check_parity(ref, fast, (x, state), F64, leaves=[x, *leaves])
    else:
        check_parity(ref, fast, (x,), F64, leaves=[x])


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("enforce_sorted", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_packed_mixed_lengths(mode, bidirectional, enforce_sorted, with_state):
    ref_cls, fast_cls, kw = LAYERS[mode]
    extra = {"proj_size": 2} if mode == "lstm" and bidirectional else {}
    ref, fast = pair(ref_cls, fast_cls, 4, 5, num_layers=2, bidirectional=bidirectional, **kw, **extra)
    lengths = [5, 2, 5, 1, 3] if not enforce_sorted else [5, 5, 3, 2, 1]
    seqs = [torch.randn(n, 4, dtype=F64, requires_grad=True) for n in lengths]
    packed = pack_sequence(seqs, enforce_sorted=enforce_sorted)
    if with_state:
        state, leaves = _states(mode, 2 * (2 if bidirectional else 1), len(lengths), 5, proj=extra.get("proj_size", 0))
        check_parity(ref, fast, (packed, state), F64, leaves=[*seqs, *leaves], retain=True)
    else:
        check_parity(ref, fast, (packed,), F64, leaves=seqs, retain=True)


def test_packed_padded_batch_first_lstm():
    ref, fast = pair(torch.nn.LSTM, fastnn.LSTM, 3, 4, batch_first=True)
    x = torch.randn(4, 6, 3, dtype=F64, requires_grad=True)
    packed = pack_padded_sequence(x, torch.tensor([6, 3, 4, 1]), batch_first=True, enforce_sorted=False)
    check_parity(ref, fast, (packed,), F64, leaves=[x], retain=True)


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched(mode, batch_first):
    ref_cls, fast_cls, kw = LAYERS[mode]
    ref, fast = pair(ref_cls, fast_cls, 3, 4, num_layers=2, bidirectional=True, batch_first=batch_first, **kw)
    x = torch.randn(5, 3, dtype=F64, requires_grad=True)
    state, leaves = _states(mode, 4, None, 4)
    check_parity(ref, fast, (x, state), F64, leaves=[x, *leaves])
    check_parity(ref, fast, (x,), F64, leaves=[x])


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("T,B,fin,hidden", [(7, 5, 33, 40), (3, 1, 64, 96), (12, 16, 20, 48)])
def test_float32(mode, T, B, fin, hidden):
    ref_cls, fast_cls, kw = LAYERS[mode]
    ref, fast = pair(ref_cls, fast_cls, fin, hidden, num_layers=2, dtype=torch.float32, **kw)
    x = torch.randn(T, B, fin, requires_grad=True)
    check_parity(ref, fast, (x,), torch.float32, leaves=[x])


ONE_PRODUCT = [(m, *shape) for m in LAYERS for shape in [(64, 40, 1, False, 0), (128, 32, 2, True, 0)]] + \
    [("lstm", 64, 40, 2, False, 24)]


@pytest.mark.parametrize("mode,fin,hidden,layers,bidirectional,proj", ONE_PRODUCT)
@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_weight_grads_in_one_product(mode, fin, hidden, layers, bidirectional, proj, dtype):
    """input_size a multiple of 64: the LSTM's and RNN's W_ih and W_hh gradients come from ONE
    product over [x | h_prev] writing both (GRU's hidden-side gate gradients differ: two products).
    Covers a second layer fed by both directions (2 x 32 = 64 inputs), a last output tile that
    only part of W_hh's columns fill (40, 24), the projection, and packed sequences."""
    ref_cls, fast_cls, kw = LAYERS[mode]
    if proj:
        kw = dict(kw, proj_size=proj)
    ref, fast = pair(ref_cls, fast_cls, fin, hidden, num_layers=layers, bidirectional=bidirectional, dtype=dtype,
                     **kw)
    x = torch.randn(6, 3, fin, dtype=dtype, requires_grad=True)
    check_parity(ref, fast, (x,), dtype, leaves=[x])
    seqs = [torch.randn(n, fin, dtype=dtype, requires_grad=True) for n in (5, 2, 4)]
    packed = pack_sequence(seqs, enforce_sorted=False)
    check_parity(ref, fast, (packed,), dtype, leaves=seqs, retain=True)


def test_noncontiguous_input_and_state():
    ref, fast = pair(torch.nn.LSTM, fastnn.LSTM, 4, 5, num_layers=2)
    x = torch.randn(3, 6, 8, dtype=F64)[:, ::2, ::2].requires_grad_(True)
    h = torch.randn(2, 3, 10, dtype=F64)[..., ::2].requires_grad_(True)
    c = torch.randn(3, 2, 5, dtype=F64).transpose(0, 1).requires_grad_(True)
    check_parity(ref, fast, (x, (h, c)), F64, leaves=[x, h, c])


def test_empty_sequence_and_batch():
    ref, fast = pair(torch.nn.GRU, fastnn.GRU, 3, 4)
    for m in (ref, fast):
        with pytest.raises(RuntimeError, match="Expected sequence length to be larger than 0 in RNN"):
            m(torch.randn(0, 2, 3, dtype=F64))
    x, h0 = torch.randn(4, 0, 3, dtype=F64), torch.randn(1, 0, 4, dtype=F64)
    (o1, h1), (o2, h2) = ref(x, h0), fast(x, h0)
    assert o1.shape == o2.shape == (4, 0, 4) and h1.shape == h2.shape == (1, 0, 4)


def test_dropout_between_layers():
    ref, fast = pair(torch.nn.LSTM, fastnn.LSTM, 4, 5, num_layers=3, dropout=0.5)
    x = torch.randn(6, 2, 4, dtype=F64)
    fast.eval()
    ref.eval()
    check_parity(ref, fast, (x,), F64)  # eval: no dropout
    fast.train()
    torch.manual_seed(1)
    out1, _ = fast(x)
    torch.manual_seed(1)
    out2, _ = fast(x)
    torch.manual_seed(2)
    out3, _ = fast(x)
    torch.testing.assert_close(out1, out2)  # dropout draws from torch's RNG
    assert not torch.allclose(out1, out3)
    # the same masks torch's own LSTM draws (it also uses dropout on each inter-layer output)
    torch.manual_seed(3)
    theirs = ref.train()(x)
    torch.manual_seed(3)
    ours = fast(x)
    torch.testing.assert_close(ours[0], theirs[0], **TOL[F64])


def test_module_contract():
    for mode, (ref_cls, fast_cls, kw) in LAYERS.items():
        ref, fast = pair(ref_cls, fast_cls, 3, 4, num_layers=2, bidirectional=True, **kw)
        assert isinstance(fast, ref_cls)
        assert list(fast.state_dict()) == list(ref.state_dict())
        ref.load_state_dict(fast.state_dict())
        fast.flatten_parameters()
        assert repr(fast).split("(", 1)[1] == repr(ref).split("(", 1)[1]


@pytest.mark.parametrize("mode", list(LAYERS))
def test_swapped_and_parametrized_weights(mode):
    """The forward must see the weights in use now: torch.func.functional_call's swapped tensors,
    a reassigned Parameter, and weight_norm's parametrized weight (recomputed on every call)."""
    ref_cls, fast_cls, kw = LAYERS[mode]
    ref, fast = pair(ref_cls, fast_cls, 3, 4, num_layers=2, **kw)
    x = torch.randn(5, 2, 3, dtype=F64)
    fast(x)  # a first call, so that a stale flat-weight list would be reused below
    swapped = {n: torch.randn_like(p) for n, p in fast.named_parameters()}
    ours = torch.func.functional_call(fast, swapped, (x,))[0]
    theirs = torch.func.functional_call(ref, swapped, (x,))[0]
    torch.testing.assert_close(ours, theirs, **TOL[F64])
    torch.testing.assert_close(fast(x)[0], ref(x)[0], **TOL[F64])  # the module's own weights again
    for m in (ref, fast):
        m.weight_hh_l1 = torch.nn.Parameter(swapped["weight_hh_l1"].clone())
    torch.testing.assert_close(fast(x)[0], ref(x)[0], **TOL[F64])
    for m in (ref, fast):
        torch.nn.utils.parametrizations.weight_norm(m, name="weight_ih_l0")
    check_parity(ref, fast, (x,), F64)
    with torch.no_grad():  # the parametrization's parameters change: the next call must use them
        for m in (ref, fast):
            m.parametrizations.weight_ih_l0.original0.mul_(2)
    torch.testing.assert_close(fast(x)[0], ref(x)[0], **TOL[F64])


# ---- the op itself: gradcheck and opcheck ---------------------------------------------------

def _op_args(mode, packed, proj, reverse, bias=True, dtype=F64, rg=True):
    g = {"lstm": 4, "gru": 3}.get(mode, 1)
    H, I = 3, 2
    P = 2 if proj else H
    if packed:
        bs = torch.tensor([3, 2, 2, 1])
        x = torch.randn(int(bs.sum()), I, dtype=dtype)
    else:
        bs = None
        x = torch.randn(3, 2, I, dtype=dtype)
    B = 3 if packed else 2
    t = lambda *s: torch.randn(*s, dtype=dtype).requires_grad_(rg)  # noqa: E731
    return (mode, x.requires_grad_(rg), bs, t(B, P), t(B, H) if mode == "lstm" else None, t(g * H, I), t(g * H, P),
            t(g * H) if bias else None, t(g * H) if bias else None, t(P, H) if proj else None, reverse)


OP_CASES = [(m, packed, proj, rev) for m in LAYERS for packed in (False, True) for proj in (False, True)
            for rev in (False, True) if not (proj and m != "lstm")]


@pytest.mark.parametrize("mode,packed,proj,reverse", OP_CASES)
def test_op_gradcheck(mode, packed, proj, reverse):
    args = _op_args(mode, packed, proj, reverse)
    idx = [i for i, a in enumerate(args) if torch.is_tensor(a) and a.requires_grad]

    def f(*tensors):
        full = list(args)
        for i, tnsr in zip(idx, tensors):
            full[i] = tnsr
        out, hy, cy, _ = torch.ops.fastnn.rnn_layer(*full)
        return (out, hy, cy) if mode == "lstm" else (out, hy)
    assert torch.autograd.gradcheck(f, [args[i] for i in idx])


@pytest.mark.parametrize("mode,packed,proj,reverse", OP_CASES[::2] + [("lstm", True, True, True)])
def test_op_opcheck(mode, packed, proj, reverse):
    torch.library.opcheck(torch.ops.fastnn.rnn_layer.default, _op_args(mode, packed, proj, reverse, dtype=torch.float32))


def test_op_backward_opcheck():
    args = _op_args("lstm", True, True, False, rg=False)
    out, hy, cy, ws = torch.ops.fastnn.rnn_layer(*args)
    mode, x, bs, hx, cx, w_ih, w_hh, _, _, w_hr, rev = args
    torch.library.opcheck(torch.ops.fastnn.rnn_layer_backward.default,
                          (mode, torch.randn_like(out), torch.randn_like(hy), None, x, bs, hx, cx, w_ih, w_hh, w_hr,
                           out, ws, rev, [True, True, True]))


# ---- torch.compile ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode", list(LAYERS))
def test_compile_fullgraph(mode):
    ref_cls, fast_cls, kw = LAYERS[mode]
    ref, fast = pair(ref_cls, fast_cls, 4, 5, num_layers=2, bidirectional=True, **kw)
    compiled = torch.compile(fast, fullgraph=True, backend="aot_eager")
    x = torch.randn(6, 3, 4, dtype=F64, requires_grad=True)
    # dynamo refuses every torch.nn.RNNBase subclass unless allow_rnn is set
    with torch._dynamo.config.patch(allow_rnn=True):
        check_parity(ref, compiled, (x,), F64, leaves=[x])


def test_compile_inductor_lstm():
    ref, fast = pair(torch.nn.LSTM, fastnn.LSTM, 4, 5, batch_first=True, dtype=torch.float32)
    compiled = torch.compile(fast, fullgraph=True)
    x = torch.randn(3, 6, 4, requires_grad=True)
    with torch._dynamo.config.patch(allow_rnn=True):
        check_parity(ref, compiled, (x,), torch.float32, leaves=[x])


# ---- errors ----------------------------------------------------------------------------------

def _lstm():
    return fastnn.LSTM(5, 6, num_layers=2)


ERRORS = [
    (_lstm, lambda m: m(torch.randn(3, 2, 4)), RuntimeError, r"input.size\(-1\) must be equal to input_size. Expected 5, got 4"),
    (_lstm, lambda m: m(torch.randn(1, 3, 2, 5)), ValueError, r"LSTM: Expected input to be 2D or 3D, got 4D instead"),
    (_lstm, lambda m: m(torch.randn(3, 2, 5), (torch.randn(2, 2, 7), torch.randn(2, 2, 6))), RuntimeError,
     r"Expected hidden\[0\] size \(2, 2, 6\), got \[2, 2, 7\]"),
    (_lstm, lambda m: m(torch.randn(3, 2, 5), (torch.randn(2, 2, 6), torch.randn(2, 3, 6))), RuntimeError,
     r"Expected hidden\[1\] size \(2, 2, 6\), got \[2, 3, 6\]"),
    (_lstm, lambda m: m(torch.randn(3, 2, 5), (torch.randn(2, 6), torch.randn(2, 6))), RuntimeError,
     r"For batched 3-D input, hx and cx should also be 3-D but got \(2-D, 2-D\) tensors"),
    (_lstm, lambda m: m(torch.randn(3, 5), (torch.randn(2, 1, 6), torch.randn(2, 1, 6))), RuntimeError,
     r"For unbatched 2-D input, hx and cx should also be 2-D but got \(3-D, 3-D\) tensors"),
    (lambda: fastnn.GRU(5, 6), lambda m: m(torch.randn(3, 2, 5), torch.randn(1, 3, 6)), RuntimeError,
     r"Expected hidden size \(1, 2, 6\), got \[1, 3, 6\]"),
    (lambda: fastnn.GRU(5, 6), lambda m: m(torch.randn(3, 2, 5), torch.randn(2, 6)), RuntimeError,
     r"For batched 3-D input, hx should also be 3-D but got 2-D tensor"),
    (lambda: fastnn.RNN(5, 6), lambda m: m(torch.randn(2, 2, 2, 5)), ValueError,
     r"RNN: Expected input to be 2D or 3D, got 4D tensor instead"),
    (lambda: fastnn.GRU(5, 6), lambda m: m(torch.randn(3, 5), torch.randn(1, 1, 6)), RuntimeError,
     r"For unbatched 2-D input, hx should also be 2-D but got 3-D tensor"),
    (lambda: fastnn.LSTM(5, 6, proj_size=2), lambda m: m(torch.randn(3, 2, 5), (torch.randn(1, 2, 6), torch.randn(1, 2, 6))),
     RuntimeError, r"Expected hidden\[0\] size \(1, 2, 2\), got \[1, 2, 6\]"),
]


@pytest.mark.parametrize("make,call,exc,match", ERRORS)
def test_layer_errors(make, call, exc, match):
    with pytest.raises(exc, match=match):
        call(make())


def _op_error(**changes):
    args = list(_op_args("lstm", False, False, False, rg=False, dtype=torch.float32))
    names = ["mode", "input", "batch_sizes", "hx", "cx", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "reverse"]
    for k, v in changes.items():
        args[names.index(k)] = v(args) if callable(v) else v
    torch.ops.fastnn.rnn_layer(*args)


OP_ERRORS = [
    (dict(mode="lsmt"), r"mode must be one of 'lstm', 'gru', 'rnn_tanh', 'rnn_relu', got 'lsmt'"),
    (dict(input=torch.randn(3, 2)), r"input must be 3-D \[T, batch, input_size\], got 2-D"),
    (dict(input=torch.randn(3, 2, 5)), r"input.size\(-1\) must equal input_size = w_ih.size\(1\) = 2, got 5"),
    (dict(hx=torch.randn(3, 3)), r"hx must have shape \[batch, proj_size or hidden_size\] = \[2, 3\], got \[3, 3\]"),
    (dict(cx=torch.randn(2, 4)), r"cx must have shape \[batch, hidden_size\] = \[2, 3\], got \[2, 4\]"),
    (dict(cx=None), r"cx \(initial cell state\) is required for mode 'lstm'"),
    (dict(w_hh=torch.randn(12, 4)), r"w_hh must have shape .* = \[12, 3\], got \[12, 4\]"),
    (dict(w_ih=torch.randn(10, 2)), r"w_ih must be 2-D \[4\*hidden_size, input_size\], got shape \[10, 2\]"),
    (dict(b_ih=torch.randn(11)), r"b_ih must have shape \[G\*hidden_size\] = \[12\], got \[11\]"),
    (dict(b_hh=None), r"b_ih and b_hh must both be given or both be None"),
    (dict(hx=torch.randn(2, 3, dtype=torch.float64)), r"hx dtype must match input dtype Float, got Double"),
    (dict(w_hr=torch.randn(2, 4)), r"w_hr must have shape \[proj_size, hidden_size\] = \[2, 3\], got \[2, 4\]"),
    (dict(input=torch.randn(6, 2), batch_sizes=torch.tensor([2, 3, 1])),
     r"batch_sizes must be positive and non-increasing"),
    (dict(input=torch.randn(5, 2), batch_sizes=torch.tensor([2, 2, 2])), r"packed input must have sum\(batch_sizes\) = 6 rows, got 5"),
    (dict(input=torch.randn(6, 2), batch_sizes=torch.tensor([2.0, 2, 2])), r"batch_sizes must be a 1-D int64 CPU tensor"),
]


@pytest.mark.parametrize("changes,match", OP_ERRORS)
def test_op_errors(changes, match):
    with pytest.raises(RuntimeError, match=match):
        _op_error(**changes)


# ---- the team-parallel and small-batch kernels ---------------------------------------------------
# Two workers split a sequence's hidden units once W_hh has 48K elements (recurrence_split_work,
# rnn_fused.h): these sizes are the smallest round ones that split; smaller run on one worker.
TEAM_HIDDEN = {"lstm": 128, "gru": 128, "rnn_tanh": 224, "rnn_relu": 224}

@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("batch", [1, 3, 6, 11])
def test_team_kernels_packed_bidirectional(mode, dtype, batch):
    ref_cls, fast_cls, kw = LAYERS[mode]
    H = TEAM_HIDDEN[mode]
    ref, fast = pair(ref_cls, fast_cls, 24, H, bidirectional=True, dtype=dtype, **kw)
    lengths = [7, 3, 7, 5, 1, 6, 2, 7, 4, 4, 2][:batch]
    seqs = [torch.randn(n, 24, dtype=dtype, requires_grad=True) for n in lengths]
    packed = pack_sequence(seqs, enforce_sorted=False)
    state, leaves = _states(mode, 2, batch, H, dtype=dtype)
    check_parity(ref, fast, (packed, state), dtype, leaves=[*seqs, *leaves], retain=True)


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("T,B", [(8, 2), (2, 8), (9, 2), (8, 3)])
def test_team_kernels_weight_in_place_or_packed(mode, T, B):
    """float32 sequences of up to 8 steps and 16 rows read W_hh in place, longer ones pack it
    once (pack_recurrent_weight, rnn_fused.h): both sides of that boundary, both directions."""
    ref_cls, fast_cls, kw = LAYERS[mode]
    H = TEAM_HIDDEN[mode]
    ref, fast = pair(ref_cls, fast_cls, 24, H, bidirectional=True, dtype=torch.float32, **kw)
    x = torch.randn(T, B, 24, requires_grad=True)
    state, leaves = _states(mode, 2, B, H, dtype=torch.float32)
    check_parity(ref, fast, (x, state), torch.float32, leaves=[x, *leaves])


@pytest.mark.parametrize("mode", list(LAYERS))
def test_team_kernels_gradcheck(mode):
    ref_cls, fast_cls, kw = LAYERS[mode]
    fast = fast_cls(3, TEAM_HIDDEN[mode], dtype=F64, **kw)
    x = torch.randn(3, 2, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: fast(x)[0], (x,))


@pytest.mark.parametrize("threads", [1, 3])
def test_team_kernels_any_thread_count(threads):
    """The team splits hidden units over torch.get_num_threads() workers: other counts than
    the machine's (one worker; more workers than cores) give the same results."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for mode in ("lstm", "gru"):
            ref_cls, fast_cls, kw = LAYERS[mode]
            ref, fast = pair(ref_cls, fast_cls, 16, TEAM_HIDDEN[mode], bidirectional=True, dtype=torch.float32, **kw)
            x = torch.randn(5, 3, 16, requires_grad=True)
            check_parity(ref, fast, (x,), torch.float32, leaves=[x])
    finally:
        torch.set_num_threads(old)


@pytest.mark.parametrize("mode,hidden", [("lstm", 304), ("gru", 304), ("rnn_tanh", 528)])
def test_team_kernels_whole_weight_slices(mode, hidden):
    """A worker's W_hh slice over 1 MiB (float64, two workers: gates * hidden/2 * hidden * 8 bytes)
    is multiplied whole after the wait instead of in per-part K pieces: same results."""
    ref_cls, fast_cls, kw = LAYERS[mode]
    ref, fast = pair(ref_cls, fast_cls, 8, hidden, dtype=F64, **kw)
    x = torch.randn(4, 2, 8, dtype=F64, requires_grad=True)
    state, leaves = _states(mode, 1, 2, hidden, dtype=F64)
    check_parity(ref, fast, (x, state), F64, leaves=[x, *leaves])


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("dtype", [F64, torch.float32])
@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("hidden", [40, 128])
def test_work_alongside_recurrence(mode, dtype, packed, hidden):
    """Two threads: one runs a recurrence, the other the GEMM beside it. hidden 40 (and RNN 128):
    the recurrence runs on one worker, and the other thread projects the steps ahead of it
    (forward) and computes the input gradient of the steps behind it (backward;
    recurrence_leaves_a_thread, rnn_fused.h). LSTM and GRU at 128 with batch 4-12 and 50+ steps (the
    second layer, input 2 x 128): the backward recurrence alone, the input gradient beside it
    (pipelined_input_grad, rnn_backward.cpp). Both directions, full and variable-length batches
    whose chunks end inside a step's rows: same results. Deterministic mode keeps those fixed rules
    on every call (otherwise the timed choice of rnn_path_choice.h alternates paths on a shape's
    first calls; tests/test_rnn_path_choice.py forces each)."""
    old = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    try:
        ref_cls, fast_cls, kw = LAYERS[mode]
        ref, fast = pair(ref_cls, fast_cls, 24, hidden, num_layers=2, bidirectional=True, dtype=dtype, **kw)
        if packed:  # batch sizes 9 down to 5 over the steps: chunks end inside a step's rows
            lengths = [61, 53, 60, 50, 58, 55, 52, 61, 57]
            seqs = [torch.randn(n, 24, dtype=dtype, requires_grad=True) for n in lengths]
            inputs, leaves = (pack_sequence(seqs, enforce_sorted=False),), seqs
        else:
            x = torch.randn(57, 6, 24, dtype=dtype, requires_grad=True)
            inputs, leaves = (x,), [x]
        check_parity(ref, fast, inputs, dtype, leaves=leaves, retain=packed)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(old)
