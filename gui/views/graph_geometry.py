"""Where the network graph puts things: layer names and :class:`GraphGeometry`, the column and
unit positions of a network's nodes and the end points of its edges; which drawn edge is under the
pointer and what its hover text and a node's say (Qt-free but for a QRectF).
:class:`gui.views.network_graph.NetworkGraphView` draws them."""
from __future__ import annotations

import math

import numpy as np
from pyqtgraph.Qt import QtCore

from gui import colors


def layer_names(n_columns: int, kinds: tuple[str, ...] = ()) -> list[str]:
    """``["input", "h1", ..., "output"]`` for a network drawn with ``n_columns`` columns; with
    per-weight-layer ``kinds`` ("conv"/"dense") conv columns are ``conv1, conv2, ...``."""
    n_conv = sum(1 for k in kinds if k == "conv")
    hidden = [f"conv{k}" if k <= n_conv else f"h{k - n_conv}" for k in range(1, n_columns - 1)]
    return ["input"] + hidden + ["output"]




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

    @property
    def y_extent(self) -> tuple[float, float]:
        """Lowest and highest node ``y``."""
        half = (max(self.sizes) - 1) / 2.0 * self.spacing
        return 0.5 - half, 0.5 + half

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
        lo, hi = self.y_extent
        return QtCore.QRectF(0.0, lo, float(self.x[-1]), hi - lo)


def nearest_edge(g: GraphGeometry, drawn_layer, drawn_lines, drawn_flat, x: float, y: float, px: float, py: float,
                 tolerance: float = 4.0):
    """``(layer, i, j)`` of the drawn edge nearest to view point (x, y) within ``tolerance`` pixels
    (``px``, ``py``: view units per pixel), or None; the hottest (drawn last) wins ties."""
    layer = int(math.floor(x))
    if not 0 <= layer < g.n_layers:
        return None
    sel = np.flatnonzero(drawn_layer == layer)
    if not sel.size:
        return None
    seg = drawn_lines[sel]
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
    i, j = divmod(int(drawn_flat[sel[best]]), g.sizes[layer + 1])
    return layer, i, j


def node_text(snap, g: GraphGeometry, column: int, unit: int) -> str:
    """The hover text of a node: its activation, dead or not, saturation and bias, as numbers."""
    what = "channel" if g.names[column].startswith("conv") else "unit"
    lines = [f"{g.names[column]} {what} {unit}"]
    if 1 <= column <= len(snap.unit_activation):
        k = column - 1
        lines.append(f"mean |h| = {colors.sci(float(snap.unit_activation[k][unit]), 3)}")
        lines.append(f"dead: {'YES' if bool(snap.unit_dead[k][unit]) else 'no'}")
        lines.append(f"saturated for {float(snap.unit_saturation[k][unit]):.0%} of the batch")
    if column >= 1:
        lines.append(f"bias = {colors.sci(float(snap.biases[column - 1][unit]), 3)}")
    return "\n".join(lines)


def edge_text(snap, g: GraphGeometry, kinds, layer: int, i: int, j: int) -> str:
    """The hover text of an edge: what it joins and its weight, gradient and last update."""
    src, dst = g.names[layer], g.names[layer + 1]
    if layer < len(kinds) and kinds[layer] == "conv":
        head, (w, grad, upd) = (f"{src} channel {i} → {dst} channel {j}  (kernel W{layer + 1}[{j}, {i}])",
                                ("‖kernel‖", "‖dL/dkernel‖", "‖Δkernel‖"))
    elif layer > 0 and layer - 1 < len(kinds) and kinds[layer - 1] == "conv":
        head, (w, grad, upd) = (f"{src} channel {i} (all positions) → {dst} unit {j}", ("‖w‖", "‖dL/dw‖", "‖Δw‖"))
    else:
        head, (w, grad, upd) = (f"{src} unit {i} → {dst} unit {j}  (W{layer + 1}[{i}, {j}])",
                                ("w", "|dL/dw|", "|Δw|"))
    values = (snap.weights[layer], snap.edge_grads[layer], snap.edge_updates[layer])
    return "\n".join([head] + [f"{name} = {colors.sci(float(arr[i, j]), 3)}" for name, arr in zip((w, grad, upd), values)])
