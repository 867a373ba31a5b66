#!/usr/bin/env bash
# The one script a lent GPU machine runs: build fastnn with its CUDA kernels, run the CUDA (and CPU)
# tests, compute-sanitizer over a small subset, and the GPU benchmark suite, in one go.
#
#   bash benchmarks/gpu_run.sh OUT_DIR
#
# Writes exactly these files, directly in OUT_DIR (no subfolders):
#   env.txt          nvidia-smi, driver, GPU, CUDA / nvcc / torch / cuDNN versions
#   build.log        python3 setup.py build_ext --inplace, then an import check (fastnn._C.cuda_built)
#   tests.log        pytest -q -ra: the CUDA test files, then the CPU Linear/Conv/convert tests
#   sanitizer.log    compute-sanitizer memcheck over `pytest -m sanitize`, then racecheck on 2 tests
#   bench.log        python -m fastnn.bench --device cuda --dtype bfloat16 (table, group bars)
#   bench_results.md, bench.csv   the benchmark's results.md / results.csv
# Every stage is time-boxed (the whole script stays under ~8 minutes: stages get at most what is
# left before the deadline, minus what the later stages need), logs into its file, and a failing
# stage does not stop the later ones; the exit status is 1 when any stage failed. The last lines
# on stdout are a one-line summary per stage.
#
# Environment overrides: FASTNN_ARCH (TORCH_CUDA_ARCH_LIST, default 9.0a: Hopper with the 'a'
# features fastnn's opt-in wgmma GEMM needs; a 9.0a build runs on H100/H200), GPU_RUN_BUDGET_S
# (default 470), PYTHON (default python3).
set -u

OUT=${1:?usage: bash benchmarks/gpu_run.sh OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${PYTHON:-python3}
WORK=$(mktemp -d)
START=$(date +%s)
DEADLINE=$((START + ${GPU_RUN_BUDGET_S:-470}))

export PYTHONUNBUFFERED=1
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
for d in /usr/local/cuda/bin /usr/local/cuda-13.0/bin; do
  [ -d "$d" ] && case ":$PATH:" in *":$d:"*) ;; *) PATH="$PATH:$d" ;; esac
done
export PATH

SUMMARY=()
FAILED=0

now() { date +%s; }

# limit MAX RESERVE: seconds a stage may run: at most MAX, and what is left before the deadline
# after RESERVE seconds kept for the stages after it.
limit() {
  local left=$((DEADLINE - $(now) - $2))
  [ "$left" -gt "$1" ] && left=$1
  [ "$left" -lt 1 ] && left=1  # never 0: `timeout 0` would mean no limit
  echo "$left"
}

# note NAME STATUS SECONDS DETAIL: one summary line for the end.
note() {
  SUMMARY+=("$(printf '%-10s %-8s %4ss  %s' "$1" "$2" "$3" "$4")")
  case "$2" in ok|skipped) ;; *) FAILED=1 ;; esac
  echo "[gpu_run] $(printf '%-10s %-8s %4ss  %s' "$1" "$2" "$3" "$4")"
}

status_of() {  # exit code -> ok / FAIL(rc) / TIMEOUT
  case "$1" in 0) echo ok ;; 124|137) echo TIMEOUT ;; *) echo "FAIL($1)" ;; esac
}

pytest_tail() {  # the last pytest summary line of a log ("3 failed, 420 passed in 61.2s")
  grep -E "(passed|failed|error|skipped|deselected|no tests ran)" "$1" | grep -E " in [0-9.]+s" | tail -n 1 \
    | sed -E 's/=+//g; s/^ +//; s/ +$//'
}

echo "[gpu_run] start $(date -u '+%F %T') UTC in $REPO, budget $((DEADLINE - START)) s, output $OUT"

# ---- env --------------------------------------------------------------------------------------------
t0=$(now)
{
  echo "# date: $(date -u '+%F %T') UTC"
  echo "# host: $(hostname), $(nproc) cores, $(free -g 2>/dev/null | awk '/Mem:/{print $2 " GiB RAM"}')"
  echo "# git: $(git rev-parse --short HEAD 2>/dev/null) $(git status --short 2>/dev/null | wc -l) changed file(s)"
  echo; echo "## nvidia-smi"; timeout 20 nvidia-smi 2>&1
  echo; echo "## nvidia-smi --query-gpu"
  timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.max.sm,clocks.max.mem,power.limit \
    --format=csv 2>&1
  echo; echo "## nvcc --version"; timeout 20 nvcc --version 2>&1 || echo "nvcc not found"
  echo; echo "## compute-sanitizer --version"; timeout 20 compute-sanitizer --version 2>&1 || echo "compute-sanitizer not found"
  echo; echo "## python / torch"
  timeout 60 "$PY" - <<'EOF' 2>&1
import platform, torch
print("python", platform.python_version(), platform.platform())
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())
print("cuda available", torch.cuda.is_available(), "devices", torch.cuda.device_count())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("gpu", p.name, "capability", f"{p.major}.{p.minor}", "SMs", p.multi_processor_count,
          "memory GiB", round(p.total_memory / 2**30, 1))
