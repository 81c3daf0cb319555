"""The Simulation(s) in a child process: commands in, the latest frames out.

Painting and training in one interpreter share one lock, so the window used to train at 18-35% of
the headless speed. Here the engine lives in its own process (``multiprocessing``, ``spawn``), with
its own interpreter and core; CuPy is imported and self-tested only there (``engine.backend``).
This module is Qt-free: the child imports it, and so can headless drivers (benchmarks, recording).
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

import dataclasses
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from typing import Any, Callable

import numpy as np

from gui.frames import DataInfo, Frame, compact_snapshot, frame_snapshot, merge_frames

FRAME_S = 1 / 60          # paced speeds train `steps_per_frame` steps once per display frame
MIN_FRAME_S = 1 / 60      # at most this many frames per second leave the engine
SNAPSHOT_SHARE = 2.0      # frames at least this many snapshot-build times apart (big nets: <= 1/3 of the time)
IDLE_FRAME_S = 1.0        # without credit, a snapshot still gathers the history this often
MAX_CHUNK_S = 0.01        # at "max" speed one chunk trains about this long, then commands get in
MAX_IN_FLIGHT = 2
BOUNDARY_EVERY_S = 0.1    # decision-boundary grid refresh while training
BOUNDARY_RESOLUTION = 64
SURFACE_SLICE_S = 0.01    # one piece of a loss grid between training chunks (~MAX_CHUNK_S: training keeps about half)
SURFACE_PROGRESS_S = 0.1
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


def default_factory(config):
    from engine import Simulation
    from engine.memory import check_config
    check_config(config)  # a ConfigError with the estimate, before allocating anything
    return Simulation(config)


def error_text(exc: BaseException) -> str:
    from engine.config import ConfigError
    if isinstance(exc, ConfigError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


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


# ====================================================================== the child
class _Member:
    """One simulation of the lockstep group, with its decision-boundary cache."""

    def __init__(self, sim, config):
        self.sim, self.config = sim, config
        data = getattr(sim, "data", None)
        backend = getattr(sim, "backend", None)
        self.data = DataInfo(
            x_train=np.asarray(data.x_train), y_train=np.asarray(data.y_train),
            task=str(data.task), is_2d=bool(data.is_2d),
            extent=tuple(data.extent) if data.is_2d else None,
            backend=getattr(backend, "name", "?"), device=getattr(backend, "device", "?"),
            backend_reason=getattr(backend, "reason", ""),
        ) if data is not None else None
        self.boundary = None
        self.boundary_time = -1e9
        self.boundary_every = BOUNDARY_EVERY_S

    @property
    def is_2d(self) -> bool:
        return self.data is not None and self.data.is_2d

    @property
    def diverged(self) -> bool:
        return bool(getattr(self.sim, "diverged", False))

    def snapshot(self, force_boundary: bool = False, want_boundary: bool = True):
        """A compact snapshot, with a decision boundary refreshed every ``boundary_every`` s (big
        networks less often: a forward pass over the grid costs them more)."""
        now = time.perf_counter()
        if not want_boundary:
            self.boundary = None
            return frame_snapshot(self.sim)
        due = self.is_2d and (force_boundary or self.boundary is None or now - self.boundary_time > self.boundary_every)
        surface = getattr(self.sim, "decision_surface", None)
        if due and surface is None:
            snapshot = frame_snapshot(self.sim, BOUNDARY_RESOLUTION)
            self.boundary = None if snapshot.boundary is None else (snapshot.boundary, snapshot.boundary_extent)
        else:
            if due:
                self.boundary = surface(BOUNDARY_RESOLUTION)
            snapshot = frame_snapshot(self.sim)
        if due:
            self.boundary_time = time.perf_counter()
            self.boundary_every = max(BOUNDARY_EVERY_S, 10 * (self.boundary_time - now))
        if self.boundary is not None and snapshot.boundary is None:
            grid, extent = self.boundary
            snapshot = dataclasses.replace(snapshot, boundary=grid, boundary_extent=extent)
        return snapshot


class _Sender:
    """Sends the engine's messages from a thread of its own, in order: a frame of ~0.5 MB does not
    fit the pipe, and the GUI's reader needs the GUI's interpreter lock to drain it, so a send from
    the training loop would wait while the GUI paints (measured: the engine got ~25% of a core).
    Credit bounds the frames queued here."""

    def __init__(self, conn):
        self.conn = conn
        self.broken = False
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="engine-sender", daemon=True)
        self._thread.start()

    def send(self, message):
        if self.broken:
            raise BrokenPipeError("the GUI is gone")
        self._queue.put(message)

    def _run(self):
        while True:
            message = self._queue.get()
            if message is None:
                return
            try:
                self.conn.send(message)
            except (OSError, ValueError):
                self.broken = True
                return

    def close(self, timeout: float = 1.0):
        self._queue.put(None)
        self._thread.join(timeout)
        self.conn.close()


class _Engine:
    """The child's state: K members, play state, speed, frame credit."""

    def __init__(self, commands, frames, factory: Callable[[Any], Any], generation: int = 0):
        self.commands, self.out = commands, _Sender(frames)
        self.factory = factory
        self.members: list[_Member] = []
        self.generation = generation
        self.running = False
        self.played_s, self.playing_since = 0.0, 0.0   # seconds played in all; this play's start
        self.steps_per_frame = 0
        self.want_boundary = True
        self.credit = 0
        self.chunk = 1
        self.dirty = False               # trained (or built) since the last frame
        self.pending: Frame | None = None
        self.last_frame = 0.0
        self.frame_every = MIN_FRAME_S
        self.next_paced = 0.0
        self.stop_at: int | None = None
        self.alive = True
        self.trajectory = None           # member 0's recorded parameters (TrajectoryRecorder)
        self.surface = None              # (job id, SurfaceJob, member index, step sliced, path steps)
        self.surface_progress_at = 0.0

    # ----- messages
    def send(self, *message):
        self.out.send(message)

    def _set_running(self, running: bool):
        if running != self.running:
            self.running = running
            now = self.next_paced = time.perf_counter()
            if running:
                self.playing_since = now
            else:
                self.played_s += now - self.playing_since
            self.send("running", running, self.played_s)

    # ----- commands
    def handle(self, name: str, *args):
        handler = getattr(self, "_on_" + name, None)
        if handler is None:
            self.send("error", f"unknown engine command {name!r}")
            return
        handler(*args)

    def _on_configs(self, configs):
        self.stop_at = None      # a claim's step belongs to the run it was set for (a later stop_at re-arms)
        self._build(list(configs))

    def _build(self, configs, states=None) -> bool:
        resume = self.running
        try:
            members = [_Member(self.factory(c), c) for c in configs]
            if states is not None:
                for m, state in zip(members, states):
                    restore = getattr(m.sim, "set_state", None)
                    if restore is None:
                        raise NotImplementedError("this engine cannot restore a saved state yet")
                    restore(state)
        except Exception as exc:  # ConfigError for bad combinations, RuntimeError from CuPy, ...
            self.send("rejected", error_text(exc), [m.config for m in self.members])
            return False
        self._set_running(False)
        self.members = members
        self.generation += 1
        self._drop_surface("the network was rebuilt (a new run): compute again")
        self.trajectory = self._new_trajectory()
        self.chunk = 1
        self.pending = None
        self.send("built", self.generation, [m.config for m in members], [m.data for m in members])
        self.dirty = True
        self._frame(force_boundary=True)
        if resume:
            self._on_play()
        return True

    def _on_reset(self):
        if self.members:
            self._build([m.config for m in self.members])

    def _on_play(self):
        if self.members and not all(m.diverged for m in self.members):
            self._set_running(True)

    def _on_pause(self):
        self._set_running(False)

    def _on_step(self, n=1):
        self._set_running(False)
        if self.members and not all(m.diverged for m in self.members):
            self._train(int(n))

    def _on_speed(self, n):
        self.steps_per_frame = max(0, int(n))
        self.next_paced = time.perf_counter()

    def _on_boundary(self, on):
        self.want_boundary = bool(on)
        if self.want_boundary and self.members:
            self.dirty = True                   # a frame with a fresh boundary soon

    def _on_credit(self, n):
        self.credit += int(n)

    def _on_get_state(self):
        try:
            states = []
            for m in self.members:
                get = getattr(m.sim, "get_state", None)
                if get is None:
                    raise NotImplementedError("this engine cannot save its state yet")
                states.append(get())
        except Exception as exc:
            self.send("error", error_text(exc))
            return
        self.send("state", self.generation, states)

    def _on_set_state(self, states):
        configs = [s["config"] if isinstance(s, dict) else s.config for s in states]
        self._build(configs, states)

    def _on_stop_at(self, step):
        self.stop_at = None if step is None else int(step)

    def _on_shutdown(self):
        self.alive = False

    # ----- loss-surface slices of the running network
    def _new_trajectory(self):
        from engine.surface import TrajectoryRecorder
        sim = self.members[0].sim if self.members else None
        if sim is None or not hasattr(sim, "flat_parameters"):
            return None
        recorder = TrajectoryRecorder(sim.network.n_params if hasattr(sim, "network") else sim.flat_parameters().size)
        recorder.offer(int(sim.step_count), sim.flat_parameters())
        return recorder

    def _drop_surface(self, why: str):
        if self.surface is not None:
            self.send("surface_failed", self.surface[0], why)
            self.surface = None

    def _on_surface(self, job_id, spec):
        from engine.surface import SurfaceJob
        self._drop_surface("replaced by a newer request")
        try:
            spec = dict(spec)
            member = int(spec.pop("member", 0))
            if not 0 <= member < len(self.members):
                raise ValueError(f"no member {member} (the engine runs {len(self.members)})")
            sim = self.members[member].sim
            if not hasattr(sim, "losses_at"):
                raise NotImplementedError("this engine cannot slice its network's loss")
            step = int(sim.step_count)
            steps = points = None
            if member == 0 and self.trajectory is not None and self.trajectory.capacity:
                steps, points = self.trajectory.with_current(step, sim.flat_parameters())
            elif spec.get("directions") == "pca":
                raise ValueError("PCA directions need a recorded trajectory: "
                                 + (self.trajectory.reason if self.trajectory is not None else "none is recorded"))
            job = SurfaceJob(sim, trajectory=points, **spec)
        except Exception as exc:
            self.send("surface_failed", job_id, error_text(exc))
            return
        path_steps = steps if steps is not None else np.zeros(0, np.int64)
        self.surface = (job_id, job, member, step, path_steps)
        self.surface_progress_at = 0.0
        self.send("surface_progress", job_id, 0, job.total)

    def _on_surface_cancel(self, job_id):
        if self.surface is not None and self.surface[0] == job_id:
            self.surface = None
            self.send("surface_cancelled", job_id)

    def _surface_piece(self):
        job_id, job, member, step, path_steps = self.surface
        try:
            finished = job.advance(SURFACE_SLICE_S)
        except Exception as exc:
            self.surface = None
            self.send("surface_failed", job_id, error_text(exc))
            traceback.print_exc()
            return
        now = time.perf_counter()
        if finished:
            sim = self.members[member].sim
            note = self.trajectory.reason if member == 0 and self.trajectory is not None else ""
            if member != 0:
                note = "only member 0's trajectory is recorded"
            result = job.result(light=True)
            result.extra.update(step=step, path_steps=np.asarray(path_steps), now_step=int(sim.step_count),
                                now=job.position(sim.flat_parameters()), member=member,
                                generation=self.generation, trajectory_note=note,
                                diverged=bool(getattr(sim, "diverged", False)))
            self.surface = None
            self.send("surface", job_id, result)
        elif now - self.surface_progress_at >= SURFACE_PROGRESS_S:
            self.surface_progress_at = now
            self.send("surface_progress", job_id, job.done, job.total)

    # ----- training and frames
    def _train(self, n: int):
        stop, before = self.stop_at, min(int(getattr(m.sim, "step_count", 0)) for m in self.members)
        if stop is not None and before < stop:
            n = min(n, stop - before)
        else:
            stop = None
        was_diverged = [m.diverged for m in self.members]
        try:
            lead, recorder = self.members[0].sim, self.trajectory
            while n > 0:
                k = n
                if recorder is not None and recorder.capacity:   # stop where a trajectory point is due
                    k = min(n, max(1, recorder.next_step(lead.step_count + 1) - lead.step_count))
                for m in self.members:
                    m.sim.step(k, snapshot=False)
                n -= k
                if recorder is not None and not lead.diverged:
                    recorder.offer(int(lead.step_count), lead.flat_parameters())
                if all(m.diverged for m in self.members):
                    break
        except Exception as exc:
            self._set_running(False)
            self.send("error", error_text(exc))
            traceback.print_exc()
            return
        self.dirty = True
        for i, (m, was) in enumerate(zip(self.members, was_diverged)):
            if m.diverged and not was:
                self._send_last_finite(i, m)
        if all(m.diverged for m in self.members):
            self._frame(force_boundary=True)    # the diverged state reaches the GUI at once
            self._set_running(False)
        elif stop is not None and min(int(getattr(m.sim, "step_count", 0))   # a diverged member stays put
                                      for m in self.members if not m.diverged) >= stop:
            self._frame(force_boundary=True)    # the claim's step, on screen as it is
            self._set_running(False)

    def _send_last_finite(self, index: int, member: _Member):
        """Replay a member that just diverged to the step before its first non-finite one."""
        k = int(getattr(member.sim, "diverged_at", -1))
        if k < 1:
            return
        try:
            sim = self.factory(member.config)
            if k > 1:
                sim.step(k - 1, snapshot=False)
            snap = frame_snapshot(sim)
        except Exception:  # a courtesy: the diverged run is still shown
            return
        if not getattr(snap, "diverged", False):
            self.send("last_finite", self.generation, index, snap)

    def _tick(self):
        """One round of training at the chosen speed."""
        if self.steps_per_frame:
            now = time.perf_counter()
            if now < self.next_paced:
                return
            self.next_paced = max(self.next_paced + FRAME_S, now - FRAME_S)
            self._train(self.steps_per_frame)
            return
        t0 = time.perf_counter()
        self._train(self.chunk)
        per_step = (time.perf_counter() - t0) / max(self.chunk, 1)
        # each chunk about MAX_CHUNK_S, so pause/reset are never more than a few ms away
        self.chunk = int(min(max(1, MAX_CHUNK_S / max(per_step, 1e-7)), 100_000))

    def _frame(self, force_boundary: bool = False):
        """Take a snapshot of every member (history included) into the pending frame; send it if
        the GUI has credit."""
        if self.dirty and self.members:
            t0 = time.perf_counter()
            snaps = tuple(m.snapshot(force_boundary, self.want_boundary) for m in self.members)
            self.frame_every = max(MIN_FRAME_S, SNAPSHOT_SHARE * (time.perf_counter() - t0))
            frame = Frame(self.generation, tuple(m.config for m in self.members),
                          tuple(m.data for m in self.members), snaps)
            self.pending = merge_frames(self.pending, frame)
            self.dirty = False
            self.last_frame = time.perf_counter()
        if self.pending is not None and self.credit > 0:
            self.send("frame", self.pending)
            self.pending = None
            self.credit -= 1

    def _frame_due(self, now: float) -> bool:
        if not self.dirty and self.pending is None:
            return False
        if self.credit > 0:
            return now - self.last_frame >= self.frame_every or self.pending is not None
        return self.dirty and now - self.last_frame >= max(IDLE_FRAME_S, self.frame_every)

    def _timeout(self, now: float) -> float | None:
        """How long the loop may wait for a command."""
        if (self.running and not self.steps_per_frame) or self.surface is not None:
            return 0.0
        waits = []
        if self.running:
            waits.append(self.next_paced - now)
        if self.dirty and self.credit > 0:
            waits.append(self.last_frame + self.frame_every - now)
        elif self.dirty:
            waits.append(self.last_frame + max(IDLE_FRAME_S, self.frame_every) - now)
        return max(0.0, min(waits)) if waits else 0.5

    def loop(self):
        while self.alive and not self.out.broken:
            timeout = self._timeout(time.perf_counter())
            while self.alive and self.commands.poll(timeout):
                try:
                    message = self.commands.recv()
                except EOFError:                       # the GUI is gone
                    return
                self.handle(*message)
                timeout = 0.0
            if not self.alive:
                return
            if self.running:
                self._tick()
            if self._frame_due(time.perf_counter()):
                self._frame()
            if self.surface is not None:
                self._surface_piece()


def _die_with_parent(parent_pid: int):
    """Linux: SIGKILL this process when its parent dies (however it dies)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)          # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:                            # it died before prctl
        os._exit(0)


def child_main(commands, frames, factory, parent_pid: int, generation: int = 0):
    """The engine process's entry point (picklable for ``spawn``); generations count on from
    ``generation`` (a restarted engine's runs never reuse a number)."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    engine = _Engine(commands, frames, factory or default_factory, generation)
    try:
        engine.send("ready", os.getpid())
        engine.loop()
    except (BrokenPipeError, EOFError, ConnectionResetError):
        pass                                                  # the GUI went away: nothing to tell
    finally:
        engine.out.close()


# ====================================================================== the parent
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
