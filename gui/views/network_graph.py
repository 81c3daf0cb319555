"""The network graph: nodes in layer columns, every edge coloured by a live magnitude.

Edges are coloured by |dL/dw| (or |w|, or the last update |dw|) on one logarithmic scale shared by
all layers, so a vanishing gradient shows as edges fading from the output towards the input. Nodes
show the mean |activation|; dead and saturated units get big markers that differ in shape and
colour. Edges are drawn by one :class:`~gui.views.graph_items.EdgeItem` that sorts them into colour bins and issues one
``QPainter.drawLines`` per bin (see DESIGN.md: an item per edge is 50-100x slower); nodes by one
:class:`NodeItem` that draws one pre-rendered disc per fill level with ``drawPixmapFragments``.

Above ``edge_limit`` edges only each layer's strongest are drawn. Up to ``exact_limit`` edges they
are chosen among every edge; above it (the largest nets have ~51M edges) among a fixed random
sample of ``SAMPLE_FACTOR`` candidates per drawn edge in each layer, drawn once per layer-size
change, so ``set_snapshot`` costs the same for 50 x 1024 units as for 5 x 200. The colour scale of
such a net comes from the sample, and the note under the graph says what is shown.
"""
from __future__ import annotations

import math
import time
import weakref
from html import escape

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from gui import colors
from gui.frames import EDGE_LIMIT, EXACT_LIMIT
from gui.textscale import policy_pt
from gui.views.graph_geometry import GraphGeometry, edge_text, layer_names, nearest_edge, node_text
from gui.views.graph_items import N_BINS, N_NODE_LEVELS, EdgeItem, EdgePlan, NodeItem
from gui.widgets import LabelSlot, font

MODES = {
    # mode: (Snapshot field, symbol used in labels, words for the combo box)
    "gradient": ("edge_grads", "|dL/dw|", "gradient"),
    "weight": ("weights", "|w|", "weight"),
    "update": ("edge_updates", "|Δw|", "update"),
}
MAX_LABEL_ROWS = 3
RELU_LIKE = ("relu", "leaky_relu", "prelu", "noisy_relu")   # a small derivative here means "off", not saturated
SATURATED_SHARE = 0.5     # a unit is marked saturated when saturated for more than this share of the batch
LABEL_PT = 20             # projector-legible text sizes (layer names, title)
MIN_LABEL_PT = 11         # column labels never shrink below this; when they don't fit, some are left out
SMALL_PT = 16             # numbers, colour-bar ticks, legend, hover
TOOLBAR_PT = 13
NODE_MAX_PX = 26.0
NODE_MIN_PX = 5.0
LABEL_INTERVAL_S = 0.2    # the numbers under the columns change at most this often
_FIT_MARGIN_PX = 8        # space around the network when fitted (beyond node and marker radius)


ARC_SHARE = 0.16   # height of the tallest skip arc, as a share of the network's height


def _node_size_px(spacing_px: float) -> float:
    """A node's diameter for a unit spacing of ``spacing_px`` pixels."""
    return float(np.clip(0.7 * spacing_px, NODE_MIN_PX, NODE_MAX_PX))


def _font(pt: int, bold: bool = False) -> QtGui.QFont:
    """A font of ``pt`` points under the app's text scale and floor (gui.textscale)."""
    f = font(pt, bold)
    f.setPointSizeF(policy_pt(pt))
    return f