try:
    import triton
    print("triton", triton.__version__)
except Exception as exc:
    print("triton: not importable:", exc)
for name in ("numpy", "pytest", "ninja", "pybind11"):
    try:
        mod = __import__(name)
        print(name, getattr(mod, "__version__", "?"))
    except Exception as exc:
        print(name, "missing:", exc)
EOF
} > "$OUT/env.txt" 2>&1
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
note env ok $(( $(now) - t0 )) "${GPU_NAME:-no nvidia-smi}"

# ---- build --------------------------------------------------------------------------------------------
t0=$(now)
lim=$(limit 240 230)
export TORCH_CUDA_ARCH_LIST=${FASTNN_ARCH:-9.0a} MAX_JOBS=16 FASTNN_CUDA=1
rm -f fastnn/_C*.so  # never test a stale build: a failed build leaves nothing to import
{
  echo "# TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST MAX_JOBS=$MAX_JOBS FASTNN_CUDA=$FASTNN_CUDA, limit ${lim}s"
  echo "# $PY setup.py build_ext --inplace"
} > "$OUT/build.log"
timeout -k 10 "$lim" "$PY" setup.py build_ext --inplace >> "$OUT/build.log" 2>&1
rc=$?
echo "# build exit status $rc" >> "$OUT/build.log"
timeout 60 "$PY" -c "import fastnn; i = fastnn.info(); assert fastnn._C.cuda_built, 'built without CUDA'" \
  >> "$OUT/build.log" 2>&1
irc=$?
[ "$rc" -eq 0 ] && rc=$irc
detail="arch $TORCH_CUDA_ARCH_LIST"
[ "$irc" -eq 0 ] && detail="$detail, fastnn._C.cuda_built=True" || detail="$detail, import/cuda_built check failed (build.log)"
note build "$(status_of $rc)" $(( $(now) - t0 )) "$detail"

# ---- tests --------------------------------------------------------------------------------------------
t0=$(now)
CUDA_TESTS="tests/test_cuda_linear.py tests/test_cuda_conv.py"
[ -f tests/test_cuda_wgmma.py ] && CUDA_TESTS="$CUDA_TESTS tests/test_cuda_wgmma.py"
CPU_TESTS="tests/test_convert.py tests/test_linear.py tests/test_conv.py"
lim=$(limit 130 150)
echo "# CUDA tests (limit ${lim}s): $PY -m pytest -q -ra -p no:cacheprovider --durations=15 $CUDA_TESTS" > "$OUT/tests.log"
# SIGINT on timeout: pytest then still prints the failures so far and its summary line
timeout -s INT -k 15 "$lim" "$PY" -m pytest -q -ra -p no:cacheprovider --durations=15 $CUDA_TESTS \
  > "$WORK/tests_cuda.log" 2>&1
rc_cuda=$?
cat "$WORK/tests_cuda.log" >> "$OUT/tests.log"
lim=$(limit 90 140)
{ echo; echo "# CPU tests (limit ${lim}s): $PY -m pytest -q -ra -p no:cacheprovider $CPU_TESTS"; } >> "$OUT/tests.log"
timeout -s INT -k 15 "$lim" "$PY" -m pytest -q -ra -p no:cacheprovider $CPU_TESTS > "$WORK/tests_cpu.log" 2>&1
rc_cpu=$?
cat "$WORK/tests_cpu.log" >> "$OUT/tests.log"
rc=$rc_cuda
[ "$rc" -eq 0 ] && rc=$rc_cpu
note tests "$(status_of $rc)" $(( $(now) - t0 )) \
  "cuda: $(pytest_tail "$WORK/tests_cuda.log" || true) [$(status_of $rc_cuda)]; cpu: $(pytest_tail "$WORK/tests_cpu.log" || true) [$(status_of $rc_cpu)]"

# ---- bench --------------------------------------------------------------------------------------------
t0=$(now)
lim=$(limit 150 75)
if [ "$lim" -ge 30 ]; then
  echo "# limit ${lim}s: $PY -m fastnn.bench --device cuda --dtype bfloat16 --layers linear,conv" > "$OUT/bench.log"
  timeout -s INT -k 10 "$lim" "$PY" -m fastnn.bench --device cuda --dtype bfloat16 --layers linear,conv \
    --out "$WORK/bench" >> "$OUT/bench.log" 2>&1
  rc=$?
  [ -f "$WORK/bench/results.md" ] && cp "$WORK/bench/results.md" "$OUT/bench_results.md"
  [ -f "$WORK/bench/results.csv" ] && cp "$WORK/bench/results.csv" "$OUT/bench.csv"
  note bench "$(status_of $rc)" $(( $(now) - t0 )) "$(grep -c -E '^group |^large GEMMs' "$OUT/bench.log") bar line(s) below"
else
  echo "# skipped: ${lim}s left" > "$OUT/bench.log"
  note bench SKIPPED 0 "no time left"
fi

