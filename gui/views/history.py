"""The charts' histories, Qt-free: log10 values stored once per step, smoothed lines and per-bucket
envelopes reduced incrementally (each bucket once), and exact zeros kept apart from NaN so a log
chart can draw them on a line of their own."""
from __future__ import annotations

import math

import numpy as np

MAX_POINTS = 200_000  # history points kept per line; beyond that every other point is dropped
ENVELOPE_BUCKETS = 2048   # per-step lines longer than twice this are drawn as min/max per bucket


def log10_or_nan(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape, np.nan)
    np.log10(v, out=out, where=np.isfinite(v) & (v > 0))
    return out


def log10_zero_low(values) -> np.ndarray:
    """log10 of each value; exactly 0 gives -inf (drawn on the chart's "0" line, see
    ``zero_lane``), NaN and inf give NaN (a gap)."""
    out = log10_or_nan(values)
    out[np.asarray(values, dtype=np.float64) == 0] = -np.inf
    return out


def zero_lane(values: np.ndarray) -> float | None:
    """Where a log chart draws exact zeros: one decade below the lowest finite value in view
    (-1 if none), or None when there is no zero. A log axis has no 0, so a line that reached it
    would vanish; a dead layer's gradient is drawn as what it is, on a line labelled "0"."""
    zeros = np.isneginf(values)
    if not zeros.any():
        return None
    finite = values[np.isfinite(values)]
    return float(math.floor(finite.min()) - 1) if finite.size else -1.0


def on_lane(values: np.ndarray, lane: float | None) -> np.ndarray:
    return values if lane is None else np.where(np.isneginf(values), lane, values)


def mean_bucket_size(n: int, points: int = 200) -> int:
    """Steps per bucket of the smoothed line: a power of two, so that about ``points`` to
    ``2 * points`` buckets cover ``n`` steps and the buckets stay put as the history grows."""
    return 1 << int(math.floor(math.log2(n / points))) if n >= 2 * points else 1


def envelope_bucket_size(n: int, buckets: int = ENVELOPE_BUCKETS) -> int:
    return 1 << math.ceil(math.log2(n / buckets)) if n > 2 * buckets else 1


def _means_of(steps: np.ndarray, values: np.ndarray, b: int):
    """Per bucket of ``b`` steps: the mean step and the NaN-ignoring mean of each column."""
    k = len(steps) // b
    v = values[: k * b].reshape(k, b, -1)
    ok = np.isfinite(v)
    total = np.where(ok, v, 0.0).sum(axis=1)
    count = ok.sum(axis=1)
    means = np.full(total.shape, np.nan)
    np.divide(total, count, out=means, where=count > 0)
    means[(count == 0) & np.isneginf(v).any(axis=1)] = -np.inf    # a bucket of zeros stays 0
    return steps[: k * b].reshape(k, b).mean(axis=1), means


def _extremes_of(steps: np.ndarray, values: np.ndarray, b: int):
    """Per bucket of ``b`` steps: (first step, last step) and the NaN-ignoring (min, max), interleaved."""
    k = len(steps) // b
    v = values[: k * b].reshape(k, b, -1)
    lo, hi = np.fmin.reduce(v, axis=1), np.fmax.reduce(v, axis=1)
    xs = np.empty(2 * k)
    xs[0::2], xs[1::2] = steps[: k * b: b], steps[b - 1: k * b: b]
    vs = np.empty((2 * k, values.shape[1]))
    vs[0::2], vs[1::2] = lo, hi
    return xs, vs


def bucket_means(steps: np.ndarray, values: np.ndarray, points: int = 200):
    """Means of ``values`` (n, m; NaN ignored) over consecutive buckets (``mean_bucket_size``
    steps each, aligned at the start; the newest partial bucket is left out).

    The smooth, thick line drawn over the raw per-batch values (which are noisy).
    """
    b = mean_bucket_size(len(steps), points)
    if b == 1:
        return steps, values
    return _means_of(steps, values, b)


