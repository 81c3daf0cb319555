"""Run folders: all-new or all-old under faults at every write boundary, resume gives the numbers
of an uninterrupted run, SIGTERM keeps what was recorded, --out checked before training."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import engine.rundir as rundir
from engine.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
BASE = ["--backend", "numpy", "-q", "--set", "optimizer=adam", "--set", "batch_size=16", "--set", "norm=batch",
        "--set", "activation=noisy_relu", "--set", "depth=2", "--set", "width=6"]


def run(*args) -> int:
    return cli_main(["run", *BASE, *args])


def metrics(folder: Path) -> list[list[str]]:
    """metrics.csv without the timing column (the only one allowed to differ)."""
    with open(folder / "metrics.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][-1] == "steps_per_second"
    return [r[:-1] for r in rows]


def weights(folder: Path) -> dict:
    with np.load(folder / "weights.npz") as data:
        return {k: data[k] for k in data.files}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


# ----------------------------------------------------------------------------------- resume
class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs (no except Exception catches it)."""


def test_resume_after_a_kill_gives_the_uninterrupted_numbers(tmp_path, monkeypatch):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run("--steps", "300", "--every", "10", "--out", str(whole)) == 0

    real_write, rows = rundir.MetricsStream.write, [0]

    def dying_write(self, row):  # killed at step 170: two rows after the checkpoint at 150
        rows[0] += 1
        if rows[0] == 19:
            raise Killed
        real_write(self, row)

    monkeypatch.setattr(rundir.MetricsStream, "write", dying_write)
    with pytest.raises(Killed):
        run("--steps", "300", "--every", "10", "--checkpoint-every", "50", "--out", str(cut))
    monkeypatch.setattr(rundir.MetricsStream, "write", real_write)
    assert not cut.exists() and (tmp_path / ".cut.partial" / "checkpoint.npz").is_file()

    # a fresh run into the same folder refuses to throw the checkpoint away
    assert run("--steps", "300", "--out", str(cut)) == 2

    assert cli_main(["run", "-q", "--resume", str(cut)]) == 0
    assert metrics(cut) == metrics(whole)
    assert same_weights(weights(cut), weights(whole))
    a, b = (json.loads((f / "summary.json").read_text()) for f in (whole, cut))
    assert b.pop("resumed_from_step") == 150
    for s in (a, b):
        s.pop("steps_per_second")
    assert a == b
    assert siblings(cut) == []  # partial folder and lock gone


def test_resume_after_sigterm_in_process_is_exact_and_can_extend(tmp_path, monkeypatch):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run("--steps", "400", "--every", "20", "--out", str(whole)) == 0
    real_write, rows = rundir.MetricsStream.write, [0]

    def signalling_write(self, row):
        rows[0] += 1
        real_write(self, row)
        if rows[0] == 6:
            os.kill(os.getpid(), signal.SIGTERM)  # handled: stop at the next chunk boundary

    monkeypatch.setattr(rundir.MetricsStream, "write", signalling_write)
    assert run("--steps", "250", "--every", "20", "--out", str(cut)) == 143
    monkeypatch.setattr(rundir.MetricsStream, "write", real_write)
    summary = json.loads((cut / "summary.json").read_text())
    assert summary["interrupted"] and summary["signal"] == "SIGTERM" and summary["steps"] < 250
    assert (cut / "checkpoint.npz").is_file()
    # resume past the original end: --steps raises the total
    assert cli_main(["run", "-q", "--resume", str(cut), "--steps", "400"]) == 0
    assert metrics(cut) == metrics(whole)
    assert same_weights(weights(cut), weights(whole))
    assert json.loads((cut / "summary.json").read_text())["interrupted"] is False


