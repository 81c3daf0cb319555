"""Presenter mode: the claim line with its live value, large type (measured), stages, run to the claim."""
import pytest
from PySide6.QtCore import Qt

from engine.presets import load_preset
from gui.main_window import MainWindow
from gui.settings import open_settings
from gui.textscale import text_sizes
from tests.gui.fakes_window import fake_factory


@pytest.fixture
def window(qtbot):
    w = MainWindow(settings=open_settings(), factory=fake_factory(), theme_name="dark")
    qtbot.addWidget(w)
    w.resize(1920, 1080)
    w.show()
    w.finish_setup(preset="dead-relu")
    qtbot.waitExposed(w)
    yield w
    w.actions_hub.detach()
    w.presenter.scaler.set_policy(scale=1.0, floor_px=0)   # the text policy is app-wide: leave it clean


def wait_frames(qtbot, window, n=3):
    seen = []
    window.sigFrameShown.connect(lambda s: seen.append(s))
    for _ in range(n):
        window.runner.step()
    qtbot.waitUntil(lambda: len(seen) >= 1, timeout=10_000)
    return seen


def test_the_claim_line_shows_the_live_value_and_its_mark(qtbot, window):
    p = window.presenter
    assert p.preset.name == "dead-relu" and p.bar.isVisible()
    window.runner.step()
    qtbot.waitUntil(lambda: "live:" in p.bar.value_label.text(), timeout=10_000)
    assert p.bar.claim_label.text().count("✓") + p.bar.claim_label.text().count("✗") == 1
    assert "More than half of the hidden units are dead" in p.bar.claim_label.text()
    assert "stated for step 600" in p.bar.value_label.text()
    # the headless verdict at the claim's step arrives from the background run
    qtbot.waitUntil(lambda: "headless check" in p.bar.value_label.text(), timeout=20_000)
    # a custom edit means the preset's claim no longer applies
    window.controls.apply(width=12)
    assert p.preset is None and not p.bar.isVisible()


def test_presenter_mode_is_fullscreen_large_type_and_restores(qtbot, window):
    wait_frames(qtbot, window)
    sizes = text_sizes(window)
    assert len(sizes) > 30 and min(px for _, px in sizes) < 20   # the measurement sees small text
    window.graph.setFocus()
    qtbot.keyClick(window.graph, Qt.Key_F5)
    p = window.presenter
    assert p.active and window.isFullScreen() and not window.controls_dock.isVisible()
    # the offscreen screen is 800x600: lay the presenter out on a 1920x1080 window instead
    window.showNormal()
    window.setGeometry(0, 0, 1920, 1080)
    qtbot.wait(100)
    p.fit_docks()
    wait_frames(qtbot, window)
    assert p.claim_px() >= 40
    small = []
    for dock in window._view_docks.values():
        dock.raise_()
        qtbot.wait(300)
        p.scaler.apply()
        small += [(d, px) for d, px in text_sizes(window) if px < 20]
    assert not small, small[:10]
    # every hidden layer has its name on screen
    for name in ("dead-relu", "init-he"):          # 6 and 16 hidden layers
        window.controls.choose_preset(name)
        wait_frames(qtbot, window)
        qtbot.wait(200)
        window.graph._fit()
        labels = window.graph.column_labels
        assert len(labels) == load_preset(name).config.depth + 2
        assert all(item.isVisible() for item in labels), name
    qtbot.keyClick(window.graph, Qt.Key_Escape)
    assert not p.active and window.controls_dock.isVisible() and not window.isFullScreen()
    assert p.claim_px() < 40
    assert p.scaler.floor_px == 0


def test_stages_advance_with_page_down_and_back(qtbot, window):
    p = window.presenter
    window.controls.choose_preset("vanishing-tour")
    assert p.preset.name == "vanishing-tour" and p.stage == 0
    window.graph.setFocus()
    qtbot.keyClick(window.graph, Qt.Key_PageDown)
    assert p.stage == 1 and window.controls.config.activation == "relu"
    qtbot.waitUntil(lambda: window.runner.config is not None
                    and window.runner.config.activation == "relu", timeout=10_000)
    assert "stage 2 of 4" in p.bar.stage_label.text() and "ReLU" in p.bar.stage_label.text()
    assert "signal at the first layer is still below" in p.bar.claim_label.text()
    qtbot.keyClick(window.graph, Qt.Key_PageDown)
    qtbot.keyClick(window.graph, Qt.Key_PageDown)
    qtbot.keyClick(window.graph, Qt.Key_PageDown)   # stays on the last stage
    assert p.stage == 3 and window.controls.config.norm == "batch"
    qtbot.keyClick(window.graph, Qt.Key_PageUp)
    assert p.stage == 2 and window.controls.config.init == "he_normal"
    assert p.preset is not None   # a stage is not a custom edit


def test_page_down_without_stages_moves_to_the_next_preset(qtbot, window):
    combo = window.controls.preset_combo
    before = combo.currentIndex()
    window.presenter.next_stage(+1)
    assert combo.currentIndex() == before + 1


