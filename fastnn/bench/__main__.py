"""python -m fastnn.bench: fastnn against torch.nn, layer by layer.

    python -m fastnn.bench                       # every layer family, full shapes, CPU, float32
    python -m fastnn.bench --quick --layers linear --threads 2 --out benchmarks/out
    python -m fastnn.bench --device cuda --dtype bfloat16    # the GPU suite (its own shapes)

Prints a table (median ms, GFLOP/s, % of peak, speedup; forward and forward+backward) and writes
results.csv, results.json, results.md and speedup.png into --out. On CUDA: the GPU suite's shapes,
CUDA-event timing, TF32 off for cuBLAS and cuDNN, "% of peak" against the measured torch.matmul
rate, and per-group geomeans checked against the issue's bars.
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
    p.add_argument("--repeats", type=int, default=None,
                   help="timed blocks per implementation (default 15, quick 3; CUDA: 20, quick 3)")
    p.add_argument("--block-ms", type=float, default=None,
                   help="target length of one timed block in ms (default 100, quick 10; CUDA: 20, quick 5)")
    p.add_argument("--peak-gflops", type=float, default=None,
                   help="the machine's peak GFLOP/s for this dtype (default on CPU: measured at start with "
                        "fastnn's FMA loop on the threads used; on CUDA: the measured torch.matmul rate at "
                        "8192^3 in this dtype; see fastnn/bench/peak.py)")
    p.add_argument("--cudnn-benchmark", action="store_true",
                   help="CUDA: torch.backends.cudnn.benchmark = True (cuDNN autotunes each shape; default: "
                        "torch's default, False, heuristics)")
    p.add_argument("--fresh-heap", action="store_true",
                   help="CPU: do not settle the C heap first (see fastnn/bench/allocator.py): torch.nn is then "
                        "timed as in a fresh process, where glibc may hand its per-call blocks back to the "
                        "kernel and torch page-faults on them every call")
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
    if device.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device must be cpu or cuda[:N], got {args.device}")
    if device.type == "cuda" and not torch.cuda.is_available() and not args.list:
        raise SystemExit(f"--device {args.device}: CUDA is not available in this torch build/machine")
    dtype = DTYPES[args.dtype]
    cuda_meta = {}
    if device.type == "cuda" and not args.list:
        # strict fp32 on both sides: cuDNN convolutions/RNNs default to TF32, a fastnn kernel does not
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
        if device.index is not None:
            torch.cuda.set_device(device)
        cuda_meta = cuda_settings(device, dtype)

    import fastnn  # noqa: F401  (after set_num_threads: loading it starts no threads)
    from fastnn.convert import supported_layers
    from . import png, report
    from .peak import peak_gflops
    from .runner import Progress, collect_cases, run_all

    families = [f.strip() for f in args.layers.split(",") if f.strip()] if args.layers else None
    cases, problems = collect_cases(families, args.quick, device=device)
    if args.filter:
        cases = [c for c in cases if args.filter in f"{c.family} {c.name}"]
    if args.list:
        for c in cases:
            print(f"{c.family:8} {c.name}")
        return 0
    meta = report.machine()
    peak = peak_gflops(device, dtype, torch.get_num_threads(), args.peak_gflops, meta["cpu_isa"])
    if device.type == "cuda":
        repeats = args.repeats or (3 if args.quick else 20)
        block_s = (args.block_ms or (5.0 if args.quick else 20.0)) / 1e3
    else:
        repeats = args.repeats or (3 if args.quick else 15)
        block_s = (args.block_ms or (10.0 if args.quick else 100.0)) / 1e3
    meta.update({"device": str(device), "dtype": args.dtype, "quick": args.quick, "repeats": repeats,
                 "block_ms": block_s * 1e3, "peak_gflops": peak.gflops, "peak_source": peak.source,
                 "fastnn_layers": sorted(c.__name__ for c in supported_layers().values()),
                 "tf32": False if device.type == "cuda" else None,
                 "command": report.command_line(), "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                 "timing": (TIMING_CUDA if device.type == "cuda" else TIMING_CPU) + TIMING_COMMON})
    meta.update(cuda_meta)
    where = (f"{meta['cuda_device']} (CUDA {meta.get('cuda')}, cuDNN {meta.get('cudnn')})" if device.type == "cuda"
             else f"{meta['cpu']} ({meta['cpu_isa']})")
    print(f"fastnn.bench: {len(cases)} case(s) on {where}, device {device}, "
          f"{args.dtype}, {meta['threads']} thread(s), torch {meta['torch']}, fastnn {meta['fastnn']}")
    if device.type == "cuda":
        print(f"precision: {meta['precision']}")
    print(f"peak: {peak.source}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    meta["load_average_1min"] = load
    if device.type == "cpu" and load > 0.5 * (os.cpu_count() or 1):
        print(f"warning: load average {load:.1f} on {os.cpu_count()} cores before the run: other processes "
              f"compete for the CPU. Interleaving spreads the noise over both sides, but multi-threaded "
              f"kernels (OpenMP barriers) suffer more than single-threaded ones, so ratios can be skewed: "
              f"watch the spread column, rerun on a quiet machine or compare with --threads 1")
    for problem in problems:
        print(f"skipped family {problem}")
    if not cases:
        print("no cases to run")
        return 1

    if device.type == "cpu":
        from .allocator import FRESH_HEAP_NOTE, settle_c_heap
        meta["c_heap"] = FRESH_HEAP_NOTE if args.fresh_heap else settle_c_heap()
        print(meta["c_heap"])
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
    machine_name = meta["cuda_device"] if device.type == "cuda" else meta["cpu"]
    png.bar_chart(
        paths["png"],
        [f"fastnn vs torch.nn speedup (torch ms / fastnn ms; >1: fastnn faster)",
         f"{machine_name}, {device}, {args.dtype}, {meta['threads']} thread(s), torch {meta['torch']}"],
        [f"{f} {c}" for f, c in labels],
        [(p, [speed.get((f, c, p)) for f, c in labels]) for p in ("forward", "forward+backward")])
    print(f"wrote {paths['csv']}, {paths['json']}, {paths['md']}, {paths['png']}")
    return 0


TIMING_CPU = ("torch.utils.benchmark.Timer(num_threads=torch.get_num_threads()); torch.nn and fastnn "
              "interleaved block by block; median over blocks")
TIMING_CUDA = ("CUDA events around each block of back-to-back calls on the current stream, after "
               "warm-up; torch.nn and fastnn interleaved block by block; median over blocks")
TIMING_COMMON = ("; forward under torch.no_grad(); forward+backward with a fixed output gradient, FLOPs "
                 "counted as 3x forward")


def cuda_settings(device, dtype) -> dict:
    """The GPU and the precision settings both sides run under (set just before)."""
    cuda = torch.backends.cuda.matmul
    flags = {
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "matmul_allow_tf32": cuda.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "allow_bf16_reduced_precision_reduction": getattr(cuda, "allow_bf16_reduced_precision_reduction", None),
        "allow_fp16_reduced_precision_reduction": getattr(cuda, "allow_fp16_reduced_precision_reduction", None),
    }
    if dtype == torch.float32:
        precision = "strict fp32: TF32 off for cuBLAS (matmul.allow_tf32=False) and cuDNN (cudnn.allow_tf32=False)"
    elif dtype in (torch.bfloat16, torch.float16):
        name = "bf16" if dtype == torch.bfloat16 else "fp16"
        precision = (f"{name} inputs and outputs, fp32 accumulation in fastnn; torch defaults for cuBLAS "
                     f"(allow_{name}_reduced_precision_reduction="
                     f"{flags[f'allow_{name}_reduced_precision_reduction']}); TF32 off (fp32 only)")
    else:
        precision = "fp64"
    precision += f"; cudnn.benchmark={flags['cudnn_benchmark']}"
    return {**flags, "precision": precision, "cuda_capability": ".".join(map(str, torch.cuda.get_device_capability(device)))}


if __name__ == "__main__":
    sys.exit(main())
