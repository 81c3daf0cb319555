"""The network graph's two drawn items: every edge in one :class:`EdgeItem` (sorted into colour
bins, one ``QPainter.drawLines`` per bin, rendered into an image on a helper thread within a share
of a core) and every node in one :class:`NodeItem` (one pre-rendered disc per fill level, one
``drawPixmapFragments`` call each); and the :class:`EdgePlan` of which edges can be drawn.
:class:`gui.views.network_graph.NetworkGraphView` lays them out and feeds them snapshots.
"""
from __future__ import annotations

import math
import time
import weakref

import numpy as np
import pyqtgraph as pg
import shiboken6
from pyqtgraph.Qt import QtCore, QtGui

from gui.frames import sample_plan

N_BINS = 64               # colour bins: one drawLines call each
N_NODE_LEVELS = 32        # node fill levels: one drawPixmapFragments call each
_LINE_BYTES = 32          # a QLineF is four doubles
_FRAGMENT_FIELDS = 10     # a QPainter.PixmapFragment is ten doubles
SHOW_IMAGE_MS = 40        # a finished edge image waits this long for the next frame's paint
RENDER_SHARE = 0.2        # the edge-render helper uses at most about this share of a core


class EdgePlan:
    """Which edges can be drawn, fixed while the layer sizes stay the same.

    ``mode`` is ``"all"`` (every edge drawn), ``"exact"`` (each layer's strongest ``quota[l]`` of all
    its edges) or ``"sample"`` (each layer's strongest ``quota[l]`` of ``candidates[l]``, a sorted
    random sample of flat indices; ``cand_ij[l]`` holds their ``(i, j)`` for gathering from any
    strided array without copying it).
    """

    def __init__(self, g, edge_limit: int, exact_limit: int, seed: int = 0):   # g: the view's GraphGeometry
        # the engine process sends compact frames of exactly this sample (gui/frames.py)
        plan = sample_plan(g.sizes, edge_limit, exact_limit, seed)
        self.mode, self.quota, self.n_candidates = plan.mode, list(plan.quota), plan.n_candidates
        self.candidates: list[np.ndarray | None] = list(plan.candidates)
        self.cand_ij: list[tuple[np.ndarray, np.ndarray] | None] = [
            None if c is None else np.divmod(c, g.sizes[l + 1]) for l, c in enumerate(plan.candidates)]


def _draw_bins(painter, lines: np.ndarray, starts: np.ndarray, pens) -> None:
    """One ``drawLines`` per colour bin, coldest first so the hottest edges end on top."""
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, False)
    base = lines.ctypes.data
    for b in range(len(pens)):
        s, e = int(starts[b]), int(starts[b + 1])
        if e > s:
            painter.setPen(pens[b])
            painter.drawLines(shiboken6.wrapInstance(base + s * _LINE_BYTES, QtCore.QLineF), e - s)


class _Relay(QtCore.QObject):
    """Hands each finished background render to its item on the GUI thread. One relay lives as
    long as the application: a signal emitted on the item itself crashed the process when the
    item's C++ side was deleted (a small-multiple panel closed) between the helper's check and
    its emit. The relay looks the item up by weak reference, on the GUI thread, and drops the
    image of an item that is gone or shut down."""

    done = QtCore.Signal(object, object)

    def __init__(self):
        super().__init__()
        self.done.connect(self._deliver)

    @QtCore.Slot(object, object)
    def _deliver(self, ref, result) -> None:
        item = ref()
        if item is not None and shiboken6.isValid(item) and not getattr(item, "_shut", False):
            item._on_rendered(result)


_RELAY: _Relay | None = None


def _relay() -> _Relay:
    """The relay, made on first use: on the GUI thread (``EdgeItem._schedule`` runs there)."""
    global _RELAY
    if _RELAY is None:
        _RELAY = _Relay()
    return _RELAY


