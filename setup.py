"""Builds fastnn._C: the CPU kernels always, the CUDA kernels when a CUDA torch and
nvcc are present (FASTNN_CUDA=1 forces them, FASTNN_CUDA=0 leaves them out)."""
import glob
import os

from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

import torch

ROOT = os.path.dirname(os.path.abspath(__file__))


def sources(pattern):
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern), recursive=True))


def want_cuda():
    flag = os.environ.get("FASTNN_CUDA")
    if flag is not None:
        return flag == "1"
    return torch.version.cuda is not None and CUDA_HOME is not None


cpp_sources = sources("csrc/*.cpp") + sources("csrc/cpu/**/*.cpp")
# Baseline x86-64 code; the AVX2/AVX-512 kernels carry their own target
# attributes and are picked at run time, so one build runs on any x86-64.
# -fopenmp: at::parallel_for is inlined from ATen's headers (ParallelOpenMP.h) as
# `#pragma omp parallel`; without the flag it silently runs on one thread. The
# library links libgomp.so.1, which resolves to the copy torch has already loaded.
cxx_flags = ["-O3", "-std=c++20", "-fno-math-errno", "-Wall", "-Wno-unknown-pragmas", "-fopenmp"]
link_flags = ["-fopenmp"]
define_macros = []

def default_cuda_arch_list():
    """The visible GPUs' architectures, Hopper as sm_90a (its wgmma kernel needs the 'a'
    target); with no GPU visible, Ampere and Hopper."""
    archs = []
    for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        major, minor = torch.cuda.get_device_capability(i)
        arch = "9.0a" if (major, minor) == (9, 0) else f"{major}.{minor}"
        if arch not in archs:
            archs.append(arch)
    return ";".join(archs) or "8.0;9.0a"


if want_cuda():
    os.environ.setdefault("TORCH_CUDA_ARCH_LIST", default_cuda_arch_list())
    cu_sources = sources("csrc/cuda/*.cu")
    define_macros.append(("FASTNN_WITH_CUDA", None))
    ext = CUDAExtension(
        "fastnn._C",
        cpp_sources + cu_sources,
        define_macros=define_macros,
        extra_compile_args={"cxx": cxx_flags, "nvcc": ["-O3", "-std=c++20", "--expt-relaxed-constexpr"]},
        extra_link_args=link_flags,
    )
else:
    ext = CppExtension("fastnn._C", cpp_sources, define_macros=define_macros,
                       extra_compile_args={"cxx": cxx_flags}, extra_link_args=link_flags)

setup(
    name="fastnn",
    version="0.1.0",
    description="Fast drop-in neural-network layers for PyTorch: custom CPU and CUDA kernels",
    packages=find_packages(include=["fastnn", "fastnn.*"]),
    ext_modules=[ext],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    python_requires=">=3.9",
    install_requires=["torch", "numpy"],
    extras_require={"examples": ["scikit-learn"]},  # examples/ and their tests only
)
