"""Recording the app's own views as GIF, MP4 or PNG (imageio with Pillow and imageio-ffmpeg).

:class:`Recording` takes RGB frames and writes the file atomically when closed: frames go to a
temporary file beside the target (MP4 frames stream to ffmpeg as they come; GIF frames are spooled
raw to disk, so a long recording does not sit in memory), and only a finished file replaces the
target, with the user's umask. :class:`Recorder` grabs a widget at a fixed rate in the app
(File -> Record, F9 stops) and shows a red recording indicator. ``python main.py record`` (see
:mod:`gui.record_cli`) renders the same views offscreen.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

SUFFIXES = (".gif", ".mp4", ".png")
MIN_SIDE, MAX_SIDE = 64, 7680
MAX_FPS = 60


class RecordError(ValueError):
    """A bad recording request (suffix, size, fps) or a failed write; the message says which."""


def check_path(path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise RecordError(f"invalid value for '--out': {str(path)!r} (allowed: a file name ending in "
                          f"{' | '.join(SUFFIXES)})")
    if path.exists() and path.is_dir():
        raise RecordError(f"invalid value for '--out': {str(path)!r} is a directory (allowed: a file name)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise RecordError(f"invalid value for '--out': {str(path)!r} (its folder {str(parent)!r} does not exist)")
    return path


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> (1280, 720); a RecordError names what is allowed."""
    allowed = f"WIDTHxHEIGHT, each {MIN_SIDE}..{MAX_SIDE} pixels, e.g. 1280x720"
    parts = text.lower().replace("×", "x").split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise RecordError(f"invalid value for '--size': {text!r} (allowed: {allowed})") from None
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise RecordError(f"invalid value for '--size': {text!r} (allowed: {allowed})")
    return w, h


def check_fps(fps: float) -> float:
    if not (isinstance(fps, (int, float)) and 0 < fps <= MAX_FPS):
        raise RecordError(f"invalid value for '--fps': {fps!r} (allowed: a number in (0, {MAX_FPS}])")
    return float(fps)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _Spool:
    """Raw RGB frames of one size appended to an unnamed temporary file; read back one at a time."""

    def __init__(self, directory: Path):
        self._file = tempfile.TemporaryFile(dir=directory, prefix=".frames-")
        self.shape: tuple[int, int, int] | None = None
        self.count = 0

    def append(self, frame: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(frame).tobytes())
        self.count += 1

    def frames(self):
        size = int(np.prod(self.shape))
        self._file.seek(0)
        for _ in range(self.count):
            yield np.frombuffer(self._file.read(size), dtype=np.uint8).reshape(self.shape)

    def close(self) -> None:
        self._file.close()


