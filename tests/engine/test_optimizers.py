"""Optimiser update rules against hand-computed values, and the training-step extras (per-layer
learning rates, gradient clipping, weight decay) through a real Simulation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine import Config, Simulation
from engine.optimizers import OPTIMIZERS

LR = np.array([0.1, 0.1])
GRADS = [np.array([1.0, -2.0]), np.array([0.5, 0.5]), np.array([0.0, 0.0])]

# updates (what is subtracted from theta) after each of the three GRADS, worked out by hand
HAND = {
    # theta -= lr * g
    "sgd": dict(cfg={}, updates=[[0.1, -0.2], [0.05, 0.05], [0.0, 0.0]]),
    # v = 0.9 v + g: [1, -2], [1.4, -1.3], [1.26, -1.17]; update = lr v
    "momentum": dict(cfg=dict(momentum=0.9), updates=[[0.1, -0.2], [0.14, -0.13], [0.126, -0.117]]),
    # update = lr (g + 0.9 v): 0.1*(1 + 0.9), 0.1*(0.5 + 0.9*1.4), 0.1*(0 + 0.9*1.26)
    "nesterov": dict(cfg=dict(momentum=0.9),
                     updates=[[0.19, -0.38], [0.176, -0.067], [0.1134, -0.1053]]),
    # s = 0.9 s + 0.1 g^2: [0.1, 0.4], [0.115, 0.385], [0.1035, 0.3465]; update = lr g / sqrt(s)
    "rmsprop": dict(cfg=dict(beta2=0.9, eps=0.0 + 1e-12),
                    updates=[[0.1 / math.sqrt(0.1), -0.2 / math.sqrt(0.4)],
                             [0.05 / math.sqrt(0.115), 0.05 / math.sqrt(0.385)], [0.0, 0.0]]),
}


def run(name, grads=GRADS, lr=LR, **cfg):
    config = Config(**cfg) if cfg else Config()
    opt = OPTIMIZERS[name].make(np, lr.copy(), config)
    theta = np.array([3.0, 4.0])
    updates, thetas = [], []
    for g in grads:
        before = theta.copy()
        returned = opt.step(theta, g.copy())
        np.testing.assert_allclose(before - theta, returned, rtol=1e-15, atol=1e-15)
        updates.append(returned.copy())
        thetas.append(theta.copy())
    return np.array(updates), np.array(thetas)


@pytest.mark.parametrize("name", sorted(HAND))
def test_update_rule_by_hand(name):
    updates, thetas = run(name, **HAND[name]["cfg"])
    np.testing.assert_allclose(updates, HAND[name]["updates"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(thetas[-1], np.array([3.0, 4.0]) - np.sum(HAND[name]["updates"], axis=0),
                               rtol=1e-12)


def test_adam_with_bias_correction_by_hand():
    b1, b2, eps = 0.9, 0.999, 1e-8
    updates, _ = run("adam", momentum=b1, beta2=b2, eps=eps)
    # step 1: m_hat = g and v_hat = g^2 exactly, so the update is lr * sign(g) (up to eps)
    np.testing.assert_allclose(updates[0], [0.1, -0.1], rtol=1e-6)
    # step 2: m = [0.14, -0.13], v = [0.001249, 0.004246], corrections 1 - 0.9^2 and 1 - 0.999^2
    m = np.array([0.14, -0.13])
    v = np.array([0.001249, 0.004246])
    m_hat, v_hat = m / (1 - b1 ** 2), v / (1 - b2 ** 2)
    np.testing.assert_allclose(updates[1], 0.1 * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-9)
    # step 3: g = 0, the moments only decay
    m, v = b1 * m, b2 * v
    np.testing.assert_allclose(updates[2], 0.1 * (m / (1 - b1 ** 3)) / (np.sqrt(v / (1 - b2 ** 3)) + eps),
                               rtol=1e-9)


def test_adam_without_bias_correction_would_differ():
    """Negative control: the first step without bias correction is 10x smaller (m = 0.1 g)."""
    updates, _ = run("adam", momentum=0.9, beta2=0.999)
    uncorrected = 0.1 * (0.1 * GRADS[0]) / (np.sqrt(0.001 * GRADS[0] ** 2) + 1e-8)
    assert not np.allclose(updates[0], uncorrected, rtol=1e-3)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_learning_rate_vector_is_per_parameter(name):
    """Parameters with lr 0 never move; the others do (what layer_lr relies on)."""
    lr = np.array([0.0, 0.1])
    _, thetas = run(name, grads=[np.array([1.0, -2.0])] * 3, lr=lr)
    assert np.all(thetas[:, 0] == 3.0)
    assert np.all(thetas[:, 1] > 4.0)


def test_registry_entries_describe_themselves():
    for name, entry in OPTIMIZERS.items():
        assert entry.name == name and entry.title and entry.description


# ----------------------------------------------------------------------------------- through Simulation
def make_sim(**overrides):
    base = dict(depth=3, width=5, activation="tanh", dataset="gauss", n_samples=60, batch_size=0,
                backend="numpy", dtype="float64", optimizer="sgd", lr=0.1, seed=1)
    base.update(overrides)
    return Simulation(Config(**base))


def one_step_update(sim):
    """theta before - theta after for one training step, and the full-batch gradient at the start."""
    grads = sim.gradients(sim.data.x_train, sim.data.y_train)
    before = sim.flat_parameters()
    sim.step(1)
    return before - sim.flat_parameters(), grads.flat, before


def test_layer_lr_zero_freezes_layer_zero():
    sim = make_sim(layer_lr=(0.0, 1.0, 1.0, 1.0), norm="batch", activation="prelu", optimizer="adam")
    w0, b0 = sim.parameters()
    theta0 = sim.flat_parameters()
    sim.step(5)
    w1, b1 = sim.parameters()
    np.testing.assert_array_equal(w1[0], w0[0])
    np.testing.assert_array_equal(b1[0], b0[0])
    net = sim.network
    for a, b, _ in (net.gamma_slices[0], net.beta_slices[0]):
        np.testing.assert_array_equal(sim.flat_parameters()[a:b], theta0[a:b])
    assert sim.flat_parameters()[net.slope_slice[0]] == theta0[net.slope_slice[0]]
    for l in range(1, 4):
        assert not np.array_equal(w1[l], w0[l]), f"layer {l} should train"


def test_layer_lr_multiplies_each_layers_update():
    mult = (2.0, 0.5, 1.0, 3.0)
    plain, grad, _ = one_step_update(make_sim())
    scaled, grad2, _ = one_step_update(make_sim(layer_lr=mult))
    np.testing.assert_array_equal(grad, grad2)  # same start, same batch
    sim = make_sim()
    for l, (w, b) in enumerate(zip(sim.network.w_slices, sim.network.b_slices)):
        for a, z, _ in (w, b):
            np.testing.assert_allclose(scaled[a:z], mult[l] * plain[a:z], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(plain, 0.1 * grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("clip", [1e-3, 1e-2, 1e3])
def test_clip_norm_caps_the_global_gradient_norm(clip):
    update, grad, _ = one_step_update(make_sim(clip_norm=clip))
    norm = np.linalg.norm(grad)
    assert 1e-3 < norm < 1e3  # the two small clips bind, the large one does not
    applied = update / 0.1
    if norm > clip:
        assert np.linalg.norm(applied) == pytest.approx(clip, rel=1e-9)
        np.testing.assert_allclose(applied, grad * clip / norm, rtol=1e-9, atol=1e-15)  # direction kept
    else:
        np.testing.assert_allclose(applied, grad, rtol=1e-9, atol=1e-15)


def test_weight_decay_adds_decay_times_theta():
    update, grad, theta = one_step_update(make_sim(weight_decay=0.01))
    np.testing.assert_allclose(update, 0.1 * (grad + 0.01 * theta), rtol=1e-9, atol=1e-15)
    plain, _, _ = one_step_update(make_sim())
    assert not np.allclose(update, plain)


def test_weight_decay_shrinks_weights_when_the_gradient_vanishes():
    sim = make_sim(weight_decay=0.5, lr=1.0, activation="linear", loss="mse")
    theta = np.zeros(sim.network.n_params)
    theta[sim.network.w_slices[0][0]] = 1.0  # one weight feeding an all-zero network: zero gradient
    sim.set_flat_parameters(theta)
    _, grad, _ = one_step_update(sim)
    i = sim.network.w_slices[0][0]
    assert grad[i] == 0.0
    assert sim.flat_parameters()[i] == pytest.approx(0.5)
