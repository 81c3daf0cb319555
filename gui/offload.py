"""Long computations the window asks for (a preset's headless claim runs, the Zig-zag tab's
best-rate search) in a worker process of their own, one job at a time.

On a Python thread of the GUI process they shared the GUI thread's interpreter lock. Measured on
`cnn-vanishing`, whose claim runs take ~13 s on 2 cores, playing for 8 s (alternating runs): the
window showed 1.2-1.5 frames/s against 3.9-4.1 without them, froze for up to 2 s, and the engine
process trained 44-48 steps against 102-105. Here the worker is niced (``NICE``), so the engine
and the window come first and the claims take what is left. The worker lasts until ``shutdown()``
(the window's close), so module caches (``engine.evidence``'s runs) last across presets.

``submit(fn, *args, on_done=..., stoppable=False)`` returns a job id; ``fn(*args)`` (with a last
argument ``stop`` when ``stoppable``: an object whose ``is_set()`` turns True once the job is
cancelled) runs in the worker, and ``on_done(result)`` is called on a reader thread with its return
value, or the exception it raised, or a ``RuntimeError`` if the worker died. ``fn`` and the
arguments must pickle (module-level functions, dataclasses). Qt-free.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import signal
import threading
from typing import Any, Callable

NICE = 5                  # the worker yields a busy core to the engine and the window
SLOTS = 1024              # cancel flags, by job id modulo this (only a handful of jobs are ever in flight)
CLOSE_WAIT_S = 0.5


class JobCancelled(RuntimeError):
    """The job was cancelled before it started (its result is not wanted)."""


class _Stop:
    """A job's stop event, as the worker sees it: set once the parent cancelled this job."""

    def __init__(self, flags, slot: int):
        self._flags, self._slot = flags, slot

    def is_set(self) -> bool:
        return bool(self._flags[self._slot])


def portable(obj):
    """``obj``, or a copy in which what would not survive pickling (an exception with an unusual
    constructor, say) is a ``RuntimeError`` with the same text."""
    try:
        pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
        return obj
    except Exception:  # noqa: BLE001 - any failure to pickle or unpickle
        pass
    if isinstance(obj, BaseException):
        return RuntimeError(f"{type(obj).__name__}: {obj}")
    if isinstance(obj, dict):
        return {k: portable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(portable(v) for v in obj)
    return RuntimeError(f"a result that cannot be sent back ({type(obj).__name__})")


def _worker(jobs, results, flags, parent_pid: int):
    """The worker process (picklable for ``spawn``)."""
    from gui.engine_child import _die_with_parent
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the GUI's to handle
    try:
        os.nice(NICE)
    except (AttributeError, OSError):  # pragma: no cover - not POSIX
        pass
    while True:
        try:
            job = jobs.recv()
        except (EOFError, OSError):                   # the GUI is gone
            return
        if job is None:
            return
        job_id, fn, args, stoppable = job
        stop = _Stop(flags, job_id % SLOTS)
        if stop.is_set():
            result: Any = JobCancelled(f"job {job_id} was cancelled before it started")
        else:
            try:
                result = fn(*args, stop) if stoppable else fn(*args)
            except BaseException as exc:  # noqa: BLE001 - sent back, never raised here
                result = exc
        try:
            results.send((job_id, portable(result)))
        except (OSError, ValueError):
            return


class Offloader:
    """The parent's handle on the worker (started at the first job, again after it died)."""

    def __init__(self):
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._flags = self._ctx.RawArray("b", SLOTS)
        self._callbacks: dict[int, tuple[Any, Callable[[Any], None]]] = {}   # job -> (its worker, on_done)
        self._process = None
        self._jobs = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def pending(self) -> set[int]:
        """The jobs sent and not answered yet."""
        with self._lock:
            return set(self._callbacks)

    def _start(self):
        from gui.engine_process import start_child
        job_read, job_write = self._ctx.Pipe(duplex=False)
        result_read, result_write = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(target=_worker, name="gradient-flow-lab-jobs", daemon=True,
                                    args=(job_read, result_write, self._flags, os.getpid()))
        start_child(process, 1)               # one BLAS thread: the engine process has the cores
        job_read.close()
        result_write.close()
        self._process, self._jobs = process, job_write
        threading.Thread(target=self._read, args=(process, result_read), name="offload-reader", daemon=True).start()

    def submit(self, fn: Callable, *args, on_done: Callable[[Any], None], stoppable: bool = False) -> int:
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start()
            job_id = next(self._ids)
            self._flags[job_id % SLOTS] = 0
            self._callbacks[job_id] = (self._process, on_done)
            try:
                self._jobs.send((job_id, fn, args, stoppable))
                return job_id
            except (OSError, ValueError) as exc:      # the worker died just now
                self._callbacks.pop(job_id, None)
                failure = RuntimeError(f"the background worker is gone: {exc}")
        on_done(failure)                              # outside the lock, as the reader calls them
        return job_id

    def cancel(self, job_id: int | None) -> None:
        """The job's ``stop`` reads set (a stoppable job ends at its next look; one not started yet
        is skipped). Its ``on_done`` is still called."""
        if job_id is not None:
            self._flags[job_id % SLOTS] = 1

    def cancelled(self, job_id: int) -> bool:
        return bool(self._flags[job_id % SLOTS])

    def _read(self, process, conn):
        try:
            while True:
                job_id, result = conn.recv()
                with self._lock:
                    _, callback = self._callbacks.pop(job_id, (None, None))
                if callback is not None:
                    callback(result)
        except (EOFError, OSError):
            pass
        finally:
            conn.close()
            process.join(CLOSE_WAIT_S)
            from gui.engine_process import describe_exit
            with self._lock:                    # this worker's jobs fail; a newer worker's go on
                failed = [job for job, (owner, _) in self._callbacks.items() if owner is process]
                failed = [self._callbacks.pop(job)[1] for job in failed]
                if self._process is process:
                    self._process = None
            for callback in failed:
                callback(RuntimeError(f"the background worker ended ({describe_exit(process.exitcode)})"))

    def shutdown(self) -> None:
        """Cancel every job and end the worker (within about a second)."""
        with self._lock:
            process, jobs = self._process, self._jobs
            # detached at once: a job submitted meanwhile starts a new worker. Checking the old
            # one's is_alive() was not enough: under load it could still be dying after end_child,
            # and the next job went to its closed pipe ("handle is closed", seen in CI)
            self._process = self._jobs = None
            for job_id in self._callbacks:
                self._flags[job_id % SLOTS] = 1
        if process is None:
            return
        from gui.engine_process import end_child
        end_child(process, lambda: jobs.send(None), CLOSE_WAIT_S)
        jobs.close()


_SHARED: Offloader | None = None


def shared() -> Offloader:
    """The GUI process's worker (one for all windows)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = Offloader()
    return _SHARED
