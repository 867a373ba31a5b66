"""fastnn vs torch.nn recurrent layers, interleaved in one process (CPU, fp32).

    PYTHONPATH=. python benchmarks/bench_rnn.py [--quick] [--only LSTMCell,GRU,...] [--threads N]

Forward (no grad) and forward+backward, torch.nn and fastnn interleaved block by block
(alternating which goes first) with the thread count left as set; each side's time is
the best block mean over all rounds (--stat min, robust on a shared, loaded machine) or
the median block (--stat median). ratio = torch time / fastnn time (> 1: fastnn faster).

Why not torch.utils.benchmark.Timer: on this loaded 2-core machine, Timer(num_threads=2)
(which calls torch.set_num_threads around every measurement) repeatedly timed torch.nn's
own layers at 10-1000x their plain-loop time (e.g. torch.nn.GRU 100,4,256 forward: 2094 ms
per call under Timer, 3.1 ms in a perf_counter loop, same process), so ratios against it
were meaningless. Plain perf_counter blocks do not show that.
GFLOP/s counts the GEMM work (2 flops per multiply-add; fwd+bwd = 3x fwd)."""
import argparse
import math

import time

import torch

from fastnn.bench.cases_rnn import cases

PEAK_PER_THREAD = 263.5  # GFLOP/s, fp32 FMA peak per core of this machine (527 on 2 cores, DESIGN.md)


def block(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def calls_per_block(fn, block_s):
    fn()  # warm-up (packing, allocator, first-call setup)
    once = max(block(fn, 1), 1e-6)
    return max(1, min(10_000, int(block_s / once)))


def time_pair(f_ref, f_fast, min_run, rounds, stat):
    """rounds * 4 interleaved blocks of about min_run / 4 seconds per side."""
    per_block = max(min_run / 4, 0.01)
    n_ref, n_fast = calls_per_block(f_ref, per_block), calls_per_block(f_fast, per_block)
    tr, tf = [], []
    for r in range(rounds * 4):
        if r % 2 == 0:
            tr.append(block(f_ref, n_ref))
            tf.append(block(f_fast, n_fast))
        else:
            tf.append(block(f_fast, n_fast))
            tr.append(block(f_ref, n_ref))
    pick = min if stat == "min" else (lambda v: sorted(v)[len(v) // 2])
    return pick(tr), pick(tf)


def run(case, min_run, rounds, stat):
    ref, fast, inputs = case.make(torch.device("cpu"), torch.float32)

    def fwd(m):
        def f():
            with torch.no_grad():
                m(*inputs)
        return f

    def fwdbwd(m):
        params = [p for p in m.parameters()]

        def f():
            out = m(*inputs)
            while isinstance(out, (tuple, list)):
                out = out[0]
            out.sum().backward()
            for t in params + [t for t in inputs if torch.is_tensor(t)]:
                t.grad = None
        return f

    rows = []
    for kind, maker, flops in (("fwd", fwd, case.flops), ("fwd+bwd", fwdbwd, 3 * case.flops)):
        t_ref, t_fast = time_pair(maker(ref), maker(fast), min_run, rounds, stat)
        rows.append((case.name, kind, t_ref * 1e3, t_fast * 1e3, t_ref / t_fast, flops / t_fast / 1e9))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated name prefixes, e.g. LSTMCell,GRU")
    ap.add_argument("--min-run", type=float, default=0.3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stat", choices=("min", "median"), default="min")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    only = [s for s in args.only.split(",") if s]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, fp32, stat={args.stat}, "
          f"rounds={args.rounds}, min_run={args.min_run}s")
    peak = PEAK_PER_THREAD * torch.get_num_threads()
    print(f"| case | pass | torch.nn ms | fastnn ms | ratio | fastnn GFLOP/s | % peak |")
    print("|---|---|---|---|---|---|---|")
    by_group = {}
    for case in cases(args.quick):
        if only and not any(case.name.startswith(o) for o in only):
            continue
        for name, kind, tr, tf, ratio, gf in run(case, args.min_run, args.rounds, args.stat):
            print(f"| {name} | {kind} | {tr:.3f} | {tf:.3f} | {ratio:.2f}x | {gf:.0f} | {100 * gf / peak:.0f}% |",
                  flush=True)
            by_group.setdefault((name.split(" ")[0], kind), []).append(ratio)
    print()
    for (group, kind), ratios in by_group.items():
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"geomean {group} {kind}: {geo:.2f}x over {len(ratios)} shapes")


if __name__ == "__main__":
    main()
