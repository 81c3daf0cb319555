"""Compiled element-wise kernels for the NumPy training loop (numba), with the plain path as fallback.

NumPy spends one call and one pass over memory per operation, and its float32 ``tanh`` runs at
libm's scalar speed on CPUs without AVX-512. A dense layer's ``a += b; h = f(a)`` and its
backward ``g * f'(a)`` are three to five such calls; here each is one vectorised pass, and no
derivative array is stored between them (XLA's fusion of the same step does the same). The norm
probe (per-layer sums of squares of the flat gradient) and the unit statistics of a snapshot are
one pass each too. Used only where it gives the same numbers to float32 precision: float32 arrays
on the NumPy backend, activations with a closed-form derivative (sigmoid, tanh, relu, leaky_relu).
float64 (the gradient checks), CuPy and evaluation passes keep the plain path, as does everything
when numba is missing or ``GRADFLOW_JIT=0``. numba is imported on first use (engine/_jit.py) or by
``preload``. Very wide
layers and very large parameter buffers are split over two or more cores on numba's work queue.

tanh is Eigen's float32 rational approximation (the one XLA uses): odd degree-13/6 polynomials
on [-7.9053, 7.9053], clamped outside, within 3e-7 of the true value.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

from .activations import ACTIVATIONS

if os.environ.get("GRADFLOW_JIT", "1") == "0":
    UNAVAILABLE_REASON = "disabled by GRADFLOW_JIT=0"
elif importlib.util.find_spec("numba") is None:  # pragma: no cover - depends on the installation
    UNAVAILABLE_REASON = "numba is not installed"
else:
    UNAVAILABLE_REASON = ""
AVAILABLE = not UNAVAILABLE_REASON

# A layer (batch x width) of at least this many elements keeps no derivative array (backward
# recomputes it), and its unit statistics take one compiled pass; smaller layers keep f'(s) from
# the forward pass, and the statistics of each run of them take one compiled call
# (``unit_statistics_block``).
# Every layer takes the compiled forward pass: at 8 x 32, batch 128, the plain path's float32
# tanh alone (libm's scalar speed, 3 ns an element here) was a fifth of a step, and a step with
# the compiled passes took 0.68-0.73 of the plain one at 8 x 32 and 10 x 32, batch 128, and
# 0.76-0.82 at 4 x 16, batch 64 (interleaved A/B in one process, 1 and 2 threads). The price is
# numba's import, about a second per process (``preload`` does it ahead of the first step).
FUSED_MIN_ELEMENTS = 1 << 13
# Arrays with fewer elements than this stay on one core. Waking the second thread and waiting for
# it costs tens of microseconds (more when another process has that core), and BLAS's own threads
# already use both cores for the matmuls: at 50x256x256 on two cores, splitting each 65536-element
# layer pass trained slower than one core doing it (8.9 and 7.7 steps/s against 11.5 and 12.5,
# alternating runs, load ~4). A layer pass is split from batch x width = 256 x 1024; a pass over
# the flat parameter buffers (SGD, norm probe) from a million parameters.
PARALLEL_MIN_ELEMENTS = 1 << 18
FLAT_PARALLEL_MIN_ELEMENTS = 1 << 20
FUSED_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class FusedActivation:
    """The compiled element-wise work of one activation on float32 NumPy layers (C-contiguous 2-D
    arrays), in passes that each touch memory once:

    - ``forward(a, b, h, p)``: ``a += b; h = f(a)``; returns ``h``. For layers of at least
      ``FUSED_MIN_ELEMENTS``: the derivative is not stored (one array stream fewer per layer, as
      XLA does it), backward recomputes it from ``a``/``h``.
    - ``forward_derive(a, b, h, d, p)``: the same and ``d = f'(a)``, for smaller layers, whose
      derivative stays (cheap to keep, and a snapshot's statistics read it with the layers').
    - ``backward(g, s, h, p, out)``: ``out = g * f'(s)`` given ``h = f(s)``; returns ``out``.
    - ``derivative(xp, s, h, p)``: ``f'(s)`` as the plain path computes it (for the probes).

    Wide layers are split over the cores."""

    def __init__(self, name: str):
        self.name = name
        self.kind = FUSED_ACTIVATIONS.index(name)
        self.parallel = usable_cores() > 1
        self._derivative = ACTIVATIONS[name].derivative

    def forward(self, a, b, h, p):
        jit = _JIT or _jit()
        if self.parallel and a.size >= PARALLEL_MIN_ELEMENTS:
            with jit.PARALLEL_LOCK:
                jit._forward_parallel(self.kind, a, b, h, np.float32(p))
        else:
            jit._forward_serial(self.kind, a, b, h, np.float32(p))
        return h

    def forward_derive(self, a, b, h, d, p):
        """``a += b; h = f(a); d = f'(a)`` in one pass, for a layer that keeps its derivative (one
        under ``FUSED_MIN_ELEMENTS``: small, so one core); returns ``h``."""
        jit = _JIT or _jit()
        jit._forward_derive_serial(self.kind, a, b, h, d, np.float32(p))
        return h

    def backward(self, g, s, h, p, out):
        jit = _JIT or _jit()
        if self.parallel and g.size >= PARALLEL_MIN_ELEMENTS:
            with jit.PARALLEL_LOCK:
                jit._backward_parallel(self.kind, g, s, h, np.float32(p), out)
        else:
            jit._backward_serial(self.kind, g, s, h, np.float32(p), out)
        return out

    def derivative(self, xp, s, h, p):
        return self._derivative(xp, s, h, p)


def fused_activation(name: str, dtype, xp) -> FusedActivation | None:
    """The compiled passes for activation ``name``, or None where the plain path must be used
    (another array module, float64, an activation without a kernel, numba missing or off). The
    training loop uses them for every layer of its workspace."""
    if not AVAILABLE or xp is not np or np.dtype(dtype) != np.float32 or name not in FUSED_ACTIVATIONS:
        return None
    return FusedActivation(name)


_JIT = None


def _jit():
    global _JIT
    from . import _jit as module   # numba and the kernels, loaded once
    _JIT = module
    return module


def preload(name: str) -> bool:
    """Import numba and load activation ``name``'s training kernels now (about a second, once per
    process), so that the first training step does not wait for them. False where there are no
    kernels to load (numba missing or off, an activation without kernels)."""
    if not AVAILABLE or name not in FUSED_ACTIVATIONS:
        return False
    if name in _PRELOADED:
        return True
    fused, jit = FusedActivation(name), _jit()
    a = np.zeros((2, 4), np.float32)
    b, h, d, g = np.zeros(4, np.float32), a.copy(), a.copy(), a.copy()
    fused.forward_derive(a, b, h, d, 0.0)
    fused.forward(a, b, h, 0.0)
    fused.backward(g, a, h, 0.0, d)
    jit._segment_sq_sums_serial(np.zeros(8, np.float32), np.zeros(1, np.int64), np.empty(1, np.float32))
    block = np.zeros((1, 2, 4), np.float32)
    jit._unit_statistics_block(block, block, np.float32(0.1), np.empty((1, 4), bool), np.empty((1, 4)),
                               np.empty((1, 4)), np.empty((1, 4)))
    _PRELOADED.add(name)
    return True


_PRELOADED: set[str] = set()


def multiply_into(xp, x, y, out):
    """``out = x * y`` (same shape, C-contiguous), over the cores for large float32 arrays."""
    if _over_cores(xp, PARALLEL_MIN_ELEMENTS, out, x, y):
        jit = _JIT or _jit()
        with jit.PARALLEL_LOCK:
            jit._multiply_parallel(x.reshape(-1), y.reshape(-1), out.reshape(-1))
        return out
    return xp.multiply(x, y, out=out)


def _over_cores(xp, minimum, *arrays) -> bool:
    return (AVAILABLE and xp is np and arrays[0].size >= minimum
            and all(getattr(a, "dtype", np.float32) == np.float32 for a in arrays) and usable_cores() > 1)


def sgd_step(xp, theta, grad, lr, update):
    """``update = lr * grad; theta -= update`` (``lr`` a float or a vector like ``theta``): one pass
    over the cores for large float32 buffers, two array calls otherwise."""
    if _over_cores(xp, FLAT_PARALLEL_MIN_ELEMENTS, theta, grad, update):
        jit = _JIT or _jit()
        with jit.PARALLEL_LOCK:
            if isinstance(lr, float):
                jit._sgd_scalar_parallel(theta, grad, np.float32(lr), update)
            else:
                jit._sgd_vector_parallel(theta, grad, lr, update)
        return update
    xp.multiply(grad, lr, out=update)
    theta -= update
    return update


def segment_sq_sums(xp, flat, starts, small: bool = False, out=None):
    """Sum of squares of ``flat`` over the segments beginning at ``starts`` (int64, ascending) in
    one pass with no temporary, accumulated in float64 and returned as ``flat``'s dtype (into
    ``out`` if given); None where the plain path must be used (CuPy, float64, buffers under
    ``FUSED_MIN_ELEMENTS * 8`` unless ``small``: a network on the compiled path, numba loaded)."""
    if not (AVAILABLE and xp is np and flat.dtype == np.float32
            and (small or flat.size >= 8 * FUSED_MIN_ELEMENTS)):
        return None
    jit = _JIT or _jit()
    out = np.empty(starts.size, dtype=np.float32) if out is None else out
    if flat.size >= FLAT_PARALLEL_MIN_ELEMENTS and usable_cores() > 1:
        with jit.PARALLEL_LOCK:
            jit._segment_sq_sums_parallel(flat, starts, out)
    else:
        jit._segment_sq_sums_serial(flat, starts, out)
    return out


def unit_statistics(network, cache, threshold: float):
    """One hidden layer's unit statistics in one compiled pass over its output (and its input for
    relu-type derivatives) with no temporaries: ``(unit_dead, unit_saturation, unit_activation,
    mean, std)`` as the plain definitions in probes.py give them, or None where the plain path
    must be used (CuPy, float64, layers under ``FUSED_MIN_ELEMENTS``)."""
    h = cache.h
    if not (AVAILABLE and isinstance(h, np.ndarray) and h.dtype == np.float32 and h.ndim == 2
            and h.size >= FUSED_MIN_ELEMENTS and h.flags.c_contiguous):
        return None
    fused = getattr(network, "_fused", None)
    if fused is not None and getattr(cache, "_d", True) is None:   # a compiled layer: f'(s) from s, h
        kind, s, d = fused.kind, cache.s, h
    else:
        d = cache.d
        if not (isinstance(d, np.ndarray) and d.dtype == np.float32 and d.shape == h.shape):
            return None
        kind, s = -1, h
    jit = _JIT or _jit()
    n, m = h.shape
    nonzero, nonfinite = np.zeros(m, np.int64), np.zeros(m, np.int64)
    saturated, magnitude = np.zeros(m, np.int64), np.zeros(m, np.float64)
    total, spread = jit._unit_statistics(kind, s, h, d, np.float32(network.act_param), np.float32(threshold),
                                         nonzero, nonfinite, saturated, magnitude)
    return ((nonzero == 0) & (nonfinite == 0), saturated / n, magnitude / n,
            total / h.size, float(np.sqrt(spread / h.size)))


def unit_statistics_block(network, h, d, threshold: float):
    """The unit statistics of a (k, n, m) block of k small layers of a network that trains on the
    compiled path (numba is loaded anyway), in one compiled call: ``(unit_dead, unit_saturation,
    unit_activation, summary)``, ``summary[l]`` = (dead fraction, saturated fraction, mean, std);
    None where the plain path must be used (no kernels for this network, CuPy, float64)."""
    if not (getattr(network, "_fused", None) is not None and isinstance(h, np.ndarray) and h.ndim == 3
            and h.dtype == np.float32 and isinstance(d, np.ndarray) and d.dtype == np.float32
            and d.shape == h.shape and h.flags.c_contiguous and d.flags.c_contiguous):
        return None
    jit = _JIT or _jit()
    k, _, m = h.shape
    dead, summary = np.empty((k, m), bool), np.empty((k, 4))
    saturation, activation = np.empty((k, m)), np.empty((k, m))
    jit._unit_statistics_block(h, d, np.float32(threshold), dead, saturation, activation, summary)
    return dead, saturation, activation, summary
