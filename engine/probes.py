"""What we measure: per-layer gradient norms from the flat buffer, and unit statistics from the
last forward pass. Per-step probes (loss, per-layer gradient norms) stay on the device; the rest is
read from the last step's caches only when a snapshot is taken, so they cost nothing per step."""
from __future__ import annotations

import functools

import numpy as np

from . import kernels
from .backend import to_numpy

MAX_ACTIVATION_SAMPLES = 4096


def segment_sq_sums(xp, flat, starts: np.ndarray, work=None, compiled: bool = False):
    """Sum of squares of ``flat`` over the segments that begin at ``starts`` (one result each).

    ``work``, an array like ``flat``, saves allocating the squares on every call (the plain path;
    large float32 NumPy buffers take one compiled pass with no temporary, and so do all those of a
    network on the compiled path: ``compiled``)."""
    fast = kernels.segment_sq_sums(xp, flat, starts, small=compiled)
    if fast is not None:
        return fast
    sq = xp.multiply(flat, flat, out=work)
    reduceat = getattr(xp.add, "reduceat", None)
    if reduceat is not None:
        return reduceat(sq, starts)
    bounds = list(starts) + [flat.shape[0]]
    return xp.stack([sq[a:b].sum() for a, b in zip(bounds[:-1], bounds[1:])])


def segment_sq_sums_many(xp, flats, starts: np.ndarray, compiled: bool = False) -> np.ndarray:
    """``segment_sq_sums`` of each of ``flats`` (equal buffers of one layout) as one float64 NumPy
    array (len(flats), segments): one compiled pass each for large float32 NumPy buffers and for
    a network on the compiled path (``compiled``), other small NumPy buffers stacked and summed in
    three calls for all of them (a small net's snapshot is mostly call overhead)."""
    if compiled:
        out = np.empty((len(flats), starts.size), dtype=np.float32)
        if all(kernels.segment_sq_sums(xp, f, starts, small=True, out=row) is not None
               for f, row in zip(flats, out)):
            return out.astype(np.float64)
    reduceat = getattr(xp.add, "reduceat", None)
    if reduceat is None or flats[0].size >= 8 * kernels.FUSED_MIN_ELEMENTS:   # (the compiled pass's size)
        return np.stack([to_numpy(segment_sq_sums(xp, f, starts)) for f in flats]).astype(np.float64)
    stacked = xp.empty((len(flats), flats[0].size), dtype=flats[0].dtype)
    for row, flat in zip(stacked, flats):    # (np.stack costs more than the copies here)
        row[...] = flat
    return to_numpy(reduceat(xp.multiply(stacked, stacked, out=stacked), starts, axis=1)).astype(np.float64)


def sq_sums(xp, arrays) -> np.ndarray:
    """The sum of squares of each of ``arrays`` (float64, one each), in the arrays' dtype as
    ``vdot`` gives it: each run of arrays that are the layers of one (k, n, m) workspace block in
    one call (a snapshot's signal norms of a small net were one call and one host read a layer)."""
    out, i = [], 0
    while i < len(arrays):
        base = getattr(arrays[i], "base", None)
        k = base.shape[0] if base is not None and base.ndim == 3 else 0
        if k > 1 and _block_of(arrays[i:i + k]) is base:
            out.extend(to_numpy(xp.einsum("kij,kij->k", base, base)).tolist())
            i += k
        else:
            out.append(float(xp.vdot(arrays[i], arrays[i])))
            i += 1
    return np.asarray(out, dtype=np.float64)


