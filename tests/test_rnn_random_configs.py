"""fastnn.LSTM / GRU / RNN against torch.nn on seeded random combinations of every option at once:
layers, bias, batch_first, bidirectional, proj_size, nonlinearity, dropout (compared in eval mode,
its masks being random), unbatched input, initial states, and packed sequences of mixed lengths,
sorted or not, with odd sizes. The grid tests in test_rnn.py vary a few options at a time; these
cross them (e.g. a packed, unsorted, 3-layer bidirectional LSTM with proj_size and initial states)."""
import random

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import fastnn
from rnn_testutil import check_parity, pair

CLASSES = {"LSTM": (torch.nn.LSTM, fastnn.LSTM), "GRU": (torch.nn.GRU, fastnn.GRU), "RNN": (torch.nn.RNN, fastnn.RNN)}


def random_config(seed):
    rng = random.Random(seed)
    cls = rng.choice(sorted(CLASSES))
    hidden = rng.choice([1, 4, 16, 20, 33])
    kw = dict(num_layers=rng.choice([1, 2, 3]), bias=rng.random() < 0.8, batch_first=rng.random() < 0.5,
              bidirectional=rng.random() < 0.5)
    if cls == "LSTM" and hidden > 1 and rng.random() < 0.4:
        kw["proj_size"] = rng.randint(1, hidden - 1)
    if cls == "RNN":
        kw["nonlinearity"] = rng.choice(["tanh", "relu"])
    if kw["num_layers"] > 1 and rng.random() < 0.2:
        kw["dropout"] = 0.3
    unbatched = rng.random() < 0.15
    return dict(cls=cls, fin=rng.choice([1, 3, 8, 17, 32]), hidden=hidden, kw=kw, steps=rng.choice([1, 2, 5, 9]),
                batch=rng.choice([1, 2, 3, 7]), unbatched=unbatched, packed=not unbatched and rng.random() < 0.35,
                with_state=rng.random() < 0.5, eval_mode=rng.random() < 0.5 or "dropout" in kw, rng=rng)


def run_config(seed, dtype):
    c = random_config(seed)
    torch.manual_seed(seed)
    ref, fast = pair(*CLASSES[c["cls"]], c["fin"], c["hidden"], dtype=dtype, **c["kw"])
    if c["eval_mode"]:
        ref.eval()
        fast.eval()
    kw, T, B = c["kw"], c["steps"], c["batch"]
    if c["unbatched"]:
        shape = (T, c["fin"])
    else:
        shape = (B, T, c["fin"]) if kw["batch_first"] else (T, B, c["fin"])
    x = torch.randn(*shape, dtype=dtype, requires_grad=True)
    leaves = [x]
    inputs = [x]
    if c["packed"]:
        rng = c["rng"]
        lengths = [rng.randint(1, T) for _ in range(B)]
        lengths[rng.randrange(B)] = T  # pad_packed_sequence's length is the longest
        descending = sorted(lengths, reverse=True)
        enforce_sorted = lengths == descending and rng.random() < 0.5
        inputs = [pack_padded_sequence(x, torch.tensor(lengths), batch_first=kw["batch_first"],
                                       enforce_sorted=enforce_sorted)]
    if c["with_state"]:
        dirs_layers = (2 if kw["bidirectional"] else 1) * kw["num_layers"]
        batch_dims = () if c["unbatched"] else (B,)
        h0 = torch.randn(dirs_layers, *batch_dims, kw.get("proj_size") or c["hidden"], dtype=dtype, requires_grad=True)
        leaves.append(h0)
        state = h0
        if c["cls"] == "LSTM":
            c0 = torch.randn(dirs_layers, *batch_dims, c["hidden"], dtype=dtype, requires_grad=True)
            leaves.append(c0)
            state = (h0, c0)
        inputs.append(state)
    check_parity(ref, fast, inputs, dtype, leaves=leaves, retain=c["packed"])


@pytest.mark.parametrize("seed", range(80))
def test_random_config_f64(seed):
    run_config(seed, torch.float64)


@pytest.mark.parametrize("seed", range(1000, 1030))
def test_random_config_f32(seed):
    run_config(seed, torch.float32)
