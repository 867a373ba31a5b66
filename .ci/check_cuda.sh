#!/usr/bin/env bash
# Compile-checks every csrc/cuda/*.cu with nvcc, against the ATen/c10 CUDA headers
# that ship in the (CPU) torch wheel, so CUDA code that does not compile fails CI
# even on a machine without a GPU. Skipped (with a message) when nvcc is absent.
set -euo pipefail
PY=${1:-python3}
cd "$(dirname "$0")/.."
shopt -s nullglob
files=(csrc/cuda/*.cu)
if ! command -v nvcc >/dev/null 2>&1; then
  echo "cuda-check: nvcc not found, CUDA sources not compile-checked"; exit 0
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "cuda-check: no csrc/cuda/*.cu files"; exit 0
fi
TORCH_INC=$($PY -c "from torch.utils.cpp_extension import include_paths; print(' '.join('-I'+p for p in include_paths()))")
PY_INC=$($PY -c "import sysconfig; print(sysconfig.get_paths()['include'])")
# The CPU wheel lacks this generated header; a one-line stand-in is enough to compile.
STUB=$(mktemp -d)
mkdir -p "$STUB/c10/cuda/impl"
echo '#pragma once' > "$STUB/c10/cuda/impl/cuda_cmake_macros.h"
for f in "${files[@]}"; do
  echo "cuda-check: nvcc $f"
  nvcc -std=c++20 -c "$f" -o /dev/null -I"$STUB" $TORCH_INC -I"$PY_INC" -Icsrc \
    -DFASTNN_WITH_CUDA --expt-relaxed-constexpr -gencode=arch=compute_90a,code=sm_90a -w
done
# The standalone GEMM harness (no torch) must keep building against the kernel headers.
echo "cuda-check: nvcc benchmarks/gemm_microbench.cu"
nvcc -std=c++17 -O3 -c benchmarks/gemm_microbench.cu -o /dev/null -Icsrc \
  -gencode=arch=compute_90a,code=sm_90a -w
echo "cuda-check: ${#files[@]} file(s) and the GEMM harness compiled"
