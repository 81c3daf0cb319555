"""The simulation worker: trains on its own thread, hands over the latest frame, reports errors."""
import numpy as np
import pytest

from engine import Config, ConfigError
from gui.worker import SimulationRunner
from tests.gui.fakes_window import fake_factory

SMALL = Config(depth=2, width=8, n_samples=100)


@pytest.fixture
def make_runner(qtbot):
    runners = []

    def make(factory=None):
        runner = SimulationRunner(factory)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.shutdown()
        assert not runner.thread.isRunning()


def wait_frame(qtbot, runner, timeout=10_000):
    box = []
    qtbot.waitUntil(lambda: box.append(runner.take_latest()) or box[-1] is not None, timeout=timeout)
    return box[-1]


def test_build_sends_data_and_a_step_zero_snapshot(qtbot, make_runner):
    runner = make_runner()
    with qtbot.waitSignal(runner.sigBuilt, timeout=10_000) as built:
        runner.set_config(SMALL)
    assert built.args[0] == SMALL
    frame = wait_frame(qtbot, runner)
    assert frame.generation == 1 and frame.config == SMALL
    assert frame.snapshot.step == 0
    assert frame.data.is_2d and frame.data.x_train.shape[1] == 2
    assert frame.snapshot.boundary is not None and frame.snapshot.boundary_extent is not None


def test_training_runs_off_the_gui_thread_and_every_step_reaches_the_gui(qtbot, make_runner):
    runner = make_runner()
    runner.set_config(SMALL)
    wait_frame(qtbot, runner)
    with qtbot.waitSignal(runner.sigRunningChanged, timeout=5_000) as running:
        runner.play()
    assert running.args == [True]
    steps = []
    def collect():
        frame = runner.take_latest()
        if frame is not None:
            steps.extend(frame.snapshot.history_steps.tolist())
        return len(steps) > 300
    qtbot.waitUntil(collect, timeout=20_000)
    runner.pause()
    qtbot.waitUntil(lambda: not runner.worker._running, timeout=5_000)
    frame = runner.take_latest()
    if frame is not None:
        steps.extend(frame.snapshot.history_steps.tolist())
    # Frames the GUI never took were dropped, but their history was merged: no step is missing.
    assert steps == list(range(steps[0], steps[0] + len(steps)))


def test_step_once_trains_exactly_one_step(qtbot, make_runner):
    runner = make_runner()
    runner.set_config(SMALL)
    wait_frame(qtbot, runner)
    runner.step()
    frame = wait_frame(qtbot, runner)
    assert frame.snapshot.step == 1
    assert len(frame.snapshot.history_steps) == 1


def test_a_failing_build_reports_and_keeps_the_old_config(qtbot, make_runner):
    def factory(config):
        if config.depth == 3:
            raise ConfigError("loss", "bce", "a loss that fits the dataset")
        return fake_factory()(config)

    runner = make_runner(factory)
    runner.set_config(SMALL)
    wait_frame(qtbot, runner)
    errors, kept = [], []
    runner.sigError.connect(errors.append)
    runner.sigConfigRejected.connect(kept.append)
    runner.set_config(SMALL.replace(depth=3))
    qtbot.waitUntil(lambda: bool(errors and kept), timeout=5_000)
    assert "invalid value for 'loss'" in errors[0]
    assert kept == [SMALL]
    assert runner.worker._config == SMALL


def test_a_runtime_error_while_training_becomes_a_message(qtbot, make_runner):
    class Broken:
        def __init__(self, config):
            self.inner = fake_factory()(config)
            self.data, self.backend = self.inner.data, self.inner.backend

        def snapshot(self, boundary_resolution=0):
            return self.inner.snapshot(boundary_resolution)

        def step(self, n):
            raise RuntimeError("CUDA out of memory")

    runner = make_runner(Broken)
    runner.set_config(SMALL)
    wait_frame(qtbot, runner)
    with qtbot.waitSignal(runner.sigError, timeout=5_000) as error:
        runner.play()
    assert error.args[0] == "RuntimeError: CUDA out of memory"
    qtbot.waitUntil(lambda: not runner.worker._running, timeout=5_000)


def test_divergence_pauses_the_worker(qtbot, make_runner):
    runner = make_runner(fake_factory(diverge_at=25))
    runner.set_config(SMALL)
    wait_frame(qtbot, runner)
    runner.play()
    qtbot.waitUntil(lambda: runner.worker._sim.diverged and not runner.worker._running, timeout=10_000)
    frame = runner.take_latest()
    assert frame.snapshot.diverged and frame.snapshot.diverged_at == 25
    assert np.isnan(frame.snapshot.history_loss[-1])


def test_a_new_config_while_playing_keeps_playing(qtbot, make_runner):
    runner = make_runner(fake_factory())
    runner.set_config(SMALL)
    wait_frame(qtbot, runner)
    runner.play()
    qtbot.waitUntil(lambda: runner.worker._running, timeout=5_000)
    with qtbot.waitSignal(runner.sigBuilt, timeout=5_000):
        runner.set_config(SMALL.replace(width=4))
    qtbot.waitUntil(lambda: (f := runner.take_latest()) is not None and f.generation == 2 and f.snapshot.step > 0,
                    timeout=10_000)
    assert runner.worker._running
