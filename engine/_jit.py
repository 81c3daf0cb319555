"""The numba kernels behind engine/kernels.py, imported only when a layer is big enough to use them
(importing numba and loading its kernels costs a process about a second)."""
from __future__ import annotations

import os
import threading
import warnings

import numba
import numpy as np
from numba import njit, prange

# The threads of a parallel kernel: numba's own work queue, whose idle workers sleep on a condition
# variable. OpenMP's (numba's default where libgomp is found) spin after each parallel region, and
# on a machine with as many cores as threads they took the cores from OpenBLAS's threads, which spin
# as well: on two cores a 50x256x256 net trained at 1.5-1.9 steps/s with OpenMP against 7.7-8.9 on
# the work queue (alternating runs, load ~4; 11-12 at one thread). A user's NUMBA_THREADING_LAYER
# wins; the choice binds once numba has started its threads.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

_f = np.float32
_CLAMP = _f(7.90531110763549805)
_A0, _A1, _A2, _A3, _A4, _A5, _A6 = (_f(v) for v in (
    -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
    1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03))
_B0, _B1, _B2, _B3 = (_f(v) for v in (
    1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03))
_ZERO, _HALF, _ONE = _f(0.0), _f(0.5), _f(1.0)

# fast-math without "no NaNs / no infs": a diverging run's NaN must come out as NaN, as on the
# plain path (the GUI tells a NaN unit from a dead one)
_FASTMATH = {"contract", "arcp", "nsz", "afn"}
# NumPy's error model: a float division does not check for a zero divisor (Python's model raises
# ZeroDivisionError, and that per-element check keeps LLVM from vectorising any loop that divides:
# tanh's rational approximation ran 7x slower). No kernel here divides by a value that can be 0.
_OPTIONS = dict(nogil=True, fastmath=_FASTMATH, error_model="numpy")


def _jit(**options):
    """njit with an on-disk cache where one can be written (a read-only install compiles per run)."""
    def wrap(fn):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return njit(cache=True, **{**_OPTIONS, **options})(fn)
        except RuntimeError:  # no writable cache location
            return njit(**{**_OPTIONS, **options})(fn)
    return wrap


@njit(**_OPTIONS, inline="always")
def _tanh(x):
    # ternaries rather than min/max keep the loop vectorisable; written so that NaN stays NaN
    x = _CLAMP if x > _CLAMP else x
    x = -_CLAMP if x < -_CLAMP else x
    x2 = x * x
    p = x2 * _A0 + _A1
    p = x2 * p + _A2
    p = x2 * p + _A3
    p = x2 * p + _A4
    p = x2 * p + _A5
    p = x2 * p + _A6
    p = x * p
    q = x2 * _B0 + _B1
    q = x2 * q + _B2
    q = x2 * q + _B3
    return p / q

@njit(**_OPTIONS, inline="always")
def _value(kind, s, p):
    """f(s) for the activation numbered ``kind`` (index in FUSED_ACTIVATIONS)."""
    if kind == 0:      # sigmoid via tanh: no overflow
        return _HALF + _HALF * _tanh(_HALF * s)
    if kind == 1:      # tanh
        return _tanh(s)
    # relu and leaky_relu as NumPy's maximum/where: NaN in, NaN out
    if kind == 2:      # relu
        return _ZERO if s <= _ZERO else s
    return s if s > _ZERO else p * s   # leaky_relu


@njit(**_OPTIONS, inline="always")
def _forward_row(kind, a, b, h, p, i):
    """Row ``i``: a += b; h = f(a). The kind is tested once per row, not per element."""
    m = a.shape[1]
    for j in range(m):
        s = a[i, j] + b[j]
        a[i, j] = s
        h[i, j] = _value(kind, s, p)


@njit(**_OPTIONS, inline="always")
def _derivative(kind, s, v, p):
    """f'(s) given v = f(s): from the output where that is exact (sigmoid, tanh), from s otherwise
    (relu, leaky_relu: the derivative for s <= 0 when s is NaN, as the plain path's s > 0)."""
    if kind == 0:
        return v * (_ONE - v)
    if kind == 1:
        return _ONE - v * v
    if kind == 2:
        return _ONE if s > _ZERO else _ZERO
    return _ONE if s > _ZERO else p


