"""Residual MLPs: the block layout and its validation messages, h <- h + F(h) against a plain
reference, and backprop against float64 central differences (every activation and norm), with a
negative control that drops the skip's gradient."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Config
from engine.activations import ACTIVATIONS
from engine.config import NORMS, ConfigError

from .checks import assert_steps_follow_the_gradient, gradients_without_skip_backward
from .test_gradients import assert_gradients_match, batch, make_sim, mismatches, numerical_gradient


def test_blocks_and_notes():
    cfg = Config(depth=6, width=8, residual=True, residual_every=2)
    assert cfg.residual_blocks == [(1, 3, True), (3, 5, True)]
    assert cfg.notes == ["hidden layers 6-6 are outside a full block of 2: no skip"]
    mixed = Config(depth=5, width=(8, 8, 8, 4, 4), residual=True)
    assert mixed.residual_blocks == [(1, 3, True), (3, 5, False)]
    assert mixed.notes == ["hidden layers 4-5: no skip, width differ (8, 4, 4)"]
    assert Config(depth=5, width=8).residual_blocks == []  # off unless asked


def test_residual_without_any_skip_is_rejected():
    with pytest.raises(ConfigError, match="no block gets a skip.*width differ"):
        Config(depth=3, width=(4, 8, 8), residual=True)
    with pytest.raises(ConfigError, match="residual_every"):
        Config(residual=True, residual_every=0)


def test_forward_is_h_plus_f_of_h():
    sim = make_sim(depth=3, width=4, residual=True, residual_every=2, activation="tanh")
    net = sim.network
    assert net.skips == {2: 1}
    x = sim.data.x_test[:7]
    theta = sim.flat_parameters()
    part = lambda sl: theta[sl[0]:sl[1]].reshape(sl[2])  # noqa: E731
    h0 = np.tanh(x @ part(net.w_slices[0]) + part(net.b_slices[0]))
    h1 = np.tanh(h0 @ part(net.w_slices[1]) + part(net.b_slices[1]))
    h2 = np.tanh(h1 @ part(net.w_slices[2]) + part(net.b_slices[2])) + h0   # the skip
    out = h2 @ part(net.w_slices[3]) + part(net.b_slices[3])
    p = 1 / (1 + np.exp(-out[:, 0]))
    y = sim.data.y_test[:7]
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert sim.gradients(x, y).loss == pytest.approx(expected, rel=1e-12)
    plain = make_sim(depth=3, width=4, activation="tanh")
    assert plain.gradients(x, y).loss != pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_gradients_every_activation_and_norm(activation, norm):
    sim = make_sim(activation=activation, norm=norm, bias_init=0.1, depth=5, width=4,
                   residual=True, residual_every=2)
    assert sim.network.skips == {2: 1, 4: 3}
    assert_gradients_match(sim)


@pytest.mark.parametrize("every", [1, 3])
def test_gradients_other_block_lengths(every):
    sim = make_sim(depth=4, width=(3, 3, 3, 3), residual=True, residual_every=every, activation="elu")
    assert_gradients_match(sim)


def test_training_step_uses_the_checked_gradient():
    sim = make_sim(depth=5, width=4, residual=True, norm="batch", activation="relu", bias_init=0.1,
                   optimizer="sgd", lr=1.0, batch_size=0, n_samples=30)
    assert_steps_follow_the_gradient(sim)


def test_loss_grid_includes_the_skips():
    sim = make_sim(depth=5, width=4, residual=True, activation="tanh")
    x, y = batch(sim)
    grid = sim.losses_at(sim.flat_parameters()[None, :], inputs=x, targets=y)[0]
    assert grid == pytest.approx(sim.gradients(x, y).loss, rel=1e-12)


def test_negative_control_dropping_the_skip_gradient():
    """Backward without the skip's gradient path: the check must report mismatches."""
    sim = make_sim(depth=5, width=4, residual=True, activation="tanh")
    x, y = batch(sim)
    num = numerical_gradient(sim, x, y)
    assert mismatches(num, gradients_without_skip_backward(sim, x, y)).size > 0
    assert mismatches(num, sim.gradients(x, y).flat).size == 0
