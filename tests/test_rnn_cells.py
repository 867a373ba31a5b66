"""fastnn.LSTMCell / GRUCell / RNNCell and fastnn.functional.*_cell against torch.nn."""
import pytest
import torch

import fastnn
from rnn_testutil import TOL, check_parity, pair

CELLS = [(torch.nn.LSTMCell, fastnn.LSTMCell, {}), (torch.nn.GRUCell, fastnn.GRUCell, {}),
         (torch.nn.RNNCell, fastnn.RNNCell, {"nonlinearity": "tanh"}),
         (torch.nn.RNNCell, fastnn.RNNCell, {"nonlinearity": "relu"})]
IDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _state(ref_cls, batch, hidden, dtype):
    shape = (batch, hidden) if batch is not None else (hidden,)
    h = torch.randn(*shape, dtype=dtype, requires_grad=True)
    if ref_cls is torch.nn.LSTMCell:
        c = torch.randn(*shape, dtype=dtype, requires_grad=True)
        return (h, c), [h, c]
    return h, [h]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cells", CELLS, ids=IDS)
@pytest.mark.parametrize("batch,fin,hidden", [(1, 1, 1), (3, 5, 7), (16, 33, 40), (5, 64, 96)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_cell_parity(dtype, cells, batch, fin, hidden, bias, with_state):
    ref_cls, fast_cls, kw = cells
    ref, fast = pair(ref_cls, fast_cls, fin, hidden, bias=bias, dtype=dtype, **kw)
    x = torch.randn(batch, fin, dtype=dtype, requires_grad=True)
    if with_state:
        state, leaves = _state(ref_cls, batch, hidden, dtype)
        check_parity(ref, fast, (x, state), dtype, leaves=[x, *leaves])
    else:
        check_parity(ref, fast, (x,), dtype, leaves=[x])


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("cells", CELLS, ids=IDS)
@pytest.mark.parametrize("batch,fin,hidden", [(4, 128, 128), (9, 70, 96)])
def test_cell_parity_threads(threads, cells, batch, fin, hidden):
    """Steps large enough to be split over the threads: each part owns hidden units for the gate math
    and a block of gate rows for the products (with 3 parts on 128 RNN rows, the last block is empty)."""
    ref_cls, fast_cls, kw = cells
    ref, fast = pair(ref_cls, fast_cls, fin, hidden, **kw)
    x = torch.randn(batch, fin, dtype=torch.float64, requires_grad=True)
    state, leaves = _state(ref_cls, batch, hidden, torch.float64)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        check_parity(ref, fast, (x, state), torch.float64, leaves=[x, *leaves])
        check_parity(ref, fast, (x,), torch.float64, leaves=[x])
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cells", CELLS[:2], ids=IDS[:2])
@pytest.mark.parametrize("batch", [24, 27, 32, 57, 64])
def test_cell_batch_split(dtype, cells, batch):
    """Two threads, batches whose steps split the batch rows (12+ rows a worker, weights up to 2 MiB): in
    the forward each worker multiplies every gate row for half the batch and runs that half's gate math;
    in the backward it takes that half's gate gradients, dx and dh, then its gate rows of the weight
    gradients. An odd batch leaves the second worker one row fewer."""
    ref_cls, fast_cls, kw = cells
    ref, fast = pair(ref_cls, fast_cls, 50, 70, dtype=dtype, **kw)
    x = torch.randn(batch, 50, dtype=dtype, requires_grad=True)
    state, leaves = _state(ref_cls, batch, 70, dtype)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        check_parity(ref, fast, (x, state), dtype, leaves=[x, *leaves])
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("cells", CELLS, ids=IDS)
@pytest.mark.parametrize("wanted", ["all", "no_input", "no_weights"])
@pytest.mark.parametrize("batch,fin,hidden", [(8, 128, 128), (9, 70, 96)])
def test_cell_backward_two_parts(cells, wanted, batch, fin, hidden):
    """Two threads, steps split in two parts. With every gradient wanted the backward splits the work after
    the gate gradients by task (dx and dh on one worker, weight and bias gradients on the other); without
    the input's or the weights' gradients it splits by gate rows and sums partial products. Each against
    torch, float64."""
    ref_cls, fast_cls, kw = cells
    ref, fast = pair(ref_cls, fast_cls, fin, hidden, **kw)
    x = torch.randn(batch, fin, dtype=torch.float64, requires_grad=wanted != "no_input")
    state, leaves = _state(ref_cls, batch, hidden, torch.float64)
    if wanted == "no_weights":
        for p in [*ref.parameters(), *fast.parameters()]:
            p.requires_grad_(False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        grads = []
        for module in (ref, fast):
            out = module(x, state)
            outs = out if isinstance(out, tuple) else (out,)
            if not grads:
                seeds = [torch.randn_like(o) for o in outs]
            wrt = [t for t in [x, *leaves, *module.parameters()] if t.requires_grad]
            grads.append(torch.autograd.grad(sum((o * s).sum() for o, s in zip(outs, seeds)), wrt))
    finally:
        torch.set_num_threads(before)
    assert len(grads[0]) == len(grads[1])
    for ours, theirs in zip(grads[1], grads[0]):
        torch.testing.assert_close(ours, theirs, **TOL[torch.float64])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("cells", [CELLS[0], CELLS[3]], ids=[IDS[0], IDS[3]])
@pytest.mark.parametrize("batch", [1, 2, 3, 8, 13, 16, 17, 32, 33, 48, 50, 57, 64, 65])
@pytest.mark.parametrize("fin,hidden", [(37, 19), (130, 70)])
def test_cell_parity_summed_products(threads, cells, batch, fin, hidden):
    """float32 LSTM/RNN cells sum x W_ih^T + h W_hh^T in one pass (gemm_sum2): batches that reach every
    small-batch kernel with both K ranges (dot tiles 1-2 rows, quad kernel 3-16, broadcast kernel 17-48 and
    57-64) and the two-GEMM path (49-56, 65+); input and hidden sizes that leave K tails and columns over."""
    _float32_parity_at(threads, cells, batch, fin, hidden)


def _float32_parity_at(threads, cells, batch, fin, hidden, check=None):
    """check_parity of a float32 cell pair with a state, on `threads` threads; check(fast) first if given."""
    ref_cls, fast_cls, kw = cells
    ref, fast = pair(ref_cls, fast_cls, fin, hidden, dtype=torch.float32, **kw)
    if check:
        check(fast)
    x = torch.randn(batch, fin, requires_grad=True)
    state, leaves = _state(ref_cls, batch, hidden, torch.float32)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        check_parity(ref, fast, (x, state), torch.float32, leaves=[x, *leaves])
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("cells", CELLS[:2], ids=IDS[:2])
@pytest.mark.parametrize("batch,fin,hidden", [(5, 256, 256), (3, 500, 260)])
def test_cell_parity_streamed_weight_grads(threads, cells, batch, fin, hidden):
    """float32 cells whose weight gradients (at least 1 MiB) are written with non-temporal stores:
    64-byte aligned rows (256), rows that are not (500, 260), and a last column strip past 256."""
    def streamed(fast):
        assert (fast.weight_ih.numel() + fast.weight_hh.numel()) * 4 >= 1 << 20  # streamed from 1 MiB
    _float32_parity_at(threads, cells, batch, fin, hidden, check=streamed)


@pytest.mark.parametrize("cells", CELLS, ids=IDS)
def test_cell_unbatched(cells):
    ref_cls, fast_cls, kw = cells
    ref, fast = pair(ref_cls, fast_cls, 6, 4, **kw)
    x = torch.randn(6, dtype=torch.float64, requires_grad=True)
    state, leaves = _state(ref_cls, None, 4, torch.float64)
    check_parity(ref, fast, (x, state), torch.float64, leaves=[x, *leaves])
    check_parity(ref, fast, (x,), torch.float64, leaves=[x])


@pytest.mark.parametrize("cells", CELLS, ids=IDS)
def test_cell_noncontiguous_and_empty_batch(cells):
    ref_cls, fast_cls, kw = cells
    ref, fast = pair(ref_cls, fast_cls, 6, 4, **kw)
    x = torch.randn(12, 6, dtype=torch.float64)[::2].requires_grad_(True)  # row stride 12
    check_parity(ref, fast, (x,), torch.float64, leaves=[x])
    x = torch.randn(6, 5, dtype=torch.float64).t().requires_grad_(True)  # column-major
    check_parity(ref, fast, (x,), torch.float64, leaves=[x])
    empty = torch.randn(0, 6, dtype=torch.float64)
    ours, theirs = fast(empty), ref(empty)
    for a, b in zip(ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple) else (theirs,)):
        assert a.shape == b.shape == (0, 4)


@pytest.mark.parametrize("cells", CELLS, ids=IDS)
def test_cell_parametrized_weight(cells):
    """weight_norm (torch.nn.utils.parametrize) on a cell's weight: the forward must use the
    parametrized weight, which no longer lives in _parameters, and its gradient reaches the originals."""
    ref_cls, fast_cls, kw = cells
    ref, fast = pair(ref_cls, fast_cls, 6, 5, **kw)
    for m in (ref, fast):
        torch.nn.utils.parametrizations.weight_norm(m, name="weight_hh")
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    state, leaves = _state(ref_cls, 3, 5, torch.float64)
    check_parity(ref, fast, (x, state), torch.float64, leaves=[x, *leaves])


def test_cell_modules_are_torch_modules():
    for ref_cls, fast_cls, kw in CELLS:
        ref, fast = pair(ref_cls, fast_cls, 3, 4, **kw)
        assert isinstance(fast, ref_cls)
        assert list(fast.state_dict()) == list(ref.state_dict())
        ref.load_state_dict(fast.state_dict())
        assert repr(fast).split("(", 1)[1] == repr(ref).split("(", 1)[1]


@pytest.mark.parametrize("name,mode", [("lstm_cell", "lstm"), ("gru_cell", "gru"), ("rnn_tanh_cell", "rnn_tanh"),
                                       ("rnn_relu_cell", "rnn_relu")])
def test_functional_cells(name, mode):
    g = {"lstm": 4, "gru": 3}.get(mode, 1)
    x, h, c = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64), \
        torch.randn(3, 4, dtype=torch.float64)
    w_ih, w_hh = torch.randn(g * 4, 5, dtype=torch.float64), torch.randn(g * 4, 4, dtype=torch.float64)
    b_ih, b_hh = torch.randn(g * 4, dtype=torch.float64), torch.randn(g * 4, dtype=torch.float64)
    hx = (h, c) if mode == "lstm" else h
    ours = getattr(fastnn.functional, name)(x, hx, w_ih, w_hh, b_ih, b_hh)
    theirs = getattr(torch._VF, name)(x, hx, w_ih, w_hh, b_ih, b_hh)
    for a, b in zip(ours if mode == "lstm" else (ours,), theirs if mode == "lstm" else (theirs,)):
        torch.testing.assert_close(a, b, **TOL[torch.float64])


@pytest.mark.parametrize("cells", CELLS, ids=IDS)
def test_cell_gradcheck(cells):
    ref_cls, fast_cls, kw = cells
    fast = fast_cls(3, 4, dtype=torch.float64, **kw)
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    state, leaves = _state(ref_cls, 2, 4, torch.float64)
    params = list(fast.parameters())

    def f(x, *rest):
        st = (rest[0], rest[1]) if ref_cls is torch.nn.LSTMCell else rest[0]
        out = torch.func.functional_call(fast, dict(zip([n for n, _ in fast.named_parameters()],
                                                        rest[len(leaves):])), (x, st))
        return out
    assert torch.autograd.gradcheck(f, (x, *leaves, *[p.detach().requires_grad_(True) for p in params]))


@pytest.mark.parametrize("cells", CELLS, ids=IDS)
def test_cell_compile_fullgraph(cells):
    ref_cls, fast_cls, kw = cells
    ref, fast = pair(ref_cls, fast_cls, 5, 6, **kw)
    compiled = torch.compile(fast, fullgraph=True, backend="aot_eager")
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    state, leaves = _state(ref_cls, 3, 6, torch.float64)
    check_parity(ref, compiled, (x, state), torch.float64, leaves=[x, *leaves])


ERRORS = [
    ("LSTMCell", lambda m: m(torch.randn(2, 3, 5)), ValueError, r"LSTMCell: Expected input to be 1D or 2D, got 3D"),
    ("LSTMCell", lambda m: m(torch.randn(2, 4)), RuntimeError, r"input has inconsistent input_size: got 4 expected 5"),
    ("LSTMCell", lambda m: m(torch.randn(2, 5), (torch.randn(3, 6), torch.randn(3, 6))), RuntimeError,
     r"Input batch size 2 doesn't match hidden0 batch size 3"),
    ("LSTMCell", lambda m: m(torch.randn(2, 5), (torch.randn(2, 6), torch.randn(2, 7))), RuntimeError,
     r"hidden1 has inconsistent hidden_size: got 7, expected 6"),
    ("LSTMCell", lambda m: m(torch.randn(2, 5), (torch.randn(1, 2, 6), torch.randn(2, 6))), ValueError,
     r"Expected hx\[0\] to be 1D or 2D, got 3D"),
    ("GRUCell", lambda m: m(torch.randn(2, 5), torch.randn(2, 2, 6)), ValueError,
     r"GRUCell: Expected hidden to be 1D or 2D, got 3D"),
    ("GRUCell", lambda m: m(torch.randn(2, 5), torch.randn(3, 6)), RuntimeError,
     r"Input batch size 2 doesn't match hidden0 batch size 3"),
    ("RNNCell", lambda m: m(torch.randn(2, 5), torch.randn(2, 8)), RuntimeError,
     r"hidden0 has inconsistent hidden_size: got 8, expected 6"),
    ("RNNCell", lambda m: m(torch.randn(5)[None, None, None]), ValueError, r"RNNCell: Expected input to be 1D or 2D"),
]


@pytest.mark.parametrize("cls,call,exc,match", ERRORS)
def test_cell_errors(cls, call, exc, match):
    with pytest.raises(exc, match=match):
        call(getattr(fastnn, cls)(5, 6))


def test_cell_dtype_error():
    m = fastnn.LSTMCell(5, 6).to(torch.bfloat16)
    with pytest.raises(RuntimeError, match=r"rnn_cell: input must be float32 or float64, got BFloat16"):
        m(torch.randn(2, 5, dtype=torch.bfloat16))


# ---- the op itself: torch.ops.fastnn.rnn_cell / rnn_cell_backward -------------------------------

MODES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _cell_args(mode, state=True, bias=True, dtype=torch.float64, rg=True, B=3, I=5, H=4):
    g = MODES[mode]
    t = lambda *s: torch.randn(*s, dtype=dtype).requires_grad_(rg)  # noqa: E731
    hx = t(B, H) if state else None
    cx = t(B, H) if state and mode == "lstm" else None
    return (mode, t(B, I), hx, cx, t(g * H, I), t(g * H, H), t(g * H) if bias else None, t(g * H) if bias else None)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("state", [True, False])
def test_op_gradcheck(mode, state):
    args = _cell_args(mode, state=state)

    def f(*tensors):
        it = iter(tensors)
        full = [next(it) if isinstance(a, torch.Tensor) else a for a in args]
        hy, cy, _ = torch.ops.fastnn.rnn_cell(*full)
        return (hy, cy) if mode == "lstm" else hy
    assert torch.autograd.gradcheck(f, tuple(a for a in args if isinstance(a, torch.Tensor)))


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("state", [True, False])
def test_zero_state_equals_explicit_zeros(mode, state):
    """hx = None is the zero state: same outputs and weight gradients as passing zeros."""
    args = list(_cell_args(mode, state=False))
    zeros = list(args)
    zeros[2] = torch.zeros(3, 4, dtype=torch.float64)
    if mode == "lstm":
        zeros[3] = torch.zeros(3, 4, dtype=torch.float64)
    outs = [torch.ops.fastnn.rnn_cell(*a) for a in (args, zeros)]
    torch.testing.assert_close(outs[0][0], outs[1][0], **TOL[torch.float64])
    torch.testing.assert_close(outs[0][1], outs[1][1], **TOL[torch.float64])
    grads = [torch.autograd.grad(o[0].sum() + (o[1].sum() if mode == "lstm" else 0), (args[4], args[5], args[6]))
             for o in outs]
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, **TOL[torch.float64])


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("state", [True, False])
def test_op_opcheck(mode, state):
    torch.library.opcheck(torch.ops.fastnn.rnn_cell.default, _cell_args(mode, state=state, dtype=torch.float32))


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_backward_op_opcheck(mode):
    args = _cell_args(mode, rg=False)
    hy, cy, ws = torch.ops.fastnn.rnn_cell(*args)
    _, x, hx, cx, w_ih, w_hh, _, _ = args
    grad_cy = torch.randn_like(cy) if mode == "lstm" else None
    torch.library.opcheck(torch.ops.fastnn.rnn_cell_backward.default,
                          (mode, torch.randn_like(hy), grad_cy, x, hx, cx, w_ih, w_hh, hy, ws, [True, True, True, True]))


