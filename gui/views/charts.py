"""Gradient and training charts: norm history, gradient-flow bars, histograms, loss, decision boundary
(on gui/views/chart_base.py's ChartBase).

Every chart takes ``set_snapshot(snapshot)`` (and ``clear()`` on a new run). History charts append
every step from ``snapshot.history_*`` even while hidden; all charts redraw only while visible.
Drawing stays cheap per frame: axes are cached pixmaps re-laid out only when their range moves a
notch (``nice_bounds``), unchanged ranges and pens are not set again, and a long per-step line is
drawn as its per-bucket min/max ``envelope``.
Log axes are drawn the pyqtgraph way without warnings: data go in as log10 values (non-positive
values become NaN and break the line) and the axis labels the ticks as powers of ten.
"""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from gui.colors import OKABE_ITO, SERIES, colormap, magnitude_text
from gui.views.chart_base import (FONT_PT, LINE_W, ChartBase, _font, blend, depth_colors, fixed_label,
                                   set_view_range, set_zero_line)
from gui.views.history import _History, log10_or_nan, log10_zero_low, on_lane, zero_lane
from gui.widgets import LabelSlot

HIST_SAMPLE = 20_000  # values per layer a histogram looks at
CLASS_SYMBOLS = ("o", "s", "t", "d", "+", "x", "star", "h", "p", "t1")
CLASS_COLORS = (OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["green"], OKABE_ITO["vermillion"],
                OKABE_ITO["sky_blue"], OKABE_ITO["purple"], OKABE_ITO["yellow"], "#999999", "#7F3C8D", "#11A579")



def _history_columns(snapshot, values_name: str, now_value):
    """The snapshot's per-step history, or its current values when it carries none (e.g. step 0)."""
    steps = snapshot.history_steps
    if len(steps):
        return steps, getattr(snapshot, values_name)
    return np.array([snapshot.step]), np.atleast_2d(np.asarray(now_value, dtype=np.float64))


