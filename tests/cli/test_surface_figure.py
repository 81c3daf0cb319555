"""The surface command's figure: drawn by matplotlib outside the engine, from the NPZ's arrays."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def gradflow(*args):
    env = dict(os.environ, GRADFLOW_BACKEND="numpy")
    env.pop("DISPLAY", None)
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_figure_is_redrawn_from_the_npz(tmp_path):
    from figures.surface import render_npz
    import imageio.v3 as iio
    out = tmp_path / "zz"
    res = gradflow("surface", "--preset", "zigzag", "--resolution", "31", "--out", str(out))
    assert res.returncode == 0, res.stderr
    png = iio.imread(out / "surface.png")
    assert png.shape[0] >= 700 and png.shape[1] >= 1500
    again = iio.imread(render_npz(out / "surface.npz"))
    assert again.shape == png.shape and np.array_equal(again, png)
    # not a blank canvas: the viridis colours of the surface fill a good part of it
    rgb = png[..., :3].astype(int)
    coloured = (np.abs(rgb[..., 0] - rgb[..., 1]) > 40) | (np.abs(rgb[..., 1] - rgb[..., 2]) > 40)
    assert coloured.mean() > 0.3


def test_engine_never_imports_matplotlib_and_surface_never_imports_qt(tmp_path):
    code = ("import sys; sys.argv = ['main.py', 'surface', '--preset', 'zigzag', '--resolution', '11', "
            f"'--out', {str(tmp_path / 'o')!r}]\n"
            "import engine.surface_cli, engine.cli\n"
            "assert 'matplotlib' not in sys.modules, 'the engine imported matplotlib'\n"
            "import main; code = main.main(sys.argv[1:])\n"
            "assert 'PySide6' not in sys.modules and 'pyqtgraph' not in sys.modules\n"
            "assert 'matplotlib' in sys.modules\n"
            "print('OK', code)\n")
    env = dict(os.environ, GRADFLOW_BACKEND="numpy", PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0 and "OK 0" in res.stdout, res.stderr


def test_without_a_renderer_only_the_npz_is_written(tmp_path):
    code = ("import sys\nfrom engine.surface_cli import main\n"
            f"sys.exit(main(['surface', '--preset', 'zigzag', '--resolution', '11', '--out', {str(tmp_path)!r}]))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "surface.npz").exists() and not (tmp_path / "surface.png").exists()
    assert "no figure" in res.stdout
