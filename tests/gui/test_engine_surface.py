"""The engine process's frames built from the sampled edges, its loss-surface command (slicing the
network that is training now), the Landscape tab through the real process, and lockstep batches."""
import dataclasses
import pickle

import numpy as np
import pytest

from engine import Config, Simulation
from gui.frames import SampledEdges, compact_snapshot, frame_snapshot, sample_plan
from tests.gui.digest_sim import DigestSimulation

SMALL = Config(depth=2, width=8, n_samples=200, seed=5)


# ------------------------------------------------------------------ frames
def _same_frame(fast, full):
    for f in dataclasses.fields(full):
        a, b = getattr(fast, f.name), getattr(full, f.name)
        if f.name in ("accuracy", "test_loss", "test_accuracy", "metrics_step", "steps_per_second"):
            continue
        if isinstance(b, list):
            assert len(a) == len(b), f.name
            for x, y in zip(a, b):
                if isinstance(y, SampledEdges):
                    assert isinstance(x, SampledEdges) and x.shape == y.shape, f.name
                    np.testing.assert_array_equal(x.flat, y.flat)
                    np.testing.assert_array_equal(x.values, y.values, err_msg=f.name)
                else:
                    np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=f.name)
        elif isinstance(b, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=f.name)
        else:
            assert a == b or (a != a and b != b), f.name


def test_a_big_nets_frame_is_read_at_the_sampled_edges_and_equals_the_cut_down_snapshot():
    cfg = Config(depth=17, width=256, n_samples=64, batch_size=16, backend="numpy")   # 1.05M edges
    sim_a, sim_b = Simulation(cfg), Simulation(cfg)
    for sim in (sim_a, sim_b):
        sim.step(2, snapshot=False)
    fast, full = frame_snapshot(sim_a), compact_snapshot(sim_b.snapshot())
    sizes = tuple([2] + [256] * 17 + [1])
    assert sample_plan(sizes).mode == "sample"
    assert isinstance(fast.weights[1], SampledEdges) and fast.weights[1].size == 256 * 256
    _same_frame(fast, full)
    assert len(pickle.dumps(fast)) < 8 * 2**20
    # negative control: a different step's frame is not the same (the comparison can fail)
    sim_a.step(1, snapshot=False)
    with pytest.raises(AssertionError):
        _same_frame(frame_snapshot(sim_a), full)


def test_a_small_nets_frame_is_whole_and_its_metrics_say_their_step():
    sim = Simulation(SMALL)
    sim.step(5, snapshot=False)
    first = frame_snapshot(sim)
    assert first.metrics_step == 5 and isinstance(first.weights[0], np.ndarray)
    sim.step(1, snapshot=False)
    again = frame_snapshot(sim)          # "auto": a fresh evaluation is not due within 0.2 s
    assert again.step == 6 and again.metrics_step == 5 and again.accuracy == first.accuracy


# ------------------------------------------------------------------ the surface command
def _wait_result(qtbot, runner, job, timeout=60_000):
    box = {}
    runner.sigSurface.connect(lambda j, r: box.setdefault(j, r))
    runner.sigSurfaceFailed.connect(lambda j, why: box.setdefault(j, why))
    qtbot.waitUntil(lambda: job in box, timeout=timeout)
    return box[job]


def test_the_surface_slices_the_running_networks_current_parameters(qtbot, make_runner):
    runner = make_runner()
    with qtbot.waitSignal(runner.sigBuilt, timeout=60_000):
        runner.set_config(SMALL)
    runner.step(120)
    qtbot.waitUntil(lambda: (f := runner.take_latest()) is not None and f.snapshot.step == 120, timeout=20_000)
    job = runner.surface(dict(directions="random", resolution=7, span=0.5, seed=1))
    result = _wait_result(qtbot, runner, job)
    assert not isinstance(result, str), result
    assert result.extra["step"] == 120 == result.extra["now_step"] and result.extra["member"] == 0
    assert result.loss.shape == (7, 7) and np.isfinite(result.loss).all()
    assert result.center.size == 0                       # 2 P values stay in the engine
    steps = result.extra["path_steps"]
    assert steps[0] == 0 and steps[-1] == 120 and len(steps) == len(result.path) >= 10
    np.testing.assert_allclose(result.path[-1], 0, atol=1e-6)      # the star is the current parameters
    # the centre of the grid is the loss of the running network's parameters (its saved state)
    with qtbot.waitSignal(runner.sigState, timeout=20_000) as got:
        runner.get_state()
    sim = Simulation(SMALL)
    sim.set_state(got.args[0][0])
    assert sim.step_count == 120
    assert result.loss[3, 3] == pytest.approx(sim.losses_at(sim.flat_parameters()[None])[0], rel=1e-5)
    assert result.loss[3, 3] < Simulation(SMALL).losses_at(Simulation(SMALL).flat_parameters()[None])[0]

    job = runner.surface(dict(directions="pca", resolution=5, span=1.0, seed=1))
    pca = _wait_result(qtbot, runner, job)
    assert not isinstance(pca, str), pca
    assert pca.directions_kind == "pca" and np.isfinite(pca.explained).all()
    assert pca.explained[0] > 0.5                          # SGD's path is mostly one direction