class GradientHistoryChart(ChartBase):
    """Per-layer gradient norm ||dL/dW_l|| over training steps (log y), one line per layer by depth."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plot = self.make_plot("‖∂L/∂W‖ per layer", "step", "‖∂L/∂W‖", log_y=True)
        self.legend = self.add_legend(self.plot)
        layout.addWidget(self.plot)
        self.note = fixed_label()
        layout.addWidget(LabelSlot(self.note))   # new text repaints the label alone
        self._history: _History | None = None
        self._curves: list[pg.PlotDataItem] = []   # smoothed, thick, in the legend
        self._raw: list[pg.PlotDataItem] = []      # every step, faint

    def clear(self):
        self._history = None
        for c in self._curves + self._raw:
            self.plot.removeItem(c)
        self._curves, self._raw = [], []
        self.legend.clear()
        self.note.setText("")

    def ingest(self, snapshot):
        L = snapshot.n_weight_layers
        if self._history is None or self._history.columns != L:
            self.clear()
            self._history = _History(L)
            self._make_curves(L)
        steps, norms = _history_columns(snapshot, "history_grad_norms", snapshot.grad_norms)
        new = steps > self._history.last_step
        if np.any(new):
            self._history.append(steps[new], log10_zero_low(np.asarray(norms)[new]))

    def _make_curves(self, L: int):
        for i in range(L):
            raw = self.plot.plot(connect="finite")
            raw.setDownsampling(auto=True, method="peak")
            raw.setClipToView(True)
            self._raw.append(raw)
        for i in range(L):
            self._curves.append(self.plot.plot(connect="finite"))
        self.legend.setVisible(False)   # the legend is the line below the plot: complete, never on the data
        self.restyle()

    def restyle(self):
        colors = depth_colors(len(self._curves), self._theme)
        if self._curves:
            swatches = " ".join(f"<span style='color:{c.name()}'>■</span>{i + 1}" for i, c in enumerate(colors))
            self.note.setText(f"weight layer (input → output): {swatches}<br>"
                              "thick: mean over recent steps; faint: every step")
        for curve, raw, color in zip(self._curves, self._raw, colors):
            curve.setPen(pg.mkPen(color, width=LINE_W))
            raw.setPen(pg.mkPen(blend(color, self._palette()["background"]), width=1))

    def redraw(self):
        super().redraw()
        h = self._history
        if h is None:
            return
        mean_steps, means = h.means()           # log10 already; only new buckets are computed
        env_steps, env = h.envelope()
        lane = zero_lane(env)                   # exact zeros (a dead layer) on a line labelled "0"
        set_zero_line(self.plot, lane)
        env, means = on_lane(env, lane), on_lane(means, lane)
        for i, (curve, raw) in enumerate(zip(self._curves, self._raw)):
            raw.setData(env_steps, env[:, i])
            curve.setData(mean_steps, means[:, i])
        set_view_range(self.plot, env_steps, env, quantize=True)   # same extremes, ~2% of the points


class GradientFlowBars(ChartBase):
    """The current ||dL/dW_l|| and ||dL/da_l|| per layer, side by side on a log scale."""

    min_interval_s = 0.1

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # The title is the legend: a legend box would sit on the bars in a narrow dock.
        # Short titles: a title wider than the plot widens its scene, and the view clips the right side.
        self.plot = self.make_plot(
            f"Now: <span style='color:{OKABE_ITO['sky_blue']}'>‖∂L/∂W‖</span>"
            f" · <span style='color:{OKABE_ITO['orange']}'>‖∂L/∂a‖</span>",
            "weight layer (input → output)", "norm", log_y=True)
        self.plot.setToolTip("‖∂L/∂W‖: gradient of the layer's weights; ‖∂L/∂a‖: gradient reaching its pre-activations")
        self.grad_bars = pg.BarGraphItem(x=[], height=[], width=0.38, y0=0)
        self.signal_bars = pg.BarGraphItem(x=[], height=[], width=0.38, y0=0)
        self.plot.addItem(self.grad_bars)
        self.plot.addItem(self.signal_bars)
        self.ratio_label = fixed_label(pt=FONT_PT + 2, bold=True)
        self.ratio_label.setTextFormat(QtCore.Qt.RichText)   # "< 1e-38" must not switch it to plain text
        layout.addWidget(self.plot)
        layout.addWidget(LabelSlot(self.ratio_label))   # new text repaints the label alone
        self._snapshot = None
        self.restyle()

    def restyle(self):
        a, b = SERIES[self._theme]
        self.grad_bars.setOpts(brush=pg.mkBrush(a), pen=pg.mkPen(None))
        self.signal_bars.setOpts(brush=pg.mkBrush(b), pen=pg.mkPen(None))
        self.plot.getPlotItem().setTitle(
            f"Now: <span style='color:{a}'>‖∂L/∂W‖</span> · <span style='color:{b}'>‖∂L/∂a‖</span>",
            size=f"{FONT_PT + 2}pt", color=self._palette()["foreground"])

    def clear(self):
        self._snapshot = None
        self.grad_bars.setOpts(x=[], height=[])
        self.signal_bars.setOpts(x=[], height=[])
        self.ratio_label.setText("")

    def ingest(self, snapshot):
        self._snapshot = snapshot

    def redraw(self):
        super().redraw()
        s = self._snapshot
        if s is None:
            return
        g, a = log10_zero_low(s.grad_norms), log10_zero_low(s.signal_norms)
        lane = zero_lane(np.concatenate([g, a]))      # a dead layer's bar stops on the "0" line
        set_zero_line(self.plot, lane)
        g, a = on_lane(g, lane), on_lane(a, lane)
        finite = np.concatenate([g[np.isfinite(g)], a[np.isfinite(a)]])
        base = math.floor(finite.min()) - 0.5 if finite.size else -1.0
        x = np.arange(1, len(g) + 1, dtype=float)
        self.grad_bars.setOpts(x=x - 0.2, y0=base, height=np.nan_to_num(g - base, nan=0.0))
        self.signal_bars.setOpts(x=x + 0.2, y0=base, height=np.nan_to_num(a - base, nan=0.0))
        if getattr(self, "_tick_count", None) != len(g):   # new ticks re-lay out the axis: only when they change
            self._tick_count = len(g)
            axis = self.plot.getPlotItem().getAxis("bottom")
            axis.setTicks([[(i + 1, str(i + 1)) for i in range(len(g))]] if len(g) <= 20 else None)
        y_range = (base, math.ceil(finite.max()) + 0.2) if finite.size else None
        wanted = ((0.4, len(g) + 0.6), y_range)
        last = getattr(self, "_range_set", None)
        if last is None or last[0] != wanted or last[1] != self.plot.viewRange():
            self.plot.setXRange(0.4, len(g) + 0.6, padding=0)
            if y_range is not None:
                self.plot.setYRange(*y_range, padding=0)
            self._range_set = (wanted, self.plot.viewRange())
        self.ratio_label.setText(headline(s))


def _number(v: float, percent: bool = False) -> str:
    if not math.isfinite(v):
        return "not finite" if math.isnan(v) else "overflow"
    return f"{100 * v:.1f}%" if percent else f"{v:.4g}"


def loss_accuracy_text(s) -> str:
    """Train and test loss with the accuracies beside them (accuracy explains a climbing test loss)."""
    from gui.frames import metrics_lag_text
    lag = metrics_lag_text(s)   # display-rate frames evaluate the whole data on their own clock
    text = f"loss: train {_number(s.loss)} · test {_number(s.test_loss)}{lag}"
    if math.isfinite(s.accuracy) or math.isfinite(s.test_accuracy):
        text += f"<br>accuracy: train {_number(s.accuracy, True)} · test {_number(s.test_accuracy, True)}{lag}"
    return text


def norm_ratio(first: float, last: float) -> tuple[float | None, str]:
    """first / last as (value or None, text): zero and underflow read "< 1e-38", never "nan"."""
    first, last = float(first), float(last)
    if not (math.isfinite(first) and math.isfinite(last)):
        return None, "not finite (diverged)"
    if last == 0:
        return None, "undefined (last layer < 1e-38)" if first > 0 else "both layers < 1e-38"
    if first == 0:
        return 0.0, "< 1e-38"
    r = first / last
    return r, magnitude_text(r)


def headline(s) -> str:
    """The Gradients tab's headline: it follows the back-propagated signal ‖∂L/∂a‖ (where a vanishing
    or exploding gradient happens), with the weight-gradient ratio beside it."""
    r, text = norm_ratio(s.signal_norms[0], s.signal_norms[-1])
    verdict = ""
    if r is not None:
        verdict = "  — vanishing" if r < 1e-2 else "  — exploding" if r > 1e2 else ""
    _, weights = norm_ratio(s.grad_norms[0], s.grad_norms[-1])
    return (f"first / last back-propagated ‖∂L/∂a‖: {html.escape(text)}{verdict}"
            f"<br><span style='font-weight:normal'>weight gradients ‖∂L/∂W‖ first / last: "
            f"{html.escape(weights)}</span>")


def _sample(a: np.ndarray) -> np.ndarray:
    flat = np.asarray(a).ravel()
    step = max(1, flat.size // HIST_SAMPLE)
    return flat[::step]


class HistogramPanel(ChartBase):
    """Histograms of activations h_l and of log10|dL/dW_l| per layer: all layers overlaid, or one."""

    min_interval_s = 0.3

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        label = QtWidgets.QLabel("Layer:")
        label.setFont(_font())
        self.layer_combo = QtWidgets.QComboBox()
        self.layer_combo.setFont(_font())
        self.layer_combo.addItem("all layers (colour = depth)", -1)
        self.layer_combo.currentIndexChanged.connect(lambda _i: self.redraw())
        row.addWidget(label)
        row.addWidget(self.layer_combo, 1)
        layout.addLayout(row)
        plots = QtWidgets.QHBoxLayout()
        self.act_plot = self.make_plot("Activations h", "h", "% of units")
        self.grad_plot = self.make_plot("Weight gradients", "log10 |∂L/∂w|", "% of weights")
        self.zero_text = pg.TextItem(anchor=(1, 0))      # "30% exactly 0", top right (log10 has no bin for 0)
        self.zero_text.setFont(_font(FONT_PT, bold=True))
        self.zero_text.setZValue(10)
        self.zero_text.hide()
        self.grad_plot.addItem(self.zero_text, ignoreBounds=True)
        plots.addWidget(self.act_plot)
        plots.addWidget(self.grad_plot)
        layout.addLayout(plots, 1)
        self._snapshot = None
        self._items = {self.act_plot: [], self.grad_plot: []}   # reused curves, one per layer drawn

    @property
    def _curves(self) -> list[pg.PlotDataItem]:
        return [c for items in self._items.values() for c in items if c.isVisible()]

    def clear(self):
        self._snapshot = None
        for items in self._items.values():
            for c in items:
                c.hide()

    def ingest(self, snapshot):
        self._snapshot = snapshot
        L = snapshot.n_weight_layers
        if self.layer_combo.count() != L + 1:
            with QtCore.QSignalBlocker(self.layer_combo):
                keep = self.layer_combo.currentData()
                while self.layer_combo.count() > 1:
                    self.layer_combo.removeItem(1)
                for i in range(L):
                    self.layer_combo.addItem(f"layer {i + 1}" + (" (input side)" if i == 0 else
                                                                 " (output)" if i == L - 1 else ""), i)
                self.layer_combo.setCurrentIndex(max(self.layer_combo.findData(keep), 0))

    def redraw(self):
        super().redraw()
        s = self._snapshot
        if s is None:
            return
        chosen = self.layer_combo.currentData()
        L = s.n_weight_layers
        colors = depth_colors(L, self._theme)
        acts = [_sample(a) for a in s.activation_samples]            # hidden layers: h_1 .. h_depth
        grads = [log10_zero_low(_sample(g)) for g in s.edge_grads]    # weight layers: W_1 .. W_L
        layers = range(L) if chosen == -1 else [chosen]
        self._draw(self.act_plot, {i: acts[i] for i in layers if i < len(acts)}, colors)
        zeros = self._draw(self.grad_plot, {i: grads[i] for i in layers}, colors)
        # a log axis has no 0: the share of weights whose gradient is exactly 0 is written on the plot
        text = f"{zeros:.0%} exactly 0" if zeros else ""
        if (text, self._theme) != getattr(self.zero_text, "_gfl_shown", None):
            self.zero_text._gfl_shown = (text, self._theme)
            self.zero_text.setText(text, color=self._palette()["foreground"])
        self.zero_text.setVisible(bool(zeros))
        if zeros:
            (_, right), (_, top) = self.grad_plot.viewRange()
            self.zero_text.setPos(right, top)

    def _draw(self, plot, data: dict[int, np.ndarray], colors) -> float:
        """Histograms of ``data``'s finite values as a % of each layer's finite values and zeros
        (-inf: log10 of an exact 0, left out of the bins); returns the share of zeros."""
        counted = {i: int(np.count_nonzero(np.isfinite(v) | np.isneginf(v))) for i, v in data.items()}
        n_zero = sum(int(np.count_nonzero(np.isneginf(v))) for v in data.values())
        zeros = n_zero / max(sum(counted.values()), 1)
        data = {i: v[np.isfinite(v)] for i, v in data.items()}   # a diverged run has NaN/Inf
        data = {i: v for i, v in data.items() if v.size}
        items = self._items[plot]
        while len(items) < len(data):
            items.append(plot.plot(stepMode="center"))
        for c in items[len(data):]:
            c.hide()
        if not data:
            return zeros
        allv = np.concatenate(list(data.values()))
        lo, hi = float(allv.min()), float(allv.max())
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, 41)
        single = len(data) == 1
        top = 0.0
        for curve, (i, v) in zip(items, data.items()):
            counts, _ = np.histogram(v, bins=edges)
            style = (colors[i].rgba(), single)
            if getattr(curve, "_gfl_style", None) != style:   # a new pen or brush repaints: only on change
                curve._gfl_style = style
                fill = QtGui.QColor(colors[i])
                fill.setAlpha(90)
                curve.setPen(pg.mkPen(colors[i], width=LINE_W))
                curve.setFillLevel(0 if single else None)
                curve.setBrush(fill if single else None)
            share = 100.0 * counts / counted[i]
            top = max(top, float(share.max()))
            curve.setData(edges, share)
            curve.show()
        set_view_range(plot, edges, np.array([top]), y_floor=0.0, quantize=True, hold=0.75)
        return zeros


class LossChart(ChartBase):
    """Training loss every step and test loss at each displayed frame, log y."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plot = self.make_plot(
            f"Loss: <span style='color:{OKABE_ITO['sky_blue']}'>train</span>"
            f" · <span style='color:{OKABE_ITO['orange']}'>test</span>", "step", "loss", log_y=True)
        self.plot.setToolTip("train: every batch (faint) and its running mean (thick); test: held-out set")
        self.train_raw = self.plot.plot(connect="finite")
        self.train_raw.setDownsampling(auto=True, method="peak")
        self.train_raw.setClipToView(True)
        self.train_curve = self.plot.plot(connect="finite")
        self.test_curve = self.plot.plot(connect="finite", symbol="o", symbolSize=7)
        layout.addWidget(self.plot)
        self.numbers = fixed_label(lines=2, pt=FONT_PT + 2, bold=True)   # loss and accuracy, as numbers
        self.numbers.setTextFormat(QtCore.Qt.RichText)
        self.numbers.setObjectName("lossNumbers")
        layout.addWidget(LabelSlot(self.numbers))   # new text repaints the label alone
        self._last = None
        self.clear()
        self.restyle()

    def restyle(self):
        train, test = SERIES[self._theme]
        self.train_curve.setPen(pg.mkPen(train, width=LINE_W))
        self.train_raw.setPen(pg.mkPen(blend(train, self._palette()["background"], 0.6), width=1))
        self.plot.getPlotItem().setTitle(
            f"Loss: <span style='color:{train}'>train</span> · <span style='color:{test}'>test</span>",
            size=f"{FONT_PT + 2}pt", color=self._palette()["foreground"])
        self.test_curve.setPen(pg.mkPen(test, width=LINE_W, style=QtCore.Qt.DashLine))
        self.test_curve.setSymbolBrush(pg.mkBrush(test))
        self.test_curve.setSymbolPen(pg.mkPen(test))

    def clear(self):
        self._train = _History(1)
        self._test = _History(1)
        self.train_raw.setData([], [])
        self.train_curve.setData([], [])
        self.test_curve.setData([], [])
        self._last = None
        self.numbers.setText("")

    def ingest(self, snapshot):
        self._last = snapshot
        steps, losses = _history_columns(snapshot, "history_loss", [snapshot.loss])
        new = steps > self._train.last_step
        if np.any(new):
            self._train.append(steps[new], log10_or_nan(np.asarray(losses, dtype=np.float64).reshape(-1)[new]))
        at = snapshot.metrics_step if getattr(snapshot, "metrics_step", -1) >= 0 else snapshot.step  # test loss's own step
        if math.isfinite(snapshot.test_loss) and at > self._test.last_step:
            self._test.append([at], log10_or_nan([snapshot.test_loss]))

    def redraw(self):
        super().redraw()
        t = self._train                          # log10 values already
        env_steps, env = t.envelope()
        self.train_raw.setData(env_steps, env[:, 0])
        mean_steps, means = t.means()
        self.train_curve.setData(mean_steps, means[:, 0])
        s = self._test
        test_logs = s.values[: s.n, 0]
        set_view_range(self.plot, env_steps, np.concatenate([env[:, 0], test_logs]), quantize=True)
        self.test_curve.setData(s.steps[: s.n], test_logs)
        if self._last is not None:
            self.numbers.setText(loss_accuracy_text(self._last))


