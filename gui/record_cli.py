"""``python main.py record``: the app's own views, rendered offscreen, as GIF, MP4 or PNG.

    python main.py record --preset sigmoid-vanishing --view graph --steps 300 --out sv.gif
    python main.py record --preset cmp-init --compare --size 1920x1080 --out init.mp4
    python main.py record --preset zigzag --view zigzag --out zz.gif

A drawing command: it trains the Simulation (or the comparison's Lockstep) in this process and
draws each frame with the same view classes as the window, on Qt's offscreen platform (no display
needed). Frame i shows step round(i * steps / (frames - 1)); a PNG is the last frame.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

VIEWS = ("graph", "charts", "zigzag", "landscape", "window")
EXIT_USAGE, EXIT_IO, EXIT_INTERRUPTED = 2, 1, 130
DEFAULT_SIZE = (1280, 720)


class UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gradflow record",
        description="Render one of the app's views offscreen while a preset trains, and save it as a "
                    "GIF or MP4 (one frame per step interval) or a PNG (the last frame).")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", metavar="NAME", help="the preset to train (see `presets`)")
    source.add_argument("--config", metavar="FILE", help="a config TOML file")
    p.add_argument("--compare", action="store_true",
                   help="record the side-by-side comparison of a comparison preset (cmp-...)")
    p.add_argument("--view", default="graph", metavar="VIEW",
                   help=f"what to record: {' | '.join(VIEWS)} (default graph)")
    p.add_argument("--steps", type=int, metavar="N", help="training steps (default: the preset's)")
    p.add_argument("--frames", type=int, metavar="M", help="frames in a GIF/MP4 (default: 10 per second "
                   "of --fps x 6 s, at most one per step)")
    p.add_argument("--fps", type=float, default=10.0, metavar="F", help="frames per second (default 10)")
    p.add_argument("--size", default=f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}", metavar="WxH",
                   help="frame size in pixels (default %(default)s)")
    p.add_argument("--theme", choices=("dark", "light"), default="dark")
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.gif | FILE.mp4 | FILE.png")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or final line")
    return p


def frame_steps(steps: int, frames: int) -> list[int]:
    """The step shown by each frame: evenly from 0 to ``steps`` (one frame: the end)."""
    if frames == 1:
        return [steps]
    return [int(round(i * steps / (frames - 1))) for i in range(frames)]


def _validate(args):
    from gui.record import RecordError, check_fps, check_path, parse_size
    try:
        path = check_path(args.out)
        size = parse_size(args.size)
        fps = check_fps(args.fps)
    except RecordError as exc:
        raise UsageError(str(exc)) from None
    if args.view not in VIEWS:
        raise UsageError(f"invalid value for '--view': {args.view!r} (allowed: {' | '.join(VIEWS)})")
    if args.compare and args.view not in ("graph", "window"):
        raise UsageError(f"invalid value for '--view': {args.view!r} with --compare (the comparison is "
                         f"one view: leave --view out)")
    if path.suffix.lower() == ".mp4" and (size[0] % 2 or size[1] % 2):
        raise UsageError(f"invalid value for '--size': {args.size!r} (allowed: an even width and height for MP4)")
    if args.steps is not None and not 0 <= args.steps <= 10_000_000:
        raise UsageError(f"invalid value for '--steps': {args.steps} (allowed: an integer 0..10000000)")
    if args.frames is not None and not 1 <= args.frames <= 10_000:
        raise UsageError(f"invalid value for '--frames': {args.frames} (allowed: an integer 1..10000)")
    if args.view == "landscape" and path.suffix.lower() != ".png":
        raise UsageError("invalid value for '--out': the landscape view is a still picture (allowed: FILE.png)")
    if args.compare and not args.preset:
        raise UsageError("--compare needs --preset NAME of a comparison preset (cmp-...)")
    return path, size, fps


def _config(args):
    from engine.config import Config
    if args.preset:
        from engine.presets import load_preset
        preset = load_preset(args.preset)
        return preset.config, preset
    return Config.load(args.config), None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from engine.backend import BackendError
    from engine.config import ConfigError
    try:
        path, size, fps = _validate(args)
        config, preset = _config(args)
        if args.steps is not None:
            config = config.replace(steps=args.steps)
        return _record(args, path, size, fps, config, preset)
    except (UsageError, ConfigError, BackendError) as exc:
        print(f"gradflow record: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"gradflow record: error: could not write{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_IO
    except KeyboardInterrupt:
        print("gradflow record: interrupted (nothing written)", file=sys.stderr)
        return EXIT_INTERRUPTED


def _app(theme: str):
    # Qt's offscreen platform: no display needed, and the same pixels on every machine
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6 import QtCore, QtWidgets

    def quiet(mode, context, message):   # the offscreen platform's notes are not the user's business
        if "propagateSizeHints" not in message:
            sys.stderr.write(message + "\n")
    QtCore.qInstallMessageHandler(quiet)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["gradflow-record"])
    app.setStyle("Fusion")
    font = app.font()
    font.setPointSize(13)
    app.setFont(font)
    if theme == "dark":
        from gui.main_window import make_palette
        app.setPalette(make_palette("dark"))
    return app


def _record(args, path: Path, size, fps, config, preset) -> int:
    from gui.record import Recording, RecordError
    app = _app(args.theme)
    kind = path.suffix.lower()
    steps = config.steps
    if kind == ".png":
        frames = 1
    else:
        frames = args.frames or max(1, min(int(round(fps * 6)), steps + 1))
    targets = frame_steps(steps, frames)
    show = sys.stderr.isatty() and not args.quiet
    bar = None
    if show:
        from tqdm import tqdm
        bar = tqdm(total=frames, unit="frame", dynamic_ncols=True, leave=False, file=sys.stderr)
    recording = Recording(path, fps, size)
    try:
        if args.compare:
            driver = _CompareDriver(config, args.preset, args.theme)
        elif args.view == "graph":
            driver = _GraphDriver(config, args.theme)
        elif args.view == "charts":
            driver = _ChartsDriver(config, args.theme)
        elif args.view == "zigzag":
            driver = _ZigzagDriver(preset, args.theme, steps)
            targets = frame_steps(driver.last_step if args.steps is None else min(args.steps, driver.last_step),
                                  frames)
        elif args.view == "landscape":
            driver = _LandscapeDriver(config, args.theme)
        else:
            driver = _WindowDriver(config, args.theme)
        widget = driver.widget
        widget.resize(*size)
        widget.show()
        app.processEvents()
        from gui.record import grab_rgb
        # the charts' accuracy and test points come from the snapshots the view is given: feed it
        # about 100 times over the run even when few frames are grabbed
        feed = [] if args.view in ("zigzag", "landscape", "window") and not args.compare else \
            list(range(0, steps, max(1, steps // 100)))
        for target in targets:
            for step in [s for s in feed if s < target]:
                driver.advance(step)
            feed = [s for s in feed if s > target]
            driver.advance(target)
            app.processEvents()
            recording.add(grab_rgb(driver.grab_target(), size))
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"step {target}", refresh=False)
        written = recording.close()
        driver.close()
    except RecordError as exc:
        recording.abort()
        raise UsageError(str(exc)) from None
    except BaseException:
        recording.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        what = "comparison" if args.compare else f"{args.view} view"
        print(f"{what}: {recording.count} frame{'s' if recording.count != 1 else ''} "
              f"({size[0]}x{size[1]}, up to step {targets[-1]}) -> {written}")
    return 0


# ------------------------------------------------------------------------------ drivers
class _GraphDriver:
    """The network graph of one Simulation."""

    def __init__(self, config, theme):
        from engine.simulation import Simulation
        from gui.views.network_graph import NetworkGraphView
        self.sim = Simulation(config)
        self.widget = NetworkGraphView()
        self.widget.set_theme(theme)
        self._show(self.sim.snapshot())

    def _show(self, snap):
        self.widget.set_snapshot(snap)

    def advance(self, target: int) -> None:
        n = target - self.sim.step_count
        if n > 0 and not self.sim.diverged:
            self._show(self.sim.step(n))

    def grab_target(self):
        return self.widget

    def close(self):
        self.widget.close()


class _ChartsDriver(_GraphDriver):
    """The Gradients tab: norm history, flow bars, histograms."""

    def __init__(self, config, theme):
        from engine.simulation import Simulation
        from gui.views.charts import GradientChartsView
        self.sim = Simulation(config)
        self.widget = GradientChartsView()
        self.widget.set_theme(theme)
        self._show(self.sim.snapshot())

    def _show(self, snap):
        self.widget.set_snapshot(snap)

    def grab_target(self):
        for chart in self.widget.charts:      # draw now, not at the charts' throttled rate
            chart.redraw()
        return self.widget


class _CompareDriver:
    """A comparison preset's members in lockstep, in the compare view; claims judged on the way."""

    def __init__(self, config, name, theme):
        from engine.comparisons import load_comparison, require
        from engine.lockstep import Lockstep
        from gui.views.compare import CompareView
        self.comp = load_comparison(name)
        try:
            require(self.comp)
        except Exception as exc:  # ComparisonSkipped: this machine cannot run it
            raise UsageError(str(exc)) from None
        self.lock = Lockstep(config, self.comp.members)
        self.widget = CompareView()
        self.widget.set_theme(theme)
        details = [", ".join(f"{k}={_fmt(v)}" for k, v in m.changes.items()) for m in self.comp.members]
        self.widget.set_members(self.lock.labels, details, self.comp.title)
        self.widget.set_snapshots(self.lock.snapshots())
        from engine.comparisons import claim_step, on_members
        self.claims = [c for c in self.comp.claims if on_members(c)]
        self.claim_at = [claim_step(self.comp, c, config.steps) for c in self.claims]
        self.verdicts = {}

    def advance(self, target: int) -> None:
        from engine.comparisons import judge
        stops = sorted({s for s in self.claim_at if min(self.lock.step_counts) < s <= target} | {target})
        for stop in stops:
            if any(s.step_count < stop and not s.diverged for s in self.lock.sims):
                self.widget.set_snapshots(self.lock.run_to(stop))
            for i, (claim, at) in enumerate(zip(self.claims, self.claim_at)):
                if at == stop and i not in self.verdicts:
                    self.verdicts[i] = judge(self.comp, claim, self.lock, stop)
        if self.verdicts:
            self.widget.set_verdicts([self.verdicts[i] for i in sorted(self.verdicts)])

    def grab_target(self):
        self.widget.draw_now()
        return self.widget

    def close(self):
        self.widget.close()


