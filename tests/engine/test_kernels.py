"""The compiled kernels give the plain path's numbers (float32 precision), and the engine falls back
to the plain path where they do not apply."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import Config, Simulation, kernels
from engine.activations import ACTIVATIONS

ROOT = Path(__file__).resolve().parents[2]
needs_numba = pytest.mark.skipif(not kernels.AVAILABLE, reason=f"numba unavailable: {kernels.UNAVAILABLE_REASON}")


def reference(name, a, b, p):
    """f(a + b) and f'(a + b) in float64 from the activation registry (the plain path's formulas)."""
    act = ACTIVATIONS[name]
    s = a.astype(np.float64) + b
    h = act.forward(np, s, p)
    return s, h, act.derivative(np, s, h, p)


def run_fused(name, a, b, g, p):
    """The compiled forward then backward on copies: (a + b, h, g * f'(a + b))."""
    fused = kernels.fused_activation(name, np.float32, np)
    a = a.copy()
    h, out = np.empty_like(a), np.empty_like(a)
    assert fused.forward(a, b, h, p) is h
    assert fused.backward(g, a, h, p, out) is out
    return a, h, out


@needs_numba
@pytest.mark.parametrize("name", kernels.FUSED_ACTIVATIONS)
@pytest.mark.parametrize("shape", [(7, 3), (64, 32), (256, 1024)])  # the last one runs over the cores
def test_fused_activation_matches_the_registry(name, shape):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) * 4).astype(np.float32)
    a.flat[:4] = [0.0, -0.0, 12.0, -12.0]         # the kink and the clamped tails
    b = rng.standard_normal(shape[1]).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    s_ref, h_ref, d_ref = reference(name, a, b, 0.1)
    s, h, back = run_fused(name, a, b, g, 0.1)
    np.testing.assert_allclose(s, s_ref, rtol=0, atol=1e-6 * max(1.0, np.abs(s_ref).max()))  # a += b in place
    np.testing.assert_allclose(h, h_ref, rtol=0, atol=5e-7 * max(1.0, np.abs(h_ref).max()))
    np.testing.assert_allclose(back, g * d_ref, rtol=0, atol=2e-6 * np.abs(g).max())
    # the derivative the probes read is the plain path's, from the kernel's s and h
    d = kernels.fused_activation(name, np.float32, np).derivative(np, s, h, np.float32(0.1))
    np.testing.assert_allclose(d, d_ref, rtol=0, atol=1e-6)


@needs_numba
def test_the_comparison_can_fail():
    """Negative control: the tanh kernel is not mistaken for the sigmoid, forward or backward."""
    a = np.linspace(-3, 3, 64, dtype=np.float32).reshape(8, 8)
    b = np.zeros(8, dtype=np.float32)
    _, h, back = run_fused("tanh", a, b, np.ones_like(a), 0.0)
    _, h_sig, d_sig = reference("sigmoid", a, b, 0.0)
    assert np.abs(h - h_sig).max() > 0.1
    assert np.abs(back - d_sig).max() > 0.1


def test_plain_path_where_the_kernels_do_not_apply():
    assert kernels.fused_activation("tanh", np.float64, np) is None        # gradient checks: exact
    assert kernels.fused_activation("elu", np.float32, np) is None
    assert kernels.fused_activation("tanh", np.float32, object()) is None  # another array module


@needs_numba
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "leaky_relu"])
def test_training_with_and_without_the_kernels_agrees(activation):
    cfg = Config(depth=4, width=64, activation=activation, dataset="spiral", batch_size=256, lr=0.05,
                 dtype="float32", backend="numpy", seed=3)
    fused, plain = Simulation(cfg), Simulation(cfg)
    assert fused.network._fused is not None
    plain.network._fused = None
    a, b = fused.step(30), plain.step(30)
    np.testing.assert_allclose(a.history_loss, b.history_loss, rtol=2e-4)
    np.testing.assert_allclose(a.grad_norms, b.grad_norms, rtol=2e-3)


