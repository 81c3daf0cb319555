"""Session-wide test settings.

BLAS runs one thread per call in the tests: they check numbers, never speed, and on a loaded
2-core machine a 2-thread OpenBLAS waits for its second thread on every mid-sized matmul (measured:
the conv-net preset's claims took 103 s instead of 7 s).

``--run-slow`` runs the tests marked ``slow`` (soak runs), skipped by default.
"""
import numpy  # noqa: F401  (load NumPy's BLAS first: threadpoolctl limits only libraries already loaded)
import pytest
from threadpoolctl import threadpool_limits

_blas_limit = threadpool_limits(limits=1, user_api="blas")


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="also run tests marked slow")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long soak test, run with --run-slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow soak test: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
