"""The real network's loss landscape: a 2D slice (heatmap + contours + projected trajectory) and a
1D slice, along filter-normalised random directions or the trajectory's top two PCA directions.

The view trains its own Simulation from the current Config on a worker thread (the main window's
training worker is never touched), records the trajectory, then evaluates the grid through
``Simulation.losses_at`` with progress and cancellation. The window's Landscape tab is its
subclass :class:`gui.views.surface_live.LiveLandscapeView`, which slices the running network in the
engine process instead; this view stands alone (headless recording, tests).
"""
from __future__ import annotations

import threading

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from engine import surface as S
from gui import colors
from gui.widgets import font, settings_row

WHAT_IT_COMPUTES = ("Press Compute: trains a fresh copy of the current config (same seed, its own recorded "
                    "trajectory) for the steps below, then slices that copy's loss around where it ended. "
                    "It is not the run on screen.")


def _font(px: int, bold: bool = False) -> QtGui.QFont:
    return font(px, bold, pixels=True)


def _default_factory(config):
    from engine.simulation import Simulation
    return Simulation(config)


class SurfaceWorker(QtCore.QObject):
    """Builds a Simulation, trains it recording the trajectory, computes the slice. Lives on a QThread."""

    sigProgress = QtCore.Signal(int, int, str)     # done, total, phase
    sigFinished = QtCore.Signal(object)            # NetworkSurface
    sigFailed = QtCore.Signal(str)
    sigCancelled = QtCore.Signal()

    def __init__(self, factory, cancel: threading.Event):
        super().__init__()
        self.factory = factory
        self.cancel = cancel

    @QtCore.Slot(object)
    def compute(self, job: dict) -> None:
        try:
            sim = self.factory(job["config"])
            steps = job["steps"]
            traj = None
            if steps > 0:
                traj = S.record_trajectory(
                    sim, steps, points=60, cancel=self.cancel,
                    progress=lambda d, t: self.sigProgress.emit(d, t, "training"))
            result = S.network_surface(
                sim, job["directions"], job["resolution"], trajectory=traj, span=job["span"],
                seed=job["config"].seed, cancel=self.cancel,
                progress=lambda d, t: self.sigProgress.emit(d, t, "loss grid"))
            self.sigFinished.emit(result)
        except S.SurfaceCancelled:
            self.sigCancelled.emit()
        except Exception as exc:  # shown in the view, never a crash of the GUI thread
            self.sigFailed.emit(f"{type(exc).__name__}: {exc}")