def unit_statistics(network) -> dict:
    """Dead, saturated and activation statistics per hidden layer of the last forward pass.

    Consecutive layers of one shape are stacked and measured together (a handful of array calls
    for the whole network rather than a dozen per layer: this is most of a small net's snapshot);
    large float32 layers take one compiled pass each (engine/kernels.py)."""
    act = network.act
    threshold = act.saturation_threshold()
    stats = {k: [] for k in ("dead_fraction", "saturated_fraction", "act_mean", "act_std",
                             "unit_activation", "unit_dead", "unit_saturation", "activation_samples")}
    caches = network.caches
    groups, start = [], 0
    for i in range(1, len(caches) + 1):
        if i == len(caches) or caches[i].h.shape != caches[start].h.shape:
            groups.append(caches[start:i])
            start = i
    for group in groups:
        first = (None if group[0].h.size < kernels.FUSED_MIN_ELEMENTS       # a small layer
                 else kernels.unit_statistics(network, group[0], threshold))
        compiled = [] if first is None else [first] + [kernels.unit_statistics(network, c, threshold) for c in group[1:]]
        if compiled and all(r is not None for r in compiled):   # large float32 layers: one pass each
            for c, (unit_dead, unit_sat, unit_act, mean, std) in zip(group, compiled):
                flat = c.h.reshape(-1)
                if flat.shape[0] > MAX_ACTIVATION_SAMPLES:
                    flat = flat[:: -(-flat.shape[0] // MAX_ACTIVATION_SAMPLES)]
                stats["unit_dead"].append(unit_dead)
                stats["unit_saturation"].append(unit_sat)
                stats["unit_activation"].append(unit_act)
                stats["dead_fraction"].append(unit_dead.mean())
                stats["saturated_fraction"].append(unit_sat.mean())
                stats["act_mean"].append(mean)
                stats["act_std"].append(std)
                stats["activation_samples"].append(flat.astype(np.float64))
            continue
        h32 = to_numpy(_stacked(network.xp, [c.h for c in group]))
        d = to_numpy(_stacked(network.xp, [c.d for c in group]))
        k, n, m = h32.shape
        block = kernels.unit_statistics_block(network, h32, d, threshold)
        if block is not None:      # small layers of a compiled-path network: one call for all
            unit_dead, unit_sat, unit_act, summary = block
            flat = h32.reshape(k, n * m)
            if flat.shape[1] > MAX_ACTIVATION_SAMPLES:
                flat = flat[:, :: -(-flat.shape[1] // MAX_ACTIVATION_SAMPLES)]
            stats["unit_dead"].extend(unit_dead)
            stats["unit_saturation"].extend(unit_sat)
            stats["unit_activation"].extend(unit_act)
            for key, column in zip(("dead_fraction", "saturated_fraction", "act_mean", "act_std"), summary.T):
                stats[key].extend(column)
            stats["activation_samples"].extend(flat.astype(np.float64))
            continue
        h = h32.astype(np.float64)          # a copy: the snapshot owns it, the workspace moves on
        # sums over the batch as one vector-matrix product per layer: a reduction along the middle
        # axis costs more per call, and most of a small net's snapshot is calls
        ones = _ones(n)
        unit_act = np.matmul(ones, np.abs(h)) / n
        # zero derivative for the whole batch (NaN counts as non-zero); a unit whose output is
        # not finite is not "dead"
        unit_dead = ~np.logical_or.reduce(d, axis=1) & np.isfinite(unit_act)
        unit_sat = np.matmul(ones, np.abs(d) < threshold) / n
        flat = h.reshape(k, n * m)          # each layer's batch x width
        mean = flat.sum(axis=1) / (n * m)
        centred = flat - mean[:, None]
        std = np.sqrt(np.einsum("ij,ij->i", centred, centred) / (n * m))
        if flat.shape[1] > MAX_ACTIVATION_SAMPLES:
            flat = flat[:, :: -(-flat.shape[1] // MAX_ACTIVATION_SAMPLES)]
        stats["unit_dead"].extend(unit_dead)
        stats["unit_saturation"].extend(unit_sat)
        stats["unit_activation"].extend(unit_act)
        stats["dead_fraction"].extend(np.add.reduce(unit_dead, axis=1) / m)
        stats["saturated_fraction"].extend(np.add.reduce(unit_sat, axis=1) / m)
        stats["act_mean"].extend(mean)
        stats["act_std"].extend(std)
        stats["activation_samples"].extend(flat)
    for key in ("dead_fraction", "saturated_fraction", "act_mean", "act_std"):
        stats[key] = np.asarray(stats[key], dtype=np.float64)
    return stats


@functools.lru_cache(maxsize=8)
def _ones(n: int) -> np.ndarray:
    ones = np.ones(n)
    ones.flags.writeable = False
    return ones


def _block_of(arrays):
    """The (k, n, m) block whose k layers ``arrays`` are (one run of the training workspace,
    network.py), or None."""
    base = getattr(arrays[0], "base", None)
    if (base is not None and base.ndim == 3 and base.shape[0] == len(arrays)
            and all(a.base is base and a.shape == base.shape[1:] for a in arrays)):
        return base
    return None


def _stacked(xp, arrays):
    """The (k, n, m) array of the k (n, m) ``arrays``: the block they are slices of when they are
    one run of the training workspace, else a stacked copy."""
    block = _block_of(arrays)
    return block if block is not None else xp.stack(arrays)
