"""The CUDA GEMM's operand readers (csrc/cuda/gemm_operands.cuh: implicit im2col, the input-gradient
gather), checked on the CPU: tests/cuda_host/operand_readers.cu compares every address they
return, over 300 random convolution geometries, with a mapping built by walking the convolution
forward. Needs nvcc (not a GPU), so CI checks this arithmetic on every run."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _nvcc():
    found = shutil.which("nvcc")
    if found:
        return found
    for candidate in ("/usr/local/cuda/bin/nvcc", "/usr/local/cuda-13.0/bin/nvcc"):
        if os.path.exists(candidate):
            return candidate
    return None


@pytest.mark.skipif(_nvcc() is None, reason="needs nvcc to build the host-side check")
def test_operand_reader_addresses(tmp_path):
    exe = tmp_path / "operand_readers"
    build = subprocess.run([_nvcc(), "-std=c++17", "-O1", "-I", os.path.join(ROOT, "csrc"),
                            os.path.join(ROOT, "tests", "cuda_host", "operand_readers.cu"), "-o", str(exe)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.startswith("ok"), run.stdout[-3000:]
