"""Each activation's derivative against finite differences of its forward, and its stated facts."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine import Config
from engine.activations import ACTIVATIONS

NAMES = sorted(ACTIVATIONS)
CONFIG = Config()  # default parameters: leaky 0.01, prelu 0.25, elu alpha 1
STEP = 1e-6


def grid(lo=-6.0, hi=6.0, n=2401):
    z = np.linspace(lo, hi, n)
    return z[np.abs(z) > 1e-3]  # stay off the kink at exactly 0


def finite_difference(act, z, config=CONFIG):
    up, _ = act.curve(z + STEP, config)
    down, _ = act.curve(z - STEP, config)
    return (up - down) / (2 * STEP)


def derivative_mismatch(num, ana):
    return np.abs(num - ana) > 1e-7 + 1e-6 * np.abs(num)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_finite_differences(name):
    act = ACTIVATIONS[name]
    z = grid()
    _, ana = act.curve(z, CONFIG)
    num = finite_difference(act, z)
    bad = derivative_mismatch(num, ana)
    assert not bad.any(), f"{name}: z={z[bad][:3]} numerical {num[bad][:3]} analytic {ana[bad][:3]}"


@pytest.mark.parametrize("name", [n for n, a in ACTIVATIONS.items() if a.param])
@pytest.mark.parametrize("value", [0.05, 0.5, 0.9])
def test_derivative_with_other_parameter_values(name, value):
    act = ACTIVATIONS[name]
    config = CONFIG.replace(**{act.param: value})
    z = grid(-4, 4, 801)
    h, ana = act.curve(z, config)
    assert not derivative_mismatch(finite_difference(act, z, config), ana).any()
    if name in ("leaky_relu", "prelu"):
        np.testing.assert_allclose(h[z < 0], value * z[z < 0])
    if name == "elu":
        assert h.min() == pytest.approx(-value * (1 - np.exp(-4)), rel=1e-9)


def test_negative_control_wrong_derivative_is_caught():
    act = ACTIVATIONS["sigmoid"]
    wrong = dataclasses.replace(act, derivative=lambda xp, z, h, p: 1.0 - h * h)  # tanh's formula
    z = grid()
    _, ana = wrong.curve(z, CONFIG)
    assert derivative_mismatch(finite_difference(act, z), ana).mean() > 0.9


def test_sigmoid_max_derivative_is_the_max_of_its_curve():
    _, d = ACTIVATIONS["sigmoid"].curve(np.linspace(-10, 10, 20001), CONFIG)
    assert d.max() == pytest.approx(0.25, abs=1e-12)
    assert d.argmax() == 10000  # at z = 0


@pytest.mark.parametrize("name", NAMES)
def test_max_derivative_fact_bounds_the_curve(name):
    act = ACTIVATIONS[name]
    z = np.concatenate([np.linspace(-10, 10, 40001), [-1e-12, 1e-12]])
    _, d = act.curve(z, CONFIG)
    claimed = act.facts.max_derivative
    assert d.max() <= claimed * (1 + 1e-3) + 1e-12, f"{name}: derivative reaches {d.max()}"
    assert d.max() >= claimed * (1 - 5e-3), f"{name}: the claimed max {claimed} is never reached ({d.max()})"


def test_relu_derivative_jumps_at_zero_while_elu_is_continuous():
    z = np.array([-1e-9, 1e-9])
    _, d_relu = ACTIVATIONS["relu"].curve(z, CONFIG)
    _, d_elu = ACTIVATIONS["elu"].curve(z, CONFIG.replace(elu_alpha=1.0))
    assert d_relu[1] - d_relu[0] == 1.0
    assert abs(d_elu[1] - d_elu[0]) < 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_smooth_at_zero_fact_agrees_with_the_derivative(name):
    act = ACTIVATIONS[name]
    _, d = act.curve(np.array([-1e-7, 1e-7]), CONFIG)
    jump = abs(d[1] - d[0])
    if act.facts.smooth_at_zero:
        assert jump < 1e-5, f"{name} claims to be smooth at 0 but its derivative jumps by {jump}"
    else:
        assert jump > 1e-2, f"{name} claims a kink at 0 but its derivative is continuous there"


@pytest.mark.parametrize("name", NAMES)
def test_zero_centred_fact_agrees_with_the_outputs(name):
    """E[f(z)] for z ~ N(0, 1) (Gauss-Hermite quadrature): about 0 exactly for the zero-centred ones."""
    act = ACTIVATIONS[name]
    nodes, weights = np.polynomial.hermite_e.hermegauss(200)
    z = np.concatenate([nodes, grid(-3, 3, 601)])
    h, _ = act.curve(z, CONFIG)
    mean = float((weights * h[: nodes.size]).sum() / weights.sum())
    if act.facts.zero_centred:
        assert abs(mean) < 0.02, f"{name}: E[f(z)] = {mean}"
        assert h.min() < 0 < h.max()
    else:
        assert mean > 0.1, f"{name}: E[f(z)] = {mean} but it claims not to be zero-centred"


@pytest.mark.parametrize("name", NAMES)
def test_output_range_bounds_hold_and_are_tight(name):
    act = ACTIVATIONS[name]
    lo, hi = act.facts.output_range
    z = np.linspace(-40, 40, 80001)
    h, _ = act.curve(z, CONFIG)
    assert np.isfinite(h).all()
    assert h.min() >= lo - 1e-9 and h.max() <= hi + 1e-9, (name, h.min(), h.max())
    far, _ = act.curve(np.array([-1e6, 1e6]), CONFIG)
    if np.isfinite(lo):
        assert h.min() - lo < 0.01, f"{name}: lower bound {lo} is loose (min {h.min()})"
    else:
        assert far[0] < -1, f"{name} claims to be unbounded below"
    if np.isfinite(hi):
        assert hi - h.max() < 0.01
    else:
        assert far[1] > 1


def test_curve_has_no_overflow_far_out():
    z = np.array([-1e4, -800.0, 800.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        for act in ACTIVATIONS.values():
            h, d = act.curve(z, CONFIG)
            assert np.isfinite(h).all() and np.isfinite(d).all(), act.name


@pytest.mark.parametrize("name", NAMES)
def test_registry_entries_describe_themselves(name):
    act = ACTIVATIONS[name]
    assert act.name == name and act.title and act.description and act.facts.caption
    assert act.saturation_threshold() == pytest.approx(0.05 * act.facts.max_derivative)
    if act.param:
        assert act.param in Config.__dataclass_fields__
