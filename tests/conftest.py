import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long sweeps, opt-in with -m slow")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