def test_gradflow_jit_0_turns_the_kernels_off():
    code = ("import numpy as np; from engine import kernels, Config, Simulation;"
            "assert not kernels.AVAILABLE, kernels.UNAVAILABLE_REASON;"
            "s = Simulation(Config(depth=2, width=8, dtype='float32', backend='numpy'));"
            "assert s.network._fused is None; s.step(3); print('ok')")
    env = dict(os.environ, GRADFLOW_JIT="0", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@needs_numba
@pytest.mark.parametrize("name", kernels.FUSED_ACTIVATIONS)
def test_nan_and_inf_come_out_as_on_the_plain_path(name):
    """A diverging run's NaN stays NaN (the GUI tells a NaN unit from a dead one), forward and
    backward, in the pre-activation and in dL/dh."""
    a = np.array([[np.nan, np.inf, -np.inf, 1.0, 0.5]] * 4, dtype=np.float32)
    b = np.zeros(5, dtype=np.float32)
    g = np.ones_like(a)
    g[1] = [1.0, 1.0, 1.0, np.nan, np.inf]
    s, h, back = run_fused(name, a, b, g, 0.1)
    _, h_ref, d_ref = reference(name, a, b, 0.1)
    with np.errstate(invalid="ignore"):
        back_ref = g * d_ref
    for got, ref in ((h, h_ref), (back, back_ref)):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        finite = np.isfinite(ref)
        np.testing.assert_array_equal(np.isfinite(got), finite)
        np.testing.assert_allclose(got[finite], ref[finite], atol=1e-6)


@needs_numba
def test_compiled_layers_keep_no_derivative_until_a_probe_reads_it():
    """The compiled path stores no f'(s) per step; a probe's read computes the plain path's."""
    cfg = Config(depth=3, width=64, activation="tanh", dataset="spiral", batch_size=256,
                 dtype="float32", backend="numpy", seed=1)
    sim = Simulation(cfg)
    sim.step(2, snapshot=False)
    c = sim.network.caches[1]
    assert c._d is None
    np.testing.assert_allclose(c.d, 1.0 - c.h.astype(np.float64) ** 2, atol=1e-6)
    assert c._d is not None


@needs_numba
def test_compiled_layers_get_no_derivative_buffer_and_plain_ones_keep_theirs():
    """The workspace holds no f'(s) buffer where backward recomputes it (at 50 x 1024, batch 256,
    51 MB never written); a plain layer (no kernel for ELU) still has one, and the same layers
    without the kernels (switched off before the first step) do too."""
    cfg = Config(depth=3, width=64, activation="tanh", dataset="spiral", batch_size=256,
                 dtype="float32", backend="numpy", seed=1)
    compiled, plain, elu = Simulation(cfg), Simulation(cfg), Simulation(cfg.replace(activation="elu"))
    plain.network._fused = None
    for sim in (compiled, plain, elu):
        sim.step(2, snapshot=False)
    assert compiled.network._ws.d == [None, None, None]
    assert all(d is not None and d.shape == (256, 64) for d in plain.network._ws.d + elu.network._ws.d)
    np.testing.assert_allclose(compiled.snapshot().history_loss, plain.snapshot().history_loss, rtol=1e-5)


@needs_numba
@pytest.mark.parametrize("activation", kernels.FUSED_ACTIVATIONS)
def test_small_layers_take_the_compiled_pass_and_keep_their_derivative(activation):
    """A layer under FUSED_MIN_ELEMENTS gets h and f'(s) from one compiled pass (the plain path's
    float32 tanh was a fifth of an 8 x 32 step): f'(s) is stored, equals the plain formula on the
    same s and h, and training agrees with the plain path. Negative control: with the kernels off
    the same layers take NumPy's activation (their h differs from the compiled one by rounding)."""
    cfg = Config(depth=3, width=16, activation=activation, dataset="spiral", batch_size=64, lr=0.05,
                 dtype="float32", backend="numpy", seed=2)
    compiled, plain = Simulation(cfg), Simulation(cfg)
    plain.network._fused = None
    a, b = compiled.step(40), plain.step(40)
    assert 64 * 16 < kernels.FUSED_MIN_ELEMENTS
    ws = compiled.network._ws
    for l, c in enumerate(compiled.network.caches):
        assert c._d is not None and c._d is ws.d[l]          # kept from the forward pass, no recompute
        ref = ACTIVATIONS[activation].derivative(np, c.s, c.h, np.float32(compiled.network.act_param))
        np.testing.assert_allclose(c._d, ref, rtol=0, atol=1e-7)
    np.testing.assert_allclose(a.history_loss, b.history_loss, rtol=2e-4)
    np.testing.assert_allclose(a.grad_norms, b.grad_norms, rtol=2e-3)
    if activation in ("tanh", "sigmoid"):   # the approximation is not NumPy's libm call
        x = compiled.network.caches[0].s.copy()
        h = np.empty_like(x)
        kernels.fused_activation(activation, np.float32, np).forward_derive(
            x, np.zeros(x.shape[1], np.float32), h, np.empty_like(x), 0.0)
        assert not np.array_equal(h, ACTIVATIONS[activation].forward(np, x, 0.0))


@needs_numba
def test_the_element_wise_kernels_are_vectorised():
    """The kernels compile to SIMD loops: a float division under Python's error model (a zero
    check per element) kept tanh's rational approximation scalar, 7x slower. Checked in the LLVM
    IR of a fresh, uncached compilation with the engine's options."""
    import re

    from numba import njit

    from engine import _jit

    a = np.zeros((4, 8), np.float32)
    args = (1, a, np.zeros(8, np.float32), a.copy(), np.float32(0))
    fresh = njit(**_jit._OPTIONS)(_jit._forward_serial.py_func)
    fresh(*args)
    ir = "\n".join(fresh.inspect_llvm().values())
    assert re.search(r"fdiv [^\n]*<\d+ x float>", ir), "tanh's division is not vectorised"
    # negative control: the same loop under Python's error model stays scalar
    slow = njit(nogil=True, fastmath=_jit._FASTMATH)(_jit._forward_serial.py_func)
    slow(*args)
    assert not re.search(r"fdiv [^\n]*<\d+ x float>", "\n".join(slow.inspect_llvm().values()))
    # backward (g * (1 - h^2)) and the norm probe's sum of squares run in vectors too
    back = njit(**_jit._OPTIONS)(_jit._backward_serial.py_func)
    back(1, a, a.copy(), a.copy(), np.float32(0), a.copy())
    assert re.search(r"fmul [^\n]*<\d+ x float>", "\n".join(back.inspect_llvm().values()))
    sq = njit(**_jit._REDUCE)(_jit._segment_sq_sums_serial.py_func)
    sq(np.ones(64, np.float32), np.array([0, 9], np.int64), np.empty(2, np.float32))
    assert re.search(r"fadd [^\n]*<\d+ x float>", "\n".join(sq.inspect_llvm().values()))


@needs_numba
@pytest.mark.parametrize("size", [1 << 16, 1 << 20])     # one core, and over the cores
def test_segment_sq_sums_match_float64_and_keep_nan(size):
    from engine.probes import segment_sq_sums

    rng = np.random.default_rng(5)
    flat = rng.standard_normal(size).astype(np.float32)
    starts = np.array([0, 3, 3 + 4096, size // 2, size - 1], dtype=np.int64)
    ref = np.add.reduceat(flat.astype(np.float64) ** 2, starts)
    got = kernels.segment_sq_sums(np, flat, starts)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    np.testing.assert_allclose(segment_sq_sums(np, flat, starts), got, rtol=0)   # the probe uses it
    flat[10] = np.nan                                    # a diverged layer's norm is NaN, not finite
    got = kernels.segment_sq_sums(np, flat, starts)
    assert np.isnan(got[1]) and np.isfinite(np.delete(got, 1)).all()
    # negative control: a segment boundary off by one is noticed
    shifted = kernels.segment_sq_sums(np, np.nan_to_num(flat), starts + 1)
    assert not np.allclose(shifted, np.add.reduceat(np.nan_to_num(flat).astype(np.float64) ** 2, starts), rtol=1e-6)


def test_segment_sq_sums_plain_path_where_the_kernel_does_not_apply():
    flat = np.ones(1 << 17)
    starts = np.array([0, 10], dtype=np.int64)
    assert kernels.segment_sq_sums(np, flat, starts) is None                       # float64
    assert kernels.segment_sq_sums(np, flat[:100].astype(np.float32), starts) is None  # small
    assert kernels.segment_sq_sums(object(), flat.astype(np.float32), starts) is None  # CuPy etc.


@needs_numba
@pytest.mark.skipif(kernels.usable_cores() < 2, reason="one core: no parallel kernels")
def test_parallel_kernels_use_the_work_queue():
    """numba's threads are its work queue's, whose idle workers sleep: OpenMP's spin against
    OpenBLAS's threads (a 50x256 net at 2 steps/s instead of 12 on two cores). A user's
    NUMBA_THREADING_LAYER is respected."""
    code = ("import numpy as np, numba; from engine import kernels;"
            "x = np.ones(1 << 20, np.float32); kernels.sgd_step(np, x, x.copy(), 0.1, x.copy());"
            "print(numba.threading_layer())")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "workqueue"
