"""The recurrent layers' two paths where neither always wins (csrc/cpu/rnn_path_choice.h): the
recurrence on a team of two workers with the GEMM that feeds it (forward: the input projection)
or follows it (backward: the input gradient) on both threads, or the recurrence on one worker with
that GEMM beside it. Both match torch.nn, forward and backward; 'auto' times both on a shape's first
calls and keeps the faster; torch's deterministic mode keeps the fixed rules."""
import contextlib

import pytest
import torch
from torch.nn.utils.rnn import pack_sequence

import fastnn
from fastnn import _C
from rnn_testutil import TOL, check_parity, pair

LAYERS = {
    "lstm": (torch.nn.LSTM, fastnn.LSTM, {}),
    "gru": (torch.nn.GRU, fastnn.GRU, {}),
    "rnn_tanh": (torch.nn.RNN, fastnn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (torch.nn.RNN, fastnn.RNN, {"nonlinearity": "relu"}),
}
# The smallest round hidden sizes whose recurrence splits over two workers (recurrence_split_work).
HIDDEN = {"lstm": 128, "gru": 128, "rnn_tanh": 224, "rnn_relu": 224}


@contextlib.contextmanager
def rnn_path(mode, threads=2):
    """Both paths need exactly two threads; restores the thread count and 'auto' afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    _C.set_rnn_path(mode)
    try:
        yield
    finally:
        _C.set_rnn_path("auto")
        torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("path", ["team", "beside"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("packed,batch", [(False, 4), (False, 9), (True, 5)])
def test_both_paths_match_torch(mode, path, dtype, packed, batch):
    """Each path forced (forward and backward), both directions of two layers, full and
    variable-length batches. From batch 8 the team's path splits the batch instead (each thread the
    whole recurrence of its half, recurrence_splits_batch): batch 9 gives the halves 5 and 4 rows."""
    ref_cls, fast_cls, kw = LAYERS[mode]
    # input_size = hidden: the backward's choice needs hidden/2 <= input_size <= 2 hidden
    size = HIDDEN[mode]
    ref, fast = pair(ref_cls, fast_cls, size, size, num_layers=2, bidirectional=True, dtype=dtype, **kw)
    with rnn_path(path):
        if packed:  # batch sizes 5 down to 3: the GEMMs' chunks end inside a step's rows
            seqs = [torch.randn(n, size, dtype=dtype, requires_grad=True) for n in (20, 17, 19, 16, 18)]
            check_parity(ref, fast, (pack_sequence(seqs, enforce_sorted=False),), dtype, leaves=seqs, retain=True)
        else:
            x = torch.randn(19, batch, size, dtype=dtype, requires_grad=True)
            check_parity(ref, fast, (x,), dtype, leaves=[x])


def _choice_lines(shape):
    """The lines of rnn_path_choices() for one shape ("forward lstm float32 B=3 I=65 H=128 T>=16");
    the tests use input size 65, which no other test times."""
    return [line for line in _C.rnn_path_choices() if line.startswith(shape + ":")]


def _decided(line):
    assert line.endswith("-> team") or line.endswith("-> beside"), line
    times = [float(part.split()[1]) for part in line.split(": ")[1].split(" -> ")[0].split(", ")]
    assert len(times) == 2 and all(t > 0 for t in times), line


def test_auto_times_both_paths_and_keeps_one():
    """A shape's first calls alternate the paths, forward and backward (every output and gradient
    still matches torch.nn); then the shape is listed as decided for both passes, with both paths'
    best times."""
    ref, fast = pair(torch.nn.LSTM, fastnn.LSTM, 65, 128, dtype=torch.float32)
    with rnn_path("auto"):
        for _ in range(25):
            x = torch.randn(17, 3, 65, requires_grad=True)
            check_parity(ref, fast, (x,), torch.float32, leaves=[x])
    for shape in ("forward lstm float32 B=3 I=65 H=128 T>=16", "backward lstm float32 B=3 I=65 H=128 T>=16"):
        lines = _choice_lines(shape)
        assert len(lines) == 1, _C.rnn_path_choices()
        _decided(lines[0])


def test_shapes_outside_the_choice_are_not_timed():
    """One thread, a W_hh over 1 MiB or input_size over 2 hidden: the fixed rules, nothing timed;
    input_size under hidden/2: the backward is not timed (its GEMM beside the recurrence would be
    too small), the forward is."""
    cases = [  # threads, input_size, hidden (float32 LSTM), passes not timed
        (1, 65, 128, ("forward", "backward")),
        (2, 65, 320, ("forward", "backward")),
        (2, 257, 128, ("forward", "backward")),
        (2, 63, 128, ("backward",)),
    ]
    for threads, inp, hidden, untimed in cases:
        fast = fastnn.LSTM(inp, hidden)
        with rnn_path("auto", threads):
            for _ in range(3):
                fast(torch.randn(17, 5, inp, requires_grad=True))[0].sum().backward()
        for pass_ in ("forward", "backward"):
            lines = _choice_lines(f"{pass_} lstm float32 B=5 I={inp} H={hidden} T>=16")
            assert len(lines) == (0 if pass_ in untimed else 1), (threads, inp, hidden, _C.rnn_path_choices())


def test_deterministic_mode_keeps_the_fixed_rules():
    """Under torch.use_deterministic_algorithms every call gives the same bits (the two paths sum
    in different orders, so alternating trials would not), the forward is the team's, and nothing
    is timed; backward at batch 6 and 50+ steps the fixed rule is beside, at batch 16 the team."""
    fast = fastnn.GRU(65, 128)

    def run(batch):
        x = torch.randn(50, batch, 65, generator=torch.Generator().manual_seed(batch), requires_grad=True)
        out = fast(x)[0]
        grads = torch.autograd.grad(out.sum(), [x, *fast.parameters()])
        return [out.detach(), *grads]

    for batch in (6, 16):
        with rnn_path("team"):
            forward_team = run(batch)[0]
        was = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True)
        try:
            with rnn_path("auto"):
                first = run(batch)
                assert torch.equal(first[0], forward_team)
                for _ in range(12):
                    for a, b in zip(run(batch), first):
                        assert torch.equal(a, b)
        finally:
            torch.use_deterministic_algorithms(was)
        for pass_ in ("forward", "backward"):
            assert not _choice_lines(f"{pass_} gru float32 B={batch} I=65 H=128 T>=32")


def test_mode_names():
    assert _C.rnn_path() == "auto"
    with rnn_path("beside"):
        assert _C.rnn_path() == "beside"
    with pytest.raises(RuntimeError, match="rnn path mode must be one of 'auto', 'team', 'beside', got 'fast'"):
        _C.set_rnn_path("fast")
    assert _C.rnn_path() == "auto"
