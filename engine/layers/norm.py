"""Batch / layer normalisation over any axes, with per-feature gamma and beta on the last axis.

Conv layers use it per channel: batch norm over (N, H, W), layer norm over (H, W, C) per sample.
Forward and backward side by side; the maths is the dense layers' (engine/network.py), written
for arrays of any rank.
"""
from __future__ import annotations

NORM_EPS = 1e-5


def _axes(kind: str, ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim - 1)) if kind == "batch" else tuple(range(1, ndim))


def norm_forward(xp, a, kind: str, gamma, beta, training: bool, running_mean=None, running_var=None,
                 momentum: float = 0.1, update_stats: bool = False):
    """s = gamma * (a - mean) / sqrt(var + eps) + beta; returns s, u (normalised a), inv_std."""
    axes = _axes(kind, a.ndim)
    if kind == "layer" or training:
        mean = a.mean(axis=axes, keepdims=True)
        centred = a - mean
        var = (centred * centred).mean(axis=axes, keepdims=True)
        if update_stats and kind == "batch":
            count = a.size // a.shape[-1]
            running_mean *= 1 - momentum
            running_mean += momentum * mean.reshape(-1)
            running_var *= 1 - momentum
            running_var += (momentum * count / max(count - 1, 1)) * var.reshape(-1)  # unbiased, as PyTorch
    else:
        centred = a - running_mean
        var = running_var
    inv_std = 1.0 / xp.sqrt(var + NORM_EPS)
    u = centred * inv_std
    return u * gamma + beta, u, inv_std


def norm_backward(xp, g, u, inv_std, gamma, kind: str, dgamma, dbeta):
    """dL/ds -> dL/da for batch statistics; fills dgamma, dbeta in place."""
    feature_axes = tuple(range(g.ndim - 1))
    dgamma[...] = (g * u).sum(axis=feature_axes)
    dbeta[...] = g.sum(axis=feature_axes)
    gu = g * gamma
    axes = _axes(kind, g.ndim)
    return inv_std * (gu - gu.mean(axis=axes, keepdims=True) - u * (gu * u).mean(axis=axes, keepdims=True))
