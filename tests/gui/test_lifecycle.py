"""GUI lifecycle (issue 10, item 10): Ctrl-C in the terminal quits cleanly, the edge-render thread
does not outlive the window, bad files get a dialog; a stress test of rapid changes while training;
sessions: save, open, autosave, restore after a crash, bad session files change nothing."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from PySide6 import QtWidgets

from engine import Config
from engine.presets import preset_names
from gui.main_window import MainWindow
from gui.settings import open_settings

ROOT = Path(__file__).resolve().parents[2]
SMALL = Config(depth=3, width=8, n_samples=200)


def _threads(prefix):
    return [t for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()]


def test_ctrl_c_in_the_terminal_quits_the_app_cleanly(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", GRADIENT_FLOW_LAB_SETTINGS_DIR=str(tmp_path / "s"))
    proc = subprocess.Popen([sys.executable, "main.py", "gui", "--play", "--report-startup"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        line = ""
        while "views and engine ready" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        time.sleep(0.5)  # training
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert (tmp_path / "s" / "gradient-flow-lab.ini").exists()  # closed through closeEvent: settings saved


def test_rapid_changes_while_training_then_close_mid_run(qtbot, tmp_path):
    window = MainWindow(settings=open_settings(), theme_name="dark")
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    window.finish_setup(config=SMALL)
    window.transport.play_action.trigger()
    qtbot.waitUntil(lambda: window.runner.running, timeout=10_000)
    bad = tmp_path / "bad.toml"
    bad.write_text("layer_lr = 5\n[config\n")
    names = preset_names()
    for i in range(40):
        window.controls.set_config(SMALL.replace(width=4 + i % 9, lr=0.01 * (1 + i % 5)))
        window._on_config_chosen(window.controls.config)
        if i % 7 == 0:
            window.controls.choose_preset(names[i % len(names)])
        if i % 5 == 0:
            window.transport.reset_action.trigger()
        if i % 10 == 0:
            assert not window.open_config(bad)
        qtbot.wait(15)
    dialogs = [w for w in window.findChildren(QtWidgets.QMessageBox) if w.objectName() == "fileErrorDialog"]
    assert dialogs and "bad.toml" in dialogs[-1].text()  # a dialog, naming the file
    window.controls.set_config(SMALL)
    with qtbot.waitSignal(window.runner.sigBuilt, timeout=20_000, check_params_cb=lambda c: c == SMALL):
        window._on_config_chosen(SMALL)  # (a preset such as `exploding` diverges and pauses)
    qtbot.wait(200)                      # the engine's play state after the build has arrived
    if not window.runner.running:
        window.runner.play()
    qtbot.waitUntil(lambda: window.runner.running, timeout=10_000)
    qtbot.waitUntil(lambda: bool(_threads("edge-render")), timeout=30_000)  # the graph renders on it
    window.close()  # mid-run
    qtbot.waitUntil(lambda: not _threads("edge-render"), timeout=10_000)
    qtbot.waitUntil(lambda: not window.runner.alive, timeout=10_000)  # the engine process ended


def _window(qtbot, config=SMALL):
    window = MainWindow(settings=open_settings(), theme_name="dark")
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    window.finish_setup(config=config)
    return window


def test_save_and_open_a_session_continues_the_run(qtbot, tmp_path):
    from engine.session import load_session
    window = _window(qtbot)
    window.transport.play_action.trigger()
    qtbot.waitUntil(lambda: window._last_step > 50, timeout=20_000)
    window.transport.play_action.trigger()  # pause
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    path = tmp_path / "lecture.gfsession"
    with qtbot.waitSignal(window.sessions.sigSaved, timeout=20_000):
        window.sessions.save(path)
    saved = load_session(path)
    step = saved.states[0]["meta"]["step_count"]
    assert step > 50 and saved.config == window.config and saved.view["theme"] == "dark"
    assert (path.stat().st_mode & 0o777) == 0o666 & ~_umask()

    # a bad session file: a dialog, and the run in the window is untouched
    bad = tmp_path / "bad.gfsession"
    bad.write_bytes(path.read_bytes()[:-100])
    before = window.config
    assert not window.sessions.open(bad)
    assert window.config == before
    assert any(w.objectName() == "fileErrorDialog" and "bad.gfsession" in w.text()
               for w in window.findChildren(QtWidgets.QMessageBox))

    # another window opens the session where it was saved
    other = _window(qtbot, config=SMALL.replace(width=5))
    with qtbot.waitSignal(other.runner.sigBuilt, timeout=20_000, check_params_cb=lambda c: c == saved.config):
        assert other.sessions.open(path)
    qtbot.waitUntil(lambda: other._last_step == step, timeout=20_000)
    assert other.controls.config == saved.config
    # the charts show the saved history, not only what came after the restore
    assert len(saved.history["steps"]) > 50 and saved.history["steps"][0] == 0
    h = other.gradients.history._history
    assert h is not None and h.n >= 50 and h.steps[0] == 0


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_autosave_while_training_and_restore_after_a_crash(qtbot, monkeypatch):
    import gui.sessions as sessions
    monkeypatch.setattr(sessions, "AUTOSAVE_S", 0.3)
    window = _window(qtbot)
    auto = window.sessions.autosave_path
    assert auto is not None and not auto.exists()
    window.transport.play_action.trigger()
    qtbot.waitUntil(auto.exists, timeout=20_000)  # autosaved while training
    # a crash: the window never closes normally, so the autosave stays; the next start offers it
    saved = auto.read_bytes()
    window.close()
    assert not auto.exists()  # a clean close removes it
    auto.write_bytes(saved)
    again = _window(qtbot)
    box = next(w for w in again.findChildren(QtWidgets.QMessageBox) if w.objectName() == "restoreSessionDialog")
    with qtbot.waitSignal(again.sessions.sigRestored, timeout=10_000):
        box.button(QtWidgets.QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: again._last_step > 0, timeout=20_000)