def test_frames_keep_coming_while_the_grid_is_computed(qtbot, make_runner):
    runner = make_runner()
    with qtbot.waitSignal(runner.sigBuilt, timeout=60_000):
        runner.set_config(Config(depth=4, width=64, n_samples=2000, seed=2))
    runner.play()
    qtbot.waitUntil(lambda: runner.running, timeout=10_000)
    runner.take_latest()
    progress = []
    runner.sigSurfaceProgress.connect(lambda j, d, t: progress.append(d))
    job = runner.surface(dict(directions="random", resolution=41, span=1.0, seed=0))
    frames, box = [], {}
    runner.sigSurface.connect(lambda j, r: box.setdefault(j, r))
    runner.sigSurfaceFailed.connect(lambda j, why: box.setdefault(j, why))

    def done():
        frame = runner.take_latest()
        if frame is not None:
            frames.append(frame.snapshot.step)
        return job in box
    qtbot.waitUntil(done, timeout=120_000)
    result = box[job]
    assert not isinstance(result, str), result
    assert len(set(progress)) >= 3                              # in pieces, with progress
    assert len(frames) >= 5 and frames == sorted(frames)        # training and frames went on
    assert result.extra["now_step"] > result.extra["step"]
    assert np.isfinite(result.extra["now"]).all()


def test_surface_cancel_rebuild_and_bad_requests(qtbot, make_runner):
    runner = make_runner()
    with qtbot.waitSignal(runner.sigBuilt, timeout=60_000):
        runner.set_config(Config(depth=4, width=64, n_samples=2000))
    job = runner.surface(dict(directions="random", resolution=101, span=1.0, seed=0))
    with qtbot.waitSignal(runner.sigSurfaceCancelled, timeout=20_000) as cancelled:
        runner.cancel_surface(job)
    assert cancelled.args == [job]
    job = runner.surface(dict(directions="random", resolution=101, span=1.0, seed=0))
    with qtbot.waitSignal(runner.sigSurfaceFailed, timeout=60_000) as failed:
        runner.reset()
    assert failed.args[0] == job and "rebuilt" in failed.args[1]
    job = runner.surface(dict(directions="diagonal", resolution=5, span=1.0, seed=0))
    assert "directions" in _wait_result(qtbot, runner, job)
    job = runner.surface(dict(directions="random", resolution=5, span=1.0, seed=0, member=3))
    assert "no member 3" in _wait_result(qtbot, runner, job)


# ------------------------------------------------------------------ the Landscape tab
def test_the_landscape_tab_draws_the_running_networks_slice(qtbot, make_runner):
    from gui.views.surface_live import LIVE_TEXT, LiveLandscapeView

    runner = make_runner()
    view = LiveLandscapeView(SMALL, runner)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    assert view.status.text() == LIVE_TEXT and not view.steps.isVisible()
    with qtbot.waitSignal(runner.sigBuilt, timeout=60_000):
        runner.set_config(SMALL)
    runner.play()
    qtbot.wait(1500)
    view.resolution.setValue(9)
    with qtbot.waitSignal(view.sigFinished, timeout=60_000) as finished:
        view.compute()
        assert view.busy and view.cancel_button.isEnabled() and not view.compute_button.isEnabled()
    result = finished.args[0]
    text = view.status.text()
    assert f"at step {result.extra['step']:,}" in text and "training now" in text
    assert "recorded points" in text and "fresh copy" not in text
    assert len(view.traj.xData) == len(result.path) >= 3
    assert not view.busy and view.compute_button.isEnabled()
    if result.extra["now_step"] > result.extra["step"]:
        assert len(view.now_mark.data) == 1 and "◆" in text


