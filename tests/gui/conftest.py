"""GUI tests run headless: the offscreen Qt platform must be chosen before Qt is imported."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from tests.gui.fakes import fake_snapshot  # noqa: E402


@pytest.fixture
def make_snapshot():
    """Factory fixture: ``make_snapshot(sizes, fade=10, ...)`` -> a fake Snapshot (see tests/gui/fakes.py)."""
    return fake_snapshot
