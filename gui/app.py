"""The desktop app's entry point: QApplication, icon, fonts, settings, the main window.

The window is shown first, with placeholders; the engine and pyqtgraph are imported right after
its first expose (``MainWindow.finish_setup``), so it appears quickly even on a 2-core machine.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import time
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BASE_FONT_PT = 13     # widgets; chart labels and captions are 14 pt and up
GC_INTERVAL_S = 0.5  # the GUI thread's garbage collection timer (see main: on_shown)
QUIT_AFTER_ENV = "GRADIENT_FLOW_LAB_QUIT_AFTER_MS"   # `python main.py` takes no options: tests use this


def process_age_s() -> float | None:
    """Seconds since this process started (Linux /proc), for the start-up report."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gradient-flow-lab", description="Gradient Flow Lab desktop app")
    parser.add_argument("--config", help="open this config TOML instead of the last one")
    parser.add_argument("--preset", help="start from this preset (see `gradflow presets`)")
    parser.add_argument("--theme", choices=("dark", "light"), help="colour theme (default: the last one)")
    parser.add_argument("--play", action="store_true", help="start training at once")
    quit_env = os.environ.get(QUIT_AFTER_ENV)
    parser.add_argument("--quit-after", type=float, metavar="SECONDS",
                        default=float(quit_env) / 1000 if quit_env else None,
                        help=f"close the window SECONDS after the views are ready (smoke tests, benchmarks; "
                             f"or ${QUIT_AFTER_ENV} in ms)")
    parser.add_argument("--report", action="store_true",
                        help='on quitting, print one JSON line: {"steps", "seconds", "frames", "steps_per_second", '
                             '"fps", "timer_late_p99_ms"} measured from the first frame shown while playing')
    parser.add_argument("--tab", metavar="TITLE", help="bring this view tab to the front (e.g. Training)")
    parser.add_argument("--report-startup", action="store_true",
                        help="print when the window first showed and when the views were ready")
    return parser.parse_args(argv)


def install_signal_handlers(app, on_quit=None) -> None:
    """SIGTERM / SIGINT (Ctrl-C) / SIGHUP close the app the normal way, so the engine process ends with it.

    Python runs signal handlers only between bytecodes; Qt's event loop is C++, so a wake-up fd
    and a socket notifier bring the loop back to Python at once."""
    import socket

    from PySide6 import QtCore
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    notifier = QtCore.QSocketNotifier(reader.fileno(), QtCore.QSocketNotifier.Read, app)

    def drain():
        try:
            reader.recv(64)
        except OSError:
            pass
    notifier.activated.connect(drain)
    app._signal_sockets = (reader, writer, notifier)   # kept alive with the app

    def handler(signum, _frame):
        app.setProperty("signal_exit_code", 128 + signum)  # closing the last window exits with 0
        if on_quit is not None:
            on_quit()
        app.exit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handler)


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system) a process has used so far (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MB (Unix), or None."""
    try:
        import resource
    except ImportError:
        return None
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class RunReport:
    """What ``--report`` prints: steps and frames from the first frame shown while playing to quit,
    the seconds of that span spent playing, how late a 1 ms GUI-thread timer fires (p99), and the
    CPU share of the GUI and the engine.

    ``steps_per_second`` is the steps over the seconds spent playing, by the engine's clock. A
    preset pauses at its claim's step, often before a frame was shown while it played (a small net
    reaches step 300 in a tenth of a second, and the window may read the start and the pause in one
    poll): the span then starts when the engine started playing, and the paused rest is not counted."""

    def __init__(self, window):
        from PySide6 import QtCore
        self.window = window
        self.start = None          # (time, step, frames, engine's seconds played) at the first frame shown while playing
        self.played = None         # the same when the engine first started playing
        self.lateness: list[float] = []
        self._due = None
        self._probe = QtCore.QTimer()
        self._probe.setTimerType(QtCore.Qt.PreciseTimer)
        self._probe.setSingleShot(True)
        self._probe.timeout.connect(self._fire)
        self._fire()

    def _fire(self):
        now = time.perf_counter()
        if (self.start or self.played) is not None and self._due is not None:
            self.lateness.append(now - self._due)
        self._due = time.perf_counter() + 0.001
        self._probe.start(1)

    def _mark(self, played: float):
        w = self.window
        self.cpu_start = (time.process_time(), cpu_seconds(w.runner.pid))
        return (time.perf_counter(), w._last_step, w.frames_shown, played)

    def on_running(self, running: bool):
        w = self.window
        if running and self.played is None and self.start is None:
            self.played = self._mark(w.runner.played_seconds())   # as the engine said when it started

    def on_frame(self, snapshot):
        w = self.window
        if self.start is None and w.runner is not None and w.runner.running:
            self.start = self._mark(w.runner.played_seconds())   # the window's step is this snapshot's

    def result(self) -> dict:
        import numpy as np
        w = self.window
        start = self.start or self.played
        if self.played is not None and self.start is not None and (
                w._last_step <= self.start[1] or w.runner.played_seconds() <= self.start[3]):
            # count from Play where the first frame shown while playing measures nothing: it was
            # the last one (a short preset run whose frames the starting window coalesced), or
            # the window showed it late, after the engine had stopped, so that its reading of
            # the engine's clock (extrapolated since the last message) is past the real end
            start = self.played
        if start is None:
            return {"steps": 0, "seconds": 0.0, "playing_seconds": 0.0, "frames": 0, "steps_per_second": 0.0,
                    "fps": 0.0, "timer_late_p99_ms": None}
        t0, step0, frames0, played0 = start
        seconds = time.perf_counter() - t0
        playing = max(0.0, w.runner.played_seconds() - played0)
        gui_cpu = time.process_time() - self.cpu_start[0]
        engine_now = cpu_seconds(w.runner.pid)
        engine_cpu = None if engine_now is None or self.cpu_start[1] is None else engine_now - self.cpu_start[1]
        steps, frames = w._last_step - step0, w.frames_shown - frames0
        late = float(np.percentile(self.lateness, 99) * 1000) if self.lateness else None
        return {"steps": int(steps), "seconds": round(seconds, 3), "playing_seconds": round(playing, 3),
                "frames": int(frames),
                "steps_per_second": round(steps / playing, 1) if playing > 0 else 0.0,
                "fps": round(frames / seconds, 2) if seconds > 0 else 0.0,
                "timer_late_p99_ms": None if late is None else round(late, 2),
                "gui_cpu_share": round(gui_cpu / seconds, 2) if seconds > 0 else None,
                "gui_cpu_ms_per_frame": round(1000 * gui_cpu / frames, 2) if frames > 0 else None,
                "engine_cpu_share": round(engine_cpu / seconds, 2) if engine_cpu is not None and seconds > 0 else None,
                "gui_peak_rss_mb": peak_rss_mb(),
                "gc_on_worker_threads": gc.isenabled()}   # False: only the GUI thread collects (main)


class _FirstExpose:
    """Runs a callback once, after the window's first expose event (it is on screen)."""

    def __init__(self, window, callback):
        from PySide6 import QtCore

        class Filter(QtCore.QObject):
            def eventFilter(self, obj, event):
                if event.type() == QtCore.QEvent.Expose and obj.isExposed():
                    obj.removeEventFilter(self)
                    QtCore.QTimer.singleShot(0, callback)
                return False

        self.filter = Filter()
        window.windowHandle().installEventFilter(self.filter)


