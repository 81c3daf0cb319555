"""Side by side: 2-4 networks trained in lockstep, as small multiples on one colour scale.

Each member gets a network graph; all of them colour their edges on **one** log scale computed
from every member's values, shown by one colour bar, so the same colour means the same number in
every graph. Below, overlaid charts: training loss, accuracy, the first/last-layer gradient ratio
over the steps, and each layer's gradient norm now. Each member is labelled by what differs and
keeps one colour and one line style everywhere (Okabe-Ito colours, and dashes, for colour-blind
viewers).

The view only reads snapshots: ``set_members(labels)`` then ``set_snapshots([s1, s2, ...])`` in
that order, from an in-process :class:`engine.lockstep.Lockstep` (``record``) or from the engine
process's frames.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from gui import colors
from gui.views.chart_base import FONT_PT, LINE_W, ChartBase, _font, left_axis_width, set_view_range, set_zero_line
from gui.views.history import _History, bucket_means, log10_or_nan, log10_zero_low, on_lane, zero_lane
from gui.views.network_graph import MODES, NetworkGraphView
from gui.widgets import font

MEMBER_COLORS = (colors.OKABE_ITO["sky_blue"], colors.OKABE_ITO["orange"], colors.OKABE_ITO["green"],
                 colors.OKABE_ITO["purple"])
MEMBER_DASHES = (QtCore.Qt.PenStyle.SolidLine, QtCore.Qt.PenStyle.DashLine, QtCore.Qt.PenStyle.DotLine,
                 QtCore.Qt.PenStyle.DashDotLine)
MEMBER_SYMBOLS = ("o", "s", "t", "d")
DASH_TEXT = ("——", "– –", "· · ·", "–·–")
HEADER_PX = 22
NUMBERS_PX = 20
TITLE_PX = 26
VERDICT_PX = 20
GRAPH_MIN_PX = 60          # a member's graph never shrinks below this (its header text gives way)
SHORT_PANEL_PX = 260       # a member panel below this height shows its label without "what differs"
MAX_RANGE_SAMPLE = 200_000   # values per member and layer looked at for the shared colour scale


def member_pen(k: int, width: float = LINE_W) -> QtGui.QPen:
    pen = pg.mkPen(MEMBER_COLORS[k % len(MEMBER_COLORS)], width=width)
    pen.setStyle(MEMBER_DASHES[k % len(MEMBER_DASHES)])
    return pen


def shared_range(snapshots, mode: str, max_decades: int = 8, previous=None) -> tuple[float, float]:
    """One log colour scale (whole decades) over every member's edge values for ``mode``.

    With ``previous``, a decade of hysteresis keeps the colour bar still while training."""
    field = MODES[mode][0]
    arrays = []
    for snap in snapshots:
        for a in getattr(snap, field):
            flat = np.abs(np.asarray(a).reshape(-1)) if mode == "weight" else np.asarray(a).reshape(-1)
            if flat.size > MAX_RANGE_SAMPLE:
                flat = flat[:: -(-flat.size // MAX_RANGE_SAMPLE)]
            arrays.append(flat)
    lo, hi = colors.decade_range(arrays, max_decades=max_decades)
    if previous is not None:
        old_lo, old_hi = previous
        if old_hi / 10.0 < hi <= old_hi:
            hi = old_hi
        if old_lo <= lo <= old_lo * 10.0 and old_lo < hi:
            lo = old_lo
        if math.log10(hi) - math.log10(lo) > max_decades:
            lo = hi * 10.0 ** -max_decades
    return lo, hi


class MemberPanel(QtWidgets.QFrame):
    """One member: its label (colour and dash as in the charts), its live numbers, its graph."""

    def __init__(self, k: int, label: str, detail: str = "", parent=None):
        super().__init__(parent)
        self.k, self.label = k, label
        self.header = QtWidgets.QLabel()
        self.header.setFont(font(HEADER_PX, bold=True, pixels=True))
        self.header.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.header.setWordWrap(True)         # a long "what differs" must not widen the window
        self.header.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.header.setMinimumWidth(10)
        self.numbers = QtWidgets.QLabel()
        self.numbers.setFont(font(NUMBERS_PX, pixels=True))
        self.numbers.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.numbers.setWordWrap(True)        # wraps in a narrow panel instead of being cut off
        self.numbers.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.numbers.setMinimumWidth(10)
        self.detail = detail
        self._short = False
        self.graph = NetworkGraphView()
        self.graph.setMinimumHeight(GRAPH_MIN_PX)   # four members under a claim bar left it 0 px
        self._compact(self.graph)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(self.numbers)
        layout.addWidget(self.graph, 1)
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        self._palette = colors.theme("dark")
        self._update_header()

    @staticmethod
    def _compact(graph: NetworkGraphView) -> None:
        """The graph without its own toolbar, colour bar, legend and note: the comparison shows
        one of each for all members."""
        toolbar = graph._toolbar
        for i in range(toolbar.count()):
            w = toolbar.itemAt(i).widget()
            if w is not None:
                w.hide()
        graph.compact_labels = True       # the member's numbers are in its header line
        # the graph's own floor (200 x 150, for the window's graph) would stay under a shorter
        # panel's graph and be cut off at its edge: the network's bottom rows were clipped
        graph.graphics.setMinimumSize(120, GRAPH_MIN_PX)
        graph.graphics.ci.setContentsMargins(2, 2, 2, 2)   # (its 14 px were for the colour bar's end ticks)
        graph.graphics.ci.removeItem(graph.color_bar)
        graph.color_bar.hide()
        for label in (graph.legend, graph.note, graph.title):
            label.hide()

    def _update_header(self) -> None:
        color = MEMBER_COLORS[self.k % len(MEMBER_COLORS)]
        muted = self._palette["muted"]
        shown = bool(self.detail) and self.detail != self.label and not self._short
        detail = (f'<span style="color:{muted}; font-weight:normal; font-size:{NUMBERS_PX}px">'
                  f' &nbsp;{self.detail}</span>') if shown else ""
        self.header.setText(f'<span style="color:{color}">{DASH_TEXT[self.k % 4]} {_html(self.label)}</span>'
                            f'{detail}')
        self.header.setToolTip(self.detail if self.detail != self.label else "")

    def resizeEvent(self, event):  # noqa: N802 (Qt override)
        """A short panel (four members under a claim bar) leaves out "what differs" (it stays in the
        header's tooltip): the label names the member, and the graph needs the lines."""
        super().resizeEvent(event)
        short = event.size().height() < SHORT_PANEL_PX
        if short != self._short:
            self._short = short
            self._update_header()

    def set_snapshot(self, snap) -> None:
        self.graph.set_snapshot(snap)
        fg = self._palette["foreground"]
        if snap.diverged:
            state = f'<b style="color:{self._palette["dead"]}">diverged at step {snap.diverged_at:,}</b>'
        else:
            acc = "" if math.isnan(snap.accuracy) else f" · accuracy {snap.accuracy:.1%}"
            state = f"loss {colors.sci(snap.loss, 3)}{acc}"
        # the step is the same for every member (lockstep), so the view shows it once, above
        self.numbers.setText(f'<span style="color:{fg}">{state} · first/last ‖∇W‖ {ratio_text(snap)}</span>')

    def set_theme(self, name: str) -> None:
        self._palette = colors.theme(name)
        self.graph.set_theme(name)
        pal = self.palette()
        pal.setColor(QtGui.QPalette.ColorRole.Window, QtGui.QColor(self._palette["background"]))
        pal.setColor(QtGui.QPalette.ColorRole.WindowText, QtGui.QColor(self._palette["foreground"]))
        self.setPalette(pal)
        self.setAutoFillBackground(True)
        self._update_header()


def ratio_text(snap) -> str:
    """The first/last gradient ratio in words when it is not a number: a dead net has no gradient."""
    r = snap.grad_ratio
    if math.isfinite(r):
        return colors.sci(r)
    norms = np.asarray(snap.grad_norms, dtype=np.float64)
    if norms.size and np.all(norms == 0):
        return "none (every gradient is 0)"
    if norms.size and norms[-1] == 0:
        return "last layer's gradient is 0"
    return "not finite"


def set_log_range(plot, x: np.ndarray, y: np.ndarray, min_decades: float = 3.0) -> None:
    """A log axis (data in log10) spanning at least ``min_decades``: a narrower one stacks the
    2..9 tick labels of one decade on top of each other."""
    fy = y[np.isfinite(y)]
    if not fy.size:
        return
    lo, hi = float(fy.min()), float(fy.max())
    if hi - lo < min_decades:
        mid = (hi + lo) / 2
        lo, hi = mid - min_decades / 2, mid + min_decades / 2
    set_view_range(plot, x, np.array([lo, hi]))


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit_tick_labels(axis) -> None:
    """Make ``axis`` choose major ticks no closer than its widest label (plus a gap): pyqtgraph's
    spacing depends on the axis length only, so big tick fonts on a narrow chart overlap."""
    GAP = 1.33
    choose = axis.tickSpacing

    def spacing(lo, hi, size):
        levels = choose(lo, hi, size)
        if not levels or hi == lo:
            return levels
        metrics = QtGui.QFontMetrics(axis.style.get("tickFont") or axis.font())
        widest = max(metrics.horizontalAdvance(axis.tickStrings([v], 1.0, levels[0][0])[0] or "0")
                     for v in (lo, hi))
        step = levels[0][0]
        # a third of a label's width between labels; at least one tick in view (two ticks that
        # run together, "200400", read as one wrong number)
        while size * step / abs(hi - lo) < GAP * widest and _next_nice(step) <= abs(hi - lo):
            step = _next_nice(step)
        return [(step, 0.0)] if step != levels[0][0] else levels

    axis.tickSpacing = spacing


def _next_nice(step: float) -> float:
    """The next of 1, 2, 5, 10, 20, 50... above ``step``."""
    exp = math.floor(math.log10(step))
    mant = step / 10 ** exp
    for nice in (2, 5, 10):
        if mant < nice - 1e-9:
            return nice * 10 ** exp
    return 20 * 10 ** exp


class CompareCharts(ChartBase):
    """Overlaid per-member charts: loss, accuracy, first/last gradient ratio, per-layer norms now."""

    min_interval_s = 0.25

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        # four charts share the width of one panel: short titles, and fewer step ticks than a full
        # chart (at presenter sizes "200400600800" ran together)
        # The title says what is plotted (no left-axis label beside it): at a quarter of the
        # centre's width, "Training loss" over a "loss" axis label was cut to "Training".
        self.loss_plot = self.make_plot("training loss", "step", "", log_y=True, title_pt=FONT_PT)
        self.acc_plot = self.make_plot("train accuracy", "step", "", title_pt=FONT_PT)
        self.ratio_plot = self.make_plot("first ÷ last ‖∇W‖", "step", "", log_y=True, title_pt=FONT_PT)
        self.norms_plot = self.make_plot("‖∇W‖ per layer", "layer (input → output)", "", log_y=True, title_pt=FONT_PT)
        for pw in self._plots:
            pw.setMinimumSize(200, 180)
            item = pw.getPlotItem()
            item.layout.removeItem(item.titleLabel)       # the title spans the axis column too
            item.layout.addItem(item.titleLabel, 0, 0, 1, 3)
            left = item.getAxis("left")
            left.showLabel(False)
            left.setWidth(left_axis_width(_font(), titled=False))
            fit_tick_labels(pw.getPlotItem().getAxis("bottom"))
            pw.getPlotItem().setMenuEnabled(False)
            layout.addWidget(pw)
        self.acc_plot.setYRange(0.0, 1.0)
        self._labels: list[str] = []
        self.clear()

    def set_members(self, labels: list[str]) -> None:
        for pw in self._plots:
            pw.getPlotItem().clear()
        self._labels = list(labels)
        K = len(labels)
        mk = lambda pw, **kw: [pw.plot(connect="finite", **kw) for _ in range(K)]  # noqa: E731
        self.loss_raw = mk(self.loss_plot)
        self.loss_curves = mk(self.loss_plot)
        self.acc_curves = mk(self.acc_plot, symbolSize=5)   # measured at frames only: show where
        self.ratio_curves = mk(self.ratio_plot)
        self.norm_curves = mk(self.norms_plot)
        for c in self.loss_raw:
            c.setDownsampling(auto=True, method="peak")
            c.setClipToView(True)
        self.clear()
        self.restyle()

    def restyle(self) -> None:
        if not self._labels:
            return
        bg = self._palette()["background"]
        from gui.views.chart_base import blend
        for k in range(len(self._labels)):
            pen = member_pen(k)
            for curves in (self.loss_curves, self.acc_curves, self.ratio_curves, self.norm_curves):
                curves[k].setPen(pen)
            faint = pg.mkPen(blend(MEMBER_COLORS[k % 4], bg, 0.3), width=1)
            self.loss_raw[k].setPen(faint)
            self.norm_curves[k].setSymbol(MEMBER_SYMBOLS[k % 4])
            self.norm_curves[k].setSymbolSize(11)
            self.norm_curves[k].setSymbolBrush(pg.mkBrush(MEMBER_COLORS[k % 4]))
            self.norm_curves[k].setSymbolPen(pg.mkPen(bg))
            self.acc_curves[k].setSymbol(MEMBER_SYMBOLS[k % 4])
            self.acc_curves[k].setSymbolBrush(pg.mkBrush(MEMBER_COLORS[k % 4]))
            self.acc_curves[k].setSymbolPen(pg.mkPen(MEMBER_COLORS[k % 4]))

    def clear(self) -> None:
        K = len(self._labels)
        self._loss = [_History(1) for _ in range(K)]
        self._ratio = [_History(1) for _ in range(K)]
        self._acc = [_History(1) for _ in range(K)]
        self._norms_now: list[np.ndarray] = [np.zeros(0) for _ in range(K)]
        self._diverged = [False] * K
        for curves in ("loss_raw", "loss_curves", "acc_curves", "ratio_curves", "norm_curves"):
            for c in getattr(self, curves, []):
                c.setData([], [])

    def ingest_all(self, snapshots) -> None:
        for k, snap in enumerate(snapshots[: len(self._labels)]):
            steps = np.asarray(snap.history_steps, dtype=np.float64)
            if len(steps):
                # the loss of step s is measured before its update: plot it at s, as the other charts do
                new = steps > self._loss[k].last_step
                if np.any(new):
                    self._loss[k].append(steps[new], np.asarray(snap.history_loss)[new])
                    gn = np.asarray(snap.history_grad_norms, dtype=np.float64)[new]
                    with np.errstate(all="ignore"):
                        ratio = np.where(gn[:, -1] > 0, gn[:, 0] / np.where(gn[:, -1] > 0, gn[:, -1], 1), np.nan)
                    self._ratio[k].append(steps[new], ratio)
            elif snap.step > self._loss[k].last_step:
                self._loss[k].append([snap.step], [snap.loss])
                self._ratio[k].append([snap.step], [snap.grad_ratio])
            if not math.isnan(snap.accuracy) and snap.step > self._acc[k].last_step:
                self._acc[k].append([snap.step], [snap.accuracy])
            self._norms_now[k] = np.asarray(snap.grad_norms, dtype=np.float64)
            self._diverged[k] = bool(snap.diverged)

    def set_snapshots(self, snapshots) -> None:
        self.ingest_all(snapshots)
        self._dirty = True
        self.set_snapshot(None)

    def ingest(self, snapshot) -> None:   # set_snapshot(None) above: the data are already in
        pass

    def redraw(self) -> None:
        super().redraw()
        all_steps, all_loss, all_ratio, all_layers, all_norms = [], [], [], [], []
        # exact zeros (a dead member's gradients, a ratio of 0) on each log chart's "0" line
        ratios = [log10_zero_low(r.values[: r.n]) for r in self._ratio]
        norms_now = [log10_zero_low(n) for n in self._norms_now]
        ratio_lane = zero_lane(np.concatenate([v.reshape(-1) for v in ratios] + [np.zeros(0)]))
        norms_lane = zero_lane(np.concatenate([v.reshape(-1) for v in norms_now] + [np.zeros(0)]))
        set_zero_line(self.ratio_plot, ratio_lane)
        set_zero_line(self.norms_plot, norms_lane)
        for k in range(len(self._labels)):
            h = self._loss[k]
            steps, logs = h.steps[: h.n], log10_or_nan(h.values[: h.n])
            self.loss_raw[k].setData(steps, logs[:, 0])
            ms, means = bucket_means(steps, logs)
            self.loss_curves[k].setData(ms, means[:, 0])
            r = self._ratio[k]
            rs = r.steps[: r.n]
            mrs, rmeans = bucket_means(rs, ratios[k])
            rmeans = on_lane(rmeans, ratio_lane)
            self.ratio_curves[k].setData(mrs, rmeans[:, 0])
            a = self._acc[k]
            self.acc_curves[k].setData(a.steps[: a.n], a.values[: a.n, 0])
            norms = on_lane(norms_now[k], norms_lane)
            layers = np.arange(1, len(norms) + 1, dtype=np.float64)
            ok = np.isfinite(norms)      # no NaN spots: a diverged member has no norms to draw
            self.norm_curves[k].setData(layers[ok], norms[ok])
            all_steps.append(steps)
            # a diverged member's exploding loss would squash the others flat: the axis follows the
            # members that still train (its line runs off the top)
            all_loss.append(means[:, 0] if not self._diverged[k] or all(self._diverged) else np.full(1, np.nan))
            all_ratio.append(rmeans[:, 0])
            all_layers.append(layers)
            all_norms.append(norms)
        if all_steps:
            steps = np.concatenate(all_steps)
            set_view_range(self.loss_plot, steps, np.concatenate(all_loss + [np.full(1, np.nan)]))
            set_log_range(self.ratio_plot, steps, np.concatenate(all_ratio))
            acc_steps = np.concatenate([a.steps[: a.n] for a in self._acc])
            if acc_steps.size:
                self.acc_plot.setRange(xRange=(float(acc_steps.min()), float(max(acc_steps.max(), 1))),
                                       yRange=(0.0, 1.0), padding=0.03)
            set_log_range(self.norms_plot, np.concatenate(all_layers), np.concatenate(all_norms))


class CompareView(QtWidgets.QWidget):
    """Small multiples of the network graph on one colour scale, overlaid charts, claim verdicts."""

    sigModeChanged = QtCore.Signal(str)

    def __init__(self, parent=None, max_decades: int = 8):
        super().__init__(parent)
        self.max_decades = max_decades
        self._theme = "dark"
        self._mode = "gradient"
        self._range: tuple[float, float] | None = None
        self._snapshots: list = []
        self._generation = None
        self.panels: list[MemberPanel] = []

        self.title = QtWidgets.QLabel()
        self.title.setFont(font(TITLE_PX, bold=True, pixels=True))
        self.title.setWordWrap(True)
        self.mode_combo = QtWidgets.QComboBox()
        self.mode_combo.setFont(font(NUMBERS_PX, pixels=True))
        for mode, (_, symbol, words) in MODES.items():
            self.mode_combo.addItem(f"edges: {words} {symbol}", mode)
        self.mode_combo.currentIndexChanged.connect(lambda i: self.set_mode(self.mode_combo.itemData(i)))
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.mode_combo)

        self.grid_host = QtWidgets.QWidget()
        self.grid = QtWidgets.QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(6)
        self.bar_widget = pg.GraphicsLayoutWidget()
        self.bar_widget.setFixedWidth(112)
        self.bar_widget.ci.setContentsMargins(2, 16, 2, 16)
        self.color_bar = colors.log_color_bar(colors.edge_colormap("dark"), 1e-6, 1.0, label="|dL/dw| (log)",
                                              font_pt=13)
        self.bar_widget.addItem(self.color_bar)
        graphs = QtWidgets.QHBoxLayout()
        graphs.setSpacing(4)
        graphs.addWidget(self.grid_host, 1)
        graphs.addWidget(self.bar_widget)
        graphs_host = QtWidgets.QWidget()
        graphs_host.setLayout(graphs)

        self.charts = CompareCharts()
        self.key = QtWidgets.QLabel()           # the charts' legend, outside the data
        self.key.setFont(font(NUMBERS_PX, bold=True, pixels=True))
        self.key.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.key.setWordWrap(True)              # one long legend line set the window wider than the screen
        self.key.setMinimumWidth(10)
        charts_host = QtWidgets.QWidget()
        charts_box = QtWidgets.QVBoxLayout(charts_host)
        charts_box.setContentsMargins(0, 0, 0, 0)
        charts_box.setSpacing(2)
        charts_box.addWidget(self.key)
        charts_box.addWidget(self.charts, 1)
        self.verdicts = QtWidgets.QLabel()
        self.verdicts.setFont(font(VERDICT_PX, pixels=True))
        self.verdicts.setWordWrap(True)
        self.verdicts.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.verdicts.hide()
        self.scale_note = QtWidgets.QLabel()
        self.scale_note.setFont(font(NUMBERS_PX, pixels=True))
        self.scale_note.setWordWrap(True)     # one long line set the comparison's minimum width
        self.scale_note.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.scale_note.setMinimumWidth(10)

        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(graphs_host)
        split.addWidget(charts_host)
        split.setStretchFactor(0, 7)      # the graphs are the picture; the charts get about 30%
        split.setStretchFactor(1, 3)
        self.split = split
        split.splitterMoved.connect(lambda *_: setattr(self, "_user_split", True))
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.scale_note)
        layout.addWidget(split, 1)
        layout.addWidget(self.verdicts)
        self.setAutoFillBackground(True)
        self.set_theme("dark")

    # ----- members and data -----
    def resizeEvent(self, event):  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        total = sum(self.split.sizes())
        if total > 0 and not getattr(self, "_user_split", False):
            self.split.setSizes([int(total * 0.68), total - int(total * 0.68)])

    def set_members(self, labels: list[str], details: list[str] | None = None, title: str = "") -> None:
        """Build one panel per member (2-4), labelled by what differs; forgets the previous run."""
        for panel in self.panels:
            self.grid.removeWidget(panel)
            panel.graph.shutdown()        # its edge-render thread goes with it
            panel.deleteLater()
        details = details or [""] * len(labels)
        self.panels = [MemberPanel(k, label, detail) for k, (label, detail) in enumerate(zip(labels, details))]
        cols = 2 if len(labels) == 4 else len(labels)
        for k, panel in enumerate(self.panels):
            panel.set_theme(self._theme)
            panel.graph.set_mode(self._mode)
            self.grid.addWidget(panel, k // cols, k % cols)
        self.title.setText(title)
        self.title.setVisible(bool(title))
        self.charts.set_members(labels)
        self._update_key()
        self._range = None
        self._snapshots = []
        self.set_verdicts([])

    def set_frame(self, frame, labels: list[str] | None = None, title: str = "") -> None:
        """Show a frame of the engine process (``gui.frames.Frame``: ``generation``, ``configs``,
        ``snapshots`` per member). A new generation (new members, or a reset) starts the view over;
        without ``labels`` each member is labelled by the Config fields that differ."""
        configs = list(frame.configs)
        if frame.generation != self._generation or len(self.panels) != len(frame.snapshots):
            from engine.lockstep import differences, member_labels
            keys = differences(configs)
            details = [", ".join(f"{k}={getattr(c, k)}" for k in keys) for c in configs]
            self.set_members(labels or member_labels(configs), details, title)
            self._generation = frame.generation
        self.set_snapshots(frame.snapshots)

    def shutdown(self) -> None:
        """Stop the member graphs' helper threads (the window is closing)."""
        for panel in self.panels:
            panel.graph.shutdown()

    def labels(self) -> list[str]:
        return [p.label for p in self.panels]

    def set_snapshots(self, snapshots) -> None:
        """Show one snapshot per member (members' order); their history goes to the charts."""
        snapshots = list(snapshots)
        if len(snapshots) != len(self.panels):
            raise ValueError(f"{len(snapshots)} snapshots for {len(self.panels)} members")
        self._snapshots = snapshots
        self._range = shared_range(snapshots, self._mode, self.max_decades, self._range)
        for panel, snap in zip(self.panels, snapshots):
            panel.graph.set_fixed_range(self._range)
            panel.set_snapshot(snap)
        self._update_color_bar()
        self.charts.set_snapshots(snapshots)

    def color_range(self) -> tuple[float, float] | None:
        """The one colour scale every member's graph uses now."""
        return self._range

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self._mode = mode
        with QtCore.QSignalBlocker(self.mode_combo):
            self.mode_combo.setCurrentIndex(list(MODES).index(mode))
        self._range = None
        for panel in self.panels:
            panel.graph.set_mode(mode)
        if self._snapshots:
            self.set_snapshots(self._snapshots)
        self.sigModeChanged.emit(mode)

    def set_verdicts(self, verdicts) -> None:
        """Claim lines: engine.claims.Verdict objects (text, holds, value, op, threshold, step)."""
        if not verdicts:
            self.verdicts.hide()
            return
        pal = colors.theme(self._theme)
        lines = []
        for v in verdicts:
            from engine.claims import format_value
            mark, color = {True: ("✓", colors.OKABE_ITO["green"]), False: ("✗", colors.OKABE_ITO["vermillion"]),
                           None: ("?", pal["muted"])}[v.holds]
            measured = f"{format_value(v.value)} {v.op} {format_value(v.threshold)}"
            step = f" at step {v.step:,}" if v.step is not None else ""
            lines.append(f'<span style="color:{color}; font-weight:bold">{mark}</span> '
                         f'<span style="color:{pal["foreground"]}">{_html(v.text)}</span> '
                         f'<span style="color:{pal["muted"]}">({_html(measured)}{step})</span>')
        self.verdicts.setText("<br>".join(lines))
        self.verdicts.show()

    def draw_now(self) -> None:
        """Redraw the charts at once (recording), instead of at their throttled rate."""
        self.charts.redraw()

    def grab(self, *args):
        """A picture with the latest colours (graphs drawn directly, charts redrawn)."""
        self.draw_now()
        import contextlib
        with contextlib.ExitStack() as stack:
            for panel in self.panels:
                stack.enter_context(panel.graph.edges.exact())
            return super().grab(*args)

    # ----- look -----
    def _update_key(self) -> None:
        pal = colors.theme(self._theme)
        parts = [f'<span style="color:{MEMBER_COLORS[k % 4]}">{DASH_TEXT[k % 4]} {_html(p.label)}</span>'
                 for k, p in enumerate(self.panels)]
        self.key.setText(f'<span style="color:{pal["muted"]}; font-weight:normal">charts: </span>'
                         + " &nbsp;&nbsp; ".join(parts)
                         + f'<span style="color:{pal["muted"]}; font-weight:normal"> &nbsp; (loss: '
                           f'thick = mean of recent steps, faint = every step; ratio: mean of recent steps)</span>')

    def _update_color_bar(self) -> None:
        lo, hi = self._range or (1e-6, 1.0)
        symbol = MODES[self._mode][1]
        colors.set_log_color_bar_range(self.color_bar, lo, hi)
        pal = colors.theme(self._theme)
        axis = self.color_bar.getAxis("left")
        axis.setLabel(f"{symbol} (log)", color=pal["foreground"])
        steps = [s.step for s in self._snapshots if not s.diverged]
        step = f"step {max(steps):,} · " if steps else ""
        self.scale_note.setText(f"{step}one colour scale for all {len(self.panels)} networks: {symbol} from "
                                f"{colors.sci(lo)} to {colors.sci(hi)} · same data and batches for every member")

    def set_theme(self, name: str) -> None:
        self._theme = name
        pal = colors.theme(name)
        qpal = self.palette()
        qpal.setColor(QtGui.QPalette.ColorRole.Window, QtGui.QColor(pal["background"]))
        qpal.setColor(QtGui.QPalette.ColorRole.WindowText, QtGui.QColor(pal["foreground"]))
        self.setPalette(qpal)
        for label in (self.title, self.verdicts, self.scale_note, self.key):
            label.setPalette(qpal)
        self.bar_widget.setBackground(pal["background"])
        self.color_bar.setColorMap(colors.edge_colormap(name))
        colors.style_color_bar(self.color_bar, pal)
        for panel in self.panels:
            panel.set_theme(name)
        self.charts.set_theme(name)
        self._update_key()
        if self._range is not None:
            self._update_color_bar()
