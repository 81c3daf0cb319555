"""Initialisers: empirical scale against the formulas, orthogonality, and seed -> same weights."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine import Config, Simulation
from engine.initializers import INITIALIZERS

FAN_IN, FAN_OUT = 300, 200

# name -> (kind, scale): "uniform" scale is the limit a of U(-a, a); "normal" scale is the std
EXPECTED = {
    "standard_uniform": ("uniform", 1 / math.sqrt(FAN_IN)),
    "xavier_uniform": ("uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    "he_uniform": ("uniform", math.sqrt(6 / FAN_IN)),
    "xavier_normal": ("normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "he_normal": ("normal", math.sqrt(2 / FAN_IN)),
    "lecun_normal": ("normal", math.sqrt(1 / FAN_IN)),
    "normal": ("normal", 0.37),  # the naive initialiser's sigma, passed below
}


def draw(name, gain=1.0, fan_in=FAN_IN, fan_out=FAN_OUT, seed=0):
    return INITIALIZERS[name](np.random.default_rng(seed), fan_in, fan_out, sigma=0.37, gain=gain)


def test_every_initializer_has_an_expectation():
    assert set(EXPECTED) | {"orthogonal"} == set(INITIALIZERS)


@pytest.mark.parametrize("gain", [1.0, 2.5])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scale_matches_formula(name, gain):
    kind, scale = EXPECTED[name]
    w = draw(name, gain)
    assert w.shape == (FAN_IN, FAN_OUT) and w.dtype == np.float64
    n = w.size  # 60,000 draws: the std estimate is good to ~0.6% (3 sigma ~ 1%)
    assert abs(w.mean()) < 4 * w.std() / math.sqrt(n)
    if kind == "uniform":
        limit = gain * scale
        assert np.abs(w).max() <= limit
        assert np.abs(w).max() > 0.999 * limit  # the limit is reached, not just respected
        assert w.std() == pytest.approx(limit / math.sqrt(3), rel=0.015)
    else:
        assert w.std() == pytest.approx(gain * scale, rel=0.015)
        # Gaussian, not uniform: about 4.6% of draws lie beyond two standard deviations
        assert np.mean(np.abs(w) > 2 * gain * scale) == pytest.approx(0.0455, abs=0.005)


def test_negative_control_wrong_formula_is_rejected():
    w = draw("he_normal")
    wrong = math.sqrt(1 / FAN_IN)  # LeCun's std, a factor sqrt(2) off
    assert w.std() != pytest.approx(wrong, rel=0.015)


@pytest.mark.parametrize("shape", [(40, 40), (50, 20), (20, 50), (1, 7), (7, 1)])
def test_orthogonal_columns_or_rows_are_orthonormal(shape):
    w = draw("orthogonal", fan_in=shape[0], fan_out=shape[1])
    assert w.shape == shape
    fi, fo = shape
    gram = w.T @ w if fi >= fo else w @ w.T
    np.testing.assert_allclose(gram, np.eye(min(fi, fo)), atol=1e-12)


def test_orthogonal_gain_scales_singular_values():
    w = draw("orthogonal", gain=1.7, fan_in=30, fan_out=12)
    np.testing.assert_allclose(np.linalg.svd(w, compute_uv=False), 1.7, rtol=1e-12)


def test_orthogonal_is_not_always_the_same_matrix():
    assert not np.allclose(draw("orthogonal", seed=0, fan_in=8, fan_out=8),
                           draw("orthogonal", seed=1, fan_in=8, fan_out=8))


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_same_seed_same_draw(name):
    np.testing.assert_array_equal(draw(name, seed=5), draw(name, seed=5))
    assert not np.array_equal(draw(name, seed=5), draw(name, seed=6))


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_same_seed_same_network_across_dtypes(name):
    common = dict(init=name, depth=3, width=(6, 5, 4), bias_init=0.25, init_sigma=0.5,
                  backend="numpy", n_samples=40)
    w32, b32 = Simulation(Config(dtype="float32", **common)).parameters()
    w64, b64 = Simulation(Config(dtype="float64", **common)).parameters()
    for a, b in zip(w32 + b32, w64 + b64):
        assert a.dtype == np.float32 and b.dtype == np.float64
        np.testing.assert_array_equal(a, b.astype(np.float32))
    np.testing.assert_array_equal(b64[0], 0.25)


def test_simulation_uses_the_configured_formula_and_gain():
    sim = Simulation(Config(init="he_normal", init_gain=2.0, depth=2, width=400, backend="numpy",
                            dtype="float64", n_samples=40))
    w = sim.parameters()[0][1]  # a 400 x 400 hidden layer
    assert w.std() == pytest.approx(2.0 * math.sqrt(2 / 400), rel=0.02)
