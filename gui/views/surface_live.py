"""The Landscape tab of the window: a slice of the loss of the network that is training now.

:class:`LiveLandscapeView` is the :class:`gui.views.surface_network.NetworkSurfaceView` (same
controls and plots) asking the engine process instead of training a copy of its own: Compute sends
the slice spec (``SimulationRunner.surface``); the engine slices member 0's parameters at that
moment, evaluates the grid in pieces between training chunks (training goes on), projects member
0's recorded trajectory onto the plane and answers with the grid. Nothing is computed in the GUI
process. Without a runner (headless recording, tests of the base view) it is the base view.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtWidgets

from gui import colors
from gui.views.surface_network import NetworkSurfaceView

LIVE_TEXT = ("Press Compute: slices the loss of the network training now (its current parameters; "
             "training goes on meanwhile) and draws its recorded path.")


class LiveLandscapeView(NetworkSurfaceView):
    """The network surface of the run on screen, computed in the engine process."""

    def __init__(self, config=None, runner=None, parent=None):
        super().__init__(config, parent)
        self.runner = None
        self.job: int | None = None
        self.live_result = None
        # where training had got to when the grid was finished (the slice is of an earlier step)
        self.now_mark = pg.ScatterPlotItem(size=13, symbol="d", pen=pg.mkPen("w", width=2),
                                           brush=pg.mkBrush(colors.OKABE_ITO["sky_blue"]))
        self.plot2d.addItem(self.now_mark)
        if runner is not None:
            self.set_runner(runner)

    def set_runner(self, runner) -> None:
        """Compute through ``runner`` (a ``gui.runner.SimulationRunner``): the running network."""
        self.runner = runner
        runner.sigSurfaceProgress.connect(self._on_live_progress)
        runner.sigSurface.connect(self._on_live_finished)
        runner.sigSurfaceFailed.connect(self._on_live_failed)
        runner.sigSurfaceCancelled.connect(self._on_live_cancelled)
        # the "train steps" of the stand-alone view mean nothing here: the run trains itself
        for label in self.findChildren(QtWidgets.QLabel):
            if label.text() == "train steps":
                label.hide()
        self.steps.hide()
        self.status.setText(LIVE_TEXT)

    # ------------------------------------------------------------------ work
    @property
    def busy(self) -> bool:
        return self.job is not None or super().busy

    def compute(self) -> None:
        if self.runner is None:
            super().compute()
            return
        if self.busy:
            return
        spec = dict(directions=self.directions.currentData(), resolution=self.resolution.value(),
                    span=self.span.value(), seed=int(getattr(self.config, "seed", 0) or 0))
        self.job = self.runner.surface(spec)
        self.compute_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText("slicing the network training now (its parameters at this step); "
                            "the grid is computed between training steps …")
        self.sigComputeRequested.emit(spec)

    def cancel(self) -> None:
        if self.runner is not None and self.job is not None:
            self.runner.cancel_surface(self.job)
        else:
            super().cancel()

    def shutdown(self) -> None:
        if self.runner is not None and self.job is not None and self.runner.alive:
            self.runner.cancel_surface(self.job)
        self.job = None
        super().shutdown()

    def _done(self):
        self.job = None
        self.compute_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    # ------------------------------------------------------------------ the engine's answers
    def _on_live_progress(self, job: int, done: int, total: int):
        if job == self.job:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)
            self.progress.setFormat("loss grid: %p%")
            self.status.setText(f"loss grid of the running network: {done} / {total} points "
                                "(computed between training steps)")

    def _on_live_failed(self, job: int, why: str):
        if job == self.job:
            self._done()
            self.status.setText(f"failed: {why}")

    def _on_live_cancelled(self, job: int):
        if job == self.job:
            self._done()
            self.progress.setValue(0)
            self.status.setText("cancelled")

    def _on_live_finished(self, job: int, result):
        if job != self.job:
            return
        self._done()
        self.live_result = result
        self.show_result(result)
        self.status.setText(describe(result))
        extra = result.extra
        now = extra.get("now")
        if now is not None and extra.get("now_step", extra.get("step")) != extra.get("step") and np.all(np.isfinite(now)):
            self.now_mark.setData([float(now[0])], [float(now[1])])
        else:
            self.now_mark.setData([], [])
        self.sigFinished.emit(result)


def describe(result) -> str:
    """The tab's line about a live slice: what was sliced, at which step, what the path is."""
    extra = result.extra
    step, now_step = int(extra.get("step", -1)), int(extra.get("now_step", -1))
    kind = "PCA-of-the-path" if result.directions_kind == "pca" else "random filter-normalised"
    member = int(extra.get("member", 0))
    who = "the network training now" if member == 0 else f"member {member} of the comparison"
    parts = [f"Loss of {who} around its parameters at step {step:,}: {kind} directions, "
             f"{len(result.alphas)}×{len(result.betas)}"]
    finite = result.loss[np.isfinite(result.loss)]
    parts.append(f"loss {finite.min():.3g} … {finite.max():.3g}" if finite.size else "no finite loss")
    if result.directions_kind == "pca" and np.all(np.isfinite(result.explained)):
        parts.append(f"PC1 {result.explained[0]:.0%}, PC2 {result.explained[1]:.0%} of the path's variance")
    path_steps = np.asarray(extra.get("path_steps", []))
    if len(path_steps) > 1:
        parts.append(f"path: {len(path_steps)} recorded points, steps {int(path_steps[0]):,}–{int(path_steps[-1]):,} (★ = step {step:,})")
    elif extra.get("trajectory_note"):
        parts.append(str(extra["trajectory_note"]))
    else:
        parts.append("no path yet: train first")
    if now_step > step:
        parts.append(f"◆ = step {now_step:,} projected onto the plane (where training had got to when the grid was done)")
    if extra.get("diverged"):
        parts.append("the run has diverged")
    parts.append(f"{result.seconds:.1f} s")
    return "  ·  ".join(parts)
