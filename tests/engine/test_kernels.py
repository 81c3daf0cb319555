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


@needs_numba
@pytest.mark.parametrize("name", kernels.FUSED_ACTIVATIONS)
@pytest.mark.parametrize("shape", [(7, 3), (64, 32), (256, 512)])  # the last one runs over the cores
def test_fused_bias_activation_matches_the_registry(name, shape):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) * 4).astype(np.float32)
    a.flat[:4] = [0.0, -0.0, 12.0, -12.0]         # the kink and the clamped tails
    b = rng.standard_normal(shape[1]).astype(np.float32)
    h, d = np.empty_like(a), np.empty_like(a)
    s, h_ref, d_ref = reference(name, a, b, 0.1)
    fused = kernels.fused_bias_activation(name, np.float32, np)
    fused(a, b, h, d, 0.1)
    np.testing.assert_allclose(a, s, rtol=0, atol=1e-6 * max(1.0, np.abs(s).max()))  # a += b in place
    np.testing.assert_allclose(h, h_ref, rtol=0, atol=5e-7 * max(1.0, np.abs(h_ref).max()))
    np.testing.assert_allclose(d, d_ref, rtol=0, atol=1e-6)


@needs_numba
def test_the_comparison_can_fail():
    """Negative control: the tanh kernel is not mistaken for the sigmoid."""
    a = np.linspace(-3, 3, 64, dtype=np.float32).reshape(8, 8)
    b = np.zeros(8, dtype=np.float32)
    h, d = np.empty_like(a), np.empty_like(a)
    kernels.fused_bias_activation("tanh", np.float32, np)(a.copy(), b, h, d, 0.0)
    _, h_sig, _ = reference("sigmoid", a, b, 0.0)
    assert np.abs(h - h_sig).max() > 0.1


def test_plain_path_where_the_kernels_do_not_apply():
    assert kernels.fused_bias_activation("tanh", np.float64, np) is None        # gradient checks: exact
    assert kernels.fused_bias_activation("elu", np.float32, np) is None
    assert kernels.fused_bias_activation("tanh", np.float32, object()) is None  # another array module


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
    """A diverging run's NaN stays NaN (the GUI tells a NaN unit from a dead one)."""
    a = np.array([[np.nan, np.inf, -np.inf, 1.0]] * 4, dtype=np.float32)
    b = np.zeros(4, dtype=np.float32)
    h, d = np.empty_like(a), np.empty_like(a)
    kernels.fused_bias_activation(name, np.float32, np)(a.copy(), b, h, d, 0.1)
    _, h_ref, d_ref = reference(name, a, b, 0.1)
    np.testing.assert_array_equal(np.isnan(h), np.isnan(h_ref))
    np.testing.assert_array_equal(np.isnan(d), np.isnan(d_ref))
    finite = np.isfinite(h_ref)
    np.testing.assert_allclose(h[finite], h_ref[finite], atol=1e-6)


def test_small_networks_never_import_numba():
    """A small net's layers stay on the plain path, so its process does not pay for numba."""
    code = ("import sys; from engine import Config, Simulation;"
            "s = Simulation(Config(depth=3, width=16, batch_size=64, dtype='float32', backend='numpy'));"
            "s.step(3); print('numba' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@needs_numba
def test_the_element_wise_kernels_are_vectorised():
    """The kernels compile to SIMD loops: a float division under Python's error model (a zero
    check per element) kept tanh's rational approximation scalar, 7x slower. Checked in the LLVM
    IR of a fresh, uncached compilation with the engine's options."""
    import re

    from numba import njit

    from engine import _jit

    fresh = njit(**_jit._OPTIONS)(_jit._bias_act_serial.py_func)
    a = np.zeros((4, 8), np.float32)
    fresh(1, a.reshape(-1), np.zeros(8, np.float32), a.copy().reshape(-1), a.copy().reshape(-1),
          np.float32(0), 4, 8)
    ir = "\n".join(fresh.inspect_llvm().values())
    assert re.search(r"fdiv [^\n]*<\d+ x float>", ir), "tanh's division is not vectorised"
    # negative control: the same loop under Python's error model stays scalar
    slow = njit(nogil=True, fastmath=_jit._FASTMATH)(_jit._bias_act_serial.py_func)
    slow(1, a.reshape(-1), np.zeros(8, np.float32), a.copy().reshape(-1), a.copy().reshape(-1),
         np.float32(0), 4, 8)
    assert not re.search(r"fdiv [^\n]*<\d+ x float>", "\n".join(slow.inspect_llvm().values()))
