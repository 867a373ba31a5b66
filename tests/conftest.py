"""Shared pytest configuration: the `slow` marker (long sweeps, opt-in with `-m slow`)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long sweeps, run only with -m slow")
