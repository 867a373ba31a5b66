"""fastnn.Conv1d/Conv2d against torch.nn in one process, interleaved: forward (no_grad)
and forward+backward (grads of input, weight, bias), fp32, medians of
torch.utils.benchmark runs with num_threads=torch.get_num_threads().

    PYTHONPATH=. python benchmarks/bench_conv.py [--quick] [--only SUBSTR] [--min-time 0.5] [--rounds 2]

Prints GFLOP/s, % of the FMA peak (527 GFLOP/s on the 2-core reference machine; set
--peak) and the fastnn/torch speed ratio (> 1: fastnn faster), then geomeans.
"""
import argparse
import math

import torch
import torch.utils.benchmark as tb

from fastnn.bench.cases_conv import cases


def timer(fn, min_time):
    t = tb.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return t.blocked_autorange(min_run_time=min_time).median


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
    ap.add_argument("--peak", type=float, default=527.0, help="FMA peak in GFLOP/s")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, fp32")
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
                tr = min(tr, timer(fr, args.min_time))
                tf = min(tf, timer(ff, args.min_time))
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
