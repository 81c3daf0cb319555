"""`python main.py compare` end to end in a subprocess: one run folder per member, a summary table,
digests that show the members trained on the same batches."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from engine import Config

ROOT = Path(__file__).resolve().parents[2]


def gradflow(*args):
    env = dict(os.environ, GRADFLOW_BACKEND="numpy")
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_compare_vary_writes_member_folders_and_summary(tmp_path):
    out = tmp_path / "cmp"
    res = gradflow("compare", "--vary", "activation=sigmoid,relu,tanh", "--set", "depth=3", "--set", "width=8",
                   "--steps", "30", "--every", "10", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == ["activation-relu", "activation-sigmoid", "activation-tanh"]
    digests = set()
    for name in folders:
        d = out / name
        assert {p.name for p in d.iterdir()} >= {"config.toml", "metrics.csv", "summary.json", "weights.npz"}
        cfg = Config.load(d / "config.toml")
        assert cfg.activation == name.split("-")[1] and cfg.depth == 3 and cfg.steps == 30
        summary = json.loads((d / "summary.json").read_text())
        assert summary["steps"] == 30 and summary["member"] == f"activation={cfg.activation}"
        assert summary["differs"] == {"activation": cfg.activation}
        digests.add((summary["batch_digest"], summary["data_digest"]))
        with open(d / "metrics.csv") as fh:
            assert [int(r["step"]) for r in csv.DictReader(fh)] == [0, 10, 20, 30]
    assert len(digests) == 1
    with open(out / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["member"] for r in rows] == ["activation=sigmoid", "activation=relu", "activation=tanh"]
    assert {r["batch_digest"] for r in rows} == {next(iter(digests))[0]}
    assert json.loads((out / "compare.json").read_text())["lockstep"] is True
    assert "activation=sigmoid" in res.stdout and "Same data and batch order for every member: yes" in res.stdout


def test_compare_preset_members(tmp_path):
    res = gradflow("compare", "--preset", "cmp-sigmoid-relu", "--steps", "20", "--out", str(tmp_path / "p"), "-q")
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    with open(tmp_path / "p" / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(r["steps"] == "20" for r in rows)


def test_compare_bad_input_is_a_clear_error(tmp_path):
    res = gradflow("compare", "--vary", "seed=1,2", "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and "one value for every member" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "x").exists()           # nothing written before the members are valid
    res = gradflow("compare", "--preset", "sigmoid-vanishing", "--out", str(tmp_path / "y"))
    assert res.returncode == 2 and "no [[member]] tables" in res.stderr
    res = gradflow("compare", "--vary", "activation=relu", "--out", str(tmp_path / "z"))
    assert res.returncode == 2 and "2 to 4" in res.stderr