class NetworkSurfaceView(QtWidgets.QWidget):
    """Controls on top; the 2D slice on the left, the 1D slice on the right."""

    sigComputeRequested = QtCore.Signal(object)
    sigFinished = QtCore.Signal(object)            # NetworkSurface, after it is drawn

    def __init__(self, config=None, parent=None):
        super().__init__(parent)
        self.config = config
        self.factory = _default_factory
        self.result: S.NetworkSurface | None = None
        self._cancel = threading.Event()
        self._thread: QtCore.QThread | None = None
        self._worker: SurfaceWorker | None = None
        self._build()
        self.set_theme("dark")

    # ------------------------------------------------------------------ layout
    def _build(self):
        self.directions = QtWidgets.QComboBox()
        self.directions.addItem("random (filter-normalised)", "random")
        self.directions.addItem("PCA of the trajectory", "pca")
        self.resolution = QtWidgets.QSpinBox()
        self.resolution.setRange(5, S.MAX_RESOLUTION)
        self.resolution.setValue(41)
        self.resolution.setSingleStep(10)
        self.steps = QtWidgets.QSpinBox()
        self.steps.setRange(0, 100_000)
        self.steps.setSingleStep(100)
        self.steps.setValue(500)
        self.span = QtWidgets.QDoubleSpinBox()
        self.span.setRange(0.05, 50.0)
        self.span.setSingleStep(0.25)
        self.span.setValue(1.0)
        self.compute_button = QtWidgets.QPushButton("Compute")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        # two rows, so the view fits a dock beside the graph as well as a full screen
        settings = settings_row((("directions", self.directions), ("resolution", self.resolution),
                                 ("train steps", self.steps), ("span", self.span)), 18, min_chars=8)
        bar = QtWidgets.QHBoxLayout()
        for b in (self.compute_button, self.cancel_button):
            b.setFont(_font(18, bold=True))
            bar.addWidget(b)
        self.progress.setFont(_font(16))
        bar.addWidget(self.progress, 1)
        self.status = QtWidgets.QLabel(WHAT_IT_COMPUTES)
        self.status.setFont(_font(20, bold=True))
        self.status.setWordWrap(True)
        self.status.setMinimumWidth(200)

        self.plot2d = pg.PlotWidget()
        self.plot2d.setLabel("bottom", "α  (direction 1)", **{"font-size": "16pt"})
        self.plot2d.setLabel("left", "β  (direction 2)", **{"font-size": "16pt"})
        self.image = pg.ImageItem()
        self.plot2d.addItem(self.image)
        self.cmap = colors.colormap("viridis")
        self.image.setColorMap(self.cmap)
        self.bar = pg.ColorBarItem(colorMap=self.cmap, interactive=False, width=22,
                                   label="log10 loss")
        self.bar.setImageItem(self.image, insert_in=self.plot2d.getPlotItem())
        self.contours = [pg.IsocurveItem(pen=pg.mkPen((0, 0, 0, 150), width=1)) for _ in range(12)]
        for iso in self.contours:
            iso.setParentItem(self.image)
        self.traj = pg.PlotDataItem(pen=pg.mkPen("w", width=5))
        self.traj_core = pg.PlotDataItem(pen=pg.mkPen(colors.OKABE_ITO["vermillion"], width=2.5),
                                         symbol="o", symbolSize=6, symbolPen=None,
                                         symbolBrush=colors.OKABE_ITO["vermillion"])
        self.ends = pg.ScatterPlotItem(size=20, pen=pg.mkPen("w", width=3))
        for item in (self.traj, self.traj_core, self.ends):
            self.plot2d.addItem(item)

        self.plot1d = pg.PlotWidget()
        self.plot1d.setLabel("bottom", "α  (direction 1)", **{"font-size": "16pt"})
        self.plot1d.setLabel("left", "loss", **{"font-size": "16pt"})
        self.plot1d.showGrid(x=True, y=True, alpha=0.3)
        self.curve1d = self.plot1d.plot(pen=pg.mkPen(colors.OKABE_ITO["sky_blue"], width=4))
        self.mark1d = pg.InfiniteLine(0, angle=90, pen=pg.mkPen(colors.OKABE_ITO["orange"], width=2,
                                                                 style=QtCore.Qt.DashLine))
        self.plot1d.addItem(self.mark1d)
        for plot in (self.plot2d, self.plot1d):
            for name in ("bottom", "left"):
                plot.getAxis(name).setTickFont(_font(15))
                plot.getAxis(name).enableAutoSIPrefix(False)

        plots = QtWidgets.QHBoxLayout()
        plots.addWidget(self.plot2d, 3)
        plots.addWidget(self.plot1d, 2)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(settings)
        lay.addLayout(bar)
        lay.addWidget(self.status)
        lay.addLayout(plots, 1)

        self.compute_button.clicked.connect(self.compute)
        self.cancel_button.clicked.connect(self.cancel)

    # ------------------------------------------------------------------ inputs
    def set_config(self, config) -> None:
        """The main window calls this whenever the user picks a new Config."""
        self.config = config

    def set_simulation_factory(self, factory) -> None:
        """``factory(config) -> Simulation``; default: engine.simulation.Simulation."""
        self.factory = factory

    @property
    def busy(self) -> bool:
        return self._thread is not None

    # ------------------------------------------------------------------ work
    def compute(self) -> None:
        if self.busy:
            return
        if self.config is None:
            from engine.config import Config
            self.config = Config()
        self._cancel = threading.Event()
        self._thread = QtCore.QThread()
        self._worker = SurfaceWorker(self.factory, self._cancel)
        self._worker.moveToThread(self._thread)
        self.sigComputeRequested.connect(self._worker.compute)
        self._worker.sigProgress.connect(self._on_progress)
        self._worker.sigFinished.connect(self._on_finished)
        self._worker.sigFailed.connect(self._on_failed)
        self._worker.sigCancelled.connect(self._on_cancelled)
        self._thread.start()
        self.compute_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText(f"training a fresh copy of the current config for {self.steps.value()} steps "
                            "(the run on screen is not touched) …")
        self.sigComputeRequested.emit(dict(
            config=self.config, steps=self.steps.value(), directions=self.directions.currentData(),
            resolution=self.resolution.value(), span=self.span.value()))

    def cancel(self) -> None:
        self._cancel.set()

    def _finish_thread(self) -> None:
        if self._thread is None:
            return
        self.sigComputeRequested.disconnect(self._worker.compute)
        self._thread.quit()
        self._thread.wait()
        self._worker.deleteLater()
        self._thread.deleteLater()
        self._thread = self._worker = None
        self.compute_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def shutdown(self) -> None:
        """Cancel and join the worker thread (on close)."""
        self._cancel.set()
        self._finish_thread()

    def closeEvent(self, event):  # noqa: N802 (Qt override)
        self.shutdown()
        super().closeEvent(event)

    # ------------------------------------------------------------------ slots
    def _on_progress(self, done: int, total: int, phase: str):
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{phase}: %p%")
        self.status.setText(f"{phase}: {done} / {total}")

    def _on_failed(self, message: str):
        self._finish_thread()
        self.status.setText(f"failed: {message}")

    def _on_cancelled(self):
        self._finish_thread()
        self.progress.setValue(0)
        self.status.setText("cancelled")

    def _on_finished(self, result: S.NetworkSurface):
        self._finish_thread()
        self.show_result(result)
        self.sigFinished.emit(result)

    def show_result(self, result: S.NetworkSurface) -> None:
        self.result = result
        z = np.log10(np.maximum(result.loss, 1e-12)).T          # (alpha, beta) = image (x, y)
        finite = z[np.isfinite(z)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        hi = hi if hi > lo else lo + 1e-6
        self.image.setImage(np.nan_to_num(z, nan=hi), autoLevels=False, levels=(lo, hi))
        a, b = result.alphas, result.betas
        self.image.setRect(QtCore.QRectF(a[0], b[0], a[-1] - a[0], b[-1] - b[0]))
        self.bar.setLevels((lo, hi))
        for iso, level in zip(self.contours, np.linspace(lo, hi, len(self.contours) + 2)[1:-1]):
            iso.setData(np.nan_to_num(z, nan=hi), level)
        p = result.path
        if len(p):
            self.traj.setData(p[:, 0], p[:, 1])
            self.traj_core.setData(p[:, 0], p[:, 1])
            self.ends.setData([p[0, 0], p[-1, 0]], [p[0, 1], p[-1, 1]], symbol=["o", "star"],
                              brush=[pg.mkBrush(0, 0, 0, 0), pg.mkBrush(colors.OKABE_ITO["orange"])])
        else:
            for item in (self.traj, self.traj_core, self.ends):
                item.setData([], [])
        self.plot2d.setRange(xRange=(a[0], a[-1]), yRange=(b[0], b[-1]), padding=0)
        good = np.isfinite(result.loss_1d) & (result.loss_1d > 0)
        wide = good.any() and result.loss_1d[good].max() > 10 * result.loss_1d[good].min()
        self.plot1d.setLogMode(False, bool(wide))  # log only when the slice spans a decade
        self.plot1d.setLabel("left", "loss (log)" if wide else "loss", **{"font-size": "16pt"})
        self.curve1d.setData(result.alphas_1d[good], result.loss_1d[good])
        kind = "PCA" if result.directions_kind == "pca" else "random filter-normalised"
        expl = (f"  ·  PC1 {result.explained[0]:.0%}, PC2 {result.explained[1]:.0%} of the path's variance"
                if result.directions_kind == "pca" else "")
        finite_loss = result.loss[np.isfinite(result.loss)]
        rng = f"loss {finite_loss.min():.3g} … {finite_loss.max():.3g}" if finite_loss.size else "no finite loss"
        self.status.setText(f"A fresh copy of the current config, trained {self.steps.value()} steps, sliced where it "
                            f"ended: {kind} directions, {len(a)}×{len(b)}  ·  {rng}{expl}  ·  {result.seconds:.1f} s")
        self.progress.setValue(self.progress.maximum())

    def set_theme(self, name: str) -> None:
        palette = colors.theme(name)
        for plot in (self.plot2d, self.plot1d):
            plot.setBackground(palette["background"])
            for ax in ("bottom", "left"):
                plot.getAxis(ax).setPen(palette["muted"])
                plot.getAxis(ax).setTextPen(palette["foreground"])
