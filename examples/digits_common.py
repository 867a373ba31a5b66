"""Shared by the digits examples: the data set, the training loop with a progress bar, and the
torch.nn-versus-fastnn comparison.

The data is scikit-learn's bundled copy of the UCI handwritten digits (1797 images of 8x8 pixels,
16 grey levels, 10 classes), loaded from the installed package: nothing is downloaded.
"""
import argparse
import copy
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, List

import torch

import fastnn


def load_digits(seed: int = 0, test_fraction: float = 0.2):
    """(x_train, y_train, x_test, y_test): pixels scaled to [0, 1] as float32 [N, 64], a fixed split."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as exc:
        raise SystemExit("the digits examples need scikit-learn (its bundled digits data set): "
                         "pip install scikit-learn, or make examples-deps") from exc
    x, y = sk_load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32) / 16.0
    y = torch.tensor(y, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = int(len(y) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def parse_args(description: str, epochs: int, lr: float, argv=None):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--smoke", action="store_true", help="1 epoch of 3 batches: checks that it runs")
    args = p.parse_args(argv)
    if args.smoke:
        args.epochs, args.max_batches = 1, 3
    else:
        args.max_batches = None
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


class ProgressBar:
    """A one-line progress bar on stderr (redrawn in place on a terminal, printed once otherwise)."""

    def __init__(self, total: int, label: str, width: int = 24):
        self.total, self.label, self.width = total, label, width
        self.live = sys.stderr.isatty()

    def update(self, done: int, text: str):
        if self.live or done == self.total:
            filled = self.width * done // max(self.total, 1)
            end = "\n" if done == self.total else ""
            sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                             f"{done}/{self.total} {text}{end}")
            sys.stderr.flush()


@dataclass
class RunResult:
    variant: str
    losses: List[float] = field(default_factory=list)     # mean training loss per epoch
    test_acc: List[float] = field(default_factory=list)   # test accuracy after each epoch
    seconds: List[float] = field(default_factory=list)    # training time per epoch


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        correct = (model(x).argmax(dim=1) == y).sum().item()
    model.train()
    return correct / len(y)


class Trainer:
    """One variant's model, optimiser and batch order; trains an epoch at a time."""

    def __init__(self, model, variant, data, to_input: Callable, args):
        self.model, self.args = model, args
        x_train, self.y_train, x_test, self.y_test = data
        self.x_train, self.x_test = to_input(x_train), to_input(x_test)
        self.opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        self.order_gen = torch.Generator().manual_seed(args.seed)  # both variants see the same batches
        n = (len(self.y_train) + args.batch_size - 1) // args.batch_size
        self.n_batches = min(n, args.max_batches) if args.max_batches else n
        self.result = RunResult(variant)

    def epoch(self, epoch: int):
        args, r = self.args, self.result
        order = torch.randperm(len(self.y_train), generator=self.order_gen)
        bar = ProgressBar(self.n_batches, f"{r.variant:>8} epoch {epoch:>2}/{args.epochs}")
        total, start = 0.0, time.perf_counter()
        for b in range(self.n_batches):
            idx = order[b * args.batch_size:(b + 1) * args.batch_size]
            loss = torch.nn.functional.cross_entropy(self.model(self.x_train[idx]), self.y_train[idx])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            total += loss.item()
            bar.update(b + 1, f"loss {total / (b + 1):.4f}")
        seconds = time.perf_counter() - start
        r.losses.append(total / self.n_batches)
        r.test_acc.append(accuracy(self.model, self.x_test, self.y_test))
        r.seconds.append(seconds)
        print(f"{r.variant:>8} epoch {epoch:>2}/{args.epochs}: loss {r.losses[-1]:.4f}  "
              f"test accuracy {r.test_acc[-1]:.4f}  {seconds * 1e3:8.1f} ms/epoch", flush=True)


def _per_epoch(r: RunResult) -> float:
    # the first epoch includes one-off warm-up (allocations, kernel selection): leave it out when
    # there are more
    s = r.seconds[1:] or r.seconds
    return sum(s) / len(s)


def compare(build_model: Callable[[], torch.nn.Module], to_input: Callable, args) -> List[RunResult]:
    """Trains the same initial model twice on the same batches: with torch.nn layers, and after
    fastnn.convert. The two alternate epoch by epoch, so machine noise hits both alike. Prints
    per-epoch loss, test accuracy and time, then a side-by-side summary."""
    data = load_digits(args.seed)
    print(f"digits: {len(data[1])} training and {len(data[3])} test images of 8x8, "
          f"{torch.get_num_threads()} thread(s), torch {torch.__version__}, fastnn {fastnn.__version__}")
    torch.manual_seed(args.seed)
    initial = build_model()
    converted = copy.deepcopy(initial)
    print(fastnn.convert(converted))
    trainers = [Trainer(copy.deepcopy(initial), "torch.nn", data, to_input, args),
                Trainer(converted, "fastnn", data, to_input, args)]
    for epoch in range(1, args.epochs + 1):
        for t in trainers:
            t.epoch(epoch)
    ref, fast = (t.result for t in trainers)
    print(f"\n{'':>8}  final test accuracy  ms/epoch")
    for r in (ref, fast):
        print(f"{r.variant:>8}  {r.test_acc[-1]:19.4f}  {_per_epoch(r) * 1e3:8.1f}")
    print(f"fastnn speedup per epoch: {_per_epoch(ref) / _per_epoch(fast):.2f}x; "
          f"test accuracy difference (fastnn - torch.nn): {fast.test_acc[-1] - ref.test_acc[-1]:+.4f}")
    return [ref, fast]
