"""fastnn.Conv1d/Conv2d against torch.nn in one process, interleaved: forward (no_grad)
and forward+backward (grads of input, weight, bias), fp32, medians of
torch.utils.benchmark runs with num_threads=torch.get_num_threads().

    PYTHONPATH=. python benchmarks/bench_conv.py [--quick] [--only SUBSTR] [--min-time 0.5] [--rounds 2]
    PYTHONPATH=. python benchmarks/bench_conv.py --cpu-time     # 1 thread, process CPU time

--cpu-time measures one thread's CPU time (time.process_time) instead of wall time: it is
not inflated while other processes hold the cores, so it gives usable ratios on a busy
machine (a proxy: the bar itself is 2 threads, wall time).

Prints GFLOP/s, % of the FMA peak (527 GFLOP/s on the 2-core reference machine; set
--peak) and the fastnn/torch speed ratio (> 1: fastnn faster), then geomeans.
"""
import argparse
import math
import os
import time

import torch
import torch.utils.benchmark as tb

from fastnn.bench.cases_conv import cases


def timer(fn, min_time):
    t = tb.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return t.blocked_autorange(min_run_time=min_time).median


def cpu_timer(fn, min_time):
    """Best per-call process CPU time over 3 batches (single-threaded runs)."""
    fn()
    reps, best = 1, float("inf")
    while True:  # calibrate a batch of about min_time / 3
        start = time.process_time()
        for _ in range(reps):
            fn()
        el = time.process_time() - start
        if el >= min_time / 3 or reps >= 1 << 16:
            break
        reps *= 2
    best = el / reps
    for _ in range(2):
        start = time.process_time()
        for _ in range(reps):
            fn()
        best = min(best, (time.process_time() - start) / reps)
    return best


def fwd_fn(module, x):
    def run():
        with torch.no_grad():
            module(x)
    return run


def fwd_bwd_fn(module, x):
    params = [p for p in module.parameters()]
    x = x.detach().requires_grad_()
    g = torch.randn_like(module(x))

    def run():
        y = module(x)
        torch.autograd.grad(y, [x] + params, g)
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=None)
    ap.add_argument("--min-time", type=float, default=0.5)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved repeats; the best median is kept")
    ap.add_argument("--peak", type=float, default=527.0, help="FMA peak in GFLOP/s (2 threads)")
    ap.add_argument("--cpu-time", action="store_true", help="1 thread, process CPU time (busy machines)")
    args = ap.parse_args()
    measure = timer
    if args.cpu_time:
        torch.set_num_threads(1)
        args.peak /= 2
        measure = cpu_timer
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, fp32, "
          f"{'process CPU time' if args.cpu_time else 'wall time'}, load average {os.getloadavg()[0]:.1f}")
    print(f"{'case':34s} {'pass':8s} {'torch ms':>9s} {'fastnn ms':>9s} {'fastnn GF/s':>11s} {'%peak':>6s} {'ratio':>6s}")
    ratios = {}
    for case in cases(quick=args.quick):
        if args.only and args.only not in case.name:
            continue
        ref, fast, (x,) = case.make(torch.device("cpu"), torch.float32)
        for kind, mk, mult in (("fwd", fwd_fn, 1), ("fwd+bwd", fwd_bwd_fn, 3)):
            fr, ff = mk(ref, x), mk(fast, x)
            tr = tf = float("inf")
            for _ in range(args.rounds):  # interleaved: both see the same machine noise
                tr = min(tr, measure(fr, args.min_time))
                tf = min(tf, measure(ff, args.min_time))
            gf = mult * case.flops / tf / 1e9
            ratio = tr / tf
            layout = "cl" if case.note == "channels_last" else "nchw"
            ratios.setdefault((layout, kind), []).append(ratio)
            print(f"{case.name:34s} {kind:8s} {tr * 1e3:9.2f} {tf * 1e3:9.2f} {gf:11.1f} "
                  f"{100 * gf / args.peak:5.1f}% {ratio:6.2f}", flush=True)
    for (layout, kind), rs in ratios.items():
        geo = math.exp(sum(math.log(r) for r in rs) / len(rs))
        print(f"geomean {layout:5s} {kind:8s} {geo:.2f}x over {len(rs)} shapes")


if __name__ == "__main__":
    main()
