"""The numba kernels behind engine/kernels.py, imported only when a layer is big enough to use them
(importing numba and loading its kernels costs a process about a second)."""
from __future__ import annotations

import threading
import warnings

import numpy as np
from numba import njit, prange

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
                return njit(cache=True, **_OPTIONS, **options)(fn)
        except RuntimeError:  # no writable cache location
            return njit(**_OPTIONS, **options)(fn)
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
def _apply(kind, s, p):
    """(f(s), f'(s)) for the activation numbered ``kind`` (index in FUSED_ACTIVATIONS)."""
    if kind == 0:      # sigmoid via tanh: no overflow
        v = _HALF + _HALF * _tanh(_HALF * s)
        return v, v * (_ONE - v)
    if kind == 1:      # tanh
        v = _tanh(s)
        return v, _ONE - v * v
    # relu and leaky_relu as NumPy's maximum/where: NaN in, NaN out, derivative as for s <= 0
    if kind == 2:      # relu
        return (_ZERO if s <= _ZERO else s), (_ONE if s > _ZERO else _ZERO)
    return (s if s > _ZERO else p * s), (_ONE if s > _ZERO else p)   # leaky_relu

@njit(**_OPTIONS, inline="always")
def _row(kind, a, b, h, d, p, start, m):
    for j in range(m):
        k = start + j
        s = a[k] + b[j]
        a[k] = s
        v, g = _apply(kind, s, p)
        h[k] = v
        d[k] = g

@_jit()
def _bias_act_serial(kind, a, b, h, d, p, n, m):
    for i in range(n):
        _row(kind, a, b, h, d, p, i * m, m)

@_jit(parallel=True)
def _bias_act_parallel(kind, a, b, h, d, p, n, m):
    for i in prange(n):
        _row(kind, a, b, h, d, p, i * m, m)

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

PARALLEL_LOCK = threading.Lock()   # numba's default threading layer runs one parallel call at a time