def test_resume_refuses_what_it_cannot_continue(tmp_path, capsys):
    assert cli_main(["run", "--resume", str(tmp_path / "none")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    out = tmp_path / "r"
    assert run("--steps", "20", "--checkpoint-every", "10", "--out", str(out)) == 0
    assert cli_main(["run", "--resume", str(out), "--set", "lr=0.5"]) == 2
    assert "--set cannot change it" in capsys.readouterr().err
    (out / "checkpoint.npz").write_bytes(b"PK\x03\x04 not really a zip")
    assert cli_main(["run", "--resume", str(out)]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err


# ----------------------------------------------------------------------------------- faults
class _OsProxy:
    """``os`` with ``rename`` passing through a fault injector."""

    def __init__(self, wrap):
        self._rename = wrap("os.rename", os.rename)

    def __getattr__(self, name):
        return self._rename if name == "rename" else getattr(os, name)


class _ShutilProxy:
    def __init__(self, wrap):
        import shutil
        self._shutil, self.rmtree = shutil, wrap("rmtree", shutil.rmtree)

    def __getattr__(self, name):
        return getattr(self._shutil, name)


def _inject(monkeypatch, kill_at: int | None, after: bool):
    """Count every write boundary of a run; raise Killed before (or after) the ``kill_at``-th."""
    count = [0]

    def wrap(name, fn):
        def wrapped(*a, **k):
            count[0] += 1
            if not after and count[0] == kill_at:
                raise Killed(name)
            result = fn(*a, **k)
            if after and count[0] == kill_at:
                raise Killed(name)
            return result
        return wrapped

    monkeypatch.setattr(rundir, "atomic_write_bytes", wrap("atomic_write_bytes", rundir.atomic_write_bytes))
    monkeypatch.setattr(rundir.MetricsStream, "write", wrap("metrics row", rundir.MetricsStream.write))
    monkeypatch.setattr(rundir.MetricsStream, "sync", wrap("metrics sync", rundir.MetricsStream.sync))
    monkeypatch.setattr(rundir, "_exchange", wrap("exchange", rundir._exchange))
    monkeypatch.setattr(rundir, "fsync_dir", wrap("fsync_dir", rundir.fsync_dir))
    monkeypatch.setattr(rundir, "os", _OsProxy(wrap))
    monkeypatch.setattr(rundir, "shutil", _ShutilProxy(wrap))
    return count


def _files(folder: Path) -> dict:
    """The folder's files, with the timing figures (which differ run to run) taken out."""
    if not folder.is_dir():
        return {}
    files = {}
    for p in folder.iterdir():
        if p.name == "summary.json":
            files[p.name] = {k: v for k, v in json.loads(p.read_text()).items() if k != "steps_per_second"}
        elif p.name == "metrics.csv":
            files[p.name] = metrics(folder)
        elif p.name.endswith(".npz"):
            with np.load(p) as data:
                files[p.name] = {k: data[k].tobytes() for k in data.files if k != "meta"}
        else:
            files[p.name] = p.read_bytes()
    return files


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
def test_a_save_killed_at_every_write_boundary_leaves_the_folder_whole(tmp_path, monkeypatch, after):
    out = tmp_path / "run"
    new_args = ("--steps", "30", "--every", "10", "--checkpoint-every", "10", "--seed", "2", "--out", str(out))
    assert run("--steps", "20", "--seed", "1", "--out", str(out)) == 0
    old = _files(out)
    with monkeypatch.context() as m:
        total = _inject(m, None, after)
        assert run(*new_args) == 0
    new = _files(out)
    assert total[0] >= 15 and new != old
    for k in range(1, total[0] + 1):
        assert run("--steps", "20", "--seed", "1", "--out", str(out), "--discard-unfinished") == 0
        assert _files(out) == old
        with monkeypatch.context() as m:
            _inject(m, k, after)
            try:
                code = run(*new_args)
            except Killed:
                code = None
        now = _files(out)
        if now != old:  # all-new: every file of the new run, and nothing of the old
            assert now.keys() == new.keys(), (k, sorted(now))
            assert now == new, k
        else:
            assert code is None, k
        # the next run (or a resume) always works, and leaves no stale temporaries
        assert run(*new_args, "--discard-unfinished") == 0
        assert siblings(out) == [] and not [n for n in os.listdir(out) if n.startswith(".")], k


def test_stale_temporaries_are_removed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".weights.npz.abc123.tmp").write_bytes(b"\0" * 1000)  # left by a SIGKILL mid-write
    (tmp_path / ".run.partial").mkdir()                           # a killed run with no checkpoint
    (tmp_path / ".run.partial" / "metrics.csv").write_text("step\n0\n")
    assert run("--steps", "10", "--out", str(out)) == 0
    assert siblings(out) == [] and sorted(os.listdir(out)) == ["config.toml", "metrics.csv", "summary.json",
                                                               "weights.npz"]


# ----------------------------------------------------------------------------------- --out
def test_out_is_checked_before_training(tmp_path, capsys, monkeypatch):
    import engine.simulation as simulation

    def no_training(*a, **k):
        raise AssertionError("trained before checking --out")

    monkeypatch.setattr(simulation, "Simulation", no_training)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert run("--out", str(loop)) == 2
    assert "symbolic link loop" in capsys.readouterr().err
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("mine")
    assert run("--out", str(tmp_path / "notes")) == 2
    assert "thesis.tex" in capsys.readouterr().err and (tmp_path / "notes" / "thesis.tex").exists()
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root ignores permissions
            assert run("--out", str(locked / "sub")) == 2
            assert "not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)
    assert run("--out", "") == 2


def test_files_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        assert run("--steps", "10", "--checkpoint-every", "10", "--out", str(tmp_path / "r")) == 0
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "r").iterdir()}
    assert set(modes.values()) == {0o644}, modes
    assert (tmp_path / "r").stat().st_mode & 0o777 == 0o755