class DecisionBoundaryView(ChartBase):
    """The model's output over the 2D input plane, with the training points on top."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plot = self.make_plot("Decision boundary", "x₁", "x₂")
        self.plot.setAspectLocked(True)
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.points = pg.ScatterPlotItem(size=9, pxMode=True)
        self.points.setZValue(10)
        self.plot.addItem(self.points)
        self.message = pg.TextItem(anchor=(0.5, 0.5))
        self.message.setFont(_font(FONT_PT + 2))
        self.plot.addItem(self.message)
        layout.addWidget(self.plot)
        self._data = None
        self._snapshot = None

    def set_data(self, data) -> None:
        """The run's dataset (a worker DataInfo): draw its points once."""
        self._data = data
        self._snapshot = None
        self.image.clear()
        if data is None or not data.is_2d:
            self.points.clear()
            self.message.setText("Decision boundary: 2D datasets only")
            self.message.setPos(0, 0)
            return
        self.message.setText("")
        self._draw_points()
        x0, x1, y0, y1 = data.extent
        self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def _draw_points(self):
        data = self._data
        x = data.x_train
        outline = pg.mkPen(self._palette()["background"], width=1.5)
        if data.task == "regression":
            self.points.setData(x[:, 0], x[:, 1], brush=pg.mkBrush(self._palette()["foreground"]), pen=outline)
            return
        y = np.asarray(data.y_train)
        labels = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1).astype(int)
        spots = [dict(pos=(px, py), brush=pg.mkBrush(CLASS_COLORS[c % len(CLASS_COLORS)]),
                      symbol=CLASS_SYMBOLS[c % len(CLASS_SYMBOLS)], pen=outline)
                 for px, py, c in zip(x[:, 0], x[:, 1], labels)]
        self.points.setData(spots)

    def restyle(self):
        if self._data is not None and self._data.is_2d:
            self._draw_points()

    def clear(self):
        self.set_data(None)

    def ingest(self, snapshot):
        self._snapshot = snapshot

    def redraw(self):
        super().redraw()
        s, data = self._snapshot, self._data
        if s is None or s.boundary is None or data is None or not data.is_2d:
            return
        grid = np.asarray(s.boundary, dtype=np.float64)
        if data.task == "binary":
            cmap, levels = colormap("CET-CBD1"), (0.0, 1.0)       # colour-blind-safe diverging
        elif data.task == "multiclass":
            n = max(int(np.nanmax(grid)) + 1, 2) if np.isfinite(grid).any() else 2
            cmap = pg.ColorMap(np.linspace(0, 1, n), [QtGui.QColor(CLASS_COLORS[i % 10]) for i in range(n)])
            levels = (0, n - 1)
        else:
            cmap = colormap("viridis")
            finite = grid[np.isfinite(grid)]
            levels = (float(finite.min()), float(finite.max()) + 1e-12) if finite.size else (0.0, 1.0)
        self.image.setColorMap(cmap)
        # boundary[i, j] is row i = x2 (y), column j = x1 (x); ImageItem wants [x, y]
        self.image.setImage(np.nan_to_num(grid.T, nan=levels[0]), levels=levels, autoLevels=False)
        self.image.setOpacity(0.75)
        x0, x1, y0, y1 = s.boundary_extent
        self.image.setRect(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))