def envelope(steps: np.ndarray, values: np.ndarray, buckets: int = ENVELOPE_BUCKETS):
    """The per-step line a chart draws, at most ~2 points per bucket: each bucket of steps (a power
    of two long, aligned at the start, so the buckets stay put as the history grows) becomes its
    smallest and its largest value (NaN ignored; an all-NaN bucket stays a gap), the newest partial
    bucket stays as it is. Up to ``2 * buckets`` steps nothing is merged. What a plot a few thousand
    pixels wide can show of every step, without handing pyqtgraph 200,000 points per line a frame.
    """
    n = len(steps)
    b = envelope_bucket_size(n, buckets)
    if b == 1:
        return steps, values
    xs, vs = _extremes_of(steps, values, b)
    m = (n // b) * b
    return np.concatenate([xs, steps[m:]]), np.concatenate([vs, values[m:]])


class _History:
    """Growable (steps, values[k, m]) buffers; halves its resolution beyond MAX_POINTS.

    The charts keep log10 values (what they draw), each step converted once as it arrives.
    """

    def __init__(self, columns: int):
        self.columns = columns
        self.steps = np.empty(1024)
        self.values = np.empty((1024, columns))
        self.n = 0
        self.stride = 1     # after thinning, keep every stride-th incoming step
        self._skip = 0
        self._buckets: dict = {}   # name -> (bucket size, buckets done, their results)

    def append(self, steps, values):
        steps = np.asarray(steps, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64).reshape(len(steps), self.columns)
        if self.stride > 1:
            keep = (np.arange(self._skip, self._skip + len(steps)) % self.stride) == 0
            self._skip = (self._skip + len(steps)) % self.stride
            steps, values = steps[keep], values[keep]
        k = len(steps)
        if self.n + k > len(self.steps):
            size = max(2 * len(self.steps), self.n + k)
            self.steps = np.resize(self.steps, size)
            grown = np.empty((size, self.columns))
            grown[: self.n] = self.values[: self.n]
            self.values = grown
        self.steps[self.n: self.n + k] = steps
        self.values[self.n: self.n + k] = values
        self.n += k
        if self.n > MAX_POINTS:
            half = self.n // 2
            self.steps[:half] = self.steps[: 2 * half: 2]
            self.values[:half] = self.values[: 2 * half: 2]
            self.n = half
            self.stride *= 2
            self._buckets.clear()      # every bucket moved

    def _completed(self, name: str, b: int, reduce):
        """``reduce`` over this history's completed buckets of ``b`` steps: each bucket is reduced
        once, when it completes (a redraw costs the new steps, not the whole history)."""
        size, done, parts = self._buckets.get(name, (None, 0, None))
        if size != b:
            done, parts = 0, None
        k = self.n // b
        if k > done:
            new = reduce(self.steps[done * b: k * b], self.values[done * b: k * b], b)
            parts = new if parts is None else tuple(np.concatenate([p, q]) for p, q in zip(parts, new))
            done = k
        self._buckets[name] = (b, done, parts)
        return parts

    def means(self, points: int = 200):
        """``bucket_means(steps, values, points)`` of the whole history, computed incrementally."""
        b = mean_bucket_size(self.n, points)
        if b == 1:
            return self.steps[: self.n], self.values[: self.n]
        return self._completed("means", b, _means_of)

    def envelope(self, buckets: int = ENVELOPE_BUCKETS):
        """``envelope(steps, values, buckets)`` of the whole history, computed incrementally."""
        n = self.n
        b = envelope_bucket_size(n, buckets)
        if b == 1:
            return self.steps[:n], self.values[:n]
        xs, vs = self._completed("envelope", b, _extremes_of)
        m = (n // b) * b
        return np.concatenate([xs, self.steps[m:n]]), np.concatenate([vs, self.values[m:n]])

    @property
    def last_step(self) -> float:
        return self.steps[self.n - 1] if self.n else -math.inf