class Recording:
    """Frames in, one GIF/MP4/PNG out, written atomically by :meth:`close`.

    All frames must have the size of the first (or ``size``, (width, height), when given). A PNG
    keeps the last frame. MP4 (H.264, yuv420p) needs an even width and height.
    """

    def __init__(self, path, fps: float = 10.0, size: tuple[int, int] | None = None):
        self.path = check_path(path)
        self.fps = check_fps(fps)
        self.kind = self.path.suffix.lower()[1:]
        self.size = size
        if self.kind == "mp4" and size is not None and (size[0] % 2 or size[1] % 2):
            raise RecordError(f"invalid value for '--size': {size[0]}x{size[1]} (allowed: an even width and "
                              f"height for MP4)")
        self.count = 0
        self._closed = False
        self._last: np.ndarray | None = None
        self._spool: _Spool | None = None
        self._writer = None
        self._tmp: Path | None = None
        self.started = time.monotonic()

    # ----- frames -----
    def add(self, frame: np.ndarray) -> None:
        if self._closed:
            raise RecordError("the recording is already closed")
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise RecordError(f"a frame must be an (height, width, 3) uint8 array, not {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        if self.size is None:
            self.size = (w, h)
            if self.kind == "mp4" and (w % 2 or h % 2):
                frame = frame[: h - h % 2, : w - w % 2]
                self.size = (frame.shape[1], frame.shape[0])
        elif (w, h) != self.size:
            if self.kind == "mp4" and (w - w % 2, h - h % 2) == self.size:
                frame = frame[: self.size[1], : self.size[0]]
            else:
                raise RecordError(f"frame of {w}x{h} in a recording of {self.size[0]}x{self.size[1]}")
        if self.kind == "png":
            self._last = frame.copy()
        elif self.kind == "gif":
            if self._spool is None:
                self._spool = _Spool(self.path.parent if str(self.path.parent) else Path("."))
                self._spool.shape = frame.shape
            self._spool.append(frame)
        else:
            if self._writer is None:
                self._open_mp4()
            self._writer.append_data(frame)
        self.count += 1

    def _temp_path(self) -> Path:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent if str(self.path.parent) else ".",
                                   prefix=f".{self.path.stem}.", suffix=f".tmp.{self.kind}")
        os.close(fd)
        return Path(tmp)

    def _open_mp4(self) -> None:
        import imageio.v2 as iio
        self._tmp = self._temp_path()
        self._writer = iio.get_writer(str(self._tmp), format="FFMPEG", mode="I", fps=self.fps, codec="libx264",
                                      pixelformat="yuv420p", quality=8, macro_block_size=1,
                                      ffmpeg_log_level="error")

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    # ----- finishing -----
    def close(self) -> Path:
        """Write the file (all or nothing) and return its path."""
        if self._closed:
            return self.path
        self._closed = True
        if self.count == 0:
            self.abort()
            raise RecordError("nothing was recorded (no frames)")
        import imageio.v3 as iio3
        try:
            if self.kind == "png":
                self._tmp = self._temp_path()
                iio3.imwrite(self._tmp, self._last, extension=".png")
            elif self.kind == "gif":
                self._tmp = self._temp_path()
                self._write_gif()
            else:
                self._writer.close()
                self._writer = None
            with open(self._tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(self._tmp, 0o666 & ~_umask())
            os.replace(self._tmp, self.path)
            self._tmp = None
        except BaseException:
            self.abort()
            raise
        finally:
            if self._spool is not None:
                self._spool.close()
                self._spool = None
        return self.path

    def _write_gif(self) -> None:
        from PIL import Image

        frames = (Image.fromarray(f) for f in self._spool.frames())
        first = next(frames)
        # GIF delays are whole hundredths of a second
        duration = max(20, int(round(1000.0 / self.fps / 10.0)) * 10)
        first.save(self._tmp, format="GIF", save_all=True, append_images=frames, duration=duration, loop=0,
                   optimize=False, disposal=1)

    def abort(self) -> None:
        """Drop the recording: no file is written, the temporary ones are removed."""
        self._closed = True
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - ffmpeg may already be gone; the file is dropped anyway
                pass
            self._writer = None
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if self._tmp is not None:
            try:
                os.unlink(self._tmp)
            except OSError:
                pass
            self._tmp = None


# ------------------------------------------------------------------------------ Qt side
def grab_rgb(widget, size: tuple[int, int] | None = None) -> np.ndarray:
    """The widget as it is drawn now, as an (h, w, 3) uint8 array (scaled to ``size`` if it differs)."""
    image = widget.grab().toImage()
    if size is not None and (image.width(), image.height()) != tuple(size):
        image = image.scaled(size[0], size[1], QtCore.Qt.AspectRatioMode.IgnoreAspectRatio,
                             QtCore.Qt.TransformationMode.SmoothTransformation)
    image = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    buf = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * h).reshape(h, stride)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


