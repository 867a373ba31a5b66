"""Benchmark output: the console table, CSV and JSON files, and the machine description."""
import csv
import json
import os
import platform
import sys
from typing import List, Optional

import torch

from .runner import Row

COLUMNS = [  # (header, row -> text)
    ("layer", lambda r: r.family),
    ("case", lambda r: r.case),
    ("pass", lambda r: r.pass_),
    ("torch ms", lambda r: _num(r.torch_ms, 3)),
    ("fastnn ms", lambda r: _num(r.fastnn_ms, 3)),
    ("torch GF/s", lambda r: _num(r.torch_gflops, 1)),
    ("fastnn GF/s", lambda r: _num(r.fastnn_gflops, 1)),
    ("torch %pk", lambda r: _num(r.torch_pct_peak, 1)),
    ("fastnn %pk", lambda r: _num(r.fastnn_pct_peak, 1)),
    ("speedup", lambda r: "-" if r.speedup is None else f"{r.speedup:.2f}x"),
    ("spread", lambda r: _spread(r)),
    ("kernels / status", lambda r: r.kernels if r.status == "ok" else f"[{r.status}] {r.kernels}"),
]


def _spread(r) -> str:
    """The larger interquartile range of the two timings, relative to its median: how far to trust
    the speedup (a few % on a quiet machine; tens of % while other processes compete)."""
    pairs = [(r.torch_iqr_ms, r.torch_ms), (r.fastnn_iqr_ms, r.fastnn_ms)]
    rel = [iqr / ms for iqr, ms in pairs if iqr is not None and ms]
    return f"{100 * max(rel):.0f}%" if rel else "-"


