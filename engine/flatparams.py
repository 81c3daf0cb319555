"""The flat parameter vector both network kinds (engine/network.py, engine/convnet.py) train on.

One vector ``theta`` (and ``grad`` beside it) holds each weight layer's W, then its b, input side
first; then the normalisation layers' gamma and beta; then the PReLU slopes. Optimisers, probes,
checkpoints and loss surfaces see only the vector; a network sees views of it. The initial values
are drawn on the host in float64, so they are the same numbers on every backend and dtype.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

Slice = tuple  # (start, stop, shape)


@dataclass(frozen=True)
class FlatLayout:
    w_slices: list
    b_slices: list
    gamma_slices: list
    beta_slices: list
    slope_slice: Slice | None
    n_params: int
    segment_starts: np.ndarray   # per-layer norms: W_0, b_0, W_1, b_1, ... then the rest as one segment


def flat_layout(weight_shapes: Sequence[tuple], bias_sizes: Sequence[int], norm_widths: Sequence[int],
                n_slopes: int) -> FlatLayout:
    """Where each parameter lives; ``norm_widths`` is empty without normalisation, ``n_slopes`` 0
    without a learnable activation."""
    offset = 0
    w_slices, b_slices = [], []
    for shape, nb in zip(weight_shapes, bias_sizes):
        size = int(np.prod(shape))
        w_slices.append((offset, offset + size, tuple(shape)))
        offset += size
        b_slices.append((offset, offset + nb, (nb,)))
        offset += nb
    gamma_slices, beta_slices = [], []
    for width in norm_widths:
        gamma_slices.append((offset, offset + width, (width,)))
        offset += width
        beta_slices.append((offset, offset + width, (width,)))
        offset += width
    slope_slice = None
    if n_slopes:
        slope_slice = (offset, offset + n_slopes, (n_slopes,))
        offset += n_slopes
    starts = [s for w, b in zip(w_slices, b_slices) for s in (w[0], b[0])]
    segment_starts = np.array(starts + ([b_slices[-1][1]] if offset > b_slices[-1][1] else []))
    return FlatLayout(w_slices, b_slices, gamma_slices, beta_slices, slope_slice, offset, segment_starts)


def initial_values(layout: FlatLayout, config, draw_weights: Callable[[tuple], np.ndarray]) -> np.ndarray:
    """The starting vector (float64, host): ``draw_weights(shape)`` for each weight layer in order
    (the initialiser, drawing from the network's generator), ``config.bias_init`` for biases,
    gamma 1, beta 0, slopes ``config.prelu_init``."""
    host = np.zeros(layout.n_params)
    for (start, stop, shape), (bstart, bstop, _) in zip(layout.w_slices, layout.b_slices):
        host[start:stop] = np.asarray(draw_weights(shape)).ravel()
        host[bstart:bstop] = config.bias_init
    for start, stop, _ in layout.gamma_slices:
        host[start:stop] = 1.0
    if layout.slope_slice:
        host[layout.slope_slice[0]:layout.slope_slice[1]] = config.prelu_init
    return host


def adopt(net, layout: FlatLayout) -> None:
    """Give ``net`` the layout's slices and zero ``theta`` and ``grad`` buffers on its backend
    (``net.xp``, ``net.dtype``), then let it bind its views (``net._bind_views()``)."""
    net.w_slices, net.b_slices = layout.w_slices, layout.b_slices
    net.gamma_slices, net.beta_slices = layout.gamma_slices, layout.beta_slices
    net.slope_slice, net.n_params, net.segment_starts = layout.slope_slice, layout.n_params, layout.segment_starts
    net.theta = net.xp.zeros(net.n_params, dtype=net.dtype)
    net.grad = net.xp.zeros(net.n_params, dtype=net.dtype)
    net._bind_views()
