"""The whole window: controls reach the engine process, frames reach the views, divergence, settings, start-up."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6 import QtWidgets
from PySide6.QtCore import Qt

from engine import Config
from engine.presets import load_preset
from gui.main_window import MainWindow
from gui.settings import open_settings
from tests.gui.fakes_window import fake_factory, spy_on_jobs

ROOT = Path(__file__).resolve().parents[2]
SMALL = Config(depth=3, width=8, n_samples=200)


def steps_shown(window) -> int:
    h = window.gradients.history._history
    return 0 if h is None else h.n


def play(qtbot, window):
    assert not window.transport.play_action.isChecked()     # trigger() below plays, never pauses
    # the engine's "running" signal, not the flag: a preset pauses at its claim step, and a small
    # comparison can get there before the next look at the flag ("running" and "paused" read in one
    # poll: the flag was never seen True in CI, 3 runs of 4)
    with qtbot.waitSignal(window.runner.sigRunningChanged, timeout=30_000, check_params_cb=bool):
        window.transport.play_action.trigger()


def test_window_opens_with_its_views(qtbot, make_window):
    window = make_window()
    assert window.isVisible() and window.windowTitle() == "Gradient Flow Lab"
    assert {"Gradients", "Training", "Activation", "Zig-zag", "Landscape"} <= set(window._view_docks)
    # every view fits beside the graph and the controls on a 1920-pixel projector
    needed = (window.controls_dock.minimumSizeHint().width() + window.graph.minimumSizeHint().width()
              + max(d.minimumSizeHint().width() for d in window._view_docks.values()))
    assert needed <= 1920, needed
    qtbot.waitUntil(lambda: window.status_labels["step"].text() == "step 0", timeout=10_000)
    assert "numpy" in window.status_labels["backend"].text()


def test_add_view_tab_hosts_a_view_and_forwards_theme_config_snapshots(qtbot, make_window):
    class SurfaceStub(QtWidgets.QLabel):
        def __init__(self):
            super().__init__("surface")
            self.calls = []

        def set_theme(self, name):
            self.calls.append(("theme", name))

        def set_config(self, config):
            self.calls.append(("config", config))

        def set_snapshot(self, snapshot):
            self.calls.append(("snapshot", snapshot.step))

    window = make_window()
    stub = SurfaceStub()
    dock = window.add_view_tab("Loss surface", stub)
    assert dock.widget() is stub
    qtbot.waitUntil(lambda: window._view_docks["Gradients"] in window.tabifiedDockWidgets(dock))
    assert ("theme", "dark") in stub.calls and ("config", SMALL) in stub.calls
    dock.raise_()
    window.set_theme("light")
    assert ("theme", "light") in stub.calls
    play(qtbot, window)
    qtbot.waitUntil(lambda: any(c[0] == "snapshot" for c in stub.calls), timeout=10_000)


def test_changing_a_control_changes_the_config_the_engine_gets(qtbot, make_window):
    window = make_window()
    qtbot.waitUntil(lambda: window.runner.config == SMALL, timeout=10_000)
    # the first build's sigBuilt may still be queued: wait for the one with the new value
    with qtbot.waitSignal(window.runner.sigBuilt, timeout=10_000, check_params_cb=lambda c: c.depth == 5):
        window.controls.widget_for("depth").setValue(5)
    assert window.runner.config == SMALL.replace(depth=5) == window.config
    combo = window.controls.widget_for("activation")
    with qtbot.waitSignal(window.runner.sigBuilt, timeout=10_000, check_params_cb=lambda c: c.activation == "relu"):
        combo.setCurrentIndex(combo.findData("relu"))
    assert "ReLU" in window.activation.title.text()


def test_invalid_combination_shows_the_message_and_keeps_the_old_config(qtbot, make_window):
    window = make_window()
    qtbot.waitUntil(lambda: window.runner.config == SMALL, timeout=10_000)
    combo = window.controls.widget_for("dataset")
    combo.setCurrentIndex(combo.findData("sine"))           # bce on a regression set: refused
    qtbot.waitUntil(lambda: "invalid value for 'loss'" in window.statusBar().currentMessage(), timeout=10_000)
    qtbot.waitUntil(lambda: window.controls.config == SMALL, timeout=10_000)
    assert window.runner.config == SMALL
    assert window.controls.config == SMALL and combo.currentData() == SMALL.dataset
    assert "invalid value for 'loss'" in window.controls.error_label.text()
    assert "invalid value for 'loss'" in window.statusBar().currentMessage()


def test_play_produces_snapshots_and_the_views_update(qtbot, make_window):
    window = make_window()
    play(qtbot, window)
    qtbot.waitUntil(lambda: steps_shown(window) > 50, timeout=20_000)
    assert window.training.loss._train.n > 50
    assert window.graph.snapshot() is not None and window.graph.snapshot().step > 0
    window._view_docks["Training"].raise_()              # hidden tabs draw when shown
    qtbot.waitUntil(lambda: window.training.boundary.image.image is not None, timeout=10_000)
    assert window.status_labels["speed"].text().endswith("steps/s")
    window.transport.play_action.trigger()           # pause
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)


def test_reset_and_preset_switching_while_training(qtbot, make_window):
    window = make_window()
    play(qtbot, window)
    qtbot.waitUntil(lambda: steps_shown(window) > 20, timeout=20_000)
    generation = window._generation
    window.transport.reset_action.trigger()
    qtbot.waitUntil(lambda: window._generation > generation and steps_shown(window) > 5, timeout=20_000)
    assert window.runner.running
    preset = load_preset("relu-fix")
    with qtbot.waitSignal(window.runner.sigBuilt, timeout=10_000, check_params_cb=lambda c: c == preset.config):
        assert window.controls.choose_preset("relu-fix")
    assert preset.caption in window.controls.preset_caption.text() and preset.title in window.controls.preset_caption.text()
    qtbot.waitUntil(lambda: window.gradients.history._history is not None
                    and window.gradients.history._history.columns == preset.config.n_weight_layers
                    and steps_shown(window) > 5, timeout=20_000)
    # still training, unless it already reached the step the preset's claim is stated for, where it pauses
    claim_step = window.presenter.claim_step()
    qtbot.waitUntil(lambda: window.runner.running or window._last_step == claim_step, timeout=10_000)


def test_a_diverging_config_shows_the_banner_and_pauses(qtbot, make_window):
    window = make_window(config=load_preset("exploding").config)
    window.transport.play_action.trigger()          # diverges at once: no time to see it running
    qtbot.waitUntil(lambda: window.diverged_banner_visible, timeout=60_000)
    text = window.banner.text()
    assert text.startswith("Diverged at step 1: first non-finite: ") and "Showing step 0, the last finite state" in text
    # the views show that finite state: no unit called dead, a finite headline
    qtbot.waitUntil(lambda: "‖∂L/∂a‖" in window.gradients.bars.ratio_label.text(), timeout=5_000)
    assert "not finite" not in window.gradients.bars.ratio_label.text()
    assert window.graph._n_dead < 12 * 32 / 2      # not "every unit dead" (a NaN unit is not dead)
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    assert not window.transport.play_action.isChecked()
    window.transport.reset_action.trigger()
    qtbot.waitUntil(lambda: not window.diverged_banner_visible, timeout=10_000)


def test_a_late_divergence_keeps_the_history(qtbot, make_window):
    window = make_window(factory=fake_factory(diverge_at=60, step_delay=0.001))
    window.transport.play_action.trigger()
    qtbot.waitUntil(lambda: window.diverged_banner_visible, timeout=20_000)
    assert "Diverged at step 60" in window.banner.text()
    assert steps_shown(window) >= 59 and window.training.loss._train.n >= 59
    assert not window.runner.running


def test_layout_theme_and_config_are_remembered(qtbot, make_window):
    first = make_window(theme="light")
    with qtbot.waitSignal(first.runner.sigBuilt, timeout=10_000, check_params_cb=lambda c: c.seed == 42):
        first.controls.widget_for("seed").setValue(42)
    first.close()
    settings = open_settings()
    assert Path(settings.fileName()).parent == Path(os.environ["GRADIENT_FLOW_LAB_SETTINGS_DIR"])
    second = MainWindow(settings=settings)
    qtbot.addWidget(second)
    second.finish_setup()
    assert second.controls.config.seed == 42 and second.controls.config.depth == SMALL.depth
    assert second.theme_name == "light"


def test_open_and_save_config_toml(qtbot, make_window, tmp_path):
    window = make_window()
    path = tmp_path / "run.toml"
    assert window.save_config(path)
    assert Config.load(path) == SMALL
    other = SMALL.replace(lr=0.02, activation="elu")
    other.save(path)
    with qtbot.waitSignal(window.runner.sigBuilt, timeout=10_000, check_params_cb=lambda c: c == other):
        assert window.open_config(path)
    assert window.controls.config == other
    bad = tmp_path / "bad.toml"
    bad.write_text("depth = 0\n")
    assert not window.open_config(bad)
    assert window.controls.config == other
    assert "invalid value for 'depth'" in window.controls.error_label.text()


def test_export_png_of_each_view(qtbot, make_window, tmp_path):
    window = make_window()
    for title in window._view_docks:
        path = tmp_path / f"{title}.png"
        assert window.export_png(window.view_widget(title), path)
        assert path.stat().st_size > 1000
    assert window.export_png(window, tmp_path / "window.png")


def test_hundreds_of_live_frames(qtbot, make_window):
    """Catches Qt bindings that crash under live drawing (PySide6 6.12.0 on Python 3.11: none_dealloc)."""
    window = make_window(config=Config(depth=4, width=16))
    window._timer.setInterval(2)
    frames = []
    window.sigFrameShown.connect(lambda s: frames.append(s.step))
    play(qtbot, window)
    docks = list(window._view_docks.values())
    def enough():
        docks[len(frames) // 50 % len(docks)].raise_()     # every view gets drawn live
        return len(frames) >= 300
    qtbot.waitUntil(enough, timeout=240_000)   # a loaded 2-core machine may draw only a few frames/s
    assert frames == sorted(frames)


def run_app(args, env_extra, tmp_path, timeout=60):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               GRADIENT_FLOW_LAB_SETTINGS_DIR=str(tmp_path / "settings"), **env_extra)
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_main_py_without_arguments_opens_the_app_and_exits_cleanly(tmp_path):
    result = run_app([], {"GRADIENT_FLOW_LAB_QUIT_AFTER_MS": "2500"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "settings" / "gradient-flow-lab.ini").exists()   # saved on close


def test_gui_subcommand_plays_reports_startup_and_quits(tmp_path):
    result = run_app(["gui", "--play", "--report-startup", "--quit-after", "3"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "startup: window shown" in result.stdout
    assert "views and engine ready" in result.stdout


def test_a_killed_engine_shows_the_banner_keeps_the_history_and_restarts(qtbot, make_window):
    import signal
    window = make_window(factory=fake_factory(step_delay=0.001))
    play(qtbot, window)
    qtbot.waitUntil(lambda: steps_shown(window) > 30, timeout=20_000)
    pid = window.runner.pid
    os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: window.engine_banner_visible, timeout=10_000)
    shown = steps_shown(window)
    assert shown > 30 and f"up to step {window._last_step:,}" in window.engine_banner_label.text()
    assert "SIGKILL" in window.engine_banner_label.text()
    assert window.status_labels["step"].text() == f"step {window._last_step:,}"
    assert not window.transport.play_action.isChecked()
    assert window.status_labels["speed"].text() == "0 steps/s"
    qtbot.wait(300)
    assert steps_shown(window) == shown             # the history stays on screen
    qtbot.mouseClick(window.restart_button, Qt.LeftButton)
    assert not window.engine_banner_visible and window.runner.pid != pid
    qtbot.waitUntil(lambda: window.runner.config == SMALL, timeout=20_000)
    play(qtbot, window)
    qtbot.waitUntil(lambda: window._last_step > 20 and steps_shown(window) > 20, timeout=20_000)


def test_the_displayed_rate_is_the_real_rate(qtbot, make_window):
    import time
    window = make_window(factory=fake_factory(step_delay=0.0005))
    assert window.status_labels["speed"].text() == "0 steps/s"
    play(qtbot, window)
    qtbot.waitUntil(lambda: window._last_step > 50, timeout=20_000)
    qtbot.wait(1500)
    samples = []
    for _ in range(3):
        t0, s0 = time.perf_counter(), window._last_step
        qtbot.wait(1000)
        measured = (window._last_step - s0) / (time.perf_counter() - t0)
        shown = float(window.status_labels["speed"].text().split()[0].replace(",", ""))
        samples.append((shown, measured))
    assert all(abs(shown - measured) <= 0.2 * measured for shown, measured in samples), samples
    window.transport.play_action.trigger()          # pause: the rate is 0, not the last chunk's speed
    qtbot.waitUntil(lambda: window.status_labels["speed"].text() == "0 steps/s", timeout=10_000)
    qtbot.wait(500)                                  # the frames still in flight arrive
    step = window._last_step
    window.transport.step_action.trigger()
    qtbot.waitUntil(lambda: window._last_step == step + 1, timeout=10_000)
    assert window.status_labels["speed"].text() == "0 steps/s"


def test_quit_after_report_prints_one_json_line(tmp_path):
    import json
    # the preset's config without its claim (a preset pauses at its claim's step: 300 steps here);
    # 10 s: the engine process must start (spawn, imports) within it even on a loaded machine
    config = tmp_path / "sigmoid-vanishing.toml"
    load_preset("sigmoid-vanishing").config.replace(steps=10_000_000).save(config)
    result = run_app(["gui", "--config", str(config), "--play", "--quit-after", "10", "--report",
                      "--tab", "Training"], {}, tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report) >= {"steps", "seconds", "frames", "steps_per_second", "fps"}
    assert report["steps"] > 0 and report["frames"] > 0 and 0 < report["seconds"] <= 10
    # it played the whole span: the rate is over the span (the first frame shown while playing to quit)
    assert report["playing_seconds"] == pytest.approx(report["seconds"], rel=0.02)
    assert report["steps_per_second"] == pytest.approx(report["steps"] / report["playing_seconds"], rel=0.01)
    # worker threads (engine pipe, claim runs, edge renders) never run the cyclic collector: it
    # would destroy Qt objects off the GUI thread
    assert report["gc_on_worker_threads"] is False


def test_a_preset_report_counts_the_steps_to_its_claim_and_the_seconds_it_played(tmp_path):
    """A preset pauses at its claim's step (300 here), often before any frame was shown while it
    played: the report counts from Play, and its rate is over the time spent playing, not the
    paused rest of the run (it said 0 steps, 0 steps/s)."""
    import json
    preset = load_preset("sigmoid-vanishing")
    claim_step = preset.claims[0].at_step or preset.config.steps     # stated for the end of its run
    assert claim_step == 300
    result = run_app(["gui", "--preset", "sigmoid-vanishing", "--play", "--quit-after", "15", "--report"],
                     {}, tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert 0 < report["steps"] <= claim_step and 0 < report["playing_seconds"] <= report["seconds"] <= 15
    if report["steps"] == claim_step:      # it got there (on a loaded CI machine the engine may start late)
        assert report["playing_seconds"] < report["seconds"] - 1
    # by the engine's clock: the window read "running" and "paused" in one poll (0.5 ms apart) and
    # once called this 575,000 steps/s; a 10 x 32 sigmoid net trains a few thousand on any CPU
    assert report["steps_per_second"] < 50_000
    assert report["steps_per_second"] == pytest.approx(report["steps"] / report["playing_seconds"], rel=0.01)


def test_views_behind_another_tab_draw_nothing_until_they_come_to_the_front(qtbot, make_window):
    """A tabbed dock behind another stays isVisible() in Qt; its charts and views still must not
    redraw (the data are still taken: every step reaches the history), and draw at once when shown."""
    from gui.widgets import is_shown
    window = make_window()
    window.raise_view("Training")
    qtbot.waitUntil(lambda: is_shown(window.training.loss), timeout=5_000)
    history = window.gradients.history
    assert history.isVisible() and not is_shown(history)      # Qt's view, and ours
    kernels = window.view_widget("Kernels")
    calls = []
    kernels.set_snapshot = lambda s, real=kernels.set_snapshot: calls.append(s.step) or real(s)
    play(qtbot, window)
    qtbot.waitUntil(lambda: steps_shown(window) > 50 and window.frames_shown > 5, timeout=20_000)
    drawn_at = history._last_draw
    qtbot.wait(600)
    assert history._last_draw == drawn_at and history._dirty      # took the data, drew nothing
    assert not calls                                              # hidden extra views get no frames
    window.transport.play_action.trigger()                         # pause: no frames come now
    qtbot.waitUntil(lambda: not window.runner.running, timeout=10_000)
    window.raise_view("Gradients")
    qtbot.waitUntil(lambda: not history._dirty and history._last_draw > drawn_at, timeout=5_000)
    assert history._history.n == steps_shown(window)
    window.raise_view("Kernels")
    qtbot.waitUntil(lambda: bool(calls), timeout=5_000)            # the last shown frame, at once
    assert calls[-1] == window._last_step


def test_the_zigzag_search_runs_when_its_tab_comes_to_the_front(qtbot, make_window, monkeypatch):
    """At start the Gradients tab is in front: the Zig-zag tab's best-rate search (seconds of a
    core) waits until someone looks at that tab, then runs (in the window's worker process)."""
    searches = spy_on_jobs(monkeypatch, "fair_comparison")
    window = make_window()
    qtbot.wait(500)
    assert window.zigzag.fair_result is None
    assert searches == []
    window.raise_view("Zig-zag")
    qtbot.waitUntil(lambda: window.zigzag.fair_result is not None, timeout=30_000)
    assert "best stable lr" in window.zigzag.fairness.text() and len(searches) == 1


def test_no_decision_boundary_is_computed_for_a_tab_behind_another(qtbot, make_window):
    """The Training tab (the one view that draws the boundary) starts behind the Gradients tab: the
    engine is not asked for a boundary until it comes to the front."""
    window = make_window()
    qtbot.waitUntil(lambda: window.runner._want_boundary is False, timeout=5_000)
    window.raise_view("Training")
    qtbot.waitUntil(lambda: window.runner._want_boundary is True, timeout=5_000)
    window.raise_view("Gradients")
    qtbot.waitUntil(lambda: window.runner._want_boundary is False, timeout=5_000)


class _Runner:
    def __init__(self):
        self.pid, self.running, self.seconds = os.getpid(), False, 0.0

    def played_seconds(self):
        return self.seconds


class _Window:
    def __init__(self):
        self.runner, self._last_step, self.frames_shown = _Runner(), 0, 0


def test_the_report_counts_from_play_when_the_first_frame_shown_while_playing_measures_nothing(qtbot):
    """The span of ``--report`` starts at the first frame shown while playing, except where that
    frame measures nothing: shown late (after the engine had stopped, so the window's extrapolated
    reading of the engine's clock is past the real end: it printed 0 playing seconds, CI) or the
    last frame of the run (0 steps). Then it counts from Play. A steady run keeps the frame's span."""
    from gui.app import RunReport

    w = _Window()
    late = RunReport(w)
    w.runner.running = True
    late.on_running(True)                    # Play: step 0, engine clock 0
    w.runner.seconds = 1.0                   # the build's frame, shown a second later, "while playing"
    late.on_frame(None)
    w.runner.running, w.runner.seconds, w._last_step, w.frames_shown = False, 0.2, 300, 1
    report = late.result()
    assert report["steps"] == 300 and report["playing_seconds"] == pytest.approx(0.2)
    assert report["steps_per_second"] == pytest.approx(1500)

    w = _Window()
    last = RunReport(w)
    w.runner.running = True
    last.on_running(True)
    w.runner.seconds, w._last_step = 0.1, 300   # the first frame shown while playing is the last
    last.on_frame(None)
    w.runner.running = False
    assert last.result()["steps"] == 300

    w = _Window()
    steady = RunReport(w)
    w.runner.running = True
    steady.on_running(True)
    w.runner.seconds, w._last_step = 0.5, 100
    steady.on_frame(None)
    w.runner.seconds, w._last_step, w.frames_shown = 1.5, 1100, 30
    report = steady.result()
    assert report["steps"] == 1000 and report["playing_seconds"] == pytest.approx(1.0)
