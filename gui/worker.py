"""Training off the GUI thread: a worker owns the Simulation on a QThread; the GUI pulls frames.

The worker trains in small chunks from a zero-interval (or frame-paced) timer in its own thread,
so queued calls (pause, new config, reset) get in between chunks. After each chunk it stores the
latest Snapshot; the GUI's display timer takes it with ``take_latest()``. Snapshots the GUI never
took are dropped, but their per-step history is merged into the next one, so every step reaches
the charts.
"""
from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PySide6 import QtCore
from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

FRAME_S = 1 / 60          # paced speeds train `steps_per_frame` steps once per display frame
MAX_CHUNK_S = 0.01        # at "max" speed one chunk trains about this long, then yields
GUI_WAIT_S = 0.1          # longest a training chunk waits for the GUI to finish drawing
PAINT_GRACE_MS = 12       # Qt paints ~5 ms after an update; the guard outlasts that paint
BOUNDARY_EVERY_S = 0.1    # decision-boundary grid refresh while training
BOUNDARY_RESOLUTION = 64


@dataclass(frozen=True)
class DataInfo:
    """The dataset of the current run, sent once per build/reset (NumPy arrays)."""

    x_train: np.ndarray
    y_train: np.ndarray
    task: str
    is_2d: bool
    extent: tuple[float, float, float, float] | None
    backend: str
    device: str
    backend_reason: str


@dataclass(frozen=True)
class Frame:
    """What the display timer takes: the run it belongs to (generation), its config and data."""

    generation: int
    config: Any
    data: DataInfo | None
    snapshot: Any


def _default_factory(config):
    from engine import Simulation  # the engine is imported in the worker thread, after the window shows
    return Simulation(config)


def _merge_history(older, newer):
    """``newer`` with the per-step history of ``older`` prepended (older was never displayed)."""
    if older is None or len(older.history_steps) == 0:
        return newer
    if len(newer.history_steps) == 0:
        return dataclasses.replace(newer, history_steps=older.history_steps,
                                   history_loss=older.history_loss,
                                   history_grad_norms=older.history_grad_norms)
    return dataclasses.replace(
        newer,
        history_steps=np.concatenate([older.history_steps, newer.history_steps]),
        history_loss=np.concatenate([older.history_loss, newer.history_loss]),
        history_grad_norms=np.concatenate([older.history_grad_norms, newer.history_grad_norms]),
    )


