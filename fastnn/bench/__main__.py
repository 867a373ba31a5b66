"""python -m fastnn.bench: fastnn against torch.nn, layer by layer.

    python -m fastnn.bench                       # every layer family, full shapes, CPU, float32
    python -m fastnn.bench --quick --layers linear --threads 2 --out benchmarks/out
    python -m fastnn.bench --device cuda --dtype float16 --peak-gflops 989000

Prints a table (median ms, GFLOP/s, % of peak, speedup; forward and forward+backward) and writes
results.csv, results.json and speedup.png into --out.
"""
import argparse
import os
import sys
import time

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
          "bfloat16": torch.bfloat16}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m fastnn.bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", default=None,
                   help="comma-separated layer families (the cases_<family>.py modules), e.g. linear,conv; "
                        "default: all")
    p.add_argument("--filter", default=None,
                   help="only the cases whose 'family name' contains this text, e.g. 'LSTM ' or '3x3'")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--quick", action="store_true", help="small shapes, few short repeats (a smoke run)")
    p.add_argument("--repeats", type=int, default=None, help="timed blocks per implementation (default 15, quick 3)")
    p.add_argument("--block-ms", type=float, default=None,
                   help="target length of one timed block in ms (default 100, quick 10)")
    p.add_argument("--peak-gflops", type=float, default=None,
                   help="the machine's peak GFLOP/s for this dtype (default on CPU: measured at start with "
                        "fastnn's FMA loop on the threads used; see fastnn/bench/peak.py)")
    p.add_argument("--out", default="benchmarks/out", help="folder for results.csv/.json/speedup.png")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: CUDA is not available in this torch build/machine")
    if device.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device must be cpu or cuda[:N], got {args.device}")
    dtype = DTYPES[args.dtype]
    if device.type == "cuda":
        # strict fp32 on both sides: cuDNN convolutions/RNNs default to TF32, a fastnn kernel does not
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    import fastnn  # noqa: F401  (after set_num_threads: loading it starts no threads)
    from fastnn.convert import supported_layers
    from . import png, report
    from .peak import peak_gflops
    from .runner import Progress, collect_cases, run_all

    families = [f.strip() for f in args.layers.split(",") if f.strip()] if args.layers else None
    cases, problems = collect_cases(families, args.quick)
    if args.filter:
        cases = [c for c in cases if args.filter in f"{c.family} {c.name}"]
    if args.list:
        for c in cases:
            print(f"{c.family:8} {c.name}")
        return 0
    meta = report.machine()
    peak = peak_gflops(device, dtype, torch.get_num_threads(), args.peak_gflops, meta["cpu_isa"])
    repeats = args.repeats or (3 if args.quick else 15)
    block_s = (args.block_ms or (10.0 if args.quick else 100.0)) / 1e3
    meta.update({"device": str(device), "dtype": args.dtype, "quick": args.quick, "repeats": repeats,
                 "block_ms": block_s * 1e3, "peak_gflops": peak.gflops, "peak_source": peak.source,
                 "fastnn_layers": sorted(c.__name__ for c in supported_layers().values()),
                 "tf32": False if device.type == "cuda" else None,
                 "command": report.command_line(), "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                 "timing": "torch.utils.benchmark.Timer(num_threads=torch.get_num_threads()); torch.nn and fastnn "
                           "interleaved block by block; median over blocks; forward under torch.no_grad(); "
                           "forward+backward with a fixed output gradient, FLOPs counted as 3x forward"})
    print(f"fastnn.bench: {len(cases)} case(s) on {meta['cpu']} ({meta['cpu_isa']}), device {device}, "
          f"{args.dtype}, {meta['threads']} thread(s), torch {meta['torch']}, fastnn {meta['fastnn']}")
    print(f"peak: {peak.source}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    meta["load_average_1min"] = load
    if load > 0.5 * (os.cpu_count() or 1):
        print(f"warning: load average {load:.1f} on {os.cpu_count()} cores before the run: other processes "
              f"compete for the CPU. Interleaving spreads the noise over both sides, but multi-threaded "
              f"kernels (OpenMP barriers) suffer more than single-threaded ones, so ratios can be skewed: "
              f"watch the spread column, rerun on a quiet machine or compare with --threads 1")
    for problem in problems:
        print(f"skipped family {problem}")
    if not cases:
        print("no cases to run")
        return 1

    rows = run_all(cases, device, dtype, repeats, block_s, peak.gflops, Progress(len(cases)))
    print()
    print(report.table(rows))
    for line in report.summary_lines(rows):
        print(line)

    os.makedirs(args.out, exist_ok=True)
    paths = {k: os.path.join(args.out, f"results.{k}") for k in ("csv", "json")}
    paths["png"] = os.path.join(args.out, "speedup.png")
    report.write_csv(paths["csv"], rows)
    report.write_json(paths["json"], rows, meta)
    paths["md"] = os.path.join(args.out, "results.md")
    report.write_markdown(paths["md"], rows, meta)
    labels = sorted({(r.family, r.case) for r in rows}, key=[(r.family, r.case) for r in rows].index)
    speed = {(r.family, r.case, r.pass_): r.speedup for r in rows}
    png.bar_chart(
        paths["png"],
        [f"fastnn vs torch.nn speedup (torch ms / fastnn ms; >1: fastnn faster)",
         f"{meta['cpu']}, {device}, {args.dtype}, {meta['threads']} thread(s), torch {meta['torch']}"],
        [f"{f} {c}" for f, c in labels],
        [(p, [speed.get((f, c, p)) for f, c in labels]) for p in ("forward", "forward+backward")])
    print(f"wrote {paths['csv']}, {paths['json']}, {paths['md']}, {paths['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