# ----------------------------------------------------------------------------------- signals
def _gradflow_popen(*args):
    env = dict(os.environ, GRADFLOW_BACKEND="numpy", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_a_signal_keeps_what_was_recorded(tmp_path, sig, code):
    out = tmp_path / "long"
    proc = _gradflow_popen("run", "--steps", "50000000", "--every", "50", "--set", "depth=2", "--out", str(out))
    partial = tmp_path / ".long.partial" / "metrics.csv"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not partial.exists() or partial.read_text().count("\n") < 4):
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] and summary["steps"] >= 150
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) >= 4 and (out / "checkpoint.npz").is_file() and (out / "weights.npz").is_file()
    assert siblings(out) == []


# ----------------------------------------------------------------------------------- memory
def test_runs_too_big_for_memory_are_refused_up_front(tmp_path, capsys):
    big = ["--set", "depth=4", "--set", "width=1024", "--set", "n_samples=1000000", "--set", "batch_size=0"]
    t0 = time.perf_counter()
    assert cli_main(["run", "--backend", "numpy", *big, "--max-memory", "4G", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "needs about" in err and "GB" in err and "--max-memory" in err
    assert time.perf_counter() - t0 < 5  # refused before building anything
    assert not (tmp_path / "a").exists()
    assert cli_main(["run", "--backend", "numpy", "--max-memory", "1M", "--out", str(tmp_path / "b")]) == 2
    assert cli_main(["run", "--max-memory", "lots", "--out", str(tmp_path / "b")]) == 2
    assert "512M" in capsys.readouterr().err
    assert cli_main(["sweep", "--backend", "numpy", *big, "--grid", "seed=1,2", "--max-memory", "4G",
                     "--out", str(tmp_path / "s")]) == 2
    assert cli_main(["surface", "--kind", "network", "--config", str(_toml(tmp_path, "depth = 50\nwidth = 1024\n"
                     "n_samples = 1000000\n")), "--resolution", "401", "--out", str(tmp_path / "g")]) == 2
    assert "needs about" in capsys.readouterr().err


def _toml(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path
