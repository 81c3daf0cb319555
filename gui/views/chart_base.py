"""What every chart of the window shares: :class:`ChartBase` (a widget of paced pyqtgraph plots that
redraws only while visible, with theme and text-scale handling), projector-legible fonts and axes,
log ticks with a "0" lane, depth colours, and view ranges that move only a notch at a time
(``nice_bounds``). The charts themselves are in gui/views/charts.py.

Log axes are drawn the pyqtgraph way without warnings: data go in as log10 values (non-positive
values become NaN and break the line) and the axis labels the ticks as powers of ten.
"""
from __future__ import annotations

import contextlib
import functools
import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from gui.colors import colormap, legible_range, theme
from gui.widgets import font, is_shown

FONT_PT = 14          # projector-legible labels and ticks
LINE_W = 3


def set_zero_line(plot, lane: float | None) -> None:
    """Label the log axis's "0" line at ``lane`` (None: no zero drawn, no "0" tick)."""
    axis = plot.getPlotItem().getAxis("left")
    if lane != axis.gfl_zero:
        axis.gfl_zero = lane
        axis.picture = None          # its tick text is laid out again
        axis.update()


def faint(color, alpha: int = 70) -> QtGui.QColor:
    c = QtGui.QColor(color)
    c.setAlpha(alpha)
    return c


def blend(color, background, share: float = 0.35) -> QtGui.QColor:
    """An opaque colour ``share`` of the way from ``background`` to ``color`` (cheaper than alpha)."""
    c, b = QtGui.QColor(color), QtGui.QColor(background)
    return QtGui.QColor.fromRgbF(*(b_ + share * (c_ - b_) for c_, b_ in
                                   zip((c.redF(), c.greenF(), c.blueF()), (b.redF(), b.greenF(), b.blueF()))))


def fixed_label(lines: int = 2, pt: int = FONT_PT, bold: bool = False) -> QtWidgets.QLabel:
    """A word-wrapped label of constant height: new text never re-lays out (and repaints) the plots."""
    label = QtWidgets.QLabel()
    label.setFont(_font(pt, bold))
    label.setWordWrap(True)
    label.setFixedHeight(QtGui.QFontMetrics(label.font()).lineSpacing() * lines + 4)
    label.gfl_lines = lines   # gui.textscale keeps the height in step with the font
    return label


def depth_colors(n: int, theme_name: str) -> list[QtGui.QColor]:
    """One colour per layer, input side first, from viridis (colour-blind-safe, ordered by lightness).

    The map's end that would vanish into the background is left out.
    """
    return [QtGui.QColor(c) for c in _depth_colors(n, theme_name)]


@functools.lru_cache(maxsize=64)
def _depth_colors(n: int, theme_name: str) -> tuple[QtGui.QColor, ...]:
    # finding the legible range walks the map in contrast steps (~20 ms): once per (n, theme)
    lo, hi = legible_range("viridis", theme(theme_name)["background"], 3.0)
    cmap = colormap("viridis")
    positions = np.linspace(lo, hi, n) if n > 1 else np.array([0.5 * (lo + hi)])
    return tuple(cmap.map(float(p), mode="qcolor") for p in positions)


