"""fastnn.info(): what was built and what runs here."""
import torch

from . import _C


def info(verbose: bool = True) -> dict:
    """Returns (and prints, unless verbose=False) the fastnn and torch versions, the
    backends compiled into fastnn._C, and the CPU GEMM micro-kernel chosen at run time."""
    from . import __version__

    backends = ["cpu"] + (["cuda"] if _C.cuda_built else [])
    result = {
        "fastnn": __version__,
        "torch": torch.__version__,
        "backends": backends,
        "cpu_isa": _C.cpu_isa(),
        "threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
    }
    if _C.cuda_built and torch.cuda.is_available():
        result["cuda_device"] = torch.cuda.get_device_name()
        # the Hopper wgmma GEMM: opt-in (FASTNN_CUDA_WGMMA=1), sm_90a builds only
        result["cuda_wgmma"] = _C.cuda_wgmma_enabled()
    if verbose:
        for key, value in result.items():
            print(f"{key:>15}: {value}")
    return result