class AdaptiveSplitter(QtWidgets.QSplitter):
    """Side by side when the space is wide, stacked when it is tall (docks get narrow at 1920 px)."""

    def __init__(self, wide_ratio: float = 1.4, parent=None):
        super().__init__(QtCore.Qt.Horizontal, parent)
        self.wide_ratio = wide_ratio
        self.setChildrenCollapsible(False)

    def resizeEvent(self, event):
        size = event.size()
        wanted = QtCore.Qt.Horizontal if size.width() > self.wide_ratio * size.height() else QtCore.Qt.Vertical
        if wanted != self.orientation():
            self.setOrientation(wanted)
            self.setSizes([1] * self.count())   # equal shares after a flip
        super().resizeEvent(event)


class ChartGroup(QtWidgets.QWidget):
    """A tab of charts: snapshots, clearing and themes go to every chart in ``self.charts``."""

    charts: tuple = ()

    def set_snapshot(self, snapshot):
        for c in self.charts:
            c.set_snapshot(snapshot)

    def clear(self):
        for c in self.charts:
            c.clear()

    def set_theme(self, name):
        for c in self.charts:
            c.set_theme(name)

    def on_shown(self):
        for c in self.charts:
            c.on_shown()

    def grab(self, *args):
        """A picture of the newest data, also of a tab behind another (recordings, exports)."""
        for c in self.charts:
            if c._dirty:
                c.redraw()
        return super().grab(*args)


class GradientChartsView(ChartGroup):
    """The "Gradients" tab: norm history and flow bars on top, histograms below."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.history = GradientHistoryChart()
        self.bars = GradientFlowBars()
        self.histograms = HistogramPanel()
        split = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        split.setChildrenCollapsible(False)
        top = AdaptiveSplitter(wide_ratio=1.6)
        top.addWidget(self.history)
        top.addWidget(self.bars)
        split.addWidget(top)
        split.addWidget(self.histograms)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)
        self.charts = (self.history, self.bars, self.histograms)



class TrainingView(ChartGroup):
    """The "Training" tab: loss curve and decision boundary side by side."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.loss = LossChart()
        self.boundary = DecisionBoundaryView()
        split = AdaptiveSplitter()
        split.addWidget(self.loss)
        split.addWidget(self.boundary)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)
        self.charts = (self.loss, self.boundary)

    def set_data(self, data):
        self.boundary.set_data(data)

