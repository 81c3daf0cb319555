"""The engine never imports Qt: a headless run and every engine module, each in a fresh interpreter,
finish without PySide6 or pyqtgraph in ``sys.modules``."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUI_MODULES = ("PySide6", "pyqtgraph", "shiboken6")

# Registered first, so it runs last, after everything else the program registered at exit.
WRAPPER = """
import atexit, json, runpy, sys
def report():
    print("QT-CHECK " + json.dumps(sorted(m for m in {gui!r} if m in sys.modules)), flush=True)
atexit.register(report)
{body}
"""


def run_python(body: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRADFLOW_BACKEND": "numpy", "PYTHONPATH": str(ROOT)}
    env.pop("QT_QPA_PLATFORM", None)
    return subprocess.run([sys.executable, "-c", WRAPPER.format(gui=GUI_MODULES, body=body)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def gui_modules_loaded(proc: subprocess.CompletedProcess) -> list[str]:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("QT-CHECK ")]
    assert len(lines) == 1, f"the exit hook did not report:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(lines[0].split(" ", 1)[1])


def test_headless_run_never_imports_qt(tmp_path):
    if not (ROOT / "engine" / "cli.py").exists():
        pytest.fail("engine/cli.py (the headless `run` command) does not exist yet")
    out = tmp_path / "run"
    argv = ["main.py", "run", "--preset", "sigmoid-vanishing", "--steps", "20", "--out", str(out)]
    proc = run_python(f"sys.argv = {argv!r}\nrunpy.run_path('main.py', run_name='__main__')")
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert gui_modules_loaded(proc) == []
    assert out.is_dir() and any(out.iterdir()), "the run wrote nothing to --out"


def test_every_engine_module_imports_without_qt():
    modules = sorted(f"engine.{p.stem}" for p in (ROOT / "engine").glob("*.py") if p.stem != "__init__")
    assert "engine.simulation" in modules
    body = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    body += "from engine import Simulation, Config\nSimulation(Config(n_samples=40, depth=1)).step(2)\n"
    proc = run_python(body)
    assert proc.returncode == 0, proc.stderr
    assert gui_modules_loaded(proc) == []


def test_import_engine_simulation_alone_never_imports_qt():
    proc = run_python("import engine.simulation")
    assert proc.returncode == 0, proc.stderr
    assert gui_modules_loaded(proc) == []


def test_the_check_can_fail():
    """Negative control: a program that does import Qt is reported."""
    pytest.importorskip("PySide6")
    proc = run_python("import PySide6.QtCore")
    assert proc.returncode == 0, proc.stderr
    assert "PySide6" in gui_modules_loaded(proc)


def test_engine_sources_import_no_gui_package():
    """The same rule read from the source: no engine file has an import of Qt, pyqtgraph or gui."""
    offenders = []
    for path in sorted((ROOT / "engine").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                if name.split(".")[0] in (*GUI_MODULES, "gui", "PyQt5", "PyQt6"):
                    offenders.append(f"{path.name}:{node.lineno} imports {name}")
    assert offenders == []