def _error_text(exc: BaseException) -> str:
    from engine.config import ConfigError
    if isinstance(exc, ConfigError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class SimulationWorker(QObject):
    """Owns a Simulation in its thread. Create without a parent and move to a QThread."""

    sigError = Signal(str)               # a message for the status bar (the run keeps its old config)
    sigConfigRejected = Signal(object)   # the config that stays in force after a failed rebuild
    sigRunningChanged = Signal(bool)
    sigBuilt = Signal(object)            # the Config now running

    def __init__(self, factory: Callable[[Any], Any] | None = None):
        super().__init__()
        self._factory = factory or _default_factory
        self._lock = threading.Lock()
        self._frame: Frame | None = None     # latest, not yet taken
        self._generation = 0
        self._sim = None
        self._config = None
        self._data: DataInfo | None = None
        self._boundary = None                # (grid, extent) of the last boundary evaluation
        self._boundary_time = 0.0
        self._boundary_every = BOUNDARY_EVERY_S
        self._running = False
        self._steps_per_frame = 0            # 0 = as fast as possible
        self._stop_at: int | None = None     # pause when a run from below reaches this step
        self.last_finite = None              # (generation, snapshot) replayed after a divergence
        self._chunk = 1
        self._timer: QTimer | None = None
        # Cleared by the GUI while it draws a frame. Both threads need the GIL, and Qt releases it on
        # every call, so a training chunk running beside a frame makes the frame several times slower;
        # chunks wait for the frame instead (at most GUI_WAIT_S).
        self.gui_idle = threading.Event()
        self.gui_idle.set()

    # ------------------------------------------------------------------ called from the GUI thread
    def take_latest(self) -> Frame | None:
        """The newest frame since the last call (None when nothing new). Thread-safe."""
        with self._lock:
            frame, self._frame = self._frame, None
        return frame

    # ------------------------------------------------------------------ slots (worker thread)
    @Slot()
    def _on_thread_started(self):
        self._timer = QTimer(self)
        self._timer.setTimerType(QtCore.Qt.PreciseTimer)
        self._timer.timeout.connect(self._on_tick)

    @Slot(object)
    def set_config(self, config):
        """Build a Simulation for ``config``; on failure keep the old one and report why.

        A run that was playing goes on playing with the new simulation.
        """
        resume = self._running
        try:
            sim = self._factory(config)
        except Exception as exc:  # ConfigError for bad combinations, RuntimeError from CuPy, ...
            self.sigError.emit(_error_text(exc))
            if self._config is not None:
                self.sigConfigRejected.emit(self._config)
            return
        self._install(sim, config)
        self.sigBuilt.emit(config)
        if resume:
            self._set_running(True)

    @Slot()
    def reset(self):
        if self._config is not None:
            self.set_config(self._config)

    @Slot()
    def play(self):
        if self._sim is None or self._sim_diverged():
            return
        self._set_running(True)

    @Slot()
    def pause(self):
        self._set_running(False)

    @Slot()
    def step_once(self):
        self._set_running(False)
        if self._sim is not None and not self._sim_diverged():
            self._train(1)

    @Slot(int)
    def set_steps_per_frame(self, n: int):
        self._steps_per_frame = max(0, int(n))
        if self._timer is not None:
            self._timer.setInterval(0 if self._steps_per_frame == 0 else int(FRAME_S * 1000))

    @Slot(object)
    def set_stop_at(self, step):
        """Pause when training from below ``step`` reaches it exactly (None: never); Play goes on past it."""
        self._stop_at = None if step is None else int(step)

    @Slot()
    def shutdown(self):
        self._set_running(False)
        self._sim = None
        if self._timer is not None:
            self._timer.setParent(None)   # dropped here, so it is deleted in the thread that owns it
            self._timer = None
        QThread.currentThread().quit()

    # ------------------------------------------------------------------ internals
    def _install(self, sim, config):
        self._set_running(False)
        self.last_finite = None
        self._sim, self._config = sim, config
        self._generation += 1
        self._boundary = None
        self._boundary_every = BOUNDARY_EVERY_S
        self._chunk = 1
        data = getattr(sim, "data", None)
        backend = getattr(sim, "backend", None)
        self._data = DataInfo(
            x_train=np.asarray(data.x_train), y_train=np.asarray(data.y_train),
            task=str(data.task), is_2d=bool(data.is_2d),
            extent=tuple(data.extent) if data.is_2d else None,
            backend=getattr(backend, "name", "?"), device=getattr(backend, "device", "?"),
            backend_reason=getattr(backend, "reason", ""),
        ) if data is not None else None
        with self._lock:
            self._frame = None
        self._publish(self._snapshot_with_boundary(), merge=False)

    def _sim_diverged(self) -> bool:
        return bool(getattr(self._sim, "diverged", False))

    def _set_running(self, running: bool):
        if running == self._running:
            return
        self._running = running
        if self._timer is not None:
            if running:
                self.set_steps_per_frame(self._steps_per_frame)
                self._timer.start()
            else:
                self._timer.stop()
        self.sigRunningChanged.emit(running)

    @Slot()
    def _on_tick(self):
        if not self._running or self._sim is None:
            return
        if self._steps_per_frame:
            self._train(self._steps_per_frame)
            return
        t0 = time.perf_counter()
        self._train(self._chunk)
        elapsed = time.perf_counter() - t0
        # Aim each chunk at MAX_CHUNK_S so pause/reset are never more than a few ms away.
        per_step = elapsed / max(self._chunk, 1)
        self._chunk = int(min(max(1, MAX_CHUNK_S / max(per_step, 1e-7)), 10_000))

    def _train(self, n: int):
        self.gui_idle.wait(GUI_WAIT_S)
        stop = self._stop_at
        before = getattr(self._sim, "step_count", None)
        if stop is not None and before is not None and before < stop:
            n = min(n, stop - before)
        else:
            stop = None
        try:
            snapshot = self._sim.step(n)
            if self._data is not None and self._data.is_2d and (
                    snapshot.diverged or time.perf_counter() - self._boundary_time > self._boundary_every):
                self._refresh_boundary()
        except Exception as exc:
            self._set_running(False)
            self.sigError.emit(_error_text(exc))
            traceback.print_exc()
            return
        if snapshot.diverged and self.last_finite is None:
            self._replay_last_finite(snapshot)
        self._publish(self._with_boundary(snapshot), merge=True)
        if snapshot.diverged or (stop is not None and snapshot.step >= stop):
            self._set_running(False)

    def _replay_last_finite(self, diverged) -> None:
        """A run that diverged inside one chunk never showed its last finite state: rebuild the
        (deterministic) run and train it to the step before the first non-finite one."""
        k = int(diverged.diverged_at)
        if k < 1:
            return
        try:
            sim = self._factory(self._config)
            snap = sim.step(k - 1) if k > 1 else sim.snapshot()
        except Exception:  # the replay is a courtesy: the diverged run is still shown
            return
        if not getattr(snap, "diverged", False):
            self.last_finite = (self._generation, snap)

    def _snapshot_with_boundary(self):
        if self._data is not None and self._data.is_2d:
            snapshot = self._sim.snapshot(boundary_resolution=BOUNDARY_RESOLUTION)
            if snapshot.boundary is not None:
                self._boundary = snapshot.boundary, snapshot.boundary_extent
            self._boundary_time = time.perf_counter()
            return snapshot
        return self._sim.snapshot()

    def _refresh_boundary(self):
        """Re-evaluate the decision surface; big networks do it less often (it costs a forward pass
        over the grid, and a full snapshot where the simulation has no ``decision_surface``)."""
        t0 = time.perf_counter()
        surface = getattr(self._sim, "decision_surface", None)
        if surface is not None:
            self._boundary = surface(BOUNDARY_RESOLUTION)
        else:
            snapshot = self._sim.snapshot(boundary_resolution=BOUNDARY_RESOLUTION)
            self._boundary = None if snapshot.boundary is None else (snapshot.boundary, snapshot.boundary_extent)
        self._boundary_time = time.perf_counter()
        self._boundary_every = max(BOUNDARY_EVERY_S, 10 * (self._boundary_time - t0))

    def _with_boundary(self, snapshot):
        if self._boundary is None or snapshot.boundary is not None:
            return snapshot
        grid, extent = self._boundary
        return dataclasses.replace(snapshot, boundary=grid, boundary_extent=extent)

    def _publish(self, snapshot, merge: bool):
        with self._lock:
            older = self._frame.snapshot if (merge and self._frame is not None) else None
            self._frame = Frame(self._generation, self._config, self._data, _merge_history(older, snapshot))


class SimulationRunner(QObject):
    """The GUI side: owns the thread and the worker, forwards commands as queued signals."""

    _sigSetConfig = Signal(object)
    _sigPlay = Signal()
    _sigPause = Signal()
    _sigStep = Signal()
    _sigReset = Signal()
    _sigSpeed = Signal(int)
    _sigShutdown = Signal()
    _sigStopAt = Signal(object)

    def __init__(self, factory: Callable[[Any], Any] | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.thread = QThread()                      # no parent: it is stopped in shutdown()
        self.thread.setObjectName("simulation")
        self.worker = SimulationWorker(factory)      # no parent, or moveToThread silently fails
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker._on_thread_started)
        self._sigSetConfig.connect(self.worker.set_config)
        self._sigPlay.connect(self.worker.play)
        self._sigPause.connect(self.worker.pause)
        self._sigStep.connect(self.worker.step_once)
        self._sigReset.connect(self.worker.reset)
        self._sigSpeed.connect(self.worker.set_steps_per_frame)
        self._sigShutdown.connect(self.worker.shutdown)
        self._sigStopAt.connect(self.worker.set_stop_at)
        self.sigError = self.worker.sigError
        self.sigConfigRejected = self.worker.sigConfigRejected
        self.sigRunningChanged = self.worker.sigRunningChanged
        self.sigBuilt = self.worker.sigBuilt
        self._drawing = 0
        self.thread.start()

    def set_config(self, config):
        self._sigSetConfig.emit(config)

    def play(self):
        self._sigPlay.emit()

    def pause(self):
        self._sigPause.emit()

    def step(self):
        self._sigStep.emit()

    def reset(self):
        self._sigReset.emit()

    def set_steps_per_frame(self, n: int):
        self._sigSpeed.emit(int(n))

    def set_stop_at(self, step):
        """Training from below ``step`` pauses there (the step a preset's claim is stated for)."""
        self._sigStopAt.emit(step)

    def take_latest(self) -> Frame | None:
        return self.worker.take_latest()

    def last_finite_snapshot(self, generation):
        """After a divergence: the run's last finite state (replayed in the worker), or None."""
        found = self.worker.last_finite
        return found[1] if found is not None and found[0] == generation else None

    def begin_frame(self):
        """The GUI starts drawing: training chunks hold off until every ``end_frame`` is in."""
        self._drawing += 1
        self.worker.gui_idle.clear()

    def end_frame(self):
        self._drawing = max(0, self._drawing - 1)
        if self._drawing == 0:
            self.worker.gui_idle.set()

    @contextlib.contextmanager
    def frame_guard(self):
        """``with runner.frame_guard(): update_views()`` — training waits while the GUI draws.

        Qt paints a little later (its update-request timer, ~5 ms), so the guard is lifted only
        after PAINT_GRACE_MS, once that paint has run.
        """
        self.begin_frame()
        try:
            yield
        finally:
            QTimer.singleShot(PAINT_GRACE_MS, self.end_frame)

    def shutdown(self):
        """Stop training and the thread; waits for a step in progress (one step of the largest
        network can take seconds, and killing the thread mid-step would be unsafe)."""
        self._drawing = 0
        self.worker.gui_idle.set()
        if self.thread.isRunning():
            self._sigShutdown.emit()
            self.thread.wait()