def _num(value: Optional[float], digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def machine() -> dict:
    """What the numbers were measured on."""
    import fastnn

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = fastnn.info(verbose=False)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cpu_isa": info["cpu_isa"],
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "fastnn": info["fastnn"],
        "fastnn_backends": info["backends"],
        "platform": platform.platform(),
        "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def table(rows: List[Row]) -> str:
    """Fixed-width text table; each column as wide as its widest cell (numbers right-aligned)."""
    cells = [[get(r) for _, get in COLUMNS] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (h, _) in enumerate(COLUMNS)]
    last = len(COLUMNS) - 1

    def line(values):
        out = [v.rjust(w) if 3 <= i < last else (v if i == last else v.ljust(w))
               for i, (v, w) in enumerate(zip(values, widths))]
        return "  ".join(out).rstrip()

    head = line([h for h, _ in COLUMNS])
    return "\n".join([head, "-" * len(head)] + [line(c) for c in cells])


def _geomean(values: List[float]) -> float:
    gm = 1.0
    for v in values:
        gm *= v
    return gm ** (1.0 / len(values))


def summary_lines(rows: List[Row]) -> List[str]:
    """Geometric-mean speedup per pass, over the rows fastnn really ran; then, for the cases that
    belong to a group (the GPU suite), the geomean per group and pass against the issue's bar, and
    fastnn's % of peak on the cases with a peak bar."""
    out = []
    for pass_ in ("forward", "forward+backward"):
        ups = [r.speedup for r in rows if r.pass_ == pass_ and r.speedup and r.status == "ok"]
        if ups:
            wins = sum(u > 1 for u in ups)
            out.append(f"{pass_}: geometric-mean speedup {_geomean(ups):.2f}x over {len(ups)} case(s), "
                       f"fastnn faster in {wins}")
    bad = [r for r in rows if r.status != "ok"]
    if bad:
        out.append(f"{len(bad)} row(s) where fastnn was not timed as fastnn (see kernels / status)")
    return out + group_lines(rows)


def group_lines(rows: List[Row]) -> List[str]:
    """'group linear plain, forward: geomean 0.95x over 6 case(s) (bar >= 0.90x: MET)', one line per
    group and pass; a group with a row fastnn did not run counts as not met."""
    out = []
    groups = [g for g in dict.fromkeys(r.group for r in rows) if g]
    for group in groups:
        for pass_ in ("forward", "forward+backward"):
            mine = [r for r in rows if r.group == group and r.pass_ == pass_]
            if not mine:
                continue
            ups = [r.speedup for r in mine if r.speedup and r.status == "ok"]
            bar = next((r.bar for r in mine if r.bar is not None), None)
            text = f"group {group}, {pass_}: "
            text += f"geomean {_geomean(ups):.2f}x over {len(ups)} case(s)" if ups else "no case timed as fastnn"
            if len(ups) < len(mine):
                text += f", {len(mine) - len(ups)} case(s) not timed as fastnn"
            if bar is not None:
                met = bool(ups) and len(ups) == len(mine) and _geomean(ups) >= bar
                text += f" (bar >= {bar:.2f}x: {'MET' if met else 'NOT MET'})"
            out.append(text)
    peak_rows = [r for r in rows if r.peak_bar is not None]
    if peak_rows:
        bar = peak_rows[0].peak_bar
        pcts = [r.fastnn_pct_peak for r in peak_rows if r.fastnn_pct_peak is not None and r.status == "ok"]
        torch_pcts = [r.torch_pct_peak for r in peak_rows if r.torch_pct_peak is not None]
        names = ", ".join(r.case for r in peak_rows)
        if pcts:
            met = len(pcts) == len(peak_rows) and min(pcts) >= bar
            text = (f"large GEMMs ({names}), forward: fastnn {min(pcts):.1f}% min, {_geomean(pcts):.1f}% geomean "
                    f"of peak")
            if torch_pcts:
                text += f" (torch.nn {min(torch_pcts):.1f}% min)"
            text += f" (bar >= {bar:.0f}%: {'MET' if met else 'NOT MET'})"
        else:
            text = f"large GEMMs ({names}): no % of peak (no peak or not timed as fastnn) (bar >= {bar:.0f}%: NOT MET)"
        out.append(text)
    return out


def write_csv(path: str, rows: List[Row]):
    dicts = [r.as_dict() for r in rows]
    fields = list(dicts[0]) if dicts else list(Row.__dataclass_fields__)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(dicts)


def write_json(path: str, rows: List[Row], meta: dict):
    with open(path, "w") as f:
        json.dump({"meta": meta, "results": [r.as_dict() for r in rows]}, f, indent=2)
        f.write("\n")


def command_line() -> str:
    return " ".join(["python -m fastnn.bench", *sys.argv[1:]])


def write_markdown(path: str, rows: List[Row], meta: dict):
    """The table as GitHub markdown with the machine and command, for benchmarks/ and the README."""
    head = ["layer", "case", "pass", "torch ms", "fastnn ms", "fastnn GF/s", "fastnn % peak", "speedup"]
    lines = [
        f"Measured {meta.get('date_utc', '')} UTC with `{meta.get('command', command_line())}`",
        "",
        f"- machine: {meta['cpu']}, {meta['cores']} cores, ISA {meta['cpu_isa']}, {meta['threads']} thread(s)",
    ]
    if str(meta.get("device", "cpu")).startswith("cuda"):
        lines += [
            f"- GPU: {meta.get('cuda_device')} (compute capability {meta.get('cuda_capability')}), "
            f"CUDA {meta.get('cuda')}, cuDNN {meta.get('cudnn')}, dtype {meta.get('dtype')}",
            f"- precision: {meta.get('precision')}",
        ]
    lines += [
        f"- torch {meta['torch']}, fastnn {meta['fastnn']}, python {meta['python']}",
        f"- peak: {meta.get('peak_source', '-')}",
    ]
    if meta.get("c_heap"):
        lines.append(f"- {meta['c_heap']}")
    lines += [
        f"- timing: {meta.get('timing', '-')}; {meta.get('repeats')} blocks of about {meta.get('block_ms')} ms "
        f"per implementation",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    for r in rows:
        speed = "-" if r.speedup is None else f"**{r.speedup:.2f}x**"
        status = "" if r.status == "ok" else f" ({r.status})"
        lines.append(f"| {r.family} | {r.case} | {r.pass_}{status} | {_num(r.torch_ms, 3)} | "
                     f"{_num(r.fastnn_ms, 3)} | {_num(r.fastnn_gflops, 1)} | {_num(r.fastnn_pct_peak, 1)} | {speed} |")
    lines += [""] + [f"- {line}" for line in summary_lines(rows)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
