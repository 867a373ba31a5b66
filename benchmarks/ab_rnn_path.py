"""The recurrent layers' timed path choice (csrc/cpu/rnn_path_choice.h) against the fixed rules, in
one process: torch.use_deterministic_algorithms(True) makes fastnn take the fixed rules (forward:
the team; backward: the input gradient beside the recurrence at batch 4-12 and 50+ steps), so the
two are alternated round by round on the same module and inputs (CPU, fp32, 2 threads).

    PYTHONPATH=. python benchmarks/ab_rnn_path.py [--rounds 11]

Prints per case the median forward (no grad) and forward+backward times of both, the gain of the
choice ("+": faster), then what the choice timed and chose (fastnn._C.rnn_path_choices())."""
import argparse
import statistics
import time

import torch

import fastnn
from fastnn import _C

# (layer, steps, batch, input, hidden, options)
CASES = [
    ("LSTM", 100, 4, 256, 256, {}),
    ("GRU", 100, 4, 256, 256, {}),
    ("LSTM", 50, 32, 256, 256, {}),
    ("LSTM", 100, 16, 128, 256, dict(num_layers=2, batch_first=True)),
    ("GRU", 50, 32, 256, 256, {}),
    ("LSTM", 100, 16, 128, 128, {}),
    ("GRU", 100, 16, 128, 128, {}),
    ("LSTM", 100, 1, 128, 128, {}),
    ("LSTM", 200, 1, 512, 512, {}),
]


def fwd_bwd(module, x):
    for p in module.parameters():
        p.grad = None
    module(x)[0].sum().backward()


def timed(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    torch.set_num_threads(2)
    was = torch.are_deterministic_algorithms_enabled()
    try:
        for cls, steps, batch, inp, hidden, kw in CASES:
            torch.manual_seed(0)
            module = getattr(fastnn, cls)(inp, hidden, **kw)
            x = torch.randn(batch, steps, inp) if kw.get("batch_first") else torch.randn(steps, batch, inp)
            xg = x.clone().requires_grad_()
            times = {}
            for fixed in (True, False):  # warm up; the choice times both paths on its first 21 calls
                torch.use_deterministic_algorithms(fixed)
                for _ in range(25):
                    fwd_bwd(module, xg)
            for _ in range(args.rounds):
                for fixed in (True, False):
                    torch.use_deterministic_algorithms(fixed)
                    with torch.no_grad():
                        times.setdefault((fixed, "forward"), []).append(timed(lambda: module(x), 3))
                    times.setdefault((fixed, "fwd+bwd"), []).append(timed(lambda: fwd_bwd(module, xg), 3))
            line = f"{cls} {steps},{batch},{inp}->{hidden} {kw or ''}:"
            for what in ("forward", "fwd+bwd"):
                a, b = (statistics.median(times[(fixed, what)]) for fixed in (True, False))
                line += f"  {what} {a * 1e3:.3f} -> {b * 1e3:.3f} ms ({100 * (a / b - 1):+.1f}%)"
            print(line, flush=True)
    finally:
        torch.use_deterministic_algorithms(was)
    print("\n".join(_C.rnn_path_choices()))


if __name__ == "__main__":
    main()
