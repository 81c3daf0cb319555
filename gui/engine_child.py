"""The engine process's side (see gui/engine_process.py for the protocol and the parent's handle):
K simulations in lockstep, play state and speed, frames paced by the GUI's credit and sent from a
thread of their own, the decision boundary and loss-surface slices in pieces between training
chunks. ``child_main`` is the spawned process's entry point. Qt-free."""
from __future__ import annotations

import dataclasses
import os
import queue
import signal
import sys
import threading
import time
import traceback
from typing import Any, Callable

import numpy as np

from gui.frames import DataInfo, Frame, frame_snapshot, merge_frames

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
        for m in members:    # numba's kernels, once per process: before the first step, not in it
            preload = getattr(m.sim, "preload", None)
            if preload is not None:
                preload()
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
