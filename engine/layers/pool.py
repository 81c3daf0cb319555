"""2x2 pooling with stride 2 on channels-last maps (max or average), forward and backward.

Odd sizes drop the last row/column, as PyTorch does (their gradient is zero). Max pooling sends
the gradient to the first maximum of each window, so ties do not double it.
"""
from __future__ import annotations


def pooled_size(size: int) -> int:
    return size // 2


def _windows(xp, x):
    n, h, w, c = x.shape
    h2, w2 = h // 2, w // 2
    v = x[:, :2 * h2, :2 * w2, :].reshape(n, h2, 2, w2, 2, c)
    return v.transpose(0, 1, 3, 5, 2, 4).reshape(n, h2, w2, c, 4)


def pool_forward(xp, x, kind: str):
    """(N, H, W, C) -> (N, H//2, W//2, C) and what backward needs."""
    win = _windows(xp, x)
    if kind == "avg":
        return win.mean(axis=-1), (x.shape, None)
    idx = win.argmax(axis=-1)
    out = xp.take_along_axis(win, idx[..., None], axis=-1)[..., 0]
    return out, (x.shape, idx)


def pool_backward(xp, g, cache, kind: str):
    """dL/d(pooled) (N, H2, W2, C) -> dL/d(input) (N, H, W, C)."""
    shape, idx = cache
    n, h, w, c = shape
    h2, w2 = g.shape[1], g.shape[2]
    if kind == "avg":
        spread = xp.broadcast_to(g[..., None] * 0.25, (n, h2, w2, c, 4))
    else:
        spread = g[..., None] * (xp.arange(4) == idx[..., None])
    full = spread.reshape(n, h2, w2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, 2 * h2, 2 * w2, c)
    if (2 * h2, 2 * w2) == (h, w):
        return xp.ascontiguousarray(full)
    dx = xp.zeros(shape, dtype=g.dtype)
    dx[:, :2 * h2, :2 * w2, :] = full
    return dx
