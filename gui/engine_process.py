"""The Simulation(s) in a child process: commands in, the latest frames out.

Painting and training in one interpreter share one lock, so the window used to train at 18-35% of
the headless speed. Here the engine lives in its own process (``multiprocessing``, ``spawn``), with
its own interpreter and core; CuPy is imported and self-tested only there (``engine.backend``).
This module is the parent's side and Qt-free, so headless drivers (benchmarks, recording) use it too;
the child runs gui/engine_child.py.
The Qt side is :class:`gui.runner.SimulationRunner`.

Protocol
--------
Two one-way pipes. Every message is a tuple ``(name, *args)`` of picklable values.

GUI -> engine (``EngineProcess.send``):

``("configs", [Config, ...])``
    Build one Simulation per config (K members, advanced in lockstep: each play chunk or step
    trains every member the same number of steps). A single run is K = 1. A run that was playing
    goes on playing with the new members. On failure the old members stay.
``("reset",)``          rebuild the current configs (a new generation).
``("play",)`` / ``("pause",)``
``("step", n)``         pause, then train every member ``n`` steps.
``("speed", n)``        steps per display frame (1/60 s) while playing; 0 = as fast as possible.
``("boundary", bool)``  whether frames carry the 2D decision boundary (a forward pass over a
                        64 x 64 grid: ~10% of a small net's time; the GUI turns it off while no
                        view shows it). On by default.
``("credit", n)``       the GUI can take ``n`` more frames (it grants ``MAX_IN_FLIGHT`` at start
                        and one per frame it takes), so at most that many frames are in the pipe.
``("get_state",)``      answered by ``("state", generation, [member state, ...])``: each member's
                        ``Simulation.get_state()`` (config, weights, optimiser state, history...).
``("set_state", [member state, ...])``  rebuild from the states' configs, then
                        ``Simulation.set_state(state)`` on each member (a new generation).
                        Both answer ``("error", text)`` where the engine has no such method yet.
``("stop_at", step)``   training from below ``step`` pauses exactly there (a preset's claim step);
                        None: never. Play goes on past it. New ``configs`` clear it.
``("surface", job, spec)``  slice member ``spec["member"]`` (default 0) where it is now: ``spec`` holds
                        ``directions`` ("random" | "pca"), ``resolution``, ``span``, ``seed`` and
                        optionally ``resolution_1d`` (``engine.surface.SurfaceJob``). The grid is
                        evaluated in pieces of ~``SURFACE_SLICE_S`` between training chunks (training
                        goes on); the plane is fixed at the request. Member 0's trajectory is recorded
                        for the whole run (``engine.surface.TrajectoryRecorder``, bounded memory) and
                        projected onto the slice. A new request replaces a running one.
``("surface_cancel", job)``
``("shutdown",)``       end the process (the pipe closing does the same).

engine -> GUI (``EngineProcess.take_frame`` / ``take_messages``):

``("ready", pid)``                               the child is up (imports done).
``("built", generation, [Config, ...], [DataInfo, ...])``  new members; a step-0 frame follows.
``("rejected", text, [Config, ...])``            a build failed; the configs still in force.
``("error", text)``                              training (or a command) failed; paused.
``("running", bool, seconds)``                   play state changed (also on divergence); ``seconds``:
                                                 how long this process has played in all (its
                                                 own clock: the span of a short play, such as a
                                                 preset's run to its claim, is not lost to the
                                                 poll that reads the start and the stop together).
``("frame", Frame)``                             see :class:`gui.frames.Frame`: per member a compact
                                                 snapshot whose history holds every step since
                                                 the previous frame sent.
``("state", generation, [state, ...])``
``("last_finite", generation, member, snapshot)``  a member diverged inside one chunk: its last
                                                 finite state (the run replayed to the step before
                                                 the first non-finite one; runs are deterministic).
``("surface_progress", job, done, total)``     at most every ``SURFACE_PROGRESS_S``.
``("surface", job, NetworkSurface)``           without ``center``/``directions`` (2 P values); its
                                                 ``extra`` says: ``step`` (the parameters sliced),
                                                 ``path_steps`` (the step of each path point, the last
                                                 being ``step``), ``now_step`` and ``now`` (where training
                                                 had got to when the grid was done, projected),
                                                 ``member``, ``generation``, ``trajectory_note``.
``("surface_failed", job, text)`` / ``("surface_cancelled", job)``

Frames are built only when the GUI has credit and at most every ``MIN_FRAME_S``; between frames
the engine only trains (the Simulation keeps the per-step history until the next snapshot). The
parent's reader thread merges frames the GUI has not taken yet (``merge_frames``), so the GUI takes
the latest at its display rate and every step still reaches the charts.

The child never outlives the GUI: it exits when the command pipe closes, it asks Linux to kill it
when its parent dies (``PR_SET_PDEATHSIG``), and it ignores SIGINT (Ctrl-C in a terminal reaches
the whole process group; the GUI then shuts it down).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from typing import Any, Callable

from gui.engine_child import MAX_IN_FLIGHT, child_main
from gui.frames import Frame, merge_frames

CLOSE_WAIT_S = 1.0        # after "shutdown", then SIGTERM, then SIGKILL: gone within 2 s

# BLAS thread pools of the engine process. OpenBLAS threads spin while they wait; beside a busy GUI
# on 2 cores, one 30 x 256 step took 0.7-2.8 s with 2 threads against 0.05 s with 1 (measured).
# So the engine leaves one core to the GUI; a variable the user set wins.
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def engine_threads() -> int:
    return max(1, (os.cpu_count() or 1) - 1)


def start_child(process, threads: int) -> None:
    """``process.start()`` with ``threads`` BLAS/OpenMP threads unless the user set them (a spawned
    child's environment is the parent's at start; the parent's own is left as it was)."""
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    for k in THREAD_VARS:
        os.environ.setdefault(k, str(threads))
    try:
        process.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)


