"""GUI tests run headless: the offscreen Qt platform must be chosen before Qt is imported."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from tests.gui.fakes import fake_snapshot  # noqa: E402


@pytest.fixture
def make_snapshot():
    """Factory fixture: ``make_snapshot(sizes, fade=10, ...)`` -> a fake Snapshot (see tests/gui/fakes.py)."""
    return fake_snapshot


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    """The app's QSettings go to a temporary folder: tests never read or write the user's."""
    monkeypatch.setenv("GRADIENT_FLOW_LAB_SETTINGS_DIR", str(tmp_path / "settings"))
