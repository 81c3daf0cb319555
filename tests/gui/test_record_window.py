"""File -> Record in the window: every view listed, a visible indicator while recording, F9 stops
and writes a file that imageio reads back; closing the window saves the recording."""
import imageio.v3 as iio
import pytest
from PySide6 import QtCore, QtWidgets

from engine import Config
from gui.main_window import MainWindow
from gui.record import record_targets
from gui.settings import open_settings


@pytest.fixture
def window(qtbot):
    w = MainWindow(settings=open_settings(), theme_name="dark")
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    w.finish_setup(config=Config(depth=2, width=6, n_samples=100))
    return w


def test_record_menu_lists_every_view(window):
    window.record_menu.aboutToShow.emit()
    titles = [a.text() for a in window.record_menu.actions() if a.text()]
    for name in ("Whole window…", "Network graph…", "Gradients…", "Training…", "Zig-zag…", "Landscape…"):
        assert name in titles
    assert window.record_stop_action.shortcut().toString() == "F9"
    assert [t for t, _ in record_targets(window)][:2] == ["Whole window", "Network graph"]


def test_record_then_f9_writes_the_file(window, qtbot, tmp_path):
    path = tmp_path / "graph.gif"
    window.recorder.start(window.graph, path, fps=20)
    assert window.recorder.indicator.isVisible() and "REC" in window.recorder.indicator.text()
    assert "Stop" in window.record_stop_action.text()
    qtbot.waitUntil(lambda: window.recorder.recording.count >= 3, timeout=10_000)
    field = window.findChild(QtWidgets.QSpinBox)      # F9 typed into a focused field still stops
    assert field is not None
    field.setFocus()
    qtbot.keyClick(field, QtCore.Qt.Key.Key_F9)
    # the file is written on the encoder's thread; the indicator goes when the GUI thread hears of it
    qtbot.waitUntil(lambda: path.exists() and not window.recorder.indicator.isVisible(), timeout=10_000)
    assert not window.recorder.active and not window.recorder.indicator.isVisible()
    frames = iio.imread(path, index=None)
    g = window.graph.grab()
    assert frames.shape[1:3] == (g.height(), g.width())


def test_closing_the_window_saves_the_recording(window, qtbot, tmp_path):
    path = tmp_path / "w.png"
    window.recorder.start(window, path)
    qtbot.waitUntil(lambda: window.recorder.recording.count >= 1, timeout=10_000)
    window.close()
    assert path.exists() and iio.imread(path).ndim == 3