def log_ticks(lo: float, hi: float, size: float, axis=None) -> list:
    """Ticks for a log axis (values in log10 units) that never stack: whole decades, thinned to fit
    the axis length; inside a single decade 1-2-5 steps. NaN/inf ranges give no ticks at all."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return []
    font_px = 20
    if axis is not None and axis.style.get("tickFont") is not None:
        font_px = max(QtGui.QFontInfo(axis.style["tickFont"]).pixelSize(), 8)
    room = max(1, int(size / (2.2 * font_px)))          # labels at least ~2 lines apart
    decades = list(range(math.ceil(lo), math.floor(hi) + 1))
    if len(decades) >= 2:
        step = max(1, math.ceil(len(decades) / room))
        return [(float(step), [float(d) for d in decades if d % step == 0])]
    values = [math.log10(m) + k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)]
    values = [v for v in values if lo <= v <= hi]
    if len(values) > room:
        values = [v for v in values if abs(v - round(v)) < 1e-9] or values[:1]
    return [(None, values)]


def _with_zero(ticks: list, axis, lo: float, hi: float) -> list:
    """The log axis's ticks, with the "0" line's own tick when one is drawn (and in view): the
    decade ticks next to it are dropped, so "0" never sits on a "10⁻⁹"."""
    zero = getattr(axis, "gfl_zero", None)
    if zero is None or not lo <= zero <= hi:
        return ticks
    kept = [(spacing, [v for v in values if v > zero + 0.5]) for spacing, values in ticks]
    return kept + [(None, [zero])]


def left_axis_width(tick_font: QtGui.QFont, label_font: QtGui.QFont | None = None, titled: bool = True) -> int:
    """Room for the widest tick ("10⁻¹⁰") and the rotated axis title beside it (``titled``): titles
    never overlap ticks."""
    ticks = QtGui.QFontMetrics(tick_font).horizontalAdvance("−10⁻¹⁰")
    if not titled:
        return int(ticks + 12)
    title = QtGui.QFontMetrics(label_font or tick_font).height()
    return int(ticks + title + 22)


def layer_name(i: int, n: int) -> str:
    side = " (input)" if i == 0 else (" (output)" if i == n - 1 else "")
    return f"W{i + 1}{side}"


def _font(pt: int = FONT_PT, bold: bool = False) -> QtGui.QFont:
    return font(pt, bold)


CHART_SHARE = 0.05    # each chart's redraws and paints take at most about this share of a core


class _PacedPlotWidget(pg.PlotWidget):
    """A PlotWidget that counts the CPU time of its paints (its chart reads it: see ChartBase).

    It keeps no reference to its chart: a reference cycle would leave the plot's parentless
    pyqtgraph widgets (menus) to the garbage collector, which deletes them at a random moment."""

    paint_cpu = 0.0

    def paintEvent(self, event):
        t0 = time.thread_time()
        super().paintEvent(event)
        self.paint_cpu += time.thread_time() - t0


class ChartBase(QtWidgets.QWidget):
    """A widget holding one or more pyqtgraph plots that share styling and theme handling.

    Pacing: a chart redraws at most every ``min_interval_s``, and never more often than keeps its
    redraws and the paints that follow them to ``CHART_SHARE`` of a core (its own measured CPU
    time), so a slow chart on a loaded machine shows the newest data a little less often instead
    of making the GUI fall behind. The data are still taken every frame.
    """

    # Redraw at most this often; the data are still taken every frame. A chart repaint costs
    # 10-25 ms on 2 cores (axes, thick lines), so charts run at 5-10 Hz and the network graph,
    # the centre of attention, keeps the display rate.
    min_interval_s = 0.2

    def __init__(self, parent=None):
        super().__init__(parent)
        self._theme = "dark"
        self._plots: list[pg.PlotWidget] = []
        self._legends: list[pg.LegendItem] = []
        self._dirty = False
        self._last_draw = -math.inf
        self._cycle_cpu = 0.0           # smoothed CPU seconds of one redraw and its paints
        self.paint_guard = contextlib.nullcontext   # the window sets its "training, hold on" guard
        self._later = QtCore.QTimer(self)       # throttled charts draw the newest data a bit later
        self._later.setSingleShot(True)
        self._later.timeout.connect(self._redraw_if_dirty)

    def make_plot(self, title: str, xlabel: str, ylabel: str, log_y: bool = False,
                  title_pt: int = FONT_PT + 2) -> pg.PlotWidget:
        pw = _PacedPlotWidget()
        pw.setMinimumSize(240, 200)
        item = pw.getPlotItem()
        item.setTitle(title, size=f"{title_pt}pt")
        item.showGrid(x=True, y=True, alpha=0.25)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.enableAutoSIPrefix(False)  # a log axis would read "loss (x0.001)" and 5·10²
            axis.setStyle(tickFont=_font(), tickTextOffset=6)
            axis.label.setFont(_font())
            # Cached as a pixmap: an axis (with its grid, which spans the plot) is re-painted only
            # when its range or style changes, not whenever a curve over it moves. Playing an
            # axis's recorded tick text costs ~5 ms a paint; blitting the pixmap, a fraction.
            axis.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        item.titleLabel.item.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        item.getAxis("left").setWidth(left_axis_width(_font()))
        item.setLabel("bottom", xlabel)
        item.setLabel("left", ylabel)
        if log_y:
            axis = item.getAxis("left")
            axis.setLogMode(True)
            axis.gfl_zero = None          # the value of the "0" line (zero_lane), when one is drawn
            axis.logTickValues = lambda lo, hi, size, std, a=axis: _with_zero(log_ticks(lo, hi, size, a), a, lo, hi)
            strings = axis.logTickStrings
            axis.logTickStrings = lambda values, scale, spacing, a=axis, f=strings: [
                "0" if a.gfl_zero is not None and abs(v - a.gfl_zero) < 1e-9 else t
                for v, t in zip(values, f(values, scale, spacing))]
        item.setMenuEnabled(True)
        self._plots.append(pw)
        return pw

    def add_legend(self, plot: pg.PlotWidget, offset=(-10, 10)) -> pg.LegendItem:
        legend = plot.getPlotItem().addLegend(offset=offset, labelTextSize=f"{FONT_PT}pt")
        self._legends.append(legend)
        return legend

    def set_theme(self, name: str) -> None:
        self._theme = name
        palette = theme(name)
        for pw in self._plots:
            pw.setBackground(palette["background"])
            item = pw.getPlotItem()
            item.titleLabel.setText(item.titleLabel.text, color=palette["foreground"])
            for axis_name in ("left", "bottom"):
                axis = item.getAxis(axis_name)
                axis.setPen(pg.mkPen(palette["muted"], width=1))
                axis.setTextPen(pg.mkPen(palette["foreground"]))
                axis.label.setDefaultTextColor(QtGui.QColor(palette["foreground"]))
        for legend in self._legends:
            legend.setBrush(pg.mkBrush(faint(palette["background"], 200)))
            legend.setPen(pg.mkPen(palette["muted"]))
            legend.setLabelTextColor(palette["foreground"])
            for _sample, label in legend.items:
                label.setText(label.text, color=palette["foreground"])
        self.restyle()
        self.redraw()

    def restyle(self) -> None:
        """Recolour data items after a theme change (subclasses)."""

    def set_snapshot(self, snapshot) -> None:
        """Take the snapshot's data now; redraw and paint in an event of their own, at most every
        ``min_interval_s``, so no single pass of the event loop draws every chart at once."""
        self.ingest(snapshot)
        self._dirty = True
        if self.isVisible() and not self._later.isActive():   # behind another tab: the timer finds it so
            wait = self._last_draw + self.interval_s() - time.perf_counter()
            self._later.start(int(max(0.0, wait) * 1000))

    def paint_cpu(self) -> float:
        """CPU seconds this chart's plots spent painting since its last redraw."""
        return sum(getattr(pw, "paint_cpu", 0.0) for pw in self._plots)

    def interval_s(self) -> float:
        """Seconds between redraws now: ``min_interval_s``, or longer while this chart's measured
        cost would take more than ``CHART_SHARE`` of a core."""
        return max(self.min_interval_s, min(self._cycle_cpu / CHART_SHARE, 2.0))

    def _redraw_if_dirty(self):
        if self._dirty and self.isVisible() and not is_shown(self):
            self._later.start(int(self.interval_s() * 1000))   # behind a tab, or not laid out yet
            return
        if self._dirty and self.isVisible():
            t0 = time.thread_time()
            with self.paint_guard():
                self.redraw()
            cost = self.paint_cpu() + time.thread_time() - t0   # this redraw + the last one's paints
            for pw in self._plots:
                pw.paint_cpu = 0.0
            self._cycle_cpu = cost if self._cycle_cpu == 0 else 0.7 * self._cycle_cpu + 0.3 * cost

    def ingest(self, snapshot) -> None:
        """Take what this chart needs from the snapshot (always, even when hidden)."""

    def redraw(self) -> None:
        self._dirty = False
        self._last_draw = time.perf_counter()

    def clear(self) -> None:
        """Forget the previous run."""

    def showEvent(self, event):
        super().showEvent(event)
        self.on_shown()

    def on_shown(self) -> None:
        """Shown again (or its tab came to the front): draw what was skipped meanwhile."""
        if self._dirty:
            self._later.start(0)

    def _palette(self):
        return theme(self._theme)