# ------------------------------------------------------------------ lockstep batches
def test_members_differing_only_in_model_settings_see_the_same_batches(qtbot, make_runner):
    base = Config(depth=2, width=8, n_samples=300, batch_size=16, seed=9)
    configs = [base, base.replace(activation="relu", init="he_normal", width=12),
               base.replace(depth=3, optimizer="momentum", lr=0.05)]
    runner = make_runner(DigestSimulation)
    with qtbot.waitSignal(runner.sigMembersBuilt, timeout=60_000):
        runner.set_configs(configs)
    runner.step(120)                      # by hand, then played: both paths train every member
    with qtbot.waitSignal(runner.sigRunningChanged, timeout=20_000):
        runner.play()
    qtbot.wait(500)
    with qtbot.waitSignal(runner.sigRunningChanged, timeout=20_000):
        runner.pause()
    with qtbot.waitSignal(runner.sigState, timeout=60_000) as got:
        runner.get_state()
    states = got.args[0]
    steps = {s["meta"]["step_count"] for s in states}
    assert len(steps) == 1 and states[0]["batches"] >= 120
    assert [s["batches"] for s in states] == [s["meta"]["step_count"] for s in states]   # one batch a step
    assert len({s["batch_digest"] for s in states}) == 1
    # negative control: another seed gives another order (the digest can tell them apart)
    other = DigestSimulation(base.replace(seed=10))
    other.step(states[0]["batches"], snapshot=False)
    assert other.get_state()["batch_digest"] != states[0]["batch_digest"]


# ------------------------------------------------------------------ metrics from an earlier step
def test_the_test_loss_is_drawn_at_the_step_it_was_computed_and_the_lag_is_said_when_it_matters(qtbot):
    from gui.frames import metrics_lag_text
    from gui.views.charts import LossChart
    from tests.gui.fakes import fake_snapshot

    chart = LossChart()
    qtbot.addWidget(chart)
    s = dataclasses.replace(fake_snapshot(step=40), test_loss=0.5, metrics_step=30)
    chart.ingest(s)
    chart.ingest(dataclasses.replace(s, step=41))          # the same evaluation: not drawn twice
    chart.ingest(dataclasses.replace(s, step=60, metrics_step=55, test_loss=0.4))
    t = chart._test
    assert t.steps[: t.n].tolist() == [30, 55] and np.allclose(t.values[: t.n, 0], np.log10([0.5, 0.4]))  # kept as log10
    assert metrics_lag_text(s) == " (from step 30)"
    assert metrics_lag_text(dataclasses.replace(s, step=10_000, metrics_step=9_500)) == ""   # 5%: no clutter
    assert metrics_lag_text(dataclasses.replace(s, metrics_step=40)) == ""
    assert metrics_lag_text(dataclasses.replace(s, metrics_step=-1)) == ""


def test_the_windows_landscape_tab_asks_the_engine_process(qtbot):
    from gui.main_window import MainWindow
    from gui.settings import open_settings

    window = MainWindow(settings=open_settings())
    qtbot.addWidget(window)
    window.show()
    window.finish_setup(config=SMALL)
    assert window.landscape.runner is window.runner
    qtbot.waitUntil(lambda: window.runner.config == SMALL, timeout=60_000)
    window.runner.step(40)
    window.landscape.resolution.setValue(5)
    with qtbot.waitSignal(window.landscape.sigFinished, timeout=60_000) as finished:
        window.landscape.compute_button.click()
    assert finished.args[0].extra["step"] == 40
    assert "at step 40" in window.landscape.status.text()
    window.close()


def test_layers_other_than_a_dense_chain_take_the_full_snapshot():
    from tests.gui.fakes import fake_snapshot

    class ConvLike:
        """Reports a conv-shaped weight block; its snapshot is already the graph's view."""

        calls = []

        def weight_slices(self):
            return [(0, 8 * 3 * 3 * 3, (8, 3, 3, 3)), (216, 216 + 8 * 10, (8, 10))]

        def edge_arrays(self, indices):
            raise AssertionError("not a dense chain: edge_arrays must not be used")

        def snapshot(self, **options):
            self.calls.append(options)
            return fake_snapshot((3, 8, 10))

    sim = ConvLike()
    snap = frame_snapshot(sim)
    assert sim.calls == [{"boundary_resolution": 0, "evaluate": "auto"}]
    assert snap.weights[0].shape == (3, 8)


def test_a_frames_activation_samples_are_the_engines_float32_values():
    """Histograms read the hidden outputs: a frame carries them as float32 (the engine's precision),
    not float64, which made them more than half of a 10 x 32 frame; the values are unchanged."""
    sim = Simulation(Config(depth=10, width=32, n_samples=256, batch_size=64, backend="numpy"))
    sim.step(3, snapshot=False)
    full = sim.snapshot()
    frame = compact_snapshot(full)
    assert all(a.dtype == np.float32 for a in frame.activation_samples)
    for got, want in zip(frame.activation_samples, full.activation_samples):
        np.testing.assert_array_equal(got, np.asarray(want, dtype=np.float64).astype(np.float32))
        assert np.array_equal(got.astype(np.float64), want)     # exact: they were float32 in the engine
    assert len(pickle.dumps(frame)) < 0.8 * len(pickle.dumps(dataclasses.replace(
        frame, activation_samples=[a.astype(np.float64) for a in frame.activation_samples])))