# ---- compute-sanitizer ------------------------------------------------------------------------------------
t0=$(now)
SAN="compute-sanitizer"
PYTEST_SAN="$PY -m pytest -q -p no:cacheprovider -m sanitize tests/test_cuda_linear.py tests/test_cuda_conv.py"
lim=$(limit 100 35)
: > "$OUT/sanitizer.log"
if ! command -v "$SAN" > /dev/null 2>&1; then
  echo "compute-sanitizer not found" >> "$OUT/sanitizer.log"
  note sanitizer SKIPPED 0 "compute-sanitizer not found"
elif [ "$lim" -lt 30 ]; then
  echo "# skipped: ${lim}s left" >> "$OUT/sanitizer.log"
  note sanitizer SKIPPED 0 "no time left"
else
  # No caching allocator: each tensor is its own allocation, so out-of-bounds accesses are seen
  # (inside a cached block they would land in other tensors' memory unnoticed).
  echo "# memcheck (limit ${lim}s): PYTORCH_NO_CUDA_MEMORY_CACHING=1 $SAN --tool memcheck ... $PYTEST_SAN" \
    >> "$OUT/sanitizer.log"
  PYTORCH_NO_CUDA_MEMORY_CACHING=1 timeout -k 10 "$lim" "$SAN" --tool memcheck --leak-check no \
    --report-api-errors no --print-limit 100 --error-exitcode 3 $PYTEST_SAN >> "$OUT/sanitizer.log" 2>&1
  rc_mem=$?
  mem_summary=$(grep -E "ERROR SUMMARY" "$OUT/sanitizer.log" | tail -n 1 | sed 's/=* *//')
  lim=$(limit 50 0)
  if [ "$lim" -ge 20 ]; then
    { echo; echo "# racecheck (limit ${lim}s): $SAN --tool racecheck ... $PYTEST_SAN -k 'bfloat16 and gelu'"; } \
      >> "$OUT/sanitizer.log"
    PYTORCH_NO_CUDA_MEMORY_CACHING=1 timeout -k 10 "$lim" "$SAN" --tool racecheck --racecheck-report analysis \
      --report-api-errors no --print-limit 100 --error-exitcode 3 $PYTEST_SAN -k "bfloat16 and gelu" \
      >> "$OUT/sanitizer.log" 2>&1
    rc_race=$?
    race_summary=$(grep -E "RACECHECK SUMMARY" "$OUT/sanitizer.log" | tail -n 1 | sed 's/=* *//')
  else
    rc_race=0
    race_summary="racecheck skipped (no time left)"
  fi
  rc=$rc_mem
  [ "$rc" -eq 0 ] && rc=$rc_race
  note sanitizer "$(status_of $rc)" $(( $(now) - t0 )) \
    "memcheck [$(status_of $rc_mem)] ${mem_summary:-no summary}; racecheck [$(status_of $rc_race)] ${race_summary:-no summary}"
fi

# ---- optional: the linear bench again with the opt-in Hopper wgmma GEMM (FASTNN_CUDA_WGMMA=1), into
# bench.log only, when time is left --------------------------------------------------------------------------
t0=$(now)
lim=$(limit 60 0)
if [ "$lim" -ge 40 ] && [ -f "$OUT/bench_results.md" ]; then
  { echo; echo "# wgmma (limit ${lim}s): FASTNN_CUDA_WGMMA=1 $PY -m fastnn.bench --device cuda --dtype bfloat16 --layers linear"; } \
    >> "$OUT/bench.log"
  FASTNN_CUDA_WGMMA=1 timeout -s INT -k 10 "$lim" "$PY" -m fastnn.bench --device cuda --dtype bfloat16 --layers linear \
    --out "$WORK/bench_wgmma" > "$WORK/bench_wgmma.log" 2>&1
  rc=$?
  sed 's/^/[wgmma] /' "$WORK/bench_wgmma.log" >> "$OUT/bench.log"
  note wgmma "$(status_of $rc)" $(( $(now) - t0 )) "linear bench with FASTNN_CUDA_WGMMA=1 (lines '[wgmma] ...' in bench.log)"
elif [ ! -f "$OUT/bench_results.md" ]; then
  note wgmma skipped 0 "optional linear bench with FASTNN_CUDA_WGMMA=1: the main bench gave no results"
else
  note wgmma skipped 0 "optional linear bench with FASTNN_CUDA_WGMMA=1: only ${lim}s left"
fi

# ---- summary ----------------------------------------------------------------------------------------------
rm -rf "$WORK"
echo
echo "== gpu_run summary: $(( $(now) - START )) s, ${GPU_NAME:-unknown GPU}, files in $OUT =="
grep -E "^(\[wgmma\] )?(group |large GEMMs|peak:|precision:)" "$OUT/bench.log" 2>/dev/null | sed 's/^/  bench: /'
grep -E "^(FAILED|ERROR) " "$OUT/tests.log" 2>/dev/null | head -n 15 | sed 's/^/  tests: /'
for line in "${SUMMARY[@]}"; do echo "$line"; done
exit $FAILED