@njit(**_OPTIONS, inline="always")
def _forward_derive_row(kind, a, b, h, d, p, i):
    """Row ``i``: a += b; h = f(a); d = f'(a), one pass (a layer that keeps its derivative)."""
    m = a.shape[1]
    for j in range(m):
        s = a[i, j] + b[j]
        a[i, j] = s
        v = _value(kind, s, p)
        h[i, j] = v
        d[i, j] = _derivative(kind, s, v, p)


@njit(**_OPTIONS, inline="always")
def _backward_row(kind, g, s, h, p, out, i):
    """Row ``i``: out = g * f'(s), the derivative from the output h where that is exact (sigmoid,
    tanh) and from s otherwise (relu, leaky_relu: derivative as for s <= 0 when s is NaN)."""
    m = g.shape[1]
    if kind == 0:
        for j in range(m):
            v = h[i, j]
            out[i, j] = g[i, j] * (v * (_ONE - v))
    elif kind == 1:
        for j in range(m):
            v = h[i, j]
            out[i, j] = g[i, j] * (_ONE - v * v)
    elif kind == 2:
        for j in range(m):
            out[i, j] = g[i, j] if s[i, j] > _ZERO else _ZERO * g[i, j]
    else:
        for j in range(m):
            out[i, j] = g[i, j] if s[i, j] > _ZERO else p * g[i, j]


@_jit()
def _forward_serial(kind, a, b, h, p):
    for i in range(a.shape[0]):
        _forward_row(kind, a, b, h, p, i)


@_jit()
def _forward_derive_serial(kind, a, b, h, d, p):
    for i in range(a.shape[0]):
        _forward_derive_row(kind, a, b, h, d, p, i)


@_jit(parallel=True)
def _forward_parallel(kind, a, b, h, p):
    for i in prange(a.shape[0]):
        _forward_row(kind, a, b, h, p, i)


@_jit()
def _backward_serial(kind, g, s, h, p, out):
    for i in range(g.shape[0]):
        _backward_row(kind, g, s, h, p, out, i)


@_jit(parallel=True)
def _backward_parallel(kind, g, s, h, p, out):
    for i in prange(g.shape[0]):
        _backward_row(kind, g, s, h, p, out, i)


@_jit(parallel=True)
def _multiply_parallel(x, y, out):
    for k in prange(x.size):
        out[k] = x[k] * y[k]

@_jit(parallel=True)
def _sgd_scalar_parallel(theta, grad, lr, update):
    for k in prange(theta.size):
        u = lr * grad[k]
        update[k] = u
        theta[k] -= u

@_jit(parallel=True)
def _sgd_vector_parallel(theta, grad, lr, update):
    for k in prange(theta.size):
        u = lr[k] * grad[k]
        update[k] = u
        theta[k] -= u

PARALLEL_LOCK = threading.Lock()   # the work queue runs one parallel call at a time


# reductions may also reassociate (the sum is split over vector lanes), still without "no NaNs"
_REDUCE = dict(_OPTIONS, fastmath=_FASTMATH | {"reassoc"})


@njit(**_REDUCE, inline="always")
def _sq_sum(flat, a, b):
    """Sum of flat[a:b]**2: float32 vector lanes over blocks of 4096, the blocks added in float64
    (a layer's million squares add up without drift). The loops index slices from 0: an index
    that might be negative (range(a, b)) gets a wraparound check that kept the loop scalar."""
    seg = flat[a:b]
    acc = 0.0
    for start in range(0, seg.size, 4096):
        block = seg[start:start + 4096]
        part = _ZERO
        for i in range(block.size):
            v = block[i]
            part += v * v
        acc += part
    return acc


@_jit(**_REDUCE)
def _segment_sq_sums_serial(flat, starts, out):
    n = starts.size
    for k in range(n):
        out[k] = _sq_sum(flat, starts[k], starts[k + 1] if k + 1 < n else flat.size)