def test_play_stops_at_the_claims_step(qtbot, window):
    p = window.presenter
    window.controls.choose_preset("init-naive-large")  # its claim is stated at step 0, steps 300
    window.controls.choose_preset("exploding")         # claim steps 0 and 10
    assert p.claim_step() == 10
    shown = []
    window.sigFrameShown.connect(lambda s: shown.append(s.step))
    window.transport.speed_combo.setCurrentIndex(window.transport.speed_combo.findData(5))
    window.transport.play_action.trigger()
    qtbot.waitUntil(lambda: not window.runner.running and bool(shown) and shown[-1] == 10,
                    timeout=10_000)
    window.transport.play_action.trigger()   # Play again goes on past the claim
    qtbot.waitUntil(lambda: bool(shown) and shown[-1] > 10, timeout=10_000)


def test_past_the_claims_step_the_mark_is_the_one_at_that_step():
    from engine.claims import Verdict
    from gui.presenter import verdict_html
    at0 = Verdict("signal shrinks", "signal_ratio", "<", 4e-4, 1e-3, True, step=0, at_step=0)
    now = Verdict("signal shrinks", "signal_ratio", "<", 3e-3, 1e-3, False, step=151, at_step=0)
    head, value = verdict_html(now, at0)
    assert "✓" in head and "✗" not in head
    assert "at the claim's step 0" in value and "now, at step 151" in value and "✗" in value
    before = Verdict("t", "loss", "<", 0.9, 0.5, False, step=10, at_step=300)
    head, value = verdict_html(before, Verdict("t", "loss", "<", 0.4, 0.5, True, step=300, at_step=300))
    assert "✗" in head and "stated for step 300" in value and "headless check" in value


def test_a_comparison_claim_is_judged_on_the_lockstep_run_and_play_stops_at_its_step(qtbot, window):
    """cmp-centred-inputs' claim is a steps_to_loss between members: measured per member snapshot
    it was 'not finite' and showed ✗ while `check` says it holds; and play ran on past step 300."""
    from engine.check_cli import check_preset
    p = window.presenter
    window.controls.choose_preset("cmp-centred-inputs")
    assert p.claim_step() == 300
    qtbot.waitUntil(lambda: bool(p._refs), timeout=60_000)   # the background lockstep run
    assert "no run measured" not in p.bar.value_label.text(), p._refs
    expected = check_preset("cmp-centred-inputs")
    assert all(v.holds for v in expected)
    assert "not finite" not in p.bar.value_label.text()
    assert "✓" in p.bar.claim_label.text() and "✗" not in p.bar.claim_label.text()
    assert "✗" not in p.bar.others_label.text() and p.bar.others_label.text().count("✓") == 2


def test_a_comparison_that_cannot_run_here_says_why(qtbot, window, monkeypatch):
    import engine.comparisons as comparisons
    from tests.gui.fakes_window import inline_jobs
    inline_jobs(monkeypatch)                  # the claim run here, where the monkeypatch below reaches
    monkeypatch.setattr(comparisons, "require", lambda comp: (_ for _ in ()).throw(
        comparisons.ComparisonSkipped(f"{comp.name} needs a GPU: no CUDA device")))
    p = window.presenter
    window.controls.choose_preset("cmp-cpu-gpu")
    qtbot.waitUntil(lambda: bool(p._refs), timeout=60_000)
    text = p.bar.value_label.text()
    assert "needs a GPU: no CUDA device" in text and "no run measured" not in text


def test_quitting_in_presenter_mode_saves_the_normal_layout(qtbot, window):
    """Closed in presenter mode (F5, then the lecture ends), the next start had no controls dock."""
    window.presenter.set_presenter(True)
    assert not window.controls_dock.isVisible()
    settings = window.settings
    window.close()
    fresh = MainWindow(settings=settings, factory=fake_factory(), theme_name="dark")
    qtbot.addWidget(fresh)
    fresh.show()
    fresh.finish_setup(preset="dead-relu")
    qtbot.waitExposed(fresh)
    try:
        assert fresh.controls_dock.isVisible()
    finally:
        fresh.actions_hub.detach()


def test_a_claim_not_yet_measured_says_so_instead_of_not_finite(qtbot, window):
    """The zig-zag preset's claims are measured headless: until they arrive the line says that
    they are being measured, never 'not finite > not finite — no run measured for None'."""
    from gui.presenter import PENDING_TEXT
    p = window.presenter
    window.controls.choose_preset("zigzag")
    assert p.preset.name == "zigzag"
    text = p.bar.value_label.text()
    if p._refs:             # the background run was quicker than this line: it must say ✓ or ✗
        assert "computed headless" in text
    else:
        assert PENDING_TEXT in text and "not finite" not in text and "None" not in text
    qtbot.waitUntil(lambda: "computed headless" in p.bar.value_label.text(), timeout=60_000)
    assert "✓" in p.bar.claim_label.text()


def test_a_new_preset_cancels_the_previous_claim_run(qtbot, window):
    """A comparison's headless claim run (a long lockstep run) is not wanted once another preset is
    chosen: it stops between chunks instead of holding a core until it ends."""
    from gui import offload
    jobs = offload.shared()
    p = window.presenter
    window.controls.choose_preset("cmp-he-2015")       # 30-layer members, 1,000 steps each
    running = p._measuring
    assert running is not None and not jobs.cancelled(running)
    window.controls.choose_preset("dead-relu")
    assert jobs.cancelled(running) and not jobs.cancelled(p._measuring)
    qtbot.waitUntil(lambda: running not in jobs.pending(), timeout=30_000)   # it stopped at its next look
    worker = jobs.pid
    window.close()
    from tests.gui.fakes import pid_alive
    assert not pid_alive(worker)                       # closing the window ends the worker too

