"""Compiled element-wise kernels for the NumPy training loop (numba), with the plain path as fallback.

NumPy spends one call and one pass over memory per operation, and its float32 ``tanh`` runs at
libm's scalar speed on CPUs without AVX-512. A dense layer's ``a += b; h = f(a); d = f'(a)`` is
three to five such calls; here it is one pass that numba vectorises, split over the cores for wide
layers. Used only where it gives the same numbers to float32 precision: float32 arrays on the NumPy
backend, activations with a closed-form derivative (sigmoid, tanh, relu, leaky_relu). float64 (the
gradient checks), CuPy and small layers keep the plain path, as does everything when numba is
missing or ``GRADFLOW_JIT=0``. numba is imported on first use (engine/_jit.py).

tanh is Eigen's float32 rational approximation (the one XLA uses): odd degree-13/6 polynomials
on [-7.9053, 7.9053], clamped outside, within 3e-7 of the true value.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

if os.environ.get("GRADFLOW_JIT", "1") == "0":
    UNAVAILABLE_REASON = "disabled by GRADFLOW_JIT=0"
elif importlib.util.find_spec("numba") is None:  # pragma: no cover - depends on the installation
    UNAVAILABLE_REASON = "numba is not installed"
else:
    UNAVAILABLE_REASON = ""
AVAILABLE = not UNAVAILABLE_REASON

# A layer (batch x width) below this stays on the plain path: it saves a few microseconds a step,
# and would cost the process a second to import numba and load the kernels.
FUSED_MIN_ELEMENTS = 1 << 13
# layers with fewer elements than this stay on one core (thread start-up costs more than it saves)
PARALLEL_MIN_ELEMENTS = 1 << 16
FUSED_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def fused_bias_activation(name: str, dtype, xp):
    """A function ``(a, b, h, d, p)`` that does ``a += b; h = f(a); d = f'(a)`` in one pass on
    C-contiguous 2-D arrays, or None where the plain path must be used. The caller uses it for
    layers of at least ``FUSED_MIN_ELEMENTS`` elements."""
    if not AVAILABLE or xp is not np or np.dtype(dtype) != np.float32 or name not in FUSED_ACTIVATIONS:
        return None
    kind = FUSED_ACTIVATIONS.index(name)
    parallel = usable_cores() > 1

    def run(a, b, h, d, p):
        jit = _jit()
        n, m = a.shape
        args = (kind, a.reshape(-1), b, h.reshape(-1), d.reshape(-1), np.float32(p), n, m)
        if parallel and a.size >= PARALLEL_MIN_ELEMENTS:
            with jit.PARALLEL_LOCK:
                jit._bias_act_parallel(*args)
        else:
            jit._bias_act_serial(*args)
        return h, d

    return run


def _jit():
    from . import _jit as module   # numba and the kernels, loaded once
    return module


def multiply_into(xp, x, y, out):
    """``out = x * y`` (same shape, C-contiguous), over the cores for large float32 arrays."""
    if _over_cores(xp, out, x, y):
        jit = _jit()
        with jit.PARALLEL_LOCK:
            jit._multiply_parallel(x.reshape(-1), y.reshape(-1), out.reshape(-1))
        return out
    return xp.multiply(x, y, out=out)


def _over_cores(xp, *arrays) -> bool:
    return (AVAILABLE and xp is np and arrays[0].size >= PARALLEL_MIN_ELEMENTS
            and all(getattr(a, "dtype", np.float32) == np.float32 for a in arrays) and usable_cores() > 1)


def sgd_step(xp, theta, grad, lr, update):
    """``update = lr * grad; theta -= update`` (``lr`` a float or a vector like ``theta``): one pass
    over the cores for large float32 buffers, two array calls otherwise."""
    if _over_cores(xp, theta, grad, update):
        jit = _jit()
        with jit.PARALLEL_LOCK:
            if isinstance(lr, float):
                jit._sgd_scalar_parallel(theta, grad, np.float32(lr), update)
            else:
                jit._sgd_vector_parallel(theta, grad, lr, update)
        return update
    xp.multiply(grad, lr, out=update)
    theta -= update
    return update