class NetworkGraphView(QtWidgets.QWidget):
    """Live network graph with a compact toolbar (mode, per-layer scale, width by magnitude, fit).

    ``set_snapshot`` is cheap while the layer sizes stay the same: the geometry and the candidate
    edges are reused and only colours, node fills, markers and labels change. The whole network is
    kept fitted into the view (on every resize and layer-size change) until the user zooms or pans;
    the Fit button or a double-click fits it again.
    """

    sigUnitHovered = QtCore.Signal(int, int)       # column (0 = input), unit; (-1, -1) when none
    sigEdgeHovered = QtCore.Signal(int, int, int)  # weight layer, from unit, to unit; -1s when none
    sigModeChanged = QtCore.Signal(str)

    def shutdown(self) -> None:
        """Stop helper threads before the window goes (the edge-render thread must not outlive it)."""
        self.edges.shutdown()

    def __init__(self, parent=None, edge_limit: int = EDGE_LIMIT, max_decades: int = 8,
                 exact_limit: int = EXACT_LIMIT):
        super().__init__(parent)
        self.edge_limit = int(edge_limit)
        self.exact_limit = max(int(exact_limit), self.edge_limit)
        self.max_decades = int(max_decades)
        self._mode = "gradient"
        self._per_layer = False
        self._width_by_magnitude = False
        self._theme_name = "dark"
        self._palette = colors.theme("dark")
        self._snapshot = None
        self._geometry: GraphGeometry | None = None
        self._plan: EdgePlan | None = None
        self._range: tuple[float, float] | None = None   # shared log scale, whole decades
        self._fixed_range: tuple[float, float] | None = None   # set from outside (comparisons)
        self._pens: list[QtGui.QPen] = []
        self._drawn_layer = np.zeros(0, dtype=np.intp)    # per drawn edge, in draw order
        self._drawn_flat = np.zeros(0, dtype=np.intp)
        self._drawn_lines = np.zeros((0, 4))
        self._n_drawn = 0
        self._node_px = 20.0
        self._label_pt = LABEL_PT
        self._label_stride = 1
        self._stagger = False      # labels alternate between two rows, so every layer keeps its name
        self._labels_off = False   # a short small multiple shows no column names (_fit)
        self._norms: np.ndarray = np.zeros(0)
        self._norms_estimated = False
        self._auto_fit = True
        self._fitting = False
        self._labels_dirty = True
        self._note_plain = ""
        self._dead_key = self._sat_key = None
        self._labels_at = -math.inf
        self._labels_timer = QtCore.QTimer(self)
        self._labels_timer.setSingleShot(True)
        self._labels_timer.timeout.connect(self._update_column_labels)
        self._build_toolbar()
        self._build_scene()
        self.set_theme("dark")

    # ----- building -----
    def _build_toolbar(self) -> None:
        bar = QtWidgets.QHBoxLayout()
        bar.setContentsMargins(6, 3, 6, 3)
        bar.setSpacing(8)
        font = _font(TOOLBAR_PT)
        label = QtWidgets.QLabel("Colour")
        label.setFont(font)
        self.mode_combo = QtWidgets.QComboBox()
        self.mode_combo.setFont(font)
        self.mode_combo.setToolTip("What colours the edges: the gradient |dL/dw|, the weight |w| "
                                   "or the last update |Δw|")
        for mode, (_, _, words) in MODES.items():
            self.mode_combo.addItem(words, mode)
        self.mode_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.mode_combo.currentIndexChanged.connect(self._on_mode_combo)
        label.setBuddy(self.mode_combo)
        self.per_layer_check = QtWidgets.QCheckBox("per layer")
        self.per_layer_check.setFont(font)
        self.per_layer_check.setToolTip("Scale each layer to its own max instead of one log scale for all layers")
        self.per_layer_check.toggled.connect(self.set_per_layer_normalisation)
        self.width_check = QtWidgets.QCheckBox("width")
        self.width_check.setFont(font)
        self.width_check.setToolTip("Edge width by magnitude: strong edges drawn thicker")
        self.width_check.toggled.connect(self.set_width_by_magnitude)
        self.fit_button = QtWidgets.QToolButton()
        self.fit_button.setText("Fit")
        self.fit_button.setFont(font)
        self.fit_button.setToolTip("Fit the whole network into the view (or double-click the graph)")
        self.fit_button.clicked.connect(self.fit)
        for w in (label, self.mode_combo, self.per_layer_check, self.width_check):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.fit_button)
        self._toolbar = bar

    def _text_label(self) -> QtWidgets.QLabel:
        label = QtWidgets.QLabel()
        label.setWordWrap(True)
        label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        label.setContentsMargins(8, 2, 8, 2)
        label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        label.setMinimumWidth(10)
        return label

    def _build_scene(self) -> None:
        # title, legend and note are QLabels that wrap: a long LabelItem in the scene widened the
        # scene's layout past the widget and cut off the right of the graph
        self.title = self._text_label()
        self.title.setFont(_font(SMALL_PT + 1, bold=True))
        self.legend = self._text_label()
        self.legend.setFont(_font(SMALL_PT - 2))
        self.note = self._text_label()
        self.note.setFont(_font(SMALL_PT - 2))
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(200, 150)
        self.graphics.ci.setContentsMargins(4, 14, 4, 14)   # room for the colour bar's end ticks
        self.vb = self.graphics.addViewBox(row=0, col=0)
        self.vb.setMenuEnabled(False)
        self.vb.invertY(False)
        self.vb.disableAutoRange()
        self.edges = EdgeItem()
        self.edges.on_stale = weakref.WeakMethod(self._on_edges_stale)   # no cycle: the view goes when it goes
        self.vb.addItem(self.edges)
        self.nodes = NodeItem()
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
                                              label="|dL/dw|", font_pt=SMALL_PT - 2)
        self.graphics.addItem(self.color_bar, row=0, col=1)
        self.column_labels: list[pg.TextItem] = []
        self.compact_labels = False   # names only under the columns (small multiples have no room for numbers)
        self.skip_arcs: list[pg.PlotCurveItem] = []   # residual skips, drawn over the top
        self._skips: tuple = ()
        self._kinds: tuple = ()
        self.vb.sigResized.connect(self._on_resized)
        self.vb.sigRangeChanged.connect(self._update_node_size)
        self.vb.sigRangeChangedManually.connect(self._on_user_range)
        self.graphics.scene().sigMouseClicked.connect(self._on_clicked)
        self._mouse_proxy = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=30,
                                           slot=self._on_mouse_moved)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(self._toolbar)
        layout.addWidget(LabelSlot(self.title))   # new text repaints the label, not the graph
        layout.addWidget(self.graphics, 1)
        layout.addWidget(LabelSlot(self.legend))
        layout.addWidget(LabelSlot(self.note))
        self.setAutoFillBackground(True)

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

    def set_text_policy(self, scale: float, floor_px: int) -> None:
        """Text zoom / presenter floor changed: re-lay the layer labels at the new size."""
        if getattr(self, "_text_policy", None) == (scale, floor_px):
            return
        self._text_policy = (scale, floor_px)
        self._labels_dirty = True
        for item in self.column_labels:
            item._html = None
        if self._geometry is not None:
            self._fit()

    def set_theme(self, name: str) -> None:
        """``"dark"`` or ``"light"``: background, text, colour map and markers."""
        self._palette = colors.theme(name)
        self._theme_name = name
        pal = self._palette
        self.graphics.setBackground(pal["background"])
        qpal = self.palette()
        qpal.setColor(QtGui.QPalette.ColorRole.Window, QtGui.QColor(pal["background"]))
        qpal.setColor(QtGui.QPalette.ColorRole.WindowText, QtGui.QColor(pal["foreground"]))
        for label in (self.title, self.legend, self.note):
            label.setPalette(qpal)
        self.setPalette(qpal)
        self.color_bar.setColorMap(colors.edge_colormap(name))
        colors.style_color_bar(self.color_bar, pal)
        self.hover_text.fill = pg.mkBrush(pal["panel"])
        self.hover_text.border = pg.mkPen(pal["muted"])
        self.hover_text.setColor(pal["foreground"])
        self.hover_mark.setPen(pg.mkPen(pal["accent"], width=3))
        self.hover_mark.setBrush(pg.mkBrush(None))
        self.dead_marks.setPen(pg.mkPen(pal["dead_outline"], width=1.5))
        self.dead_marks.setBrush(pg.mkBrush(pal["dead"]))
        self.saturated_marks.setPen(pg.mkPen(pal["saturated"], width=2.5))   # thin: edges stay visible
        self.saturated_marks.setBrush(pg.mkBrush(None))
        self._node_lut = colors.lut(
            pg.ColorMap([0.0, 1.0], [pal["node_fill_low"], pal["node_fill_high"]]), N_NODE_LEVELS)
        self.nodes.set_style([QtGui.QColor(*map(int, c)) for c in self._node_lut],
                             QtGui.QColor(pal["node_outline"]), 1.5)
        for item in self.column_labels:
            item._html = None
        if hasattr(self, "skip_arcs"):
            self._draw_skips()
        self._make_pens()
        self._update_legend()
        self._refresh()

    def set_snapshot(self, snapshot) -> None:
        """Show a :class:`engine.Snapshot`; the geometry is rebuilt only when layer sizes change."""
        weights = snapshot.weights
        sizes = tuple([weights[0].shape[0]] + [w.shape[1] for w in weights])
        self._snapshot = snapshot
        rebuilt = self._geometry is None or self._geometry.sizes != sizes
        if rebuilt:
            self._set_geometry(GraphGeometry(sizes))
        kinds, skips = tuple(getattr(snapshot, "layer_kinds", ())), tuple(getattr(snapshot, "skips", ()))
        if rebuilt or kinds != self._kinds or skips != self._skips:
            self._kinds, self._skips = kinds, skips
            self._geometry.names = layer_names(len(sizes), kinds)
            for item in self.column_labels:
                item._html = None
            self._fit() if self._auto_fit else None
            self._draw_skips()
        self._refresh(streaming=not rebuilt)

    def _arc_height(self) -> float:
        g = self._geometry
        if not self._skips or g is None:
            return 0.0
        lo, hi = g.y_extent
        return ARC_SHARE * max(hi - lo, g.spacing * 4)

    def _draw_skips(self) -> None:
        """One arc per residual skip, from the block's input column over to its output column."""
        for item in self.skip_arcs:
            self.vb.removeItem(item)
        self.skip_arcs = []
        g = self._geometry
        if g is None or not self._skips:
            return
        height = self._arc_height()
        longest = max(b - a for a, b in self._skips)
        t = np.linspace(0.0, 1.0, 48)
        pen = pg.mkPen(self._palette["skip"], width=4)
        for a, b in self._skips:
            if not (0 <= a < b < len(g.sizes)):
                continue
            xs = g.x[a] + (g.x[b] - g.x[a]) * t
            base = max(g.ys[c][0] for c in range(a, b + 1)) + g.spacing * 0.8   # over the columns it spans
            ys = base + height * (0.55 + 0.45 * (b - a) / longest) * np.sin(np.pi * t)
            arc = pg.PlotCurveItem(xs, ys, pen=pen, antialias=True)
            arc.setZValue(5)
            arc.setToolTip(f"skip: {g.names[a]} is added to {g.names[b]} (h <- h + F(h))")
            self.vb.addItem(arc, ignoreBounds=True)
            self.skip_arcs.append(arc)

    def snapshot(self):
        return self._snapshot

    def geometry_info(self) -> GraphGeometry | None:
        return self._geometry

    def set_fixed_range(self, value_range: tuple[float, float] | None) -> None:
        """Colour by this (vmin, vmax) instead of the snapshot's own range; None goes back to it.
        Small multiples of a comparison share one scale this way."""
        self._fixed_range = None if value_range is None else (float(value_range[0]), float(value_range[1]))
        self._refresh()

    def color_range(self) -> tuple[float, float]:
        """The colour scale's (vmin, vmax) in real units (relative units in per-layer mode)."""
        if self._per_layer:
            return 10.0 ** -self.max_decades, 1.0
        self._ensure_edges()
        return self._range or (1e-6, 1.0)

    def drawn_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """(layer, flat index) of every drawn edge, in draw order (coldest first)."""
        self._ensure_edges()
        return self._drawn_layer, self._drawn_flat

    def note_text(self) -> str:
        self._ensure_edges()
        return self._note_plain

    def is_fitted(self) -> bool:
        """True while the view follows the network's size (until the user zooms or pans)."""
        return self._auto_fit

    def grab(self, *args):
        """A picture with the latest colours: edges drawn directly, not from the background image."""
        self._ensure_edges()
        with self.edges.exact():
            return super().grab(*args)

    def fit(self) -> None:
        """Fit the whole network, labels included, into the view, and keep it fitted on resizes."""
        self._auto_fit = True
        self._fit()

    def edge_midpoint_in_widget(self, layer: int, i: int, j: int) -> QtCore.QPoint:
        """Where the middle of edge (layer, i -> j) is, in this widget's pixel coordinates."""
        g = self._geometry
        mid = QtCore.QPointF((g.x[layer] + g.x[layer + 1]) / 2, (g.ys[layer][i] + g.ys[layer + 1][j]) / 2)
        return self._view_to_widget(mid)

    def node_in_widget(self, column: int, unit: int) -> QtCore.QPoint:
        g = self._geometry
        return self._view_to_widget(QtCore.QPointF(g.x[column], g.ys[column][unit]))

    def label_rect_in_widget(self, column: int) -> QtCore.QRect:
        """Where column ``column``'s label is drawn, in this widget's pixel coordinates."""
        item = self.column_labels[column]
        scene_rect = item.mapRectToScene(item.boundingRect())
        view_rect = self.graphics.mapFromScene(scene_rect).boundingRect()
        return QtCore.QRect(self.graphics.mapTo(self, view_rect.topLeft()), view_rect.size())

    # ----- internals -----
    def _view_to_widget(self, p: QtCore.QPointF) -> QtCore.QPoint:
        scene = self.vb.mapViewToScene(p)
        in_view = self.graphics.mapFromScene(scene)
        return self.graphics.mapTo(self, in_view)

    def _on_mode_combo(self, index: int) -> None:
        self.set_mode(self.mode_combo.itemData(index))

    def _on_user_range(self, *args) -> None:
        if not self._fitting:
            self._auto_fit = False

    def _on_clicked(self, event) -> None:
        if event.double():
            event.accept()
            self.fit()

    def _on_resized(self, *args) -> None:
        if self._auto_fit:
            self._fit()
        else:
            self._update_node_size()

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
        self._plan = EdgePlan(geometry, self.edge_limit, self.exact_limit)
        self._range = None
        self._dead_key = self._sat_key = None
        self.edges.set_bounds(geometry.bounds())
        xs, ys, cols, units = geometry.node_positions()
        self._node_xy = np.column_stack([xs, ys])
        self._node_cols, self._node_units = cols, units
        self.nodes.set_positions(self._node_xy, geometry.bounds())
        for item in self.column_labels:
            self.vb.removeItem(item)
        self.column_labels = []
        for c in range(len(geometry.sizes)):
            text = pg.TextItem(anchor=(0.5, 0))
            text.gfl_self_scaled = True      # sizes come from _font / policy_pt, not the text scaler
            # painted from a cached pixmap until its text changes (a paint per frame otherwise
            # lays out and draws the rich text again)
            text.textItem.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
            text.setFont(_font(LABEL_PT))
            text._html = None
            self.vb.addItem(text, ignoreBounds=True)
            self.column_labels.append(text)
        self._norms = np.zeros(0)
        self._labels_dirty = True
        self._auto_fit = True
        self._fit()

    def _label_width_px(self, pt: int) -> float:
        """Width of the widest column label (name and norm) at ``pt`` points."""
        big = QtGui.QFontMetricsF(_font(pt, bold=True))
        small = QtGui.QFontMetricsF(_font(max(pt - 2, 8)))
        name = max(self._geometry.names, key=len)
        if self.compact_labels:   # names only (small multiples): no numbers to make room for
            return big.horizontalAdvance(name) + 10
        return max(big.horizontalAdvance(name), small.horizontalAdvance("≈8.8e-88"),
                   small.horizontalAdvance("σ 8.8e-8 ✕88%")) + 10

    def _choose_labels(self, column_px: float, max_rows: int = MAX_LABEL_ROWS) -> None:
        """Label size and which columns get one (every ``stride``-th) for this column pitch."""
        pt = int(np.clip(column_px / 5.0, MIN_LABEL_PT, LABEL_PT))
        need = self._label_width_px(pt)
        # labels alternate over up to max_rows rows, so every layer keeps its name
        rows = int(min(max_rows, max(1, math.ceil(need / max(column_px, 1.0)))))
        stagger = rows if rows > 1 else False
        stride = max(1, int(math.ceil(need / (max(column_px, 1.0) * rows))))
        if (pt, stride, stagger) != (self._label_pt, self._label_stride, self._stagger) or self._labels_dirty:
            self._label_pt, self._label_stride, self._stagger = pt, stride, stagger
            self._labels_dirty = False
            width = self._label_width_px(pt)
            for item in self.column_labels:
                item.setTextWidth(width)       # a fixed width, so text-align:center centres both lines
            self._update_column_labels()

    def _label_visible(self, c: int) -> bool:
        n, k = len(self.column_labels), self._label_stride
        if c == n - 1:
            return True
        return c % k == 0 and (n - 1 - c >= k or c == 0)   # leave room for the output label

    def _fit(self) -> None:
        g = self._geometry
        if g is None:
            return
        rect = self.vb.boundingRect()
        width, height = rect.width(), rect.height()
        if width < 20 or height < 20:
            return
        n_cols = len(g.sizes)
        # the label width decides the side margins; the column pitch decides the label size. A
        # short small multiple (compact labels) keeps most of its height for the network: its
        # names go on one row (fewer of them) and, where even that would take a third, none.
        column_px = (width - 2 * _FIT_MARGIN_PX) / n_cols
        self._choose_labels(column_px)
        row_h = (QtGui.QFontMetricsF(_font(self._label_pt, bold=True)).lineSpacing()
                 + (0 if self.compact_labels else 2) * QtGui.QFontMetricsF(_font(max(self._label_pt - 2, 8))).lineSpacing() + 12)
        if self.compact_labels and self._stagger and row_h * self._stagger > 0.25 * height:
            self._choose_labels(column_px, max_rows=1)      # (the label size stays: row_h too)
        self._labels_off = self.compact_labels and bool(self.column_labels) and row_h > 0.3 * height
        label_w = self._label_width_px(self._label_pt) if self.column_labels and not self._labels_off else 0.0
        label_h = 0.0 if self._labels_off else row_h
        lo, hi = g.y_extent
        span_x = max(n_cols - 1, 1)
        span_y = max(hi - lo, g.spacing) + (self._arc_height() + g.spacing if self._skips else 0.0)
        # Room around the nodes for the saturated marker (the widest), sized for the nodes this fit
        # gives (_update_node_size): sized for the largest node, a small multiple's margins took
        # two thirds of its height and left the network a strip.
        node_px = NODE_MAX_PX
        for _ in range(3):
            marker_r = (node_px + 12) / 2
            mx = min(max(marker_r, label_w / 2), width / 4) + _FIT_MARGIN_PX
            top = marker_r + _FIT_MARGIN_PX
            bottom = marker_r + label_h * (self._stagger or 1) + _FIT_MARGIN_PX
            sx = max(width - 2 * mx, 1.0) / span_x
            sy = max(height - top - bottom, 1.0) / span_y
            fitted = _node_size_px(g.spacing * sy)
            if fitted >= node_px - 0.5:
                break
            node_px = fitted
        x0, x1 = -mx / sx, float(n_cols - 1) + mx / sx
        if n_cols == 1:
            x0, x1 = -0.5, 0.5
        y0, y1 = lo - bottom / sy, lo + span_y + top / sy
        self._label_row_px = label_h
        self._place_labels(lo - marker_r / sy, 1.0 / sy)
        self._fitting = True
        try:
            self.vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        finally:
            self._fitting = False
        self._update_node_size()

    def _place_labels(self, y: float, data_per_px: float = 0.0) -> None:
        g = self._geometry
        self._label_y = y
        rows = self._stagger or 1
        drop = getattr(self, "_label_row_px", 0.0) * data_per_px
        shown = 0       # the rows alternate over the labels shown (every stride-th column)
        for c, item in enumerate(self.column_labels):
            visible = self._label_visible(c) and not self._labels_off
            item.setPos(float(g.x[c]), y - drop * (shown % rows if visible else 0))
            item.setVisible(visible)
            shown += visible

    def _update_node_size(self, *args) -> None:
        g = self._geometry
        if g is None:
            return
        px_x, px = self.vb.viewPixelSize()
        spacing_px = g.spacing / px if px > 0 else 20.0
        if not self._auto_fit and px_x > 0:   # the user zoomed: labels follow the column pitch
            self._choose_labels(1.0 / px_x)
            lo = g.y_extent[0]
            self._place_labels(lo - (NODE_MAX_PX + 12) / 2 * px, px)
        size = _node_size_px(spacing_px)
        if abs(size - self._node_px) < 0.5 and args:
            return
        self._node_px = size
        self.nodes.set_size(round(size * 2) / 2)
        self.dead_marks.setSize(size * 1.15 + 8)
        self.saturated_marks.setSize(size + 7)

    # ----- choosing and colouring edges -----
    def _layer_values(self, l: int, arrays) -> np.ndarray:
        """|value| of layer ``l``'s candidate edges (all its edges unless sampling), native dtype."""
        plan, a = self._plan, arrays[l]
        ij = plan.cand_ij[l]
        v = a[ij] if ij is not None else np.asarray(a).reshape(-1)
        if self._mode == "weight" or ij is None:
            v = np.abs(v)          # a copy: never change the snapshot's arrays
        return v

    def _shared_range(self, mags: list[np.ndarray]) -> tuple[float, float]:
        if self._fixed_range is not None:
            self._range = self._fixed_range
            return self._fixed_range
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

    def _refresh(self, streaming: bool = False) -> None:
        """Recolour from the current snapshot; ``streaming`` (a new frame) may defer the numbers."""
        if self._snapshot is None or self._geometry is None:
            self._note_plain = ""
            self.note.setText("")
            self._update_title()
            return
        if streaming and not self.edges.ready():
            # the edge helper is drawing or keeping to its budget: the edges, their colour bar and
            # note are brought up to date from the newest frame when it can take them (on_stale),
            # not recomputed for frames it would never draw
            self.edges.defer()
            if self._mode == "gradient":            # the numbers under the columns need no edges
                self._norms, self._norms_estimated = self._layer_norms(None, [])
        else:
            self._refresh_edges()
        self._update_nodes()
        # the title's step is the step of the numbers under the columns: both follow at their pace
        self._update_column_labels_soon() if streaming else self._update_column_labels()

    def _ensure_edges(self) -> None:
        """Edges deferred by a streaming frame are computed now (what is asked about is current)."""
        if self.edges.stale and self._snapshot is not None and self._geometry is not None:
            self._refresh_edges()

    def _on_edges_stale(self) -> None:
        self._ensure_edges()
        if self._mode != "gradient":
            self._update_column_labels_soon()      # their norms came with the edges

    def _refresh_edges(self) -> None:
        """Choose, colour and sort the drawn edges from the current snapshot; colour bar and note."""
        self.edges.stale = False
        g, plan = self._geometry, self._plan
        arrays = getattr(self._snapshot, MODES[self._mode][0])
        cands = [self._layer_values(l, arrays) for l in range(g.n_layers)]   # the colour statistics' sample

        flats, layers, vals = [], [], []
        for l, (v, q) in enumerate(zip(cands, plan.quota)):
            if q < v.size:
                clean = np.nan_to_num(v, nan=0.0, posinf=np.finfo(v.dtype).max)
                idx = np.argpartition(clean, v.size - q)[v.size - q:]
                val = v[idx]
            else:
                idx, val = np.arange(v.size), v
            flat = idx if plan.candidates[l] is None else plan.candidates[l][idx]
            flats.append(flat)
            layers.append(np.full(flat.size, l, dtype=np.intp))
            vals.append(val)
        flat = np.concatenate(flats)
        layer = np.concatenate(layers)
        drawn_vals = np.concatenate(vals)

        if self._per_layer:
            vmin, vmax = 10.0 ** -self.max_decades, 1.0
            tops = np.ones(g.n_layers)
            for l, v in enumerate(cands):
                finite = v[np.isfinite(v)]
                top = float(finite.max()) if finite.size else 0.0
                tops[l] = top if top > 0 else 1.0
            pos = colors.log_positions(drawn_vals / tops[layer], vmin, vmax) if len(layer) else np.zeros(0)
        else:
            vmin, vmax = self._shared_range(cands)
            pos = colors.log_positions(drawn_vals, vmin, vmax)

        n_drawn = flat.size
        if plan.mode == "all":
            lines = g.all_lines()
            self._note_plain = f"showing all {g.n_edges:,} edges"
        else:
            lines = np.concatenate([g.lines(l, f) for l, f in enumerate(flats)])
            if plan.mode == "exact":
                self._note_plain = (f"showing strongest {n_drawn:,} of {g.n_edges:,} edges "
                                    f"(each layer's strongest, in proportion to its size)")
            else:
                self._note_plain = (f"showing strongest {n_drawn:,} of a {plan.n_candidates:,}-edge sample "
                                    f"of {g.n_edges:,} edges (a fixed random sample per layer; "
                                    f"colour scale and norms ≈ from the sample)")
        bins = colors.to_bins(pos, N_BINS)
        order = np.argsort(bins, kind="stable")
        starts = np.zeros(N_BINS + 1, dtype=np.intp)
        np.cumsum(np.bincount(bins, minlength=N_BINS), out=starts[1:])
        self._drawn_layer, self._drawn_flat = layer[order], flat[order]
        self._drawn_lines = lines[order]
        self._n_drawn = n_drawn
        self.edges.set_lines(self._drawn_lines, starts, self._pens)

        self._update_color_bar(vmin, vmax)
        self._norms, self._norms_estimated = self._layer_norms(arrays, cands)
        color = self._palette["accent"] if plan.mode != "all" else self._palette["muted"]
        weight = "bold" if plan.mode != "all" else "normal"
        self.note.setText(f'<span style="color:{color}; font-weight:{weight}">{self._note_plain}</span>')

    def _update_nodes(self) -> None:
        snap, g = self._snapshot, self._geometry
        n_nodes = len(self._node_cols)
        level = np.full(n_nodes, 0.35)              # input/output nodes: neutral fill
        dead = np.zeros(n_nodes, dtype=bool)
        saturated = np.zeros(n_nodes, dtype=bool)
        acts = [np.asarray(a) for a in snap.unit_activation]
        top = 0.0
        for a in acts:
            finite = a[np.isfinite(a)]
            if finite.size:
                top = max(top, float(finite.max()))
        offsets = np.concatenate([[0], np.cumsum(g.sizes)])
        for k in range(min(len(acts), len(g.sizes) - 2)):
            s, e = offsets[k + 1], offsets[k + 2]
            if np.shape(acts[k])[0] != e - s:
                continue
            level[s:e] = np.nan_to_num(np.asarray(acts[k]) / top, nan=0.0) if top > 0 else 0.0
            dead[s:e] = snap.unit_dead[k]
            saturated[s:e] = np.nan_to_num(np.asarray(snap.unit_saturation[k])) > SATURATED_SHARE
        saturated &= ~dead
        np.clip(level, 0.0, 1.0, out=level)
        self.nodes.set_levels((level * (N_NODE_LEVELS - 1) + 0.5).astype(np.uint8))
        self._act_top = top
        # markers change rarely: re-set them only when they change (thousands of spots cost ms)
        dead_key, sat_key = np.packbits(dead).tobytes(), np.packbits(saturated).tobytes()
        if dead_key != self._dead_key:
            self._dead_key = dead_key
            self.dead_marks.setData(pos=self._node_xy[dead], size=self._node_px * 1.15 + 8)
            self.dead_marks.setVisible(bool(dead.any()))     # an empty scatter item still costs a paint
        if sat_key != self._sat_key:
            self._sat_key = sat_key
            self.saturated_marks.setData(pos=self._node_xy[saturated], size=self._node_px + 7)
            self.saturated_marks.setVisible(bool(saturated.any()))
        self._n_dead, self._n_saturated = int(dead.sum()), int(saturated.sum())

    def _update_color_bar(self, vmin: float, vmax: float) -> None:
        symbol = MODES[self._mode][1]
        label = f"{symbol} ÷ layer max" if self._per_layer else f"{symbol} (log)"
        colors.set_log_color_bar_range(self.color_bar, vmin, vmax)
        axis = self.color_bar.getAxis("left")
        if getattr(self, "_bar_label", None) != (label, self._palette["foreground"]):
            self._bar_label = (label, self._palette["foreground"])
            axis.setLabel(label, color=self._palette["foreground"])
            axis.label.setFont(_font(SMALL_PT - 2))

    def _layer_norms(self, arrays, cands: list[np.ndarray]) -> tuple[np.ndarray, bool]:
        """Norm of each layer's incoming weights/updates/gradients; estimated from the sample above
        the exact limit (except the gradient norm, which every snapshot carries)."""
        if self._mode == "gradient":
            return np.asarray(self._snapshot.grad_norms, dtype=np.float64), False
        g = self._geometry
        if self._plan.mode == "sample":
            return np.array([math.sqrt(float(np.mean(np.square(c, dtype=np.float64))) * n) if c.size else 0.0
                             for c, n in zip(cands, g.edge_counts)]), True
        return np.array([float(np.linalg.norm(np.asarray(a, dtype=np.float64).reshape(-1)))
                         for a in arrays]), False

    def _update_column_labels_soon(self) -> None:
        """The numbers under the columns, at most every ``LABEL_INTERVAL_S`` while frames stream in
        (laying out their text costs ~3 ms, and numbers changing 30 times a second cannot be read);
        the last frame's numbers always follow, so a paused run shows its own."""
        wait = self._labels_at + LABEL_INTERVAL_S - time.perf_counter()
        if wait <= 0:
            self._update_column_labels()
        elif not self._labels_timer.isActive():
            self._labels_timer.start(int(wait * 1000) + 1)

    def _update_column_labels(self) -> None:
        self._labels_timer.stop()
        self._labels_at = time.perf_counter()
        self._update_title()
        if self._geometry is None:
            return
        norms = self._norms
        fg, muted = self._palette["foreground"], self._palette["muted"]
        big, small = policy_pt(self._label_pt), policy_pt(max(self._label_pt - 2, 8))
        approx = "≈" if self._norms_estimated else ""
        for c, item in enumerate(self.column_labels):
            if not self._label_visible(c):
                continue                                  # hidden: no re-layout until shown
            name = self._geometry.names[c]
            html = (f'<div style="text-align:center"><span style="color:{fg}; font-size:{big}pt; '
                    f'font-weight:bold">{name}</span>')
            if c >= 1 and c - 1 < len(norms) and not self.compact_labels:
                html += (f'<br><span style="color:{muted}; font-size:{small}pt">'
                         f'{approx}{escape(colors.magnitude_text(float(norms[c - 1])))}</span>')
            stats = "" if self.compact_labels else self._unit_stats_text(c)
            if stats:
                html += f'<br><span style="color:{muted}; font-size:{small}pt">{escape(stats)}</span>'
            html += "</div>"
            if getattr(item, "_html", None) != html:   # setHtml re-lays out text: skip when unchanged
                item._html = html
                item.setHtml(html)

    def _unit_stats_text(self, c: int) -> str:
        """Under hidden column ``c``: activation std and the dead share, as numbers."""
        snap, k = self._snapshot, c - 1
        if snap is None or self._geometry is None or not (0 <= k < len(snap.act_std)) or c >= len(self._geometry.sizes) - 1:
            return ""
        std = float(snap.act_std[k])
        text = f"σ {colors.magnitude_text(std, 1) if std != 0 else '0'}"
        dead = float(snap.dead_fraction[k]) if k < len(snap.dead_fraction) else 0.0
        if dead > 0:
            text += f" ✕{dead:.0%}"
        return text

    def _update_title(self) -> None:
        pal = self._palette
        symbol = MODES[self._mode][1]
        scale = "each layer ÷ its max" if self._per_layer else "one log scale"
        norm_name = {"gradient": "‖∇W‖", "weight": "‖W‖", "update": "‖ΔW‖"}[self._mode]
        step = f" · step {self._snapshot.step:,}" if self._snapshot is not None else ""
        html = (f'Edges: {symbol} · {scale}{step}'
                f'<span style="color:{pal["muted"]}; font-weight:normal"> &nbsp;(under each layer: '
                f'{norm_name})</span>')
        self.title.setText(html)        # QLabel ignores an unchanged text (no relayout, no repaint)

    def set_activation(self, name: str) -> None:
        """The network's activation: for ReLU-like units the square ring means *inactive*, not saturated."""
        relu_like = name in RELU_LIKE
        if getattr(self, "_relu_like", None) != relu_like:
            self._relu_like = relu_like
            self._update_legend()

    def marker_meaning(self) -> str:
        share = f"{SATURATED_SHARE:.0%}"
        if getattr(self, "_relu_like", False):
            return f"inactive (derivative ≈ 0) for &gt; {share} of the batch"
        return f"saturated (derivative &lt; 5% of max) for &gt; {share} of the batch"

    def _update_legend(self) -> None:
        pal = self._palette
        fill_lo, fill_hi = pal["node_fill_low"], pal["node_fill_high"]
        self.legend.setText(
            f'<span style="color:{pal["dead"]}; font-weight:bold">✕</span> '
            f'<span style="color:{pal["foreground"]}">dead</span> &nbsp; '
            f'<span style="color:{pal["saturated"]}; font-weight:bold">□</span> '
            f'<span style="color:{pal["foreground"]}">{self.marker_meaning()}</span>'
            f' &nbsp; <span style="color:{pal["foreground"]}">node fill: mean |h| '
            f'<span style="background-color:{fill_lo}; color:{fill_hi}">&nbsp;0&nbsp;</span>'
            f'<span style="background-color:{fill_hi}; color:{fill_lo}">&nbsp;max&nbsp;</span></span>')

    # ----- hover -----
    def _on_mouse_moved(self, event) -> None:
        self._ensure_edges()
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
        return nearest_edge(self._geometry, self._drawn_layer, self._drawn_lines, self._drawn_flat,
                            x, y, px, py, tolerance)

    def _show_node(self, column: int, unit: int, p: QtCore.QPointF) -> None:
        g = self._geometry
        self._place_hover(node_text(self._snapshot, g, column, unit), p, QtCore.QPointF(g.x[column], g.ys[column][unit]))
        self.sigUnitHovered.emit(column, unit)

    def _show_edge(self, layer: int, i: int, j: int, p: QtCore.QPointF) -> None:
        self._place_hover(edge_text(self._snapshot, self._geometry, self._kinds, layer, i, j), p, p)
        self.sigEdgeHovered.emit(layer, i, j)

    def _place_hover(self, text: str, p: QtCore.QPointF, mark: QtCore.QPointF) -> None:
        self.hover_text.setText(text)
        (x0, x1), (y0, y1) = self.vb.viewRange()
        px, py = self.vb.viewPixelSize()
        # beside the pointer, on the side away from the centre, then moved inside the view where
        # it would cross an edge (the view clips it: one was cut off beside the colour bar)
        width = self.hover_text.boundingRect().width() * px
        gap = 12 * px
        left = p.x() - gap - width if p.x() > (x0 + x1) / 2 else p.x() + gap
        left = max(min(left, x1 - width - 4 * px), x0 + 4 * px)
        low = p.y() < (y0 + y1) / 2
        self.hover_text.setAnchor((0.0, 1.0 if low else 0.0))
        self.hover_text.setPos(left, p.y() + (12 if low else -12) * py)
        self.hover_text.show()
        self.hover_mark.setData(pos=[(mark.x(), mark.y())], size=self._node_px + 6)
        self.hover_mark.show()

    def _clear_hover(self) -> None:
        if self.hover_text.isVisible():
            self.hover_text.hide()
            self.hover_mark.setData(pos=np.zeros((0, 2)))
            self.hover_mark.hide()
            self.sigUnitHovered.emit(-1, -1)
            self.sigEdgeHovered.emit(-1, -1, -1)
