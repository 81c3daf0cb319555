"""GUI lifecycle (issue 10, item 10): Ctrl-C in the terminal quits cleanly, the edge-render thread
does not outlive the window, bad files get a dialog; a stress test of rapid changes while training."""
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
        while "views and worker ready" not in line and time.monotonic() < deadline:
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
    qtbot.waitUntil(lambda: window.runner.worker._running, timeout=10_000)
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
    window._on_config_chosen(SMALL)  # (a preset such as `exploding` diverges and pauses)
    if not window.runner.worker._running:
        window.transport.play_action.trigger()
    qtbot.waitUntil(lambda: window.runner.worker._running, timeout=10_000)
    qtbot.waitUntil(lambda: bool(_threads("edge-render")), timeout=30_000)  # the graph renders on it
    window.close()  # mid-run
    qtbot.waitUntil(lambda: not _threads("edge-render"), timeout=10_000)
    assert not window.runner.thread.isRunning()
