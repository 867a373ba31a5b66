import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long sweeps, opt-in with -m slow")
    config.addinivalue_line("markers", "sanitize: a small, fast CUDA subset run under compute-sanitizer "
                                       "(benchmarks/gpu_run.sh: -m sanitize)")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
