"""The benchmark run: discover the cases_<family>.py modules, time each case (torch.nn against
fastnn, forward and forward+backward), and collect one result row per case and pass."""
import importlib
import inspect
import pkgutil
import sys
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import torch

from .case import Case, first_tensor
from .timing import KernelCheck, check_kernels, forward_backward_fn, forward_fn, time_interleaved

PASSES = ("forward", "forward+backward")


@dataclass
class Row:
    family: str
    case: str
    pass_: str                      # "forward" or "forward+backward"
    gflop: float                    # work of one call
    torch_ms: Optional[float]
    fastnn_ms: Optional[float]
    torch_gflops: Optional[float]
    fastnn_gflops: Optional[float]
    torch_pct_peak: Optional[float]
    fastnn_pct_peak: Optional[float]
    speedup: Optional[float]        # torch_ms / fastnn_ms (> 1: fastnn faster)
    torch_iqr_ms: Optional[float]
    fastnn_iqr_ms: Optional[float]
    status: str                     # "ok", "mixed", "fallback", "unsupported", "error"
    kernels: str                    # fastnn ops seen, or why fastnn was not timed
    note: Optional[str] = None
    group: Optional[str] = None     # GPU suite: the group of the geomean summary
    bar: Optional[float] = None     # the bar on the group's geomean speedup for this pass
    peak_bar: Optional[float] = None  # the bar on fastnn's % of peak (forward)

    def as_dict(self) -> dict:
        d = asdict(self)
        return {("pass" if k == "pass_" else k): v for k, v in d.items()}


def discover_families() -> Dict[str, object]:
    """{family: module or the import error} for every fastnn/bench/cases_<family>.py."""
    from . import __path__ as bench_path

    found = {}
    for info in sorted(pkgutil.iter_modules(bench_path), key=lambda i: i.name):
        if info.name.startswith("cases_"):
            family = info.name[len("cases_"):]
            try:
                found[family] = importlib.import_module(f"{__package__}.{info.name}")
            except Exception as exc:  # a family whose layer is missing must not stop the others
                found[family] = exc
    return found


def _family_cases(module, quick: bool, device_type: str) -> List[Case]:
    """module.cases(quick, device=...) where the family takes a device; a family that does not
    has CPU cases only."""
    if "device" in inspect.signature(module.cases).parameters:
        return module.cases(quick, device=device_type)
    return module.cases(quick) if device_type == "cpu" else []


def collect_cases(families: Optional[List[str]], quick: bool, log=print,
                  device: str = "cpu") -> Tuple[List[Case], List[str]]:
    """The cases to run on `device` ("cpu", "cuda" or a torch.device) and a list of problems
    (families that failed to import, or that have no cases on this device)."""
    device_type = torch.device(device).type
    found = discover_families()
    problems = []
    if families:
        unknown = [f for f in families if f not in found]
        if unknown:
            raise SystemExit(f"--layers: unknown famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                             f"available: {', '.join(found) or 'none'}")
    cases = []
    for family, module in found.items():
        if families and family not in families:
            continue
        if isinstance(module, Exception):
            problems.append(f"{family}: cases_{family}.py failed to import: {module}")
            continue
        found_cases = _family_cases(module, quick, device_type)
        if not found_cases and device_type != "cpu":
            problems.append(f"{family}: no {device_type} cases (no fastnn {device_type} kernels for this family yet)")
        cases.extend(found_cases)
    return cases, problems


def _rate(gflop: float, seconds: Optional[float]) -> Optional[float]:
    return None if seconds is None else gflop / seconds


def _pct(gflops: Optional[float], peak: Optional[float]) -> Optional[float]:
    return None if gflops is None or not peak else 100.0 * gflops / peak


def _status(check: KernelCheck) -> str:
    return {"fastnn": "ok", "mixed": "mixed", "fallback": "fallback", "error": "unsupported"}[check.status]


def run_case(case: Case, device: torch.device, dtype: torch.dtype, repeats: int, block_s: float,
             peak: Optional[float]) -> List[Row]:
    torch.manual_seed(0)
    ref, fast, inputs = case.make(device, dtype)
    grad = torch.randn_like(first_tensor(ref(*inputs)))
    rows = []
    for pass_ in PASSES if case.backward else PASSES[:1]:
        gflop = case.flops * (1 if pass_ == "forward" else 3) / 1e9
        if pass_ == "forward":
            fns = [forward_fn(ref, inputs), forward_fn(fast, inputs)]
        else:
            fns = [forward_backward_fn(ref, inputs, grad), forward_backward_fn(fast, inputs, grad)]
        check = check_kernels(fns[1])
        # fastnn is timed only when it really runs fastnn kernels; torch.nn is always timed.
        timed = fns if check.status in ("fastnn", "mixed") else fns[:1]
        timings = time_interleaved(timed, device, repeats, block_s)
        t_torch = timings[0].median_s
        t_fast = timings[1].median_s if len(timings) > 1 else None
        g_torch, g_fast = _rate(gflop, t_torch), _rate(gflop, t_fast)
        rows.append(Row(
            family=case.family, case=case.name, pass_=pass_, gflop=gflop,
            torch_ms=t_torch * 1e3, fastnn_ms=None if t_fast is None else t_fast * 1e3,
            torch_gflops=g_torch, fastnn_gflops=g_fast,
            torch_pct_peak=_pct(g_torch, peak), fastnn_pct_peak=_pct(g_fast, peak),
            speedup=None if t_fast is None else t_torch / t_fast,
            torch_iqr_ms=timings[0].iqr_s * 1e3,
            fastnn_iqr_ms=timings[1].iqr_s * 1e3 if len(timings) > 1 else None,
            status=_status(check), kernels=check.describe(), note=case.note, group=case.group,
            bar=(case.bars or {}).get(pass_), peak_bar=case.peak_bar if pass_ == "forward" else None))
    return rows


class Progress:
    """One line per step on stderr: [ 3/12] 25% linear 512x784->512 forward+backward ..."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.done, self.stream, self.start = total, 0, stream, time.perf_counter()

    def step(self, label: str):
        self.done += 1
        width = 20
        filled = int(width * self.done / max(self.total, 1))
        elapsed = time.perf_counter() - self.start
        print(f"[{'#' * filled}{'.' * (width - filled)}] {self.done:>3}/{self.total} {elapsed:6.1f}s  {label}",
              file=self.stream, flush=True)


def run_all(cases: List[Case], device: torch.device, dtype: torch.dtype, repeats: int, block_s: float,
            peak: Optional[float], progress: Optional[Progress] = None) -> List[Row]:
    rows = []
    for case in cases:
        try:
            new = run_case(case, device, dtype, repeats, block_s, peak)
        except Exception as exc:  # e.g. torch.nn itself does not take this dtype/device
            msg = str(exc).strip().splitlines()[0][:160]
            new = [Row(case.family, case.name, "forward", case.flops / 1e9, None, None, None, None, None, None,
                       None, None, None, "error", f"error: {msg}", case.note, case.group)]
        rows.extend(new)
        if device.type == "cuda":  # the next case's tensors start from a clean cache (8192^2 cases are large)
            torch.cuda.empty_cache()
        if progress:
            best = next((r for r in new if r.speedup is not None), None)
            tail = f"speedup {best.speedup:.2f}x (forward)" if best else new[0].kernels
            progress.step(f"{case.family} {case.name}: {tail}")
    return rows
