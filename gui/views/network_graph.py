"""The network graph: nodes in layer columns, every edge coloured by a live magnitude.

Edges are coloured by |dL/dw| (or |w|, or the last update |dw|) on one logarithmic scale shared by
all layers, so a vanishing gradient shows as edges fading from the output towards the input. Nodes
show the mean |activation|; dead and saturated units get big markers that differ in shape and
colour. Edges are drawn by one :class:`EdgeItem` that sorts them into colour bins and issues one
``QPainter.drawLines`` per bin (see DESIGN.md: an item per edge is 50-100x slower).
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import shiboken6
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from gui import colors

MODES = {
    # mode: (Snapshot field, symbol used in labels, words for the combo box)
    "gradient": ("edge_grads", "|dL/dw|", "gradient |dL/dw|"),
    "weight": ("weights", "|w|", "weight |w|"),
    "update": ("edge_updates", "|Δw|", "last update |Δw|"),
}
EDGE_LIMIT = 20_000       # above this many edges, draw each layer's strongest (see DESIGN.md)
N_BINS = 64               # colour bins: one drawLines call each
SATURATED_SHARE = 0.5     # a unit is marked saturated when saturated for more than this share of the batch
LABEL_PT = 20             # projector-legible text sizes (layer names, title)
SMALL_PT = 16             # numbers, colour-bar ticks, legend, hover
_LINE_BYTES = 32          # a QLineF is four doubles


def layer_names(n_columns: int) -> list[str]:
    """``["input", "h1", ..., "output"]`` for a network drawn with ``n_columns`` columns."""
    return ["input"] + [f"h{k}" for k in range(1, n_columns - 1)] + ["output"]


class GraphGeometry:
    """Where the nodes of a network with these layer sizes sit: column ``c`` at ``x = c``.

    Units are spread over ``y`` in [0, 1] with one spacing for all columns (unit 0 at the top).
    """

    def __init__(self, sizes: tuple[int, ...]):
        self.sizes = tuple(int(s) for s in sizes)
        self.spacing = 1.0 / max(max(self.sizes), 4)
        self.x = np.arange(len(self.sizes), dtype=np.float64)
        self.ys = [0.5 + ((n - 1) / 2.0 - np.arange(n)) * self.spacing for n in self.sizes]
        self.edge_counts = [a * b for a, b in zip(self.sizes[:-1], self.sizes[1:])]
        self.n_edges = int(sum(self.edge_counts))
        self.names = layer_names(len(self.sizes))
        self._all_lines: np.ndarray | None = None

    @property
    def n_layers(self) -> int:
        """Weight layers (edges between columns ``l`` and ``l + 1``)."""
        return len(self.sizes) - 1

    def node_positions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """x, y, column and unit of every node, column by column."""
        xs = np.concatenate([np.full(n, c, dtype=np.float64) for c, n in enumerate(self.sizes)])
        ys = np.concatenate(self.ys)
        cols = np.concatenate([np.full(n, c, dtype=np.intp) for c, n in enumerate(self.sizes)])
        units = np.concatenate([np.arange(n) for n in self.sizes])
        return xs, ys, cols, units

    def lines(self, layer: int, flat: np.ndarray | None = None) -> np.ndarray:
        """(n, 4) ``x0, y0, x1, y1`` of the edges of weight layer ``layer`` (flat index ``i * fan_out + j``)."""
        fan_out = self.sizes[layer + 1]
        if flat is None:
            flat = np.arange(self.edge_counts[layer])
        i, j = np.divmod(flat, fan_out)
        out = np.empty((len(flat), 4), dtype=np.float64)
        out[:, 0] = self.x[layer]
        out[:, 1] = self.ys[layer][i]
        out[:, 2] = self.x[layer + 1]
        out[:, 3] = self.ys[layer + 1][j]
        return out

    def all_lines(self) -> np.ndarray:
        """Every edge, layer by layer (cached; only for networks under the edge limit)."""
        if self._all_lines is None:
            self._all_lines = np.concatenate([self.lines(l) for l in range(self.n_layers)])
        return self._all_lines

    def bounds(self) -> QtCore.QRectF:
        top = 0.5 + (max(self.sizes) - 1) / 2.0 * self.spacing
        return QtCore.QRectF(0.0, 1.0 - top, float(self.x[-1]), 2 * top - 1.0)


class EdgeItem(pg.GraphicsObject):
    """Every drawn edge in one item: lines pre-sorted by colour bin, one ``drawLines`` per bin."""

    def __init__(self):
        super().__init__()
        self._lines = np.zeros((0, 4), dtype=np.float64)
        self._starts = np.zeros(N_BINS + 1, dtype=np.intp)
        self._pens: list[QtGui.QPen] = []
        self._rect = QtCore.QRectF()

    def set_bounds(self, rect: QtCore.QRectF) -> None:
        self.prepareGeometryChange()
        self._rect = QtCore.QRectF(rect)

    def set_lines(self, lines: np.ndarray, starts: np.ndarray, pens: list[QtGui.QPen]) -> None:
        """``lines`` (n, 4) float64 sorted by bin; bin ``b`` is ``lines[starts[b]:starts[b + 1]]``."""
        self._lines = np.ascontiguousarray(lines, dtype=np.float64)
        self._starts = starts
        self._pens = pens
        self.update()

    def paint(self, painter, option, widget=None):
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, False)
        lines, starts = self._lines, self._starts
        if not len(lines) or not self._pens:
            return
        base = lines.ctypes.data
        for b in range(len(self._pens)):  # coldest first: the hottest edges end on top
            s, e = int(starts[b]), int(starts[b + 1])
            if e > s:
                painter.setPen(self._pens[b])
                painter.drawLines(shiboken6.wrapInstance(base + s * _LINE_BYTES, QtCore.QLineF), e - s)

    def boundingRect(self):
        pad = 0.05
        return self._rect.adjusted(-pad, -pad, pad, pad)


def _font(pt: int, bold: bool = False) -> QtGui.QFont:
    font = QtGui.QFont()
    font.setPointSize(pt)
    font.setBold(bold)
    return font


class NetworkGraphView(QtWidgets.QWidget):
    """Live network graph with a compact toolbar (mode, per-layer scale, width by magnitude).

    ``set_snapshot`` is cheap while the layer sizes stay the same: the geometry is reused and only
    colours, node fills, markers and labels change.
    """

    sigUnitHovered = QtCore.Signal(int, int)       # column (0 = input), unit; (-1, -1) when none
    sigEdgeHovered = QtCore.Signal(int, int, int)  # weight layer, from unit, to unit; -1s when none
    sigModeChanged = QtCore.Signal(str)

    def __init__(self, parent=None, edge_limit: int = EDGE_LIMIT, max_decades: int = 8):
        super().__init__(parent)
        self.edge_limit = int(edge_limit)
        self.max_decades = int(max_decades)
        self._mode = "gradient"
        self._per_layer = False
        self._width_by_magnitude = False
        self._theme_name = "dark"
        self._palette = colors.theme("dark")
        self._snapshot = None
        self._geometry: GraphGeometry | None = None
        self._range: tuple[float, float] | None = None   # shared log scale, whole decades
        self._pens: list[QtGui.QPen] = []
        self._drawn_layer = np.zeros(0, dtype=np.intp)    # per drawn edge, in draw order
        self._drawn_flat = np.zeros(0, dtype=np.intp)
        self._drawn_lines = np.zeros((0, 4))
        self._n_drawn = 0
        self._node_px = 20.0
        self._label_pt = LABEL_PT
        self._build_toolbar()
        self._build_scene()
        self.set_theme("dark")

    # ----- building -----
    def _build_toolbar(self) -> None:
        bar = QtWidgets.QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 4)
        font = _font(14)
        label = QtWidgets.QLabel("Colour edges by")
        label.setFont(font)
        self.mode_combo = QtWidgets.QComboBox()
        self.mode_combo.setFont(font)
        for mode, (_, _, words) in MODES.items():
            self.mode_combo.addItem(words, mode)
        self.mode_combo.currentIndexChanged.connect(self._on_mode_combo)
        self.per_layer_check = QtWidgets.QCheckBox("scale each layer to its own max")
        self.per_layer_check.setFont(font)
        self.per_layer_check.toggled.connect(self.set_per_layer_normalisation)
        self.width_check = QtWidgets.QCheckBox("edge width by magnitude")
        self.width_check.setFont(font)
        self.width_check.toggled.connect(self.set_width_by_magnitude)
        for w in (label, self.mode_combo, self.per_layer_check, self.width_check):
            bar.addWidget(w)
        bar.addStretch(1)
        self._toolbar = bar

    def _build_scene(self) -> None:
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setContentsMargins(8, 4, 8, 4)
        self.title = pg.LabelItem(justify="left")
        self.graphics.addItem(self.title, row=0, col=0, colspan=2)
        self.vb = self.graphics.addViewBox(row=1, col=0)
        self.vb.setMenuEnabled(False)
        self.vb.invertY(False)
        self.edges = EdgeItem()
        self.vb.addItem(self.edges)
        self.nodes = pg.ScatterPlotItem(pxMode=True, symbol="o", size=self._node_px)
        self.saturated_marks = pg.ScatterPlotItem(pxMode=True, symbol="s")
        self.dead_marks = pg.ScatterPlotItem(pxMode=True, symbol="x")
        for z, item in enumerate((self.nodes, self.saturated_marks, self.dead_marks), start=10):
            item.setZValue(z)
            self.vb.addItem(item)
        self.hover_text = pg.TextItem(anchor=(0, 1), border=None)
        self.hover_text.setFont(_font(SMALL_PT))
        self.hover_text.setZValue(100)
        self.hover_text.hide()
        self.vb.addItem(self.hover_text, ignoreBounds=True)
        self.hover_mark = pg.ScatterPlotItem(pxMode=True, symbol="o", size=10)
        self.hover_mark.setZValue(99)
        self.vb.addItem(self.hover_mark, ignoreBounds=True)
        self.color_bar = colors.log_color_bar(colors.edge_colormap("dark"), 1e-6, 1.0,
                                              label="|dL/dw|", font_pt=SMALL_PT)
        self.graphics.addItem(self.color_bar, row=1, col=1)
        self.legend = pg.LabelItem(justify="left")
        self.graphics.addItem(self.legend, row=2, col=0, colspan=2)
        self.note = pg.LabelItem(justify="left")
        self.graphics.addItem(self.note, row=3, col=0, colspan=2)
        self.column_labels: list[pg.TextItem] = []
        self.vb.sigResized.connect(self._update_node_size)
        self.vb.sigRangeChanged.connect(self._update_node_size)
        self._mouse_proxy = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=30,
                                           slot=self._on_mouse_moved)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(self._toolbar)
        layout.addWidget(self.graphics, 1)

    # ----- public API -----
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Colour edges by ``"gradient"`` (|dL/dw|), ``"weight"`` (|w|) or ``"update"`` (|Δw|)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (allowed: {', '.join(MODES)})")
        changed = mode != self._mode
        self._mode = mode
        with QtCore.QSignalBlocker(self.mode_combo):
            self.mode_combo.setCurrentIndex(list(MODES).index(mode))
        if changed:
            self._range = None
            self._refresh()
            self.sigModeChanged.emit(mode)

    def set_per_layer_normalisation(self, on: bool) -> None:
        """Scale each layer to its own max instead of one scale shared by all layers."""
        self._per_layer = bool(on)
        with QtCore.QSignalBlocker(self.per_layer_check):
            self.per_layer_check.setChecked(self._per_layer)
        self._refresh()

    def set_width_by_magnitude(self, on: bool) -> None:
        self._width_by_magnitude = bool(on)
        with QtCore.QSignalBlocker(self.width_check):
            self.width_check.setChecked(self._width_by_magnitude)
        self._make_pens()
        self._refresh()

    def set_theme(self, name: str) -> None:
        """``"dark"`` or ``"light"``: background, text, colour map and markers."""
        self._palette = colors.theme(name)
        self._theme_name = name
        pal = self._palette
        self.graphics.setBackground(pal["background"])
        self.color_bar.setColorMap(colors.edge_colormap(name))
        colors.style_color_bar(self.color_bar, pal)
        self.hover_text.fill = pg.mkBrush(pal["panel"])
        self.hover_text.border = pg.mkPen(pal["muted"])
        self.hover_text.setColor(pal["foreground"])
        self.hover_mark.setPen(pg.mkPen(pal["accent"], width=3))
        self.hover_mark.setBrush(pg.mkBrush(None))
        self.dead_marks.setPen(pg.mkPen(pal["dead_outline"], width=1.5))
        self.dead_marks.setBrush(pg.mkBrush(pal["dead"]))
        self.saturated_marks.setPen(pg.mkPen(pal["saturated"], width=5))
        self.saturated_marks.setBrush(pg.mkBrush(None))
        self.nodes.setPen(pg.mkPen(pal["node_outline"], width=1.5))
        self._node_lut = colors.lut(
            pg.ColorMap([0.0, 1.0], [pal["node_fill_low"], pal["node_fill_high"]]), 32)
        self._node_brushes = [pg.mkBrush(*map(int, c)) for c in self._node_lut]
        self._make_pens()
        self._update_legend()
        self._refresh()

    def set_snapshot(self, snapshot) -> None:
        """Show a :class:`engine.Snapshot`; the geometry is rebuilt only when layer sizes change."""
        weights = snapshot.weights
        sizes = tuple([weights[0].shape[0]] + [w.shape[1] for w in weights])
        if self._geometry is None or self._geometry.sizes != sizes:
            self._set_geometry(GraphGeometry(sizes))
        self._snapshot = snapshot
        self._refresh()

    def snapshot(self):
        return self._snapshot

    def geometry_info(self) -> GraphGeometry | None:
        return self._geometry

    def color_range(self) -> tuple[float, float]:
        """The colour scale's (vmin, vmax) in real units (relative units in per-layer mode)."""
        if self._per_layer:
            return 10.0 ** -self.max_decades, 1.0
        return self._range or (1e-6, 1.0)

    def drawn_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """(layer, flat index) of every drawn edge, in draw order (coldest first)."""
        return self._drawn_layer, self._drawn_flat

    def note_text(self) -> str:
        return self._note_plain

    def edge_midpoint_in_widget(self, layer: int, i: int, j: int) -> QtCore.QPoint:
        """Where the middle of edge (layer, i -> j) is, in this widget's pixel coordinates."""
        g = self._geometry
        mid = QtCore.QPointF((g.x[layer] + g.x[layer + 1]) / 2, (g.ys[layer][i] + g.ys[layer + 1][j]) / 2)
        return self._view_to_widget(mid)

    def node_in_widget(self, column: int, unit: int) -> QtCore.QPoint:
        g = self._geometry
        return self._view_to_widget(QtCore.QPointF(g.x[column], g.ys[column][unit]))

    # ----- internals -----
    def _view_to_widget(self, p: QtCore.QPointF) -> QtCore.QPoint:
        scene = self.vb.mapViewToScene(p)
        in_view = self.graphics.mapFromScene(scene)
        return self.graphics.mapTo(self, in_view)

    def _on_mode_combo(self, index: int) -> None:
        self.set_mode(self.mode_combo.itemData(index))

    def _make_pens(self) -> None:
        table = colors.lut(colors.edge_colormap(self._theme_name), N_BINS)
        pens = []
        for b, rgba in enumerate(table):
            width = 1.0 + 4.0 * b / (N_BINS - 1) if self._width_by_magnitude else 1.0
            pen = QtGui.QPen(QtGui.QColor(int(rgba[0]), int(rgba[1]), int(rgba[2])))
            pen.setWidthF(width)
            pen.setCosmetic(True)
            pen.setCapStyle(QtCore.Qt.PenCapStyle.FlatCap)
            pens.append(pen)
        self._pens = pens

    def _set_geometry(self, geometry: GraphGeometry) -> None:
        self._geometry = geometry
        self._range = None
        self.edges.set_bounds(geometry.bounds())
        xs, ys, cols, units = geometry.node_positions()
        self._node_xy = np.column_stack([xs, ys])
        self._node_cols, self._node_units = cols, units
        self.nodes.setData(x=xs, y=ys, size=self._node_px)
        for item in self.column_labels:
            self.vb.removeItem(item)
        self.column_labels = []
        bottom = float(geometry.ys[int(np.argmax(geometry.sizes))][-1])
        for c, name in enumerate(geometry.names):
            text = pg.TextItem(anchor=(0.5, 0))
            text.setFont(_font(LABEL_PT))
            text.setPos(float(geometry.x[c]), bottom - 0.6 * geometry.spacing - 0.02)
            self.vb.addItem(text, ignoreBounds=True)
            self.column_labels.append(text)
        self.vb.setRange(xRange=(-0.45, geometry.x[-1] + 0.45),
                         yRange=(bottom - 0.22, 1.0 - bottom + 0.6 * geometry.spacing), padding=0)
        self._update_node_size()

    def _update_node_size(self, *args) -> None:
        g = self._geometry
        if g is None:
            return
        px_x, px = self.vb.viewPixelSize()
        spacing_px = g.spacing / px if px > 0 else 20.0
        column_px = 1.0 / px_x if px_x > 0 else 100.0
        label_pt = int(np.clip(column_px / 6.0, 8, LABEL_PT))
        if label_pt != self._label_pt:
            self._label_pt = label_pt
            if self._snapshot is not None:
                self._update_column_labels(self._magnitudes())
        size = float(np.clip(0.7 * spacing_px, 5.0, 26.0))
        if abs(size - self._node_px) < 0.5 and args:
            return
        self._node_px = size
        self.nodes.setSize(size)
        self.dead_marks.setSize(size * 1.15 + 8)
        self.saturated_marks.setSize(size + 12)

    def _magnitudes(self) -> list[np.ndarray]:
        field = MODES[self._mode][0]
        return [np.abs(np.asarray(a, dtype=np.float64)) for a in getattr(self._snapshot, field)]

    def _shared_range(self, mags: list[np.ndarray]) -> tuple[float, float]:
        lo, hi = colors.decade_range(mags, max_decades=self.max_decades)
        if self._range is not None:
            # hysteresis of a decade, so the colour bar doesn't flicker between two decades
            old_lo, old_hi = self._range
            if old_hi / 10.0 < hi <= old_hi:
                hi = old_hi
            if lo >= old_lo and lo <= old_lo * 10.0 and old_lo < hi:
                lo = old_lo
            if math.log10(hi) - math.log10(lo) > self.max_decades:
                lo = hi * 10.0 ** -self.max_decades
        self._range = (lo, hi)
        return lo, hi

    def _refresh(self) -> None:
        if self._snapshot is None or self._geometry is None:
            self._note_plain = ""
            self.note.setText("")
            self._update_title()
            return
        g = self._geometry
        mags = self._magnitudes()
        if self._per_layer:
            vmin, vmax = 10.0 ** -self.max_decades, 1.0
            positions = []
            for m in mags:
                finite = m[np.isfinite(m)]
                top = float(finite.max()) if finite.size else 0.0
                positions.append(colors.log_positions(m.ravel(), top * vmin if top > 0 else 1.0,
                                                      top if top > 0 else 10.0))
        else:
            vmin, vmax = self._shared_range(mags)
            positions = [colors.log_positions(m.ravel(), vmin, vmax) for m in mags]

        # which edges: all of them, or each layer's strongest in proportion to its size
        total = g.n_edges
        if total > self.edge_limit:
            quota = [max(1, int(self.edge_limit * n / total)) for n in g.edge_counts]
            flats, layers, pos_sel, line_parts = [], [], [], []
            for l, (m, q) in enumerate(zip(mags, quota)):
                flat_m = np.nan_to_num(m.ravel(), nan=0.0, posinf=np.finfo(np.float64).max)
                if q < flat_m.size:
                    idx = np.argpartition(flat_m, flat_m.size - q)[flat_m.size - q:]
                else:
                    idx = np.arange(flat_m.size)
                flats.append(idx)
                layers.append(np.full(idx.size, l, dtype=np.intp))
                pos_sel.append(positions[l][idx])
                line_parts.append(g.lines(l, idx))
            flat = np.concatenate(flats)
            layer = np.concatenate(layers)
            pos = np.concatenate(pos_sel)
            lines = np.concatenate(line_parts)
            n_drawn = flat.size
            self._note_plain = (f"showing strongest {n_drawn:,} of {total:,} edges "
                                f"(each layer's strongest, in proportion to its size)")
        else:
            flat = np.concatenate([np.arange(n) for n in g.edge_counts])
            layer = np.concatenate([np.full(n, l, dtype=np.intp) for l, n in enumerate(g.edge_counts)])
            pos = np.concatenate(positions)
            lines = g.all_lines()
            n_drawn = total
            self._note_plain = f"showing all {total:,} edges"
        bins = colors.to_bins(pos, N_BINS)
        order = np.argsort(bins, kind="stable")
        starts = np.zeros(N_BINS + 1, dtype=np.intp)
        np.cumsum(np.bincount(bins, minlength=N_BINS), out=starts[1:])
        self._drawn_layer, self._drawn_flat = layer[order], flat[order]
        self._drawn_lines = lines[order]
        self._n_drawn = n_drawn
        self.edges.set_lines(self._drawn_lines, starts, self._pens)

        self._update_nodes()
        self._update_color_bar(vmin, vmax)
        self._update_column_labels(mags)
        self._update_title()
        color = self._palette["accent"] if total > self.edge_limit else self._palette["muted"]
        self.note.setText(self._note_plain, size=f"{SMALL_PT}pt", color=color,
                          bold=total > self.edge_limit)

    def _update_nodes(self) -> None:
        snap, g = self._snapshot, self._geometry
        n_nodes = len(self._node_cols)
        level = np.full(n_nodes, 0.35)              # input/output nodes: neutral fill
        dead = np.zeros(n_nodes, dtype=bool)
        saturated = np.zeros(n_nodes, dtype=bool)
        acts = [np.asarray(a, dtype=np.float64) for a in snap.unit_activation]
        finite = [a[np.isfinite(a)] for a in acts]
        top = max((float(a.max()) for a in finite if a.size), default=0.0)
        offsets = np.concatenate([[0], np.cumsum(g.sizes)])
        for k in range(min(len(acts), len(g.sizes) - 2)):
            s, e = offsets[k + 1], offsets[k + 2]
            if acts[k].shape[0] != e - s:
                continue
            level[s:e] = np.nan_to_num(acts[k] / top, nan=0.0) if top > 0 else 0.0
            dead[s:e] = np.asarray(snap.unit_dead[k], dtype=bool)
            saturated[s:e] = np.nan_to_num(np.asarray(snap.unit_saturation[k], dtype=np.float64)) > SATURATED_SHARE
        saturated &= ~dead
        idx = np.clip((np.clip(level, 0, 1) * (len(self._node_brushes) - 1) + 0.5).astype(np.intp),
                      0, len(self._node_brushes) - 1)
        self.nodes.setBrush([self._node_brushes[i] for i in idx])
        self._act_top = top
        self.dead_marks.setData(pos=self._node_xy[dead], size=self._node_px * 1.15 + 8)
        self.saturated_marks.setData(pos=self._node_xy[saturated], size=self._node_px + 12)
        self._n_dead, self._n_saturated = int(dead.sum()), int(saturated.sum())

    def _update_color_bar(self, vmin: float, vmax: float) -> None:
        symbol = MODES[self._mode][1]
        label = f"{symbol} ÷ layer max" if self._per_layer else f"{symbol} (log scale, all layers)"
        colors.set_log_color_bar_range(self.color_bar, vmin, vmax)
        axis = self.color_bar.getAxis("left")
        axis.setLabel(label, color=self._palette["foreground"])
        axis.label.setFont(_font(SMALL_PT))

    def _layer_norms(self, mags: list[np.ndarray]) -> np.ndarray:
        if self._mode == "gradient":
            return np.asarray(self._snapshot.grad_norms, dtype=np.float64)
        return np.array([float(np.sqrt(np.sum(np.square(m)))) for m in mags])

    def _update_column_labels(self, mags: list[np.ndarray]) -> None:
        norms = self._layer_norms(mags)
        fg, muted = self._palette["foreground"], self._palette["muted"]
        big, small = self._label_pt, max(self._label_pt - 2, 8)
        for c, item in enumerate(self.column_labels):
            name = self._geometry.names[c]
            html = f'<div style="text-align:center"><span style="color:{fg}; font-size:{big}pt; font-weight:bold">{name}</span>'
            if c >= 1 and c - 1 < len(norms):
                html += (f'<br><span style="color:{muted}; font-size:{small}pt">'
                         f'{colors.sci(float(norms[c - 1]))}</span>')
            html += "</div>"
            if getattr(item, "_html", None) != html:   # setHtml re-lays out text: skip when unchanged
                item._html = html
                item.setHtml(html)

    def _update_title(self) -> None:
        pal = self._palette
        symbol = MODES[self._mode][1]
        scale = "each layer scaled to its own max" if self._per_layer else "one log scale for all layers"
        norm_name = {"gradient": "‖∇W‖", "weight": "‖W‖", "update": "‖ΔW‖"}[self._mode]
        step = f" · step {self._snapshot.step:,}" if self._snapshot is not None else ""
        self.title.setText(
            f'<b>Edge colour: {symbol} · {scale}{step}</b>'
            f'<span style="color:{pal["muted"]}"> &nbsp; (under each layer: {norm_name} of its incoming weights)</span>',
            size=f"{LABEL_PT}pt", color=pal["foreground"])

    def _update_legend(self) -> None:
        pal = self._palette
        fill_lo, fill_hi = pal["node_fill_low"], pal["node_fill_high"]
        self.legend.setText(
            f'<span style="color:{pal["dead"]}; font-size:22pt; font-weight:bold">✕</span> '
            f'<span style="color:{pal["foreground"]}">dead unit</span> &nbsp;&nbsp; '
            f'<span style="color:{pal["saturated"]}; font-size:22pt; font-weight:bold">□</span> '
            f'<span style="color:{pal["foreground"]}">saturated (&gt; {SATURATED_SHARE:.0%} of batch)</span>'
            f' &nbsp;&nbsp; <span style="color:{pal["foreground"]}">node fill: mean |h| '
            f'<span style="background-color:{fill_lo}; color:{fill_hi}">&nbsp;0&nbsp;</span>'
            f'<span style="background-color:{fill_hi}; color:{fill_lo}">&nbsp;max&nbsp;</span></span>',
            size=f"{SMALL_PT}pt")

    # ----- hover -----
    def _on_mouse_moved(self, event) -> None:
        pos = event[0]
        if self._geometry is None or self._snapshot is None or not self.vb.sceneBoundingRect().contains(pos):
            self._clear_hover()
            return
        p = self.vb.mapSceneToView(pos)
        px, py = self.vb.viewPixelSize()
        if px <= 0 or py <= 0:
            return
        d = np.hypot((self._node_xy[:, 0] - p.x()) / px, (self._node_xy[:, 1] - p.y()) / py)
        k = int(np.argmin(d)) if d.size else -1
        if k >= 0 and d[k] <= self._node_px / 2 + 4:
            self._show_node(int(self._node_cols[k]), int(self._node_units[k]), p)
            return
        hit = self._edge_at(p.x(), p.y(), px, py)
        if hit is None:
            self._clear_hover()
        else:
            self._show_edge(*hit, p)

    def _edge_at(self, x: float, y: float, px: float, py: float, tolerance: float = 4.0):
        """The drawn edge nearest to (x, y) within ``tolerance`` pixels; the hottest wins ties."""
        layer = int(math.floor(x))
        if not 0 <= layer < self._geometry.n_layers:
            return None
        sel = np.flatnonzero(self._drawn_layer == layer)
        if not sel.size:
            return None
        seg = self._drawn_lines[sel]
        ax, ay = seg[:, 0] / px, seg[:, 1] / py
        bx, by = seg[:, 2] / px, seg[:, 3] / py
        qx, qy = x / px, y / py
        dx, dy = bx - ax, by - ay
        t = np.clip(((qx - ax) * dx + (qy - ay) * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0, 1)
        dist = np.hypot(ax + t * dx - qx, ay + t * dy - qy)
        near = np.flatnonzero(dist <= tolerance)
        if not near.size:
            return None
        best = near[dist[near] <= dist[near].min() + 1.0].max()   # drawn last = on top
        fan_out = self._geometry.sizes[layer + 1]
        i, j = divmod(int(self._drawn_flat[sel[best]]), fan_out)
        return layer, i, j

    def _show_node(self, column: int, unit: int, p: QtCore.QPointF) -> None:
        snap, g = self._snapshot, self._geometry
        lines = [f"{g.names[column]} unit {unit}"]
        if 1 <= column <= len(snap.unit_activation):
            k = column - 1
            lines.append(f"mean |h| = {colors.sci(float(snap.unit_activation[k][unit]), 3)}")
            lines.append(f"dead: {'YES' if bool(snap.unit_dead[k][unit]) else 'no'}")
            lines.append(f"saturated for {float(snap.unit_saturation[k][unit]):.0%} of the batch")
        if column >= 1:
            lines.append(f"bias = {colors.sci(float(snap.biases[column - 1][unit]), 3)}")
        self._place_hover("\n".join(lines), p, QtCore.QPointF(g.x[column], g.ys[column][unit]))
        self.sigUnitHovered.emit(column, unit)

    def _show_edge(self, layer: int, i: int, j: int, p: QtCore.QPointF) -> None:
        snap, g = self._snapshot, self._geometry
        text = (f"{g.names[layer]} unit {i} → {g.names[layer + 1]} unit {j}  (W{layer + 1}[{i}, {j}])\n"
                f"w = {colors.sci(float(snap.weights[layer][i, j]), 3)}\n"
                f"|dL/dw| = {colors.sci(float(snap.edge_grads[layer][i, j]), 3)}\n"
                f"|Δw| = {colors.sci(float(snap.edge_updates[layer][i, j]), 3)}")
        self._place_hover(text, p, p)
        self.sigEdgeHovered.emit(layer, i, j)

    def _place_hover(self, text: str, p: QtCore.QPointF, mark: QtCore.QPointF) -> None:
        self.hover_text.setText(text)
        (x0, x1), (y0, y1) = self.vb.viewRange()
        right = p.x() > (x0 + x1) / 2
        low = p.y() < (y0 + y1) / 2
        self.hover_text.setAnchor((1.0 if right else 0.0, 1.0 if low else 0.0))
        offset_x = -12 if right else 12
        px, py = self.vb.viewPixelSize()
        self.hover_text.setPos(p.x() + offset_x * px, p.y() + (12 if low else -12) * py)
        self.hover_text.show()
        self.hover_mark.setData(pos=[(mark.x(), mark.y())], size=self._node_px + 6)

    def _clear_hover(self) -> None:
        if self.hover_text.isVisible():
            self.hover_text.hide()
            self.hover_mark.setData(pos=np.zeros((0, 2)))
            self.sigUnitHovered.emit(-1, -1)
            self.sigEdgeHovered.emit(-1, -1, -1)
