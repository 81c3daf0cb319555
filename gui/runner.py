"""The Qt side of the engine process: commands as methods, the engine's messages as signals.

:class:`SimulationRunner` owns a :class:`gui.engine_process.EngineProcess` and polls its messages
from a GUI-thread timer; the window's display timer takes the latest frame with ``take_latest()``.
If the process dies, ``sigDied`` says how; ``restart()`` starts a fresh one with the same configs.
:class:`RateMeter` turns displayed frames into the rate the status bar shows.
"""
from __future__ import annotations

import collections
import time
from typing import Any, Callable

from PySide6 import QtCore
from PySide6.QtCore import QObject, Signal

from gui.engine_process import EngineProcess, describe_exit
from gui.frames import Frame

POLL_MS = 10
RATE_WINDOW_S = 1.0


class SimulationRunner(QObject):
    """Commands to the engine process; its answers as signals (member 0's config for K = 1 users)."""

    sigBuilt = Signal(object)            # member 0's Config, now running
    sigMembersBuilt = Signal(object)     # every member's Config (a list)
    sigConfigRejected = Signal(object)   # member 0's Config still in force after a failed build
    sigError = Signal(str)               # a message for the status bar
    sigRunningChanged = Signal(bool)
    sigState = Signal(object)            # the answer to get_state(): a list of member states
    sigDied = Signal(str)                # the engine process ended on its own: how
    sigReady = Signal(int)               # the engine process is up: its pid
    sigSurfaceProgress = Signal(int, int, int)   # job, done, total
    sigSurface = Signal(int, object)             # job, NetworkSurface (see engine_process: "surface")
    sigSurfaceFailed = Signal(int, str)          # job, why (also when the engine died or was rebuilt)
    sigSurfaceCancelled = Signal(int)

    def __init__(self, factory: Callable[[Any], Any] | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._factory = factory
        self.configs: list = []          # what the engine runs now (as it last acknowledged)
        self.running = False
        self.generation = 0
        self._requested: list = []       # the last configs sent (Restart sends them again)
        self._steps_per_frame = 0
        self._want_boundary = True
        self._stop_at = None
        self._last_finite: dict = {}     # (generation, member) -> the last finite snapshot of a diverged run
        self._died = False
        self._played = (0.0, 0.0)        # (seconds the engine had played, when that word came)
        self._surface_jobs = 0
        self._surface_pending: set[int] = set()
        self._poll = QtCore.QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._on_poll)
        self.process = EngineProcess(factory).start()
        self._poll.start()

    # ----- commands
    @property
    def config(self):
        return self.configs[0] if self.configs else None

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.alive

    def played_seconds(self) -> float:
        """How long this engine process has played, by its own clock as of its last word, and by
        ours since then while it plays (a new process after Restart starts again from 0)."""
        played, at = self._played
        return played + (time.perf_counter() - at if self.running else 0.0)

    def set_config(self, config):
        self.set_configs([config])

    def set_configs(self, configs):
        """K members in lockstep (a comparison); one config is the ordinary run. Clears a stop
        step (``set_stop_at`` after this re-arms it)."""
        self._requested = list(configs)
        self._stop_at = None
        self.process.send("configs", list(configs))

    def play(self):
        self.process.send("play")

    def pause(self):
        self.process.send("pause")

    def step(self, n: int = 1):
        self.process.send("step", int(n))

    def reset(self):
        self.process.send("reset")

    def set_steps_per_frame(self, n: int):
        self._steps_per_frame = int(n)
        self.process.send("speed", int(n))

    def want_boundary(self, on: bool):
        """Frames carry the decision boundary only while a view shows it."""
        self._want_boundary = bool(on)
        self.process.send("boundary", bool(on))

    def set_stop_at(self, step):
        """Training from below ``step`` pauses there (the step a preset's claim is stated for)."""
        self._stop_at = None if step is None else int(step)
        self.process.send("stop_at", self._stop_at)

    def last_finite_snapshot(self, generation, member: int = 0):
        """After a divergence: the run's last finite state (replayed in the engine), or None.

        The engine sends it before the diverged frame, so reading the messages first finds it."""
        self._on_poll()
        return self._last_finite.get((generation, member))

    def get_state(self):
        """Ask for every member's full state; ``sigState`` brings it (or ``sigError``)."""
        self.process.send("get_state")

    def set_state(self, states):
        self.process.send("set_state", list(states))

    def surface(self, spec: dict) -> int:
        """Ask the engine to slice the running network's loss (see engine_process: "surface");
        returns the job id its ``sigSurface*`` signals carry."""
        self._surface_jobs += 1
        job = self._surface_jobs
        self._surface_pending.add(job)
        if not self.process.send("surface", job, dict(spec)):
            self._surface_pending.discard(job)
            QtCore.QTimer.singleShot(0, lambda: self.sigSurfaceFailed.emit(job, "the engine process is not running"))
        return job

    def cancel_surface(self, job: int):
        self.process.send("surface_cancel", int(job))

    def take_latest(self) -> Frame | None:
        return self.process.take_frame()

    def _fail_surfaces(self, why: str):
        for job in sorted(self._surface_pending):
            self.sigSurfaceFailed.emit(job, why)
        self._surface_pending.clear()

    def restart(self):
        """A fresh engine process with the configs last asked for (training paused)."""
        self.process.close(timeout=0.2)
        self._fail_surfaces("the engine process was restarted")
        self._set_running(False)
        self._died = False
        self._played = (0.0, 0.0)
        self.process = EngineProcess(self._factory, generation=self.generation + 1).start()
        self.process.send("speed", self._steps_per_frame)
        self.process.send("boundary", self._want_boundary)
        configs = self.configs or self._requested
        if configs:
            self.process.send("configs", list(configs))
        self.process.send("stop_at", self._stop_at)
        if not self._poll.isActive():
            self._poll.start()

    def shutdown(self):
        """End the engine process (within ~2 s); no signals after this."""
        self._poll.stop()
        self._died = True
        self.process.close()

    # ----- the engine's answers
    def _set_running(self, running: bool):
        if running != self.running:
            self.running = running
            self.sigRunningChanged.emit(running)

    def _on_poll(self):
        for message in self.process.take_messages():
            name, args = message[0], message[1:]
            if name == "built":
                self.generation, configs = args[0], list(args[1])
                self.configs = configs
                self.sigMembersBuilt.emit(configs)
                self.sigBuilt.emit(configs[0])
            elif name == "rejected":
                self.sigError.emit(args[0])
                if args[1]:
                    self.configs = list(args[1])
                    self.sigConfigRejected.emit(args[1][0])
            elif name == "error":
                self.sigError.emit(args[0])
            elif name == "running":
                if len(args) > 1:
                    self._played = (float(args[1]), time.perf_counter())
                self._set_running(bool(args[0]))
            elif name == "state":
                self.sigState.emit(list(args[1]))
            elif name == "last_finite":
                generation, member, snapshot = args
                self._last_finite = {k: v for k, v in self._last_finite.items() if k[0] == generation}
                self._last_finite[(generation, member)] = snapshot
            elif name == "ready":
                self.sigReady.emit(int(args[0]))
            elif name == "surface_progress":
                self.sigSurfaceProgress.emit(int(args[0]), int(args[1]), int(args[2]))
            elif name == "surface":
                self._surface_pending.discard(args[0])
                self.sigSurface.emit(int(args[0]), args[1])
            elif name == "surface_failed":
                self._surface_pending.discard(args[0])
                self.sigSurfaceFailed.emit(int(args[0]), str(args[1]))
            elif name == "surface_cancelled":
                self._surface_pending.discard(args[0])
                self.sigSurfaceCancelled.emit(int(args[0]))
        if not self._died and not self.process.alive:
            self._died = True
            self._fail_surfaces("the engine process stopped")
            self._set_running(False)
            self.sigDied.emit(describe_exit(self.process.exitcode))


class RateMeter:
    """Steps advanced per wall-clock second over the last ``window`` seconds of displayed frames."""

    def __init__(self, window: float = RATE_WINDOW_S, clock=time.perf_counter):
        self.window, self.clock = window, clock
        self._samples: collections.deque = collections.deque()

    def reset(self):
        self._samples.clear()

    def add(self, step: int, t: float | None = None):
        t = self.clock() if t is None else t
        samples = self._samples
        if samples and step < samples[-1][1]:
            samples.clear()                      # a new run
        samples.append((t, step))
        # keep one sample older than the window, so slow runs (a step every few s) still measure
        while len(samples) > 2 and samples[1][0] <= t - self.window:
            samples.popleft()

    def rate(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self._samples[0], self._samples[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0
