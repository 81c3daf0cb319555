"""GUI tests run headless: the offscreen Qt platform must be chosen before Qt is imported."""
import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from tests.gui.fakes import fake_snapshot, pid_alive  # noqa: E402


@pytest.fixture
def make_snapshot():
    """Factory fixture: ``make_snapshot(sizes, fade=10, ...)`` -> a fake Snapshot (see tests/gui/fakes.py)."""
    return fake_snapshot


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    """The app's QSettings go to a temporary folder: tests never read or write the user's."""
    monkeypatch.setenv("GRADIENT_FLOW_LAB_SETTINGS_DIR", str(tmp_path / "settings"))


@pytest.fixture(autouse=True, scope="session")
def _garbage_collected_on_the_gui_thread(qapp):
    """As in the app (gui/app.py): the cyclic collector runs only on the GUI thread's timer, never in
    a worker thread, where it would destroy Qt objects of earlier tests off the GUI thread (this
    crashed test_actions about one run in three)."""
    from pyqtgraph.util.garbage_collector import GarbageCollector

    from gui.app import GC_INTERVAL_S
    collector = GarbageCollector(interval=GC_INTERVAL_S)
    yield
    collector.timer.stop()
    gc.enable()


@pytest.fixture(autouse=True)
def _collect_between_tests(_garbage_collected_on_the_gui_thread):
    yield
    gc.collect()     # on the GUI thread: one test's windows never reach the next test's threads


@pytest.fixture
def make_runner(qtbot):
    """``make_runner(factory=None)`` -> a SimulationRunner; each is shut down at teardown and its
    engine process must be gone (no orphan)."""
    from gui.runner import SimulationRunner
    runners = []

    def make(factory=None):
        runner = SimulationRunner(factory)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        pid = runner.pid
        runner.shutdown()
        assert pid is None or not pid_alive(pid)


@pytest.fixture
def make_window(qtbot):
    """``make_window(factory=None, config=..., preset=None, theme="dark")`` -> a shown MainWindow,
    set up; closed at teardown."""
    from engine import Config
    from gui.main_window import MainWindow
    from gui.settings import open_settings

    def make(factory=None, config=Config(depth=3, width=8, n_samples=200), preset=None, theme="dark"):
        window = MainWindow(settings=open_settings(), factory=factory, theme_name=theme)
        qtbot.addWidget(window)          # closed at teardown: closeEvent ends the engine process
        window.resize(1600, 900)
        window.show()
        window.finish_setup(config=config, preset=preset)
        return window
    return make
