"""The headless mode end to end, through `python main.py ...` in a subprocess."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import Config
from engine.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]


def gradflow(*args, cwd=ROOT, env=None):
    full_env = dict(os.environ, GRADFLOW_BACKEND="numpy", **(env or {}))
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)


def test_run_writes_all_outputs_and_is_rerunnable(tmp_path):
    out = tmp_path / "sv"
    res = gradflow("run", "--preset", "sigmoid-vanishing", "--steps", "40", "--every", "10", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    config = Config.load(out / "config.toml")
    assert config.activation == "sigmoid" and config.steps == 40 and config.depth == 10
    with open(out / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [0, 10, 20, 30, 40]
    header = rows[0].keys()
    for i in range(config.depth + 1):
        assert f"grad_norm_{i}" in header and f"signal_norm_{i}" in header
    for col in ("loss", "dead_fraction_0", "saturated_fraction_0", "update_ratio_0", "act_std_0"):
        assert col in header
    summary = json.loads((out / "summary.json").read_text())
    assert summary["diverged"] is False and summary["diverged_at"] is None
    assert summary["grad_norm_ratio_first_last"] < 1e-4
    assert summary["backend"] == "numpy" and summary["steps"] == 40
    for key in ("final_loss", "final_accuracy", "dead_fraction", "steps_per_second"):
        assert key in summary
    with np.load(out / "weights.npz") as w:
        assert w["W_0"].shape == (2, 32) and w["W_10"].shape == (32, 1)

    # the written config reproduces the run exactly (deterministic headless mode)
    again = tmp_path / "again"
    res = gradflow("run", "--config", str(out / "config.toml"), "--out", str(again), "-q")
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    assert _same_metrics(out, again)


def _same_metrics(a, b):
    def load(d):
        with open(d / "metrics.csv") as fh:
            return [{k: v for k, v in r.items() if k != "steps_per_second"} for r in csv.DictReader(fh)]
    return load(a) == load(b)


def test_diverged_run_is_a_result(tmp_path):
    res = gradflow("run", "--preset", "exploding", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "DIVERGED" in res.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["diverged"] is True and summary["diverged_at"] is not None
    assert summary["final_loss"] is None  # NaN is written as null, the JSON stays valid


@pytest.mark.parametrize("args, words", [
    (["run", "--set", "lr=abc"], ["'lr'", "abc", "float"]),
    (["run", "--set", "lr=-1"], ["'lr'", "-1", "(0, 100]"]),
    (["run", "--set", "activaton=relu"], ["activaton", "did you mean 'activation'"]),
    (["run", "--set", "activation=swishy"], ["'activation'", "swishy", "sigmoid", "relu"]),
    (["run", "--set", "depth=51"], ["'depth'", "51", "1 to 50"]),
    (["run", "--set", "width=8,8", "--set", "depth=3"], ["'width'", "3"]),
    (["run", "--set", "layer_lr=1,2"], ["'layer_lr'", "one per weight layer"]),
    (["run", "--set", "dataset=sine", "--set", "loss=bce"], ["'loss'", "mse", "regression"]),
    (["run", "--set", "noequals"], ["--set", "key=value"]),
    (["run", "--preset", "nope"], ["'preset'", "nope", "sigmoid-vanishing"]),
    (["run", "--config", "/does/not/exist.toml"], ["config file", "exist.toml", "No such file"]),
    (["run", "--backend", "cupy"], ["cupy", "cannot run"]),
    (["run", "--backend", "gpu"], ["invalid choice", "gpu"]),
    (["sweep", "--grid", "lr"], ["--grid", "key=v1,v2"]),
    (["sweep", "--grid", "depht=1,2"], ["depht", "did you mean 'depth'"]),
    (["sweep", "--grid", "depth=1,x"], ["'depth'", "x"]),
    (["bogus"], ["invalid choice"]),
])
def test_bad_usage_exits_2_with_a_clear_message(tmp_path, args, words):
    if "cupy" in args:
        from engine.backend import cupy_available
        if cupy_available():
            pytest.skip("a usable GPU is present")
    res = gradflow(*args, "--out", str(tmp_path / "o")) if args[0] in ("run", "sweep") else gradflow(*args)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr
    for word in words:
        assert word in res.stderr, (word, res.stderr)
    assert not (tmp_path / "o" / "metrics.csv").exists()


def test_malformed_config_file_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("depth = [unclosed\n")
    res = gradflow("run", "--config", str(bad), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "TOML" in res.stderr and "Traceback" not in res.stderr
    bad.write_text("depth = 'ten'\n")
    res = gradflow("run", "--config", str(bad), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "'depth'" in res.stderr


def test_unwritable_output_exits_1_without_traceback(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = gradflow("run", "--steps", "2", "--out", str(blocker / "sub"))
    assert res.returncode in (1, 2) and "Traceback" not in res.stderr
    assert "error" in res.stderr


def test_full_disk_is_reported_and_leaves_no_partial_files(tmp_path, monkeypatch, capsys):
    import engine.config as config_mod

    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def fileno(self):
            return self.fh.fileno()

        def write(self, data):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_mod.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    code = cli_main(["run", "--steps", "2", "--backend", "numpy", "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and str(tmp_path) in err  # names the file
    assert list(tmp_path.iterdir()) == []  # no half-written file, no temp file left behind
    assert [p.name for p in tmp_path.parent.iterdir() if p.name.startswith(f".{tmp_path.name}.")] == []


def test_sweep_writes_one_row_per_run(tmp_path):
    res = gradflow("sweep", "--preset", "relu-fix", "--steps", "5", "--set", "depth=2",
                   "--grid", "activation=relu,elu", "--grid", "width=4:4,8:8", "--out", str(tmp_path), "-q")
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "sweep.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["activation"], r["width"]) for r in rows] == [
        ("relu", "4:4"), ("relu", "8:8"), ("elu", "4:4"), ("elu", "8:8")]
    assert all(r["final_loss"] for r in rows)
    assert "activation" in res.stdout and "final_loss" in res.stdout  # the readable table


def test_presets_and_config_and_help():
    res = gradflow("presets")
    assert res.returncode == 0
    lines = res.stdout.splitlines()
    assert any(l.startswith("sigmoid-vanishing") for l in lines) and len(lines) >= 13
    res = gradflow("config", "--preset", "init-he", "--set", "depth=3")
    assert res.returncode == 0
    assert Config.from_toml(res.stdout).depth == 3
    for cmd in ("run", "sweep", "presets", "config"):
        res = gradflow(cmd, "--help")
        assert res.returncode == 0 and "usage" in res.stdout
    res = gradflow("run", "--help")
    assert "leaky_relu" in res.stdout and "he_normal" in res.stdout  # built from the registries
    assert gradflow("--help").returncode == 0


def test_seed_and_backend_flags(tmp_path):
    a = gradflow("run", "--steps", "5", "--seed", "1", "--backend", "numpy", "--out", str(tmp_path / "a"), "-q")
    b = gradflow("run", "--steps", "5", "--seed", "2", "--backend", "numpy", "--out", str(tmp_path / "b"), "-q")
    assert a.returncode == b.returncode == 0
    assert Config.load(tmp_path / "a" / "config.toml").seed == 1
    assert not _same_metrics(tmp_path / "a", tmp_path / "b")
