"""Recordings: the requested frame count and size, read back by imageio; atomic writes; the headless
``record`` command in a subprocess with no display; clear errors."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import imageio.v3 as iio
import numpy as np
import pytest

from gui.record import Recorder, RecordError, Recording, grab_rgb, parse_size

ROOT = Path(__file__).resolve().parents[2]


def frames(n, w=96, h=64):
    out = []
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, : (i + 1) * w // n] = (230, 159, 0)      # a bar that grows: frames differ
        out.append(f)
    return out


def read_all(path):
    if str(path).endswith(".mp4"):
        # the size from imageio-ffmpeg's reader; the frames decoded by the same ffmpeg in one call
        # (iterating the reader to the end leaves its pipes open: a ResourceWarning)
        gen = imageio_ffmpeg.read_frames(str(path))
        w, h = next(gen)["size"]
        gen.close()
        raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo",
                              "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
        return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
    return iio.imread(path, index=None)


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_recording_has_the_frames_and_size(tmp_path, suffix):
    path = tmp_path / f"r{suffix}"
    rec = Recording(path, fps=8)
    for f in frames(7):
        rec.add(f)
    assert not path.exists()                 # nothing at the target until it is finished
    assert rec.close() == path
    got = read_all(path)
    assert got.shape == (7, 64, 96, 3)
    # the content survives the encoding: the bar grows frame by frame
    lit = [(g[32, :, 0] > 128).sum() for g in got]
    assert lit == sorted(lit) and lit[0] < lit[-1]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]      # no temporary files left


def test_png_keeps_the_last_frame_with_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        rec = Recording(tmp_path / "still.png")
        for f in frames(3):
            rec.add(f)
        rec.close()
    finally:
        os.umask(old)
    got = iio.imread(tmp_path / "still.png")
    assert got.shape == (64, 96, 3) and (got[32, :, 0] > 128).all()
    assert stat.S_IMODE((tmp_path / "still.png").stat().st_mode) == 0o640


def test_a_failed_recording_leaves_the_old_file(tmp_path):
    path = tmp_path / "keep.gif"
    path.write_bytes(b"old")
    rec = Recording(path)
    rec.add(frames(1)[0])
    with pytest.raises(RecordError, match="frame of"):
        rec.add(np.zeros((10, 10, 3), np.uint8))
    rec.abort()
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["keep.gif"]
    with pytest.raises(RecordError, match="nothing was recorded"):
        Recording(tmp_path / "empty.gif").close()
    assert not (tmp_path / "empty.gif").exists()


def test_bad_requests_are_clear_errors(tmp_path):
    with pytest.raises(RecordError, match=r"\.gif \| \.mp4 \| \.png"):
        Recording(tmp_path / "x.avi")
    with pytest.raises(RecordError, match="does not exist"):
        Recording(tmp_path / "missing" / "x.gif")
    with pytest.raises(RecordError, match="even width"):
        Recording(tmp_path / "x.mp4", size=(641, 480))
    with pytest.raises(RecordError, match="fps"):
        Recording(tmp_path / "x.gif", fps=0)
    for bad in ("100", "10x10", "axb", "99999x100"):
        with pytest.raises(RecordError, match="--size"):
            parse_size(bad)
    assert parse_size("1920x1080") == (1920, 1080)


def test_recorder_grabs_a_widget_with_an_indicator(qtbot, tmp_path):
    from PySide6 import QtWidgets
    w = QtWidgets.QLabel("recording me")
    w.resize(200, 120)
    qtbot.addWidget(w)
    w.show()
    rec = Recorder()
    stopped = []
    rec.sigStopped.connect(stopped.append)
    rec.start(w, tmp_path / "w.gif", fps=20)
    assert rec.active and rec.indicator.isVisibleTo(rec.indicator.parentWidget() or rec.indicator) is not None
    assert "REC" in rec.indicator.text()
    qtbot.waitUntil(lambda: rec.recording.count >= 4, timeout=5000)
    count = rec.recording.count
    assert rec.stop() == str(tmp_path / "w.gif") and stopped == [str(tmp_path / "w.gif")]
    got = read_all(tmp_path / "w.gif")
    assert got.shape[1:] == grab_rgb(w).shape
    # a still widget: the GIF merges identical frames into one, and keeps their time on screen
    from PIL import Image, ImageSequence
    with Image.open(tmp_path / "w.gif") as im:
        total_ms = sum(f.info["duration"] for f in ImageSequence.Iterator(im))
    assert total_ms == count * 50
    assert not rec.active and not rec.indicator.isVisible()


def record(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(GRADFLOW_BACKEND="numpy", **(env_extra or {}))
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "record", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_headless_record_graph_gif_without_a_display(tmp_path):
    out = tmp_path / "sv.gif"
    res = record("--preset", "sigmoid-vanishing", "--steps", "30", "--frames", "5", "--size", "640x360",
                 "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and "propagateSizeHints" not in res.stderr
    got = read_all(out)
    assert got.shape == (5, 360, 640, 3)
    assert got[0].std() > 5 and np.abs(got[0].astype(int) - got[-1].astype(int)).sum() > 0
    assert "5 frames (640x360, up to step 30)" in res.stdout


def test_headless_record_compare_mp4_and_charts_png(tmp_path):
    res = record("--preset", "cmp-sigmoid-relu", "--compare", "--steps", "40", "--frames", "4", "--size",
                 "960x540", "--out", str(tmp_path / "c.mp4"))
    assert res.returncode == 0, res.stderr
    assert read_all(tmp_path / "c.mp4").shape == (4, 540, 960, 3)
    res = record("--preset", "relu-fix", "--view", "charts", "--steps", "20", "--size", "800x600",
                 "--out", str(tmp_path / "c.png"), "-q")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "" and iio.imread(tmp_path / "c.png").shape == (600, 800, 3)


@pytest.mark.parametrize("args, needle", [
    (["--preset", "relu-fix", "--out", "x.avi"], ".gif | .mp4 | .png"),
    (["--preset", "relu-fix", "--size", "12x5", "--out", "x.gif"], "--size"),
    (["--preset", "relu-fix", "--view", "graf", "--out", "x.gif"], "graph | charts"),
    (["--preset", "relu-fix", "--view", "landscape", "--out", "x.gif"], "still picture"),
    (["--preset", "nope", "--out", "x.gif"], "preset"),
    (["--preset", "relu-fix", "--compare", "--out", "x.gif"], "comparison preset"),
])
def test_record_bad_arguments_exit_2(tmp_path, args, needle):
    args = [a if not a.startswith("x.") else str(tmp_path / a) for a in args]
    res = record(*args)
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr and "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_headless_record_zigzag_window_and_landscape(tmp_path):
    res = record("--preset", "zigzag", "--view", "zigzag", "--frames", "6", "--size", "800x450",
                 "--out", str(tmp_path / "zz.gif"), "-q")
    assert res.returncode == 0, res.stderr
    zz = read_all(tmp_path / "zz.gif")
    assert zz.shape[1:] == (450, 800, 3) and 2 <= zz.shape[0] <= 6   # the path grows frame by frame
    res = record("--preset", "relu-fix", "--view", "window", "--steps", "30", "--frames", "3", "--size",
                 "1280x720", "--out", str(tmp_path / "w.mp4"), "-q")
    assert res.returncode == 0, res.stderr
    assert read_all(tmp_path / "w.mp4").shape == (3, 720, 1280, 3)
    res = record("--preset", "relu-fix", "--view", "landscape", "--steps", "20", "--size", "800x600",
                 "--out", str(tmp_path / "l.png"), "-q")
    assert res.returncode == 0, res.stderr
    assert iio.imread(tmp_path / "l.png").shape == (600, 800, 3)


def test_stopping_from_the_menu_writes_in_the_background(qtbot, tmp_path):
    """F9 / File -> Record -> Stop: the GUI thread goes on while the GIF is encoded."""
    from PySide6 import QtWidgets
    w = QtWidgets.QLabel("recording me")
    w.resize(200, 120)
    qtbot.addWidget(w)
    w.show()
    rec = Recorder()
    rec.start(w, tmp_path / "bg.gif", fps=20)
    qtbot.waitUntil(lambda: rec.recording.count >= 4, timeout=5000)
    with qtbot.waitSignal(rec.sigStopped, timeout=20_000) as blocker:
        assert rec.stop(background=True) is None        # returns at once
        assert not rec.active and "saving" in rec.indicator.text()
    assert blocker.args == [str(tmp_path / "bg.gif")]
    rec.wait()
    assert read_all(tmp_path / "bg.gif").shape[0] >= 1