@_jit(**_REDUCE, parallel=True)
def _segment_sq_sums_parallel(flat, starts, out):
    n = starts.size
    for k in prange(n):
        out[k] = _sq_sum(flat, starts[k], starts[k + 1] if k + 1 < n else flat.size)


@njit(**_OPTIONS, inline="always")
def _stat(j, v, dv, threshold, nonzero, nonfinite, saturated, magnitude):
    nonzero[j] += dv != _ZERO
    nonfinite[j] += not np.isfinite(v)
    saturated[j] += abs(dv) < threshold
    magnitude[j] += abs(np.float64(v))


@_jit(**_REDUCE)
def _unit_statistics(kind, s, h, d, p, threshold, nonzero, nonfinite, saturated, magnitude):
    """Per unit (column) of one layer, counts over the batch (rows) of f'(s) != 0, non-finite h,
    |f'(s)| < threshold, and the sum of |h|, added into the four arrays; returns (sum of h, sum
    of h^2 about its mean) in float64. f'(s) as backward computes it for ``kind`` >= 0, else read
    from ``d``."""
    n, m = h.shape
    total = 0.0
    for i in range(n):
        part = 0.0
        if kind == 0:
            for j in range(m):
                v = h[i, j]
                _stat(j, v, v * (_ONE - v), threshold, nonzero, nonfinite, saturated, magnitude)
                part += v
        elif kind == 1:
            for j in range(m):
                v = h[i, j]
                _stat(j, v, _ONE - v * v, threshold, nonzero, nonfinite, saturated, magnitude)
                part += v
        elif kind == 2:
            for j in range(m):
                v = h[i, j]
                _stat(j, v, _ONE if s[i, j] > _ZERO else _ZERO, threshold, nonzero, nonfinite, saturated, magnitude)
                part += v
        elif kind == 3:
            for j in range(m):
                v = h[i, j]
                _stat(j, v, _ONE if s[i, j] > _ZERO else p, threshold, nonzero, nonfinite, saturated, magnitude)
                part += v
        else:
            for j in range(m):
                v = h[i, j]
                _stat(j, v, d[i, j], threshold, nonzero, nonfinite, saturated, magnitude)
                part += v
        total += part
    mean = total / (n * m)
    spread = 0.0
    for i in range(n):
        part = 0.0
        for j in range(m):
            c = np.float64(h[i, j]) - mean
            part += c * c
        spread += part
    return total, spread


@_jit(**_REDUCE)
def _unit_statistics_block(h, d, threshold, dead, saturation, activation, summary):
    """``_unit_statistics`` of each layer of a (k, n, m) block of small layers (f'(s) read from
    ``d``), finished here too, so that a small net's snapshot takes one call for its statistics:
    per layer l and unit j, ``dead[l, j]``, ``saturation[l, j]``, ``activation[l, j]``, and
    ``summary[l]`` = (dead fraction, saturated fraction, mean, std), as probes.py defines them."""
    k, n, m = h.shape
    for l in range(k):
        nonzero, nonfinite = np.zeros(m, np.int64), np.zeros(m, np.int64)
        saturated, magnitude = np.zeros(m, np.int64), np.zeros(m, np.float64)
        total, spread = _unit_statistics(-1, h[l], h[l], d[l], _ZERO, threshold,
                                         nonzero, nonfinite, saturated, magnitude)
        dead_units, saturated_sum = 0, 0.0
        for j in range(m):
            is_dead = nonzero[j] == 0 and nonfinite[j] == 0
            dead[l, j] = is_dead
            dead_units += is_dead
            saturation[l, j] = saturated[j] / n
            saturated_sum += saturation[l, j]
            activation[l, j] = magnitude[j] / n
        summary[l, 0] = dead_units / m
        summary[l, 1] = saturated_sum / m
        summary[l, 2] = total / (n * m)
        summary[l, 3] = np.sqrt(spread / (n * m))