OP_ERRORS = [
    (dict(mode="lsmt"), r"rnn_cell: mode must be one of 'lstm', 'gru', 'rnn_tanh', 'rnn_relu', got 'lsmt'"),
    (dict(x=torch.randn(2, 3, 5)), r"rnn_cell: input must be 2-D \[batch, input_size\], got 3-D"),
    (dict(x=torch.randn(3, 6)), r"rnn_cell: input.size\(1\) must equal input_size = w_ih.size\(1\) = 5, got 6"),
    (dict(w_hh=torch.randn(16, 5)), r"rnn_cell: w_hh must have shape \[G\*hidden_size, hidden_size\] = \[16, 4\], "
                                    r"got \[16, 5\]"),
    (dict(hx=torch.randn(2, 4)), r"rnn_cell: hx must have shape \[batch, hidden_size\] = \[3, 4\], got \[2, 4\]"),
    (dict(b_hh=None), r"rnn_cell: b_ih and b_hh must both be given or both be None"),
    (dict(mode="gru", w_ih=torch.randn(12, 5), w_hh=torch.randn(12, 4), b_ih=torch.randn(12), b_hh=torch.randn(12)),
     r"rnn_cell: cx \(cell state\) is only used by mode 'lstm', got one for 'gru'"),
    (dict(x=torch.randn(3, 5, dtype=torch.float16)), r"rnn_cell: input must be float32 or float64, got Half"),
]


@pytest.mark.parametrize("change,match", OP_ERRORS)
def test_op_errors(change, match):
    args = dict(mode="lstm", x=torch.randn(3, 5), hx=torch.randn(3, 4), cx=torch.randn(3, 4),
                w_ih=torch.randn(16, 5), w_hh=torch.randn(16, 4), b_ih=torch.randn(16), b_hh=torch.randn(16))
    args.update(change)
    with pytest.raises(RuntimeError, match=match):
        torch.ops.fastnn.rnn_cell(*args.values())
