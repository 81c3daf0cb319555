"""The loss-surface views render offscreen, react to their controls and run the grid on a thread."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from engine import surface as S  # noqa: E402
from gui.views.surface_network import NetworkSurfaceView  # noqa: E402
from gui.views.surface_neuron import NeuronSurfaceView  # noqa: E402


def _not_blank(widget) -> bool:
    img = widget.grab().toImage()
    assert img.width() > 100 and img.height() > 100
    colors = {img.pixel(x, y) for x in range(0, img.width(), 37) for y in range(0, img.height(), 37)}
    return len(colors) > 20


def test_neuron_view_renders_both_panels(qtbot):
    view = NeuronSurfaceView()
    qtbot.addWidget(view)
    view.resize(1600, 900)
    view.show()
    qtbot.waitExposed(view)
    assert view.left.problem.positive and not view.right.problem.positive
    assert view.left.stats.path_ratio > 1.5 > view.right.stats.path_ratio
    assert "path ÷ straight" in view.left.numbers.text()
    assert not view.left.quadrants.path().isEmpty()      # allowed quadrants drawn for positive inputs
    assert view.right.quadrants.path().isEmpty()
    assert _not_blank(view)


def test_neuron_view_controls_change_the_problem(qtbot):
    view = NeuronSurfaceView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.sigProblemChanged, timeout=2000):
        view.optimizer.setCurrentText("adam")
    assert view.left.problem.optimizer == "adam" and view.right.problem.optimizer == "adam"
    view.left.inputs.setCurrentIndex(S.POSITIVE_INPUTS.index("relu"))
    assert view.left.problem.inputs == "relu"
    view.batch.setCurrentIndex(3)
    assert view.left.problem.batch_size == 0


def test_dragging_the_target_moves_it_in_both_panels_and_replays(qtbot):
    view = NeuronSurfaceView(interval_ms=5)
    qtbot.addWidget(view)
    view.show()                                  # the best-rate search runs for a view on screen
    view.left.target.setPos(1.0, -2.0)
    view.left.target.sigPositionChangeFinished.emit(view.left.target)  # what a finished drag emits
    assert view.right.problem.target == (1.0, -2.0)
    assert tuple(view.right.target.pos()) == (1.0, -2.0)
    assert view.play.isChecked()
    # the best-rate search for the new target runs meanwhile; when it lands the panels take its
    # rates and replay from step 0, so wait for both (generously: CI machines are loaded)
    qtbot.waitUntil(lambda: view.fair_result is not None, timeout=30_000)
    qtbot.waitUntil(lambda: not view.play.isChecked(), timeout=30_000)  # animation ran to the end
    assert view.left.shown == view.final_step()
    assert view.left.problem.target == (1.0, -2.0) == view.right.problem.target


def test_step_button_advances_one_step(qtbot):
    view = NeuronSurfaceView()
    qtbot.addWidget(view)
    view.show_step(0)
    view.step_button.click()
    assert view.left.shown == 1 and view.right.shown == 1
    assert len(view.left.trail.xData) == 2


@pytest.mark.parametrize("directions", [0, 1])
def test_network_view_computes_on_a_thread(qtbot, directions):
    from engine import Config

    view = NetworkSurfaceView(Config(depth=2, width=8, n_samples=100, activation="tanh"))
    qtbot.addWidget(view)
    view.directions.setCurrentIndex(directions)
    view.resolution.setValue(9)
    view.steps.setValue(30)
    view.resize(1400, 800)
    view.show()
    with qtbot.waitSignal(view.sigFinished, timeout=60000) as blocker:
        view.compute()
        assert view.busy and view.cancel_button.isEnabled()
    result = blocker.args[0]
    assert result.loss.shape == (9, 9) and np.isfinite(result.loss).all()
    assert not view.busy and view.compute_button.isEnabled()
    assert len(view.traj.xData) == len(result.path) >= 3
    assert _not_blank(view)


def test_network_view_cancel(qtbot):
    from engine import Config

    class SlowSim:
        """Wraps a Simulation so the grid takes long enough to cancel."""

        def __init__(self, config):
            from engine.simulation import Simulation
            self.sim = Simulation(config)

        def __getattr__(self, name):
            return getattr(self.sim, name)

        def losses_at(self, thetas, split="train"):
            import time
            time.sleep(0.05)
            return self.sim.losses_at(thetas, split=split)

    view = NetworkSurfaceView(Config(depth=2, width=8, n_samples=100))
    qtbot.addWidget(view)
    view.set_simulation_factory(SlowSim)
    view.resolution.setValue(101)
    view.steps.setValue(0)
    with qtbot.waitSignal(view.sigComputeRequested, timeout=1000):
        view.compute()
    view.cancel()
    qtbot.waitUntil(lambda: not view.busy, timeout=20000)
    assert view.status.text() == "cancelled"
    assert view.result is None


def test_neuron_view_never_announces_a_step_before_it_happens(qtbot):
    view = NeuronSurfaceView()
    qtbot.addWidget(view)
    reached = view.left.stats.steps_to_min
    assert reached is not None and reached > 5
    view.show_step(reached - 1)
    assert "not at the minimum yet" in view.left.numbers.text()
    assert f"step {reached}" not in view.left.numbers.text().split("·")[1]
    view.show_step(reached)
    assert f"minimum reached at step {reached}" in view.left.numbers.text()


def test_the_best_rate_search_waits_until_the_view_is_on_screen(qtbot, monkeypatch):
    """Behind another tab the search would take a core from training at every start of the app."""
    from tests.gui.fakes_window import spy_on_jobs
    searches = spy_on_jobs(monkeypatch, "fair_comparison")
    view = NeuronSurfaceView()
    qtbot.addWidget(view)
    qtbot.wait(200)
    assert searches == []
    assert view.fair_result is None and "Searching" in view.fairness.text()
    view.show()
    qtbot.waitUntil(lambda: view.fair_result is not None, timeout=30_000)
    assert "best stable lr" in view.fairness.text()


def test_neuron_view_compares_each_side_at_its_best_stable_rate(qtbot):
    from engine.zigzag import fair_comparison
    view = NeuronSurfaceView()
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: "best stable lr" in view.fairness.text(), timeout=20_000)
    # the settings' problems: once the search is done the panels show the best-rate ones
    expected = fair_comparison(view.problem(view.left.inputs.currentData()),
                               view.problem(view.right.inputs.currentData()))
    text = view.fairness.text()
    assert f"positive {expected.positive_best.steps} steps" in text
    assert f"zero-centred {expected.centred_best.steps} steps" in text
    assert expected.positive_best.steps > expected.centred_best.steps      # the honest lesson
    # at the shared rate the zig-zag can even look faster: both are shown
    assert f"positive {expected.positive_shared.steps} steps vs zero-centred {expected.centred_shared.steps}" in text


def test_neuron_view_animates_each_side_at_its_best_rate_so_the_lesson_holds(qtbot):
    """At one shared rate the zig-zag side can reach the minimum first (DESIGN: 38 vs 55 steps);
    the panels animate each side at its own best stable rate, where zero-centred inputs win."""
    from engine.zigzag import fair_comparison
    view = NeuronSurfaceView()
    qtbot.addWidget(view)
    view.show()
    assert view.rate_mode == "best"
    shared = fair_comparison(view.problem(view.left.inputs.currentData()),
                             view.problem(view.right.inputs.currentData()))
    qtbot.waitUntil(lambda: view.fair_result is not None, timeout=20_000)
    assert view.left.problem == shared.positive_best.problem
    assert view.right.problem == shared.centred_best.problem
    assert view.left.stats.steps_to_min > view.right.stats.steps_to_min     # what the panels show
    assert f"lr {shared.positive_best.problem.lr:.3g}" in view.left.numbers.text()
    assert "best stable lr (the panels below)" in view.fairness.text()

    view.rates.setCurrentIndex(view.rates.findData("shared"))
    assert view.left.problem.lr == view.right.problem.lr == view.lr.value()
    assert f"shared lr {view.lr.value():.2g} (the panels below)" in view.fairness.text()

    # typing a learning rate shows that rate (and searches again)
    view.rates.setCurrentIndex(view.rates.findData("best"))
    view.lr.setValue(0.3)
    assert view.rate_mode == "shared" and view.left.problem.lr == 0.3 == view.right.problem.lr
