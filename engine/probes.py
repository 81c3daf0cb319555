"""What we measure: per-layer gradient norms from the flat buffer, and unit statistics from the
last forward pass. Per-step probes (loss, per-layer gradient norms) stay on the device; the rest is
read from the last step's caches only when a snapshot is taken, so they cost nothing per step."""
from __future__ import annotations

import numpy as np

from .backend import to_numpy

MAX_ACTIVATION_SAMPLES = 4096


def segment_sq_sums(xp, flat, starts: np.ndarray, work=None):
    """Sum of squares of ``flat`` over the segments that begin at ``starts`` (one result each).

    ``work``, an array like ``flat``, saves allocating the squares on every call."""
    sq = xp.multiply(flat, flat, out=work)
    reduceat = getattr(xp.add, "reduceat", None)
    if reduceat is not None:
        return reduceat(sq, starts)
    bounds = list(starts) + [flat.shape[0]]
    return xp.stack([sq[a:b].sum() for a, b in zip(bounds[:-1], bounds[1:])])


def unit_statistics(network) -> dict:
    """Dead, saturated and activation statistics per hidden layer of the last forward pass."""
    act = network.act
    threshold = act.saturation_threshold()
    stats = {k: [] for k in ("dead_fraction", "saturated_fraction", "act_mean", "act_std",
                             "unit_activation", "unit_dead", "unit_saturation", "activation_samples")}
    for cache in network.caches:
        d, h = to_numpy(cache.d), to_numpy(cache.h)
        # zero derivative for the whole batch; a unit whose output is not finite is not "dead"
        unit_dead = ~(d != 0).any(axis=0) & np.isfinite(h).all(axis=0)
        unit_sat = (np.abs(d) < threshold).mean(axis=0)
        stats["unit_dead"].append(unit_dead)
        stats["unit_saturation"].append(unit_sat.astype(np.float64))
        stats["unit_activation"].append(np.abs(h).mean(axis=0).astype(np.float64))
        stats["dead_fraction"].append(unit_dead.mean())
        stats["saturated_fraction"].append(unit_sat.mean())
        stats["act_mean"].append(float(h.mean()))
        stats["act_std"].append(float(h.std()))
        flat = h.ravel()
        if flat.size > MAX_ACTIVATION_SAMPLES:
            flat = flat[:: -(-flat.size // MAX_ACTIVATION_SAMPLES)]
        stats["activation_samples"].append(flat.astype(np.float64))
    for key in ("dead_fraction", "saturated_fraction", "act_mean", "act_std"):
        stats[key] = np.asarray(stats[key], dtype=np.float64)
    return stats
