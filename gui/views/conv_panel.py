"""Kernels and feature maps of one conv layer, read from the Snapshot only.

Left: the layer's kernels as a mosaic, one row per output channel and one column per input
channel (weights on a diverging map around 0, or |dL/dW| on viridis). Right: one training sample's
input image and that layer's feature maps, one tile per channel; dead channels are struck through
and saturated ones framed, as on the network graph.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from gui import colors
from gui.widgets import font

TITLE_PT = 17
TEXT_PT = 13
MAX_TILES = 32          # kernel rows/columns and feature-map tiles drawn (the rest is counted)
SATURATED_SHARE = 0.5


def mosaic(tiles: np.ndarray, n_cols: int, gap: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(n, h, w) tiles -> one (rows*(h+gap)-gap, n_cols*(w+gap)-gap) image and a mask of tile pixels."""
    n, h, w = tiles.shape
    n_rows = max(1, math.ceil(n / n_cols))
    out = np.zeros((n_rows * (h + gap) - gap, n_cols * (w + gap) - gap))
    mask = np.zeros(out.shape, dtype=bool)
    for t in range(n):
        r, c = divmod(t, n_cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tiles[t]
        mask[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = True
    return out, mask


def to_rgba(values: np.ndarray, mask: np.ndarray, cmap: pg.ColorMap, lo: float, hi: float) -> np.ndarray:
    """Colour ``values`` in [lo, hi] with ``cmap``; pixels outside ``mask`` are transparent."""
    span = hi - lo if hi > lo else 1.0
    pos = np.clip((values - lo) / span, 0.0, 1.0)
    rgba = cmap.map(pos.ravel(), mode="byte").reshape(*values.shape, -1)
    if rgba.shape[-1] == 3:
        rgba = np.concatenate([rgba, np.full((*values.shape, 1), 255, np.uint8)], axis=-1)
    rgba[~mask] = 0
    return rgba


class _ImagePane(pg.GraphicsLayoutWidget):
    """One view box showing an RGBA image with row 0 at the top, plus text items over it."""

    def __init__(self):
        super().__init__()
        self.vb = self.addViewBox()
        self.vb.setAspectLocked(True)
        self.vb.invertY(True)
        self.vb.setMenuEnabled(False)
        self.image = pg.ImageItem()
        self.vb.addItem(self.image)
        self.texts: list[pg.TextItem] = []
        self.setMinimumSize(260, 220)

    def show_rgba(self, rgba: np.ndarray) -> None:
        self.image.setImage(rgba.transpose(1, 0, 2), autoLevels=False, levels=(0, 255))
        self.vb.autoRange(padding=0.04)

    def set_texts(self, items: list[tuple[float, float, str, str]]) -> None:
        for t in self.texts:
            self.vb.removeItem(t)
        self.texts = []
        for x, y, text, color in items:
            t = pg.TextItem(text, color=color, anchor=(0, 1))
            t.setFont(font(TEXT_PT, bold=True))
            t.setPos(x, y)
            self.vb.addItem(t, ignoreBounds=True)
            self.texts.append(t)


class ConvPanel(QtWidgets.QWidget):
    """The selected conv layer's kernels and one sample's feature maps."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._snapshot = None
        self._palette = colors.theme("dark")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        row = QtWidgets.QHBoxLayout()
        label = QtWidgets.QLabel("Layer:")
        label.setFont(font(TEXT_PT))
        self.layer_combo = QtWidgets.QComboBox()
        self.layer_combo.setFont(font(TEXT_PT))
        self.layer_combo.currentIndexChanged.connect(lambda _i: self._redraw())
        self.mode_combo = QtWidgets.QComboBox()
        self.mode_combo.setFont(font(TEXT_PT))
        self.mode_combo.addItem("kernels W", "weights")
        self.mode_combo.addItem("kernel gradients |dL/dW|", "gradients")
        self.mode_combo.currentIndexChanged.connect(lambda _i: self._redraw())
        row.addWidget(label)
        row.addWidget(self.layer_combo, 1)
        row.addWidget(self.mode_combo, 1)
        layout.addLayout(row)
        self.message = QtWidgets.QLabel("Kernels and feature maps appear for convolutional networks "
                                        "(Architecture → network type = cnn, on an image dataset).")
        self.message.setWordWrap(True)
        self.message.setFont(font(TEXT_PT + 2))
        layout.addWidget(self.message)
        self.kernel_title = QtWidgets.QLabel()
        self.kernel_title.setFont(font(TITLE_PT, bold=True))
        self.kernel_title.setWordWrap(True)
        layout.addWidget(self.kernel_title)
        self.kernels = _ImagePane()
        layout.addWidget(self.kernels, 1)
        self.maps_title = QtWidgets.QLabel()
        self.maps_title.setFont(font(TITLE_PT, bold=True))
        self.maps_title.setWordWrap(True)
        layout.addWidget(self.maps_title)
        self.maps = _ImagePane()
        layout.addWidget(self.maps, 1)
        self.note = QtWidgets.QLabel()
        self.note.setFont(font(TEXT_PT))
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self._show_cnn(False)

    # ------------------------------------------------------------------ window hooks
    def set_theme(self, name: str) -> None:
        self._palette = colors.theme(name)
        for pane in (self.kernels, self.maps):
            pane.setBackground(self._palette["background"])
        self._redraw()

    def set_snapshot(self, snapshot) -> None:
        self._snapshot = snapshot
        kernels = getattr(snapshot, "kernels", ())
        if not kernels:
            self._show_cnn(False)
            return
        self._show_cnn(True)
        if self.layer_combo.count() != len(kernels):
            with QtCore.QSignalBlocker(self.layer_combo):
                current = self.layer_combo.currentIndex()
                self.layer_combo.clear()
                for l, k in enumerate(kernels):
                    _, _, kh, kw = k.shape
                    i, o = snapshot.edge_grads[l].shape
                    self.layer_combo.addItem(f"conv{l + 1}: {i} → {o} channels, {kh}x{kw}", l)
                self.layer_combo.setCurrentIndex(min(max(current, 0), len(kernels) - 1))
        self._redraw()

    def select_layer(self, layer: int) -> None:
        self.layer_combo.setCurrentIndex(layer)

    # ------------------------------------------------------------------ drawing
    def _show_cnn(self, on: bool) -> None:
        self.message.setVisible(not on)
        for w in (self.kernel_title, self.kernels, self.maps_title, self.maps, self.note, self.layer_combo,
                  self.mode_combo):
            w.setVisible(on)

    def _redraw(self) -> None:
        snap = self._snapshot
        if snap is None or not getattr(snap, "kernels", ()):
            return
        l = max(self.layer_combo.currentIndex(), 0)
        self._draw_kernels(snap, l)
        self._draw_maps(snap, l)

    def _draw_kernels(self, snap, l: int) -> None:
        grads = self.mode_combo.currentData() == "gradients"
        k = np.asarray(snap.kernel_grads[l] if grads else snap.kernels[l], dtype=np.float64)
        o, i, kh, kw = k.shape
        shown = k[:MAX_TILES, :MAX_TILES]
        if l < len(snap.edge_grads):
            i, o = snap.edge_grads[l].shape
        so, si = shown.shape[:2]
        tiles = shown.reshape(so * si, kh, kw)
        # one input channel: wrap the output channels into a grid instead of one tall column
        img, mask = mosaic(tiles, si if si > 1 else max(1, math.ceil(math.sqrt(so * 2))))
        if grads:
            vals = np.abs(img)
            top = float(vals[mask].max()) if mask.any() else 1.0
            rgba = to_rgba(vals, mask, pg.colormap.get("viridis"), 0.0, top or 1.0)
            scale = f"|dL/dW| from 0 to {colors.sci(top)}"
        else:
            top = float(np.abs(img[mask]).max()) if mask.any() else 1.0
            rgba = to_rgba(img, mask, pg.colormap.get("CET-D1A"), -top, top)
            scale = f"blue −{colors.sci(top)} · white 0 · red +{colors.sci(top)}"
        self.kernels.show_rgba(rgba)
        self.kernels.set_texts([])
        channels = self._snapshot.edge_grads[l].shape     # (in, out): the layer's real channel counts
        cut = "" if channels == (si, so) else f" (first {so} x {si} of {channels[1]} x {channels[0]} shown)"
        norm = float(snap.grad_norms[l]) if l < len(snap.grad_norms) else float("nan")
        layout = ("one tile per output channel, row by row" if si == 1
                  else f"row = output channel ({o}), column = input channel ({i})")
        self.kernel_title.setText(f"conv{l + 1} kernels {kh}x{kw}: {layout}{cut}")
        self.note.setText(f"{scale}.  ‖dL/dW{l + 1}‖ = {colors.sci(norm)}.")

    def _draw_maps(self, snap, l: int) -> None:
        maps = snap.feature_maps[l] if l < len(snap.feature_maps) else None
        if maps is None:
            self.maps.show_rgba(np.zeros((1, 1, 4), np.uint8))
            return
        maps = np.asarray(maps, dtype=np.float64)[:MAX_TILES]
        c, h, w = maps.shape
        image = np.asarray(snap.sample_image, dtype=np.float64) if snap.sample_image is not None else None
        # the input image first (resized to the map size if pooling shrank the maps), then the channels
        tiles = [maps[j] for j in range(c)]
        first = 0
        if image is not None and image.shape[1:] == (h, w):
            tiles = [image[0]] + tiles
            first = 1
        n_cols = max(1, math.ceil(math.sqrt(len(tiles) * 1.6)))
        img, mask = mosaic(np.stack(tiles), n_cols)
        vals = img.copy()
        lo, hi = float(np.min(maps)), float(np.max(maps))
        if first:   # scale the input tile to the maps' range so both are readable
            tile = tiles[0]
            span = float(tile.max() - tile.min()) or 1.0
            vals[:h, :w] = lo + (tile - tile.min()) / span * (hi - lo)
        rgba = to_rgba(vals, mask, pg.colormap.get("viridis"), lo, hi if hi > lo else lo + 1)
        self.maps.show_rgba(rgba)
        dead = np.asarray(snap.unit_dead[l]) if l < len(snap.unit_dead) else np.zeros(c, bool)
        sat = np.asarray(snap.unit_saturation[l]) if l < len(snap.unit_saturation) else np.zeros(c)
        texts = []
        if first:
            texts.append((0, h, "input", self._palette["foreground"]))
        for j in range(c):
            r, col = divmod(j + first, n_cols)
            x, y = col * (w + 1), r * (h + 1) + h
            if dead[j]:
                texts.append((x, y, f"{j}✕", self._palette["dead"]))
            elif sat[j] > SATURATED_SHARE:
                texts.append((x, y, f"{j}▢", self._palette["saturated"]))
            else:
                texts.append((x, y, str(j), self._palette["foreground"]))
        self.maps.set_texts(texts)
        n_dead = int(dead.sum())
        self.maps_title.setText(f"conv{l + 1} feature maps of one training sample ({c} channels, {h}x{w}; "
                                f"viridis {colors.sci(lo)} to {colors.sci(hi)})"
                                + (f" · {n_dead} dead" if n_dead else "")
                                + " · ✕ dead, ▢ saturated for > 50% of the batch")
