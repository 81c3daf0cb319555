"""The window's worker process (gui/offload.py): results, exceptions, cancelling, a dead worker,
shutdown. Qt-free; the jobs are module-level functions of this file (they must pickle)."""
from __future__ import annotations

import os
import threading
import time

import pytest

from gui.offload import JobCancelled, Offloader, portable
from tests.gui.fakes import end_popen, gone_within

COUNTER = 0


def add(a, b):
    return a + b


def count():
    global COUNTER
    COUNTER += 1
    return COUNTER


def fail():
    raise ValueError("a broken claim")


class Odd(Exception):
    def __init__(self, a, b):          # pickles as Odd(text): its constructor wants two
        super().__init__(f"{a}/{b}")


def fail_oddly():
    raise Odd(1, 2)


def until_stopped(seconds, stop):
    t0 = time.perf_counter()
    while not stop.is_set() and time.perf_counter() - t0 < seconds:
        time.sleep(0.01)
    return time.perf_counter() - t0


def sleep(seconds):
    time.sleep(seconds)
    return os.getpid()


def niceness():
    return os.nice(0)


@pytest.fixture
def jobs():
    offloader = Offloader()
    yield offloader
    offloader.shutdown()


def run(jobs, fn, *args, stoppable=False):
    done = threading.Event()
    box = []

    def on_done(result):
        box.append(result)
        done.set()
    job = jobs.submit(fn, *args, on_done=on_done, stoppable=stoppable)
    return job, done, box


def result_of(jobs, fn, *args, timeout=60, **kw):
    _, done, box = run(jobs, fn, *args, **kw)
    assert done.wait(timeout)
    return box[0]


def test_a_job_returns_its_result_and_the_worker_keeps_its_module_state(jobs):
    assert result_of(jobs, add, 2, 3) == 5
    assert result_of(jobs, count) == 1
    assert result_of(jobs, count) == 2              # the same worker: caches last across jobs
    assert COUNTER == 0                             # not run here


def test_a_failing_job_gives_its_exception_and_one_that_cannot_pickle_gives_its_text(jobs):
    exc = result_of(jobs, fail)
    assert isinstance(exc, ValueError) and "a broken claim" in str(exc)
    odd = result_of(jobs, fail_oddly)
    assert isinstance(odd, RuntimeError) and "Odd: 1/2" in str(odd)
    assert result_of(jobs, add, 1, 1) == 2          # the worker goes on


def test_portable_replaces_only_what_does_not_pickle():
    fine = {0: ({}, ValueError("x"))}
    assert portable(fine) is fine
    mixed = portable({0: ({}, Odd(1, 2)), 1: ({"a": 1}, 5)})
    assert isinstance(mixed[0][1], RuntimeError) and mixed[1] == ({"a": 1}, 5)


def test_a_cancelled_job_stops_at_its_next_look_and_one_not_started_is_skipped(jobs):
    job, done, box = run(jobs, until_stopped, 30.0, stoppable=True)
    queued, queued_done, queued_box = run(jobs, add, 1, 2)
    time.sleep(1.0)                                 # the worker started (spawn) and runs the first
    jobs.cancel(queued)
    jobs.cancel(job)
    assert done.wait(10) and box[0] < 20            # it stopped, long before its 30 s
    assert queued_done.wait(10) and isinstance(queued_box[0], JobCancelled)
    assert jobs.cancelled(job) and jobs.pending() == set()
    assert result_of(jobs, add, 2, 2) == 4          # a new job is not cancelled by the old flags


def test_a_dead_worker_fails_its_jobs_and_the_next_job_starts_a_new_one(jobs):
    import signal
    pid = result_of(jobs, sleep, 0.0)
    job, done, box = run(jobs, sleep, 30.0)
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    assert done.wait(10)
    assert isinstance(box[0], RuntimeError) and "killed" in str(box[0])
    assert result_of(jobs, sleep, 0.0) != pid


def test_shutdown_ends_the_worker_within_about_a_second_even_mid_job(jobs):
    pid = result_of(jobs, sleep, 0.0)
    job, done, box = run(jobs, sleep, 60.0)        # not stoppable
    time.sleep(0.3)
    t0 = time.perf_counter()
    jobs.shutdown()
    assert time.perf_counter() - t0 < 2.0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert done.wait(5) and isinstance(box[0], RuntimeError)


def test_the_worker_yields_the_cores_to_the_engine_and_the_window(jobs):
    from gui.offload import NICE
    assert result_of(jobs, niceness) >= os.nice(0) + NICE


WORKER_SCRIPT = """
import sys, time
from gui.offload import Offloader

if __name__ == "__main__":
    jobs = Offloader()
    jobs.submit(time.sleep, 60, on_done=lambda result: None)
    print("worker", jobs.pid, flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_no_orphan_worker_when_the_gui_is_killed(tmp_path, how):
    """However the GUI process ends, its worker ends with it (Linux: PR_SET_PDEATHSIG)."""
    import signal
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    script = tmp_path / "gui_with_worker.py"
    script.write_text(WORKER_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(root))
    gui = subprocess.Popen([sys.executable, str(script)], cwd=root, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        line = gui.stdout.readline()
        assert line.startswith("worker"), gui.stderr.read()
        worker = int(line.split()[1])
        os.kill(worker, 0)                          # it runs
        gui.send_signal(getattr(signal, how))
        gui.wait(timeout=10)
        assert gone_within(worker), f"worker {worker} outlived the GUI ({how})"
    finally:
        end_popen(gui)


def test_a_job_right_after_shutdown_gets_a_new_worker_while_the_old_one_is_still_dying(jobs, monkeypatch):
    """Under CI's load the old worker could still be alive when shutdown returned, and the next job
    went to its closed pipe ("the background worker is gone: handle is closed")."""
    import gui.engine_process as ep
    assert result_of(jobs, add, 1, 1) == 2
    old = jobs.pid
    ending = []
    # an end that asks and returns before the worker is gone: the state CI's load produced
    monkeypatch.setattr(ep, "end_child", lambda process, ask, timeout: (ending.append(process), ask()))
    jobs.shutdown()
    assert len(ending) == 1
    assert result_of(jobs, add, 3, 4) == 7
    assert jobs.pid != old
    monkeypatch.undo()
    for process in ending:
        process.join(5)


def test_jobs_of_a_worker_ended_by_shutdown_fail_even_when_a_new_one_has_started(jobs):
    job, done, box = run(jobs, sleep, 60.0)
    time.sleep(1.0)
    jobs.shutdown()
    assert result_of(jobs, add, 3, 4) == 7          # a new worker, at once
    assert done.wait(5) and isinstance(box[0], RuntimeError)
    assert jobs.pending() == set()