def nice_bounds(lo: float, hi: float, share: float = 0.2) -> tuple[float, float]:
    """``lo`` rounded down and ``hi`` rounded up to multiples of ``share`` times the span's power of
    ten (0..16,014 -> 0..18,000): a growing history moves its axis a notch at a time, and the axes
    (tick text, grid) are laid out again only then, not at every frame."""
    span = hi - lo
    if not (math.isfinite(lo) and math.isfinite(hi)) or span <= 0:
        return lo, hi
    q = share * 10.0 ** math.floor(math.log10(span))
    return math.floor(lo / q + 1e-9) * q, math.ceil(hi / q - 1e-9) * q


def _holds(old: tuple[float, float], new: tuple[float, float], fill: float) -> bool:
    """The data range ``new`` lies inside ``old`` and covers at least ``fill`` of it."""
    return old[0] <= new[0] and new[1] <= old[1] and (new[1] - new[0]) >= fill * (old[1] - old[0])


def set_view_range(plot: pg.PlotWidget, x: np.ndarray, y: np.ndarray, y_floor: float | None = None,
                   quantize: bool = False, hold: float | None = None) -> None:
    """Set the range from the data here, not by auto-range during paint (which dirties the plot
    again and costs a second, unguarded paint). ``quantize``: to :func:`nice_bounds`, so the range
    (and with it the axes) changes only when the data outgrow it. ``hold``: keep the last range
    while the data stay inside it and fill at least this share of it on each axis (for data that
    wander, like histograms). An unchanged range is not set again (setting one costs every item on
    the plot a view-changed pass)."""
    fx, fy = x[np.isfinite(x)], y[np.isfinite(y)]
    if not fx.size or not fy.size:
        return
    lo = float(fy.min()) if y_floor is None else y_floor
    hi = float(fy.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    x0, x1 = float(fx.min()), float(fx.max())
    if x1 <= x0:
        x1 = x0 + 1
    last = getattr(plot, "_gfl_range", None)   # (what was asked, the range it gave)
    if (hold is not None and last is not None and _holds(last[0][:2], (x0, x1), hold)
            and _holds(last[0][2:], (lo, hi), hold)):
        (x0, x1, lo, hi) = last[0]
    elif quantize:
        (x0, x1), (lo, hi) = nice_bounds(x0, x1), nice_bounds(lo, hi)
    wanted = (x0, x1, lo, hi)
    if last is not None and last[0] == wanted and last[1] == plot.viewRange():
        return                                  # nothing new, and nobody zoomed or panned since
    plot.setRange(xRange=(x0, x1), yRange=(lo, hi), padding=0.03)
    plot._gfl_range = (wanted, plot.viewRange())