def display_problem() -> str | None:
    """Why no window can open (no display on Linux), as one line; None when one can."""
    if not sys.platform.startswith("linux"):
        return None
    if os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("gradient-flow-lab: no display to open the window on (DISPLAY and WAYLAND_DISPLAY are unset); "
            "run it on a desktop, or use the headless commands: python main.py --help")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    t_main = time.perf_counter()
    from PySide6 import QtCore, QtGui, QtWidgets

    from gui.main_window import MainWindow
    from gui.settings import APPLICATION, ORGANISATION, open_settings

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Gradient Flow Lab")
    app.setDesktopFileName(APPLICATION)
    app.setStyle("Fusion")
    font = app.font()
    font.setPointSize(BASE_FONT_PT)
    app.setFont(font)
    icon = ASSETS / "icon.png"
    if icon.exists():
        app.setWindowIcon(QtGui.QIcon(str(icon)))

    config = None
    if args.config:
        from engine.config import Config, ConfigError
        try:
            config = Config.load(args.config)
        except ConfigError as exc:
            print(f"gradient-flow-lab: {exc}", file=sys.stderr)
            return 2

    window = MainWindow(settings=open_settings(), theme_name=args.theme)
    install_signal_handlers(app, on_quit=window.close)
    report = RunReport(window) if args.report else None
    if report is not None:
        window.sigFrameShown.connect(report.on_frame)
        window.sigRunningChanged.connect(report.on_running)
    if window.restored_geometry:
        window.show()
    else:
        window.showMaximized()

    collector = []

    def on_shown():
        # From here on other threads run Python (engine pipe, claim runs, edge renders): the cyclic
        # garbage collector must never run in one of them, or it destroys Qt objects off the GUI
        # thread (seen as crashes and deadlocks). pyqtgraph's collector disables the automatic
        # one and collects on a timer of the GUI thread.
        from pyqtgraph.util.garbage_collector import GarbageCollector
        collector.append(GarbageCollector(interval=GC_INTERVAL_S))
        age = process_age_s()
        if args.report_startup:
            since = f"{age:.3f} s after process start, " if age is not None else ""
            print(f"startup: window shown {since}{time.perf_counter() - t_main:.3f} s after main()", flush=True)
        window.finish_setup(config=config, preset=args.preset)
        if args.tab:
            if not window.raise_view(args.tab):
                print(f"gradient-flow-lab: no view tab '{args.tab}'", file=sys.stderr)
        if args.quit_after is not None:
            QtCore.QTimer.singleShot(int(args.quit_after * 1000), window.close)
        if args.play:
            window.transport.play_action.setChecked(True)
        if args.report_startup:
            print(f"startup: views and engine ready {time.perf_counter() - t_main:.3f} s after main()", flush=True)

    shown = _FirstExpose(window, on_shown)  # noqa: F841  (kept alive until exec returns)
    if report is not None:
        window.sigClosing.connect(lambda: print(json.dumps(report.result()), flush=True))
    code = int(app.exec())
    window.close()              # a signal ended the loop: the engine process ends here too
    signal_code = app.property("signal_exit_code")
    return int(signal_code) if signal_code else code  # 130 after Ctrl-C, as a shell expects
