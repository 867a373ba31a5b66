"""The training examples: each runs in --smoke mode as a user would start it, and trained for a few
epochs the fastnn run matches the torch.nn run (same initial weights, same batches)."""
import importlib
import os
import re
import subprocess
import sys

import pytest

import fastnn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")

# example -> the fastnn layers it needs (its test skips only while one is not merged yet)
NEEDS = {"mlp_digits": ["Linear"], "cnn_digits": ["Conv2d", "Linear"], "rnn_digits": ["LSTM", "Linear"],
         "char_lm": ["LSTM", "Linear"]}


def _require(example):
    if example.endswith("_digits"):
        pytest.importorskip("sklearn", reason="scikit-learn (the digits data set) is not installed: "
                                              "make examples-deps")
    for layer in NEEDS[example]:
        if not isinstance(getattr(fastnn, layer, None), type):
            pytest.skip(f"fastnn.{layer} not merged yet")


def _env():
    paths = [ROOT] + [p for p in sys.path if p]  # this fastnn, and where sklearn was found
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


@pytest.mark.parametrize("example", sorted(NEEDS))
def test_example_smoke(example):
    _require(example)
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, f"{example}.py"), "--smoke"],
                          capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # every layer of the model runs fastnn kernels: nothing was left unconverted
    assert re.search(r"fastnn\.convert: [1-9]\d* swapped, 0 left", out), out
    assert "torch.nn epoch  1/1: " in out and "fastnn epoch  1/1: " in out
    assert "fastnn speedup per epoch" in out
    assert "3/3" in proc.stderr  # the progress bar reached its end


def _train(example, argv):
    sys.path.insert(0, EXAMPLES)
    try:
        module = importlib.import_module(example)
    finally:
        sys.path.remove(EXAMPLES)
    return module.main(argv)


@pytest.mark.parametrize("example, argv, min_acc", [
    ("mlp_digits", ["--epochs", "8", "--lr", "3e-3"], 0.93),
    ("cnn_digits", ["--epochs", "3"], 0.9),
    ("rnn_digits", ["--epochs", "6", "--lr", "5e-3"], 0.88),
])
def test_fastnn_training_matches_torch(example, argv, min_acc, capsys):
    _require(example)
    ref, fast = _train(example, argv)
    assert "0 left" in capsys.readouterr().out
    assert ref.test_acc[-1] >= min_acc and fast.test_acc[-1] >= min_acc, (ref.test_acc, fast.test_acc)
    # same start, same batches: the runs differ only by float rounding
    assert abs(fast.test_acc[-1] - ref.test_acc[-1]) <= 0.02
    for a, b in zip(fast.losses, ref.losses):
        assert abs(a - b) <= 0.02 * max(1.0, b)