def _fmt(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, tuple) else (f"{v:g}" if isinstance(v, float) else str(v))


class _ZigzagDriver:
    """The two-weight neuron: positive vs zero-centred inputs, the path drawn step by step."""

    def __init__(self, preset, theme, steps):
        from gui.views.surface_neuron import NeuronSurfaceView
        self.widget = NeuronSurfaceView()
        table = (preset.extra.get("neuron") if preset is not None else None) or {}
        w = self.widget
        if "optimizer" in table:
            w.optimizer.setCurrentText(str(table["optimizer"]))
        if "lr" in table:
            w.lr.setValue(float(table["lr"]))
        if "batch_size" in table:
            index = w.batch.findData(int(table["batch_size"]))
            if index >= 0:
                w.batch.setCurrentIndex(index)
        if "seed" in table:
            w.seed.setValue(int(table["seed"]))
        if "start" in table:
            w._start = tuple(float(v) for v in table["start"])
        if "target" in table:
            w._target = tuple(float(v) for v in table["target"])
        w.rates.setCurrentIndex(w.rates.findData("best"))   # the preset's lr is the shared one
        w._rebuild()
        w.wait_for_rates()      # the panels at each side's best stable rate, as the window shows them
        w.set_theme(theme)
        self.last_step = w.final_step()

    def advance(self, target: int) -> None:
        self.widget.show_step(target)

    def grab_target(self):
        return self.widget

    def close(self):
        self.widget.close()


