"""The recurrent forward's two paths where neither always wins (csrc/cpu/rnn_forward_path.h): the
recurrence on a team of two workers after the input projection, or on one worker beside the
projection. Both match torch.nn; 'auto' times both on a shape's first calls and keeps the faster;
torch's deterministic mode keeps the team."""
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
def forward_path(mode, threads=2):
    """Both paths need exactly two threads; restores the thread count and 'auto' afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    _C.set_rnn_forward_path(mode)
    try:
        yield
    finally:
        _C.set_rnn_forward_path("auto")
        torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("path", ["team", "beside"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("packed", [False, True])
def test_both_paths_match_torch(mode, path, dtype, packed):
    """Each path forced, both directions of two layers, full and variable-length batches."""
    ref_cls, fast_cls, kw = LAYERS[mode]
    ref, fast = pair(ref_cls, fast_cls, 24, HIDDEN[mode], num_layers=2, bidirectional=True, dtype=dtype, **kw)
    with forward_path(path):
        if packed:  # batch sizes 5 down to 3: the projection's chunks end inside a step's rows
            seqs = [torch.randn(n, 24, dtype=dtype, requires_grad=True) for n in (20, 17, 19, 16, 18)]
            check_parity(ref, fast, (pack_sequence(seqs, enforce_sorted=False),), dtype, leaves=seqs, retain=True)
        else:
            x = torch.randn(19, 4, 24, dtype=dtype, requires_grad=True)
            check_parity(ref, fast, (x,), dtype, leaves=[x])


def _choice_lines(shape):
    """The lines of rnn_forward_path_choices() for one shape ("lstm float32 B=3 I=23 H=128 T>=16");
    the tests use input size 23, which no other test times."""
    return [line for line in _C.rnn_forward_path_choices() if line.startswith(shape + ":")]


def test_auto_times_both_paths_and_keeps_one():
    """A shape's first calls alternate the paths (every output still matches torch.nn); then the
    shape is listed as decided, with both paths' best times."""
    ref, fast = pair(torch.nn.LSTM, fastnn.LSTM, 23, 128, dtype=torch.float32)
    x = torch.randn(17, 3, 23)
    with forward_path("auto"), torch.no_grad():
        want = ref(x)[0]
        for _ in range(25):
            torch.testing.assert_close(fast(x)[0], want, **TOL[torch.float32])
        lines = _choice_lines("lstm float32 B=3 I=23 H=128 T>=16")
    assert len(lines) == 1, _C.rnn_forward_path_choices()
    assert lines[0].endswith("-> team") or lines[0].endswith("-> beside"), lines[0]
    times = [float(part.split()[1]) for part in lines[0].split(": ")[1].split(" -> ")[0].split(", ")]
    assert len(times) == 2 and all(t > 0 for t in times), lines[0]


def test_shapes_outside_the_choice_are_not_timed():
    """One thread, a W_hh over 1 MiB or input_size over 2 hidden: the team (or one worker) as before,
    nothing timed."""
    cases = [(1, 23, 128), (2, 23, 320), (2, 257, 128)]  # threads, input_size, hidden (float32 LSTM)
    for threads, inp, hidden in cases:
        fast = fastnn.LSTM(inp, hidden)
        with forward_path("auto", threads), torch.no_grad():
            for _ in range(3):
                fast(torch.randn(17, 5, inp))
        assert not _choice_lines(f"lstm float32 B=5 I={inp} H={hidden} T>=16")


def test_deterministic_mode_keeps_the_team():
    """Under torch.use_deterministic_algorithms the outputs are the team's, bit for bit, on every call."""
    fast = fastnn.GRU(23, 128)
    x = torch.randn(17, 6, 23)
    with forward_path("team"), torch.no_grad():
        team = fast(x)[0]
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with forward_path("auto"), torch.no_grad():
            for _ in range(15):
                assert torch.equal(fast(x)[0], team)
    finally:
        torch.use_deterministic_algorithms(was)
    assert not _choice_lines("gru float32 B=6 I=23 H=128 T>=16")


def test_mode_names():
    assert _C.rnn_forward_path() == "auto"
    with forward_path("beside"):
        assert _C.rnn_forward_path() == "beside"
    with pytest.raises(RuntimeError, match="rnn forward path mode must be one of 'auto', 'team', 'beside', got 'fast'"):
        _C.set_rnn_forward_path("fast")
    assert _C.rnn_forward_path() == "auto"