class Recorder(QtCore.QObject):
    """Grabs a widget ``fps`` times a second into a :class:`Recording` until :meth:`stop`.

    While it runs, ``indicator`` (a red "● REC 0:12 · 120 frames" label) is visible; put it in
    the status bar or anywhere on screen.
    """

    sigStarted = QtCore.Signal(str)      # path
    sigStopped = QtCore.Signal(str)      # path written
    sigFailed = QtCore.Signal(str)       # message

    def __init__(self, parent=None):
        super().__init__(parent)
        self.recording: Recording | None = None
        self.widget = None
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self._on_tick)
        self.indicator = QtWidgets.QLabel()
        self.indicator.setObjectName("recordingIndicator")
        self.indicator.setStyleSheet("QLabel#recordingIndicator { background: #D55E00; color: white; "
                                     "font-size: 16pt; font-weight: bold; padding: 2px 10px; "
                                     "border-radius: 4px; }")
        self.indicator.hide()

    @property
    def active(self) -> bool:
        return self.recording is not None

    def start(self, widget, path, fps: float = 10.0) -> None:
        if self.active:
            raise RecordError("a recording is already running (stop it first)")
        self.recording = Recording(path, fps)
        self.widget = widget
        self._timer.start(int(1000 / self.recording.fps))
        self._on_tick()
        self.indicator.show()
        self.sigStarted.emit(str(self.recording.path))

    def _on_tick(self) -> None:
        rec = self.recording
        if rec is None:
            return
        try:
            frame = grab_rgb(self.widget, rec.size)
            rec.add(frame)
        except (RecordError, OSError, RuntimeError) as exc:
            self._fail(str(exc))
            return
        s = int(rec.seconds)
        self.indicator.setText(f"● REC {s // 60}:{s % 60:02d} · {rec.count} frames · F9 stops")

    def stop(self, background: bool = False) -> str | None:
        """Stop and write the file; returns its path (None when nothing was running or it failed).

        ``background``: encode on a thread of its own (a long GIF takes minutes to encode and would
        freeze the window); ``sigStopped``/``sigFailed`` say when it is done, and the indicator
        says "saving" meanwhile. Returns None at once then; :meth:`wait` joins the writer."""
        rec = self.recording
        if rec is None:
            return None
        self._timer.stop()
        self.recording, self.widget = None, None

        def finish() -> str | None:
            try:
                path = str(rec.close())
            except (RecordError, OSError, RuntimeError) as exc:
                self.sigFailed.emit(f"could not write {rec.path}: {exc}")
                return None
            self.sigStopped.emit(path)
            return path

        if not background:
            self.indicator.hide()
            return finish()
        import threading
        self.indicator.setText(f"● saving {rec.path.name} ({rec.count} frames)…")
        self._writer_thread = threading.Thread(target=finish, name="record-write", daemon=False)
        self._writer_thread.start()
        return None

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background write to finish."""
        thread = getattr(self, "_writer_thread", None)
        if thread is not None:
            thread.join(timeout)

    def _fail(self, message: str) -> None:
        rec = self.recording
        self._timer.stop()
        self.recording, self.widget = None, None
        self.indicator.hide()
        if rec is not None:
            rec.abort()
        self.sigFailed.emit(message)


def _file_menu(window):
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == "File":
            return action.menu()
    return window.menuBar().addMenu("&File")


def record_targets(window) -> list[tuple[str, object]]:
    """What File -> Record offers: the whole window, the network graph, then every view tab."""
    targets = [("Whole window", lambda: window)]
    graph = getattr(window, "graph", None)
    if graph is not None:
        targets.append(("Network graph", lambda: window.graph))
    if getattr(window, "compare", None) is not None and window.compare.isVisible():
        targets.append(("Comparison", lambda: window.compare))
    for title, dock in getattr(window, "_view_docks", {}).items():
        targets.append((title, dock.widget))
    return targets


def install_record_menu(window, fps: float = 10.0) -> Recorder:
    """File -> Record: the whole window or any view as GIF/MP4/PNG; F9 starts recording the window
    or stops and writes the file (closing the window writes it too). The entries are listed when the menu opens (views added later show up too). Returns the
    Recorder; its red indicator sits in the window's status bar while recording."""
    recorder = Recorder(window)
    window.statusBar().addPermanentWidget(recorder.indicator)
    file_menu = _file_menu(window)
    menu = QtWidgets.QMenu("&Record", window)
    quit_action = next((a for a in file_menu.actions() if a.text().replace("&", "") == "Quit"), None)
    file_menu.insertMenu(quit_action, menu) if quit_action is not None else file_menu.addMenu(menu)
    stop = QtGui.QAction("Start recording the window…", window)
    stop.setShortcut(QtGui.QKeySequence("F9"))
    stop.setShortcutContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
    window.addAction(stop)          # the key works while the menu is closed

    def start(title, getter):
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            window, f"Record {title}", f"{title.lower().replace(' ', '-')}.gif",
            "GIF animation (*.gif);;MP4 video (*.mp4);;PNG still (*.png)")
        if not path:
            return
        if Path(path).suffix.lower() not in SUFFIXES:
            path += ".gif"
        try:
            recorder.start(getter(), path, fps=fps)
        except (RecordError, OSError) as exc:
            window.statusBar().showMessage(str(exc), 12000)

    def fill():
        menu.clear()
        for title, getter in record_targets(window):
            action = menu.addAction(f"{title}…")
            action.setEnabled(not recorder.active)
            action.triggered.connect(lambda _c=False, t=title, g=getter: start(t, g))
        menu.addSeparator()
        menu.addAction(stop)

    menu.aboutToShow.connect(fill)
    fill()
    def toggle():
        if recorder.active:
            recorder.stop(background=True)      # encoding a long GIF must not freeze the window
        else:
            start("Whole window", lambda: window)

    def running(on: bool, message: str, ms: int):
        stop.setText("&Stop recording and save" if on else "Start recording the window…")
        window.statusBar().showMessage(message, ms)

    recorder.sigStarted.connect(lambda p: running(True, f"Recording to {p} (F9 stops)", 4000))
    recorder.sigStopped.connect(lambda p: (recorder.indicator.hide(), running(False, f"Saved {p}", 8000)))
    recorder.sigFailed.connect(lambda m: (recorder.indicator.hide(), running(False, m, 12000)))
    stop.triggered.connect(toggle)

    class _SaveOnClose(QtCore.QObject):
        def eventFilter(self, obj, event):
            if event.type() == QtCore.QEvent.Type.Close:
                if recorder.active:
                    recorder.stop()                 # closing the window keeps what was recorded
                recorder.wait()                     # and a background save finishes first
            return False

    recorder._close_filter = _SaveOnClose(recorder)
    window.installEventFilter(recorder._close_filter)
    window.record_menu, window.record_stop_action, window.record_start = menu, stop, start
    return recorder
