"""The headless ``surface`` subcommand, run as a user would: ``python main.py surface ...``."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs ``main.main(argv)`` as ``python main.py`` would, then checks that Qt never entered the
# process. Until engine/cli.py registers the subcommand, engine.surface_cli.main stands in.
_RUNNER = """
import sys
sys.path.insert(0, {root!r})
import {module} as entry
code = entry.main(sys.argv[1:])
assert 'PySide6' not in sys.modules, 'the headless surface command imported PySide6'
assert 'pyqtgraph' not in sys.modules, 'the headless surface command imported pyqtgraph'
sys.exit(code)
"""


def _cli_registers_surface() -> bool:
    cli = ROOT / "engine" / "cli.py"
    return cli.is_file() and "surface_cli" in cli.read_text(encoding="utf-8")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    module = "main" if _cli_registers_surface() else "engine.surface_cli"
    code = _RUNNER.format(root=str(ROOT), module=module)
    return subprocess.run([sys.executable, "-c", code, "surface", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_main_py_surface_help():
    if not _cli_registers_surface():
        pytest.skip("engine/cli.py does not register the surface subcommand yet")
    res = subprocess.run([sys.executable, "main.py", "surface", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "--directions" in res.stdout


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_main_py_surface_zigzag_writes_npz_and_png(tmp_path):
    res = run_cli("--preset", "zigzag", "--resolution", "41", "--out", str(tmp_path / "zz"))
    assert res.returncode == 0, res.stderr
    data = np.load(tmp_path / "zz" / "surface.npz")
    assert str(data["kind"]) == "neuron"
    assert data["loss"].shape == (2, 41, 41)
    assert data["path_0"].shape[1] == 2
    ratio_pos, ratio_cen = data["path_ratio"]
    assert ratio_pos > 1.5 and ratio_cen < ratio_pos
    w, h = _png_size(tmp_path / "zz" / "surface.png")
    assert w > 800 and h > 400
    assert "path/straight" in res.stdout


@pytest.mark.parametrize("directions", ["random", "pca"])
def test_network_surface(tmp_path, directions):
    out = tmp_path / directions
    res = run_cli("--preset", "zigzag", "--kind", "network", "--directions", directions,
                  "--resolution", "9", "--steps", "40", "--set", "n_samples=100", "--out", str(out))
    assert res.returncode == 0, res.stderr
    data = np.load(out / "surface.npz")
    assert data["loss"].shape == (9, 9)
    assert np.isfinite(data["loss"]).all()
    assert data["path"].shape[1] == 2 and len(data["path"]) >= 3
    if directions == "pca":
        d = data["directions"]
        np.testing.assert_allclose(d @ d.T, np.eye(2), atol=1e-9)
    _png_size(out / "surface.png")


@pytest.mark.parametrize("args, needle", [
    (["--preset", "no-such-preset"], "'--preset': 'no-such-preset' (allowed: "),
    (["--preset", "zigzag", "--resolution", "500"], "'--resolution': 500 (allowed: an integer 3..101)"),
    (["--preset", "zigzag", "--kind", "volcano"], "invalid choice: 'volcano'"),
    (["--preset", "zigzag", "--set", "lr=-3"], "'lr'"),
    (["--config", "/nonexistent/x.toml"], "'--config'"),
    (["--preset", "zigzag"], "--out"),
])
def test_bad_arguments_exit_2_with_a_clear_message(tmp_path, args, needle):
    if "--out" not in " ".join(args) and needle != "--out":
        args = [*args, "--out", str(tmp_path / "o")]
    res = run_cli(*args)
    assert res.returncode == 2
    assert needle in res.stderr
    assert "Traceback" not in res.stderr


def test_bad_neuron_table_names_the_key(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[config]\nactivation = "sigmoid"\n[neuron]\ninputs = "softmax"\n', encoding="utf-8")
    res = run_cli("--config", str(cfg), "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    assert "'inputs': 'softmax'" in res.stderr and "sigmoid | relu" in res.stderr