def end_child(process, ask, timeout: float) -> None:
    """End a child: ``ask()`` it to stop (a send that may fail), wait ``timeout``, then SIGTERM,
    then SIGKILL, half a second each."""
    try:
        ask()
    except (OSError, ValueError):
        pass
    process.join(timeout)
    if process.is_alive():
        process.terminate()
        process.join(0.5)
    if process.is_alive():  # pragma: no cover - terminate is enough for Python code
        process.kill()
        process.join(0.5)


def describe_exit(exitcode: int | None) -> str:
    """Words for a child's exit code ("killed by SIGKILL", "exit code 1")."""
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " — out of memory, or killed by hand" if -exitcode == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit code {exitcode}"


class EngineProcess:
    """The parent's handle: start, send commands, take the latest frame and other messages.

    A reader thread receives everything the engine sends: frames are merged into one latest frame
    (``take_frame``), other messages queue up (``take_messages``). When the child dies the reader
    sees the pipe close; ``alive`` turns False and ``exitcode`` says how it ended. Thread-safe.
    """

    def __init__(self, factory: Callable[[Any], Any] | None = None, generation: int = 0):
        """``factory(config) -> Simulation`` runs in the child, so it must be picklable (a module-level
        function or class, or a functools.partial of one); None builds ``engine.Simulation``."""
        self.factory = factory
        self.first_generation = generation
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._messages: list[tuple] = []
        self._process = None
        self._commands = None
        self._reader: threading.Thread | None = None
        self._closing = False
        self._exitcode: int | None = None
        self._untaken = 0           # frames received since the last take (their credit goes back)
        self.frames_received = 0

    def start(self) -> "EngineProcess":
        ctx = multiprocessing.get_context("spawn")
        cmd_read, cmd_write = ctx.Pipe(duplex=False)
        frame_read, frame_write = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=child_main, name="gradient-flow-lab-engine", daemon=True,
                                    args=(cmd_read, frame_write, self.factory, os.getpid(), self.first_generation))
        start_child(self._process, engine_threads())
        cmd_read.close()        # the child's ends: closing ours lets each side see the other die
        frame_write.close()
        self._commands = cmd_write
        self._closing = False
        self._reader = threading.Thread(target=self._read, args=(frame_read,), name="engine-reader", daemon=True)
        self._reader.start()
        self.send("credit", MAX_IN_FLIGHT)
        return self

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return (self._process is not None and self._reader is not None and self._reader.is_alive()
                and self._process.is_alive())

    @property
    def exitcode(self) -> int | None:
        """How the child ended (negative: the signal that killed it); None while it runs."""
        if self._process is not None:
            self._process.join(0.2)
            self._exitcode = self._process.exitcode
        return self._exitcode

    def send(self, *command) -> bool:
        """Send a command; False when the engine is gone."""
        try:
            self._commands.send(command)
            return True
        except (OSError, ValueError, AttributeError):     # BrokenPipe, closed handle, never started
            return False

    def _read(self, conn):
        try:
            while True:
                message = conn.recv()
                with self._lock:
                    if message[0] == "frame":
                        self._frame = merge_frames(self._frame, message[1])
                        self._untaken += 1
                        self.frames_received += 1
                    else:
                        self._messages.append(message)
        except (EOFError, OSError):
            pass
        finally:
            conn.close()

    def take_frame(self) -> Frame | None:
        """The newest frame since the last call, with the history of any it replaced (or None)."""
        with self._lock:
            frame, self._frame = self._frame, None
            taken, self._untaken = self._untaken, 0
        if taken:
            self.send("credit", taken)
        return frame

    def take_messages(self) -> list[tuple]:
        with self._lock:
            messages, self._messages = self._messages, []
        return messages

    def close(self, timeout: float = CLOSE_WAIT_S):
        """End the engine: ask, then SIGTERM, then SIGKILL (within ~2 s in all)."""
        process, self._closing = self._process, True
        if process is None:
            return
        end_child(process, lambda: self.send("shutdown"), timeout)
        if self._commands is not None:
            self._commands.close()
        if self._reader is not None:
            self._reader.join(0.5)
        self._exitcode = process.exitcode
        self._process = None
