"""The desktop app's entry point: QApplication, icon, fonts, settings, the main window.

The window is shown first, with placeholders; the engine and pyqtgraph are imported right after
its first expose (``MainWindow.finish_setup``), so it appears quickly even on a 2-core machine.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BASE_FONT_PT = 13     # widgets; chart labels and captions are 14 pt and up
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
    parser.add_argument("--quit-after", type=int, metavar="MS", default=int(quit_env) if quit_env else None,
                        help=f"close the window after MS milliseconds (tests, benchmarks; or ${QUIT_AFTER_ENV})")
    parser.add_argument("--report-startup", action="store_true",
                        help="print when the window first showed and when the views were ready")
    return parser.parse_args(argv)


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
    if window.restored_geometry:
        window.show()
    else:
        window.showMaximized()

    def on_shown():
        age = process_age_s()
        if args.report_startup:
            since = f"{age:.3f} s after process start, " if age is not None else ""
            print(f"startup: window shown {since}{time.perf_counter() - t_main:.3f} s after main()", flush=True)
        window.finish_setup(config=config, preset=args.preset)
        if args.play:
            window.transport.play_action.setChecked(True)
        if args.report_startup:
            print(f"startup: views and worker ready {time.perf_counter() - t_main:.3f} s after main()", flush=True)

    shown = _FirstExpose(window, on_shown)  # noqa: F841  (kept alive until exec returns)
    if args.quit_after is not None:
        QtCore.QTimer.singleShot(args.quit_after, window.close)
    return int(app.exec())
