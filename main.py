"""Gradient Flow Lab: no arguments opens the desktop app; a subcommand runs the headless engine.

    python main.py                      # the desktop app
    python main.py run --preset sigmoid-vanishing --out runs/sv
    python main.py --help
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("gui", "--gui"):
        return main_gui(argv[1:])
    if argv[0].split("=")[0] in GUI_OPTIONS:  # `python main.py --preset X --play`: the app, no `gui` word
        return main_gui(argv)
    if argv[0] == "record":  # a drawing command: the app's views, offscreen; Qt is imported only here
        from gui.record_cli import main as record_main
        return record_main(argv[1:])
    if argv[0] == "surface":  # its figure is drawn outside the engine (matplotlib, no Qt)
        from engine import surface_cli
        from figures.surface import render_png
        surface_cli.figure_renderer = render_png
    from engine.cli import main as cli_main  # headless: Qt is never imported on this path
    return cli_main(argv)


GUI_OPTIONS = ("--preset", "--config", "--theme", "--play", "--quit-after", "--report-startup")


def main_gui(argv: list[str] | None = None) -> int:
    from gui.app import main as app_main
    return app_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
