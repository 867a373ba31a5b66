"""fastnn vs torch.nn recurrent layers, interleaved in one process (CPU, fp32).

    PYTHONPATH=. python benchmarks/bench_rnn.py [--quick] [--only LSTMCell,GRU,...] [--threads N]

Forward (no grad) and forward+backward timed with torch.utils.benchmark
(num_threads = torch.get_num_threads()), torch.nn and fastnn interleaved round by
round; each side's time is the best block mean over all rounds (--stat min, robust on a
shared, loaded machine) or the median of the per-round medians (--stat median).
ratio = torch time / fastnn time (> 1: fastnn faster).
GFLOP/s counts the GEMM work (2 flops per multiply-add; fwd+bwd = 3x fwd)."""
import argparse
import math

import torch
import torch.utils.benchmark as tb

from fastnn.bench.cases_rnn import cases

PEAK = 527.0  # GFLOP/s, fp32 FMA peak of this 2-core machine (DESIGN.md)


def timeit(fn, min_run, stat):
    t = tb.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    m = t.blocked_autorange(min_run_time=min_run)
    return min(m.times) if stat == "min" else m.median


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
            for p in params:
                p.grad = None
        return f

    rows = []
    for kind, maker, flops in (("fwd", fwd, case.flops), ("fwd+bwd", fwdbwd, 3 * case.flops)):
        tr, tf = [], []
        for _ in range(rounds):  # interleave: torch, fastnn, torch, fastnn...
            tr.append(timeit(maker(ref), min_run, stat))
            tf.append(timeit(maker(fast), min_run, stat))
        pick = min if stat == "min" else (lambda v: sorted(v)[len(v) // 2])
        t_ref, t_fast = pick(tr), pick(tf)
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
    print(f"| case | pass | torch.nn ms | fastnn ms | ratio | fastnn GFLOP/s | % peak |")
    print("|---|---|---|---|---|---|---|")
    by_group = {}
    for case in cases(args.quick):
        if only and not any(case.name.startswith(o) for o in only):
            continue
        for name, kind, tr, tf, ratio, gf in run(case, args.min_run, args.rounds, args.stat):
            print(f"| {name} | {kind} | {tr:.3f} | {tf:.3f} | {ratio:.2f}x | {gf:.0f} | {100 * gf / PEAK:.0f}% |",
                  flush=True)
            by_group.setdefault((name.split(" ")[0], kind), []).append(ratio)
    print()
    for (group, kind), ratios in by_group.items():
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"geomean {group} {kind}: {geo:.2f}x over {len(ratios)} shapes")


if __name__ == "__main__":
    main()
