"""Compiled element-wise kernels for the NumPy training loop (numba), with the plain path as fallback.

NumPy spends one call and one pass over memory per operation, and its float32 ``tanh`` runs at
libm's scalar speed on CPUs without AVX-512. A dense layer's ``a += b; h = f(a); d = f'(a)`` is
three to five such calls; here it is one pass that numba vectorises, split over the cores for wide
layers. Used only where it gives the same numbers to float32 precision: float32 arrays on the NumPy
backend, activations with a closed-form derivative (sigmoid, tanh, relu, leaky_relu). float64 (the
gradient checks) and CuPy keep the plain path, as does everything when numba is missing or
``GRADFLOW_JIT=0``.

tanh is Eigen's float32 rational approximation (the one XLA uses): odd degree-13/6 polynomials
on [-7.9053, 7.9053], clamped outside, within 3e-7 of the true value.
"""
from __future__ import annotations

import os
import threading
import warnings

import numpy as np

try:  # optional: the engine works without it
    if os.environ.get("GRADFLOW_JIT", "1") == "0":
        raise ImportError("disabled by GRADFLOW_JIT=0")
    import numba
    from numba import njit, prange
except ImportError as exc:  # pragma: no cover - depends on the installation
    numba = None
    UNAVAILABLE_REASON = str(exc)
else:
    UNAVAILABLE_REASON = ""

# layers with fewer elements than this stay on one core (thread start-up costs more than it saves)
PARALLEL_MIN_ELEMENTS = 1 << 16
FUSED_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


if numba is not None:
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

    def _jit(**options):
        """njit with an on-disk cache where one can be written (a read-only install compiles per run)."""
        def wrap(fn):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return njit(cache=True, nogil=True, fastmath=_FASTMATH, **options)(fn)
            except RuntimeError:  # no writable cache location
                return njit(nogil=True, fastmath=_FASTMATH, **options)(fn)
        return wrap

    @njit(nogil=True, fastmath=_FASTMATH, inline="always")
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

    @njit(nogil=True, fastmath=_FASTMATH, inline="always")
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

    @njit(nogil=True, fastmath=_FASTMATH, inline="always")
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

    _PARALLEL_LOCK = threading.Lock()   # numba's default threading layer runs one parallel call at a time


def fused_bias_activation(name: str, dtype, xp):
    """A function ``(a, b, h, d, p)`` that does ``a += b; h = f(a); d = f'(a)`` in one pass on
    C-contiguous 2-D arrays, or None where the plain path must be used."""
    if numba is None or xp is not np or np.dtype(dtype) != np.float32 or name not in FUSED_ACTIVATIONS:
        return None
    kind = FUSED_ACTIVATIONS.index(name)
    parallel = usable_cores() > 1

    def run(a, b, h, d, p):
        n, m = a.shape
        args = (kind, a.reshape(-1), b, h.reshape(-1), d.reshape(-1), np.float32(p), n, m)
        if parallel and a.size >= PARALLEL_MIN_ELEMENTS:
            with _PARALLEL_LOCK:
                _bias_act_parallel(*args)
        else:
            _bias_act_serial(*args)
        return h, d

    return run


def multiply_into(xp, x, y, out):
    """``out = x * y`` (same shape, C-contiguous), over the cores for large float32 arrays."""
    if _over_cores(xp, out, x, y):
        with _PARALLEL_LOCK:
            _multiply_parallel(x.reshape(-1), y.reshape(-1), out.reshape(-1))
        return out
    return xp.multiply(x, y, out=out)


def _over_cores(xp, *arrays) -> bool:
    return (numba is not None and xp is np and arrays[0].size >= PARALLEL_MIN_ELEMENTS
            and all(getattr(a, "dtype", np.float32) == np.float32 for a in arrays) and usable_cores() > 1)


def sgd_step(xp, theta, grad, lr, update):
    """``update = lr * grad; theta -= update`` (``lr`` a float or a vector like ``theta``): one pass
    over the cores for large float32 buffers, two array calls otherwise."""
    if _over_cores(xp, theta, grad, update):
        with _PARALLEL_LOCK:
            if isinstance(lr, float):
                _sgd_scalar_parallel(theta, grad, np.float32(lr), update)
            else:
                _sgd_vector_parallel(theta, grad, lr, update)
        return update
    xp.multiply(grad, lr, out=update)
    theta -= update
    return update