class _LandscapeDriver:
    """A 2D slice of the loss around the network after training (one still)."""

    def __init__(self, config, theme):
        from gui.views.surface_network import NetworkSurfaceView
        self.widget = NetworkSurfaceView(config)
        self.widget.set_theme(theme)
        self.widget.steps.setValue(min(config.steps, self.widget.steps.maximum()))

    def advance(self, target: int) -> None:
        from PySide6 import QtCore
        done = []
        self.widget.sigFinished.connect(lambda result: done.append(result))
        self.widget.compute()
        loop = QtCore.QEventLoop()
        timer = QtCore.QTimer()
        timer.timeout.connect(lambda: loop.quit() if done or not self.widget.busy else None)
        timer.start(50)
        loop.exec()
        timer.stop()
        if not done:
            raise UsageError(f"the landscape could not be computed: {self.widget.status.text()}")

    def grab_target(self):
        return self.widget

    def close(self):
        self.widget.shutdown()
        self.widget.close()


class _WindowDriver:
    """The whole window, trained by its own worker; each frame waits until the step is reached."""

    def __init__(self, config, theme):
        from gui.main_window import MainWindow
        self.widget = MainWindow(settings=None, theme_name=theme)
        self.widget.finish_setup(config=config)
        self._latest = None
        self.widget.sigFrameShown.connect(self._on_frame)

    def _on_frame(self, snap):
        self._latest = snap

    def advance(self, target: int) -> None:
        from PySide6 import QtCore
        w = self.widget
        if target == 0:
            self._wait(lambda: self._latest is not None, 30)
            return
        # the runner's own play/pause (idempotent): toggling the Play button raced with the
        # running-state echo from the training thread and could leave it paused
        w.runner.play()
        self._wait(lambda: self._latest is not None and (self._latest.step >= target or self._latest.diverged), 300)
        w.runner.pause()
        try:   # let the paused state reach the toolbar before the frame is grabbed
            self._wait(lambda: not w.transport.play_action.isChecked(), 2)
        except UsageError:
            pass
        QtCore.QCoreApplication.processEvents()

    def _wait(self, done, seconds):
        import time
        from PySide6 import QtCore
        end = time.monotonic() + seconds
        while not done():
            if time.monotonic() > end:
                raise UsageError("the window did not show the requested step in time")
            QtCore.QCoreApplication.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)

    def grab_target(self):
        return self.widget

    def close(self):
        self.widget.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