class EdgeItem(pg.GraphicsObject):
    """Every drawn edge in one item: lines pre-sorted by colour bin, one ``drawLines`` per bin.

    Drawing 10k edges fills millions of pixels (~30 ms), which would block the GUI thread every
    frame. So on screen the edges are drawn into a QImage on a helper thread (QPainter on a QImage
    is thread-safe, and PySide releases the GIL inside drawLines) and ``paint`` only copies the
    latest finished image (~1 ms). Until an image exists for the current view transform (first
    paint, zoom, pan, resize) and inside ``exact()`` (exports, ``grab``) it draws directly.
    """

    def __init__(self):
        super().__init__()
        self._lines = np.zeros((0, 4), dtype=np.float64)
        self._starts = np.zeros(N_BINS + 1, dtype=np.intp)
        self._pens: list[QtGui.QPen] = []
        self._rect = QtCore.QRectF()
        self._version = 0
        self._exact = 0
        self._key = None          # view transform and device size of the last on-screen paint
        self._image = None        # (key, QImage) of the last finished background render
        self._busy = self._pending = False
        self._pool = None
        self._next_render = 0.0   # perf_counter time before which no new render starts
        self.renders = 0          # background renders started (tests, benchmarks)
        self._later = QtCore.QTimer(self)
        self._later.setSingleShot(True)
        self._later.timeout.connect(self._kick)
        self.stale = False        # the view has newer edges than it gave (see NetworkGraphView._refresh)
        self.on_stale = None      # a weakref.WeakMethod, called when the helper can take them
        # a finished image is shown by the next frame's paint; this timer only paints it when no
        # frame comes (paused, or the last one): one paint per frame instead of two
        self._show_later = QtCore.QTimer(self)
        self._show_later.setSingleShot(True)
        self._show_later.timeout.connect(self.update)

    def set_bounds(self, rect: QtCore.QRectF) -> None:
        self.prepareGeometryChange()
        self._rect = QtCore.QRectF(rect)

    def set_lines(self, lines: np.ndarray, starts: np.ndarray, pens: list[QtGui.QPen]) -> None:
        """``lines`` (n, 4) float64 sorted by bin; bin ``b`` is ``lines[starts[b]:starts[b + 1]]``.

        The same lines in the same bins with the same pens as now change nothing (no render)."""
        starts = np.asarray(starts)
        if (pens is self._pens and np.array_equal(starts, self._starts)
                and np.array_equal(lines, self._lines)):
            return
        self._lines = np.array(lines, dtype=np.float64, order="C")  # a copy: the renderer reads it
        self._starts = np.array(starts)
        self._pens = pens
        self._version += 1
        if self._key is None:
            self.update()
        else:
            self._schedule()      # update() follows when the new image is ready

    # ----------------------------------------------------------------- background rendering
    @property
    def idle(self) -> bool:
        """No render running or waiting: the image (if any) shows the latest lines."""
        return not (self._busy or self._pending or self.stale)

    def ready(self) -> bool:
        """New lines given now would be rendered at once (or drawn directly: no image yet)."""
        if self._key is None or getattr(self, "_shut", False):
            return True
        return not self._busy and time.perf_counter() >= self._next_render - 0.001

    def defer(self) -> None:
        """The view has newer lines than it gave: ask for them (``on_stale``) when the helper is free."""
        self.stale = True
        self._kick()

    def _kick(self) -> None:
        """The helper may be free: take the view's deferred lines, then render what waits."""
        if self._busy or getattr(self, "_shut", False):
            return
        wait = self._next_render - time.perf_counter()
        if wait > 0.001:
            if (self._pending or self.stale) and not self._later.isActive():
                self._later.start(int(wait * 1000) + 1)
            return
        callback = self.on_stale() if self.on_stale is not None else None
        if self.stale and callback is not None:
            callback()                 # set_lines -> _schedule
        if self._pending and not self._busy:
            self._schedule()

    def _schedule(self) -> None:
        if self._busy:
            self._pending = True
            return
        if getattr(self, "_shut", False):
            return                # the view is going: no new helper thread (nothing will be shown)
        wait = self._next_render - time.perf_counter()
        if wait > 0.001:
            # the helper keeps to a share of a core (RENDER_SHARE): the engine and the GUI thread
            # need the rest; the newest lines are drawn when the wait is over (older ones never)
            self._pending = True
            if not self._later.isActive():
                self._later.start(int(wait * 1000) + 1)
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-render")
        self._busy, self._pending = True, False
        key = self._key
        job = (key, self._lines, self._starts, [QtGui.QPen(p) for p in self._pens], weakref.ref(self), _relay())
        self.renders += 1
        self._pool.submit(EdgeItem._render, job)

    def shutdown(self) -> None:
        """Stop the edge-render helper thread (waits for a render in progress); none starts again."""
        self._shut = True
        self._later.stop()
        self._show_later.stop()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _render(job) -> None:  # on the helper thread: touches no item, only its copies
        key, lines, starts, pens, ref, relay = job
        cpu0 = time.thread_time()
        transform, width, height, ratio = key
        image = QtGui.QImage(int(width * ratio), int(height * ratio), QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        image.setDevicePixelRatio(ratio)
        image.fill(0)
        if len(lines) and pens:
            painter = QtGui.QPainter(image)
            painter.setTransform(transform)
            _draw_bins(painter, lines, starts, pens)
            painter.end()
        relay.done.emit(ref, (key, image, time.thread_time() - cpu0, lines))

    def _on_rendered(self, result) -> None:
        key, image, cpu, self._image_lines = result
        self._image = (key, image)
        self._busy = False
        self._next_render = time.perf_counter() + cpu * (1.0 / RENDER_SHARE - 1.0)
        self._kick()
        if not self._show_later.isActive():
            self._show_later.start(SHOW_IMAGE_MS)

    def exact(self):
        """Context manager: paint directly inside it (for grab/export: always the latest colours)."""
        item = self

        class _Exact:
            def __enter__(self):
                item._exact += 1

            def __exit__(self, *exc):
                item._exact -= 1
        return _Exact()

    def paint(self, painter, option, widget=None):
        if not len(self._lines) or not self._pens:
            return
        self._show_later.stop()         # this paint shows the latest image
        if self._exact:
            _draw_bins(painter, self._lines, self._starts, self._pens)
            return
        device = painter.device()
        t = painter.transform()
        key = (QtGui.QTransform(t), device.width(), device.height(), device.devicePixelRatioF())
        if self._image is not None and self._image[0] == key:
            painter.save()
            painter.resetTransform()
            painter.drawImage(0, 0, self._image[1])
            painter.restore()
            return
        _draw_bins(painter, self._lines, self._starts, self._pens)  # exact, while no image fits
        if self._key != key:
            self._key = key
            self._schedule()

    def boundingRect(self):
        pad = 0.05
        return self._rect.adjusted(-pad, -pad, pad, pad)


class NodeItem(pg.GraphicsObject):
    """Every node in one item, in pixel-sized discs: one pre-rendered disc per fill level and one
    ``drawPixmapFragments`` call per level (50k nodes: a few ms; a ScatterPlotItem with per-spot
    brushes took ~180 ms to recolour).
    """

    def __init__(self):
        super().__init__()
        self._xy = np.zeros((0, 2), dtype=np.float64)     # view coordinates, sorted by level
        self._order = np.zeros(0, dtype=np.intp)
        self._frag = np.zeros((0, _FRAGMENT_FIELDS), dtype=np.float64)
        self._starts = np.zeros(N_NODE_LEVELS + 1, dtype=np.intp)
        self._xy_by_node = np.zeros((0, 2), dtype=np.float64)
        self._fills: list[QtGui.QColor] = []
        self._outline = QtGui.QColor("white")
        self._outline_px = 1.5
        self._size = 20.0
        self._pixmaps: list[QtGui.QPixmap] = []
        self._rect = QtCore.QRectF()

    def set_positions(self, xy: np.ndarray, rect: QtCore.QRectF) -> None:
        self.prepareGeometryChange()
        self._rect = QtCore.QRectF(rect)
        self._xy_by_node = np.ascontiguousarray(xy, dtype=np.float64)
        self.set_levels(np.zeros(len(xy), dtype=np.uint8))

    def set_levels(self, levels: np.ndarray) -> None:
        """Fill level (0 .. N_NODE_LEVELS - 1) of every node, in node order."""
        levels = np.asarray(levels, dtype=np.uint8)
        order = np.argsort(levels, kind="stable")
        self._xy = self._xy_by_node[order]
        starts = np.zeros(N_NODE_LEVELS + 1, dtype=np.intp)
        np.cumsum(np.bincount(levels, minlength=N_NODE_LEVELS)[:N_NODE_LEVELS], out=starts[1:])
        self._starts = starts
        if len(self._frag) != len(self._xy):
            self._frag = np.zeros((len(self._xy), _FRAGMENT_FIELDS), dtype=np.float64)
            self._fill_fragment_constants()
        self.update()

    def set_style(self, fills: list[QtGui.QColor], outline: QtGui.QColor, outline_px: float) -> None:
        self._fills, self._outline, self._outline_px = list(fills), QtGui.QColor(outline), outline_px
        self._render_pixmaps()

    def set_size(self, size: float) -> None:
        if size != self._size:
            self.prepareGeometryChange()
            self._size = float(size)
            self._render_pixmaps()

    def size(self) -> float:
        return self._size

    def _render_pixmaps(self) -> None:
        side = int(math.ceil(self._size + self._outline_px)) + 2
        pixmaps = []
        for fill in self._fills:
            pm = QtGui.QPixmap(side, side)
            pm.fill(QtCore.Qt.GlobalColor.transparent)
            p = QtGui.QPainter(pm)
            p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
            p.setPen(QtGui.QPen(self._outline, self._outline_px))
            p.setBrush(QtGui.QBrush(fill))
            r = self._size / 2.0
            p.drawEllipse(QtCore.QPointF(side / 2.0, side / 2.0), r, r)
            p.end()
            pixmaps.append(pm)
        self._pixmaps = pixmaps
        self._fill_fragment_constants()
        self.update()

    def _fill_fragment_constants(self) -> None:
        side = float(self._pixmaps[0].width()) if self._pixmaps else 1.0
        f = self._frag
        f[:, 2:4] = 0.0             # source left, top
        f[:, 4:6] = side            # source width, height
        f[:, 6:8] = 1.0             # scale x, y
        f[:, 8] = 0.0               # rotation
        f[:, 9] = 1.0               # opacity

    def paint(self, painter, option, widget=None):
        n = len(self._xy)
        if not n or not self._pixmaps:
            return
        t = painter.transform()
        x, y, f = self._xy[:, 0], self._xy[:, 1], self._frag
        np.multiply(x, t.m11(), out=f[:, 0])
        f[:, 0] += y * t.m21() + t.dx()
        np.multiply(y, t.m22(), out=f[:, 1])
        f[:, 1] += x * t.m12() + t.dy()
        painter.save()
        painter.resetTransform()
        base = f.ctypes.data
        step = _FRAGMENT_FIELDS * 8
        for b, pm in enumerate(self._pixmaps):
            s, e = int(self._starts[b]), int(self._starts[b + 1])
            if e > s:
                painter.drawPixmapFragments(
                    shiboken6.wrapInstance(base + s * step, QtGui.QPainter.PixmapFragment), e - s, pm)
        painter.restore()

    def viewTransformChanged(self):
        self.prepareGeometryChange()

    def boundingRect(self):
        try:
            px, py = self.pixelWidth(), self.pixelHeight()
        except Exception:   # not in a view yet
            px = py = 0.0
        half = self._size / 2.0 + self._outline_px + 1
        return self._rect.adjusted(-half * px, -half * py, half * px, half * py)
