"""Backprop against central finite differences of the loss, in float64.

Every activation, normalisation and loss; depths 1, 3 and 6; widths given as a list; the learned
prelu slopes and the norms' gamma/beta. A negative control shows the check does catch a wrong
derivative and a perturbed gradient.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Config, Simulation
from engine.activations import ACTIVATIONS
from engine.config import NORMS
from engine.losses import LOSSES

EPS = 1e-6              # finite-difference step
ATOL, RTOL = 1e-7, 1e-5  # |num - ana| <= ATOL + RTOL*|num|; biases before batch norm have true gradient 0
BATCH = 12

# a dataset each loss can train on: mse needs nothing special, classification losses need labels
DATASET_FOR_LOSS = {"mse": "sine", "bce": "gauss", "softmax_ce": "spiral"}


def make_sim(**overrides) -> Simulation:
    base = dict(depth=3, width=4, activation="tanh", norm="none", loss="bce", dataset="gauss",
                n_samples=40, backend="numpy", dtype="float64", seed=3, init="xavier_normal")
    base.update(overrides)
    return Simulation(Config(**base))


def batch(sim: Simulation, n: int = BATCH):
    return sim.data.x_train[:n], sim.data.y_train[:n]


def numerical_gradient(sim: Simulation, x, y, eps: float = EPS) -> np.ndarray:
    """Central differences of the training-mode loss over every flat parameter."""
    theta = sim.flat_parameters()
    num = np.empty_like(theta)
    try:
        for i in range(theta.size):
            t = theta.copy()
            t[i] += eps
            sim.set_flat_parameters(t)
            up = sim.gradients(x, y).loss
            t[i] -= 2 * eps
            sim.set_flat_parameters(t)
            down = sim.gradients(x, y).loss
            num[i] = (up - down) / (2 * eps)
    finally:
        sim.set_flat_parameters(theta)
    return num


def mismatches(num: np.ndarray, ana: np.ndarray, atol: float = ATOL, rtol: float = RTOL) -> np.ndarray:
    """Indices where the analytic gradient disagrees with the numerical one."""
    return np.flatnonzero(np.abs(num - ana) > atol + rtol * np.abs(num))


def assert_gradients_match(sim: Simulation, n: int = BATCH) -> np.ndarray:
    x, y = batch(sim, n)
    ana = sim.gradients(x, y).flat
    num = numerical_gradient(sim, x, y)
    bad = mismatches(num, ana)
    assert bad.size == 0, (
        f"{bad.size} of {num.size} gradients differ, e.g. index {bad[:5]}: "
        f"numerical {num[bad[:5]]} vs analytic {ana[bad[:5]]} ({sim.config})")
    assert np.abs(num).max() > 1e-4, "a check where every gradient is ~0 would prove nothing"
    return num


# ----------------------------------------------------------------------------------- coverage
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_with_every_norm(activation, norm):
    # bias_init keeps relu-like units off their kink at 0 for the whole batch (no dead layer)
    sim = make_sim(activation=activation, norm=norm, bias_init=0.1, width=(5, 4, 3))
    assert_gradients_match(sim)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_every_loss_with_every_norm(loss, norm):
    sim = make_sim(loss=loss, norm=norm, dataset=DATASET_FOR_LOSS[loss], activation="elu")
    assert_gradients_match(sim)


@pytest.mark.parametrize("loss", ["bce", "softmax_ce", "mse"])
def test_many_outputs_on_digits(loss):
    # 10 outputs: bce per output on one-hot targets, softmax over classes, mse on one-hot
    sim = make_sim(loss=loss, dataset="digits", depth=1, width=3, n_samples=30, activation="silu")
    assert sim.n_outputs == 10
    assert_gradients_match(sim, n=8)


@pytest.mark.parametrize("depth", [1, 3, 6])
@pytest.mark.parametrize("norm", NORMS)
def test_depths(depth, norm):
    widths = tuple(3 + (i % 3) for i in range(depth))  # widths given as a list, not all equal
    sim = make_sim(depth=depth, width=widths, norm=norm, activation="tanh")
    assert sim.network.sizes == [2, *widths, 1]
    assert_gradients_match(sim)


def test_full_batch_and_batch_of_two():
    sim = make_sim(norm="batch", activation="gelu")
    assert_gradients_match(sim, n=len(sim.data.x_train))
    assert_gradients_match(sim, n=2)


# ----------------------------------------------------------------------------------- extras
@pytest.mark.parametrize("norm", NORMS)
def test_prelu_slope_gradient(norm):
    sim = make_sim(activation="prelu", norm=norm, depth=3, prelu_init=0.3)
    x, y = batch(sim)
    grads = sim.gradients(x, y)
    a, b, _ = sim.network.slope_slice
    slopes = grads.extra["prelu_slopes"]
    assert slopes.shape == (3,)
    np.testing.assert_array_equal(slopes, grads.flat[a:b])
    num = numerical_gradient(sim, x, y)[a:b]
    assert np.abs(num).min() > 1e-6, "every layer's slope should matter for this batch"
    assert mismatches(num, slopes).size == 0, (num, slopes)


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_gamma_beta_gradients(norm):
    sim = make_sim(norm=norm, width=(4, 5), depth=2, activation="softplus")
    x, y = batch(sim)
    grads = sim.gradients(x, y)
    num = numerical_gradient(sim, x, y)
    net = sim.network
    assert len(grads.extra["gamma"]) == len(grads.extra["beta"]) == 2
    for l, (gs, bs) in enumerate(zip(net.gamma_slices, net.beta_slices)):
        for (a, b, shape), ana in ((gs, grads.extra["gamma"][l]), (bs, grads.extra["beta"][l])):
            assert ana.shape == shape
            np.testing.assert_array_equal(ana, grads.flat[a:b])
            assert mismatches(num[a:b], ana).size == 0, (l, num[a:b], ana)


def test_gradients_tuple_matches_flat_layout():
    sim = make_sim(norm="batch", activation="prelu")
    grads = sim.gradients(*batch(sim))
    loss, weights, biases = grads
    assert loss == grads.loss and weights is grads.weights and biases is grads.biases
    assert grads.flat.shape == sim.flat_parameters().shape
    for (a, b, shape), w in zip(sim.network.w_slices, weights):
        assert w.shape == shape
        np.testing.assert_array_equal(w.ravel(), grads.flat[a:b])
    for (a, b, shape), g in zip(sim.network.b_slices, biases):
        np.testing.assert_array_equal(g, grads.flat[a:b])


def test_bias_before_batch_norm_has_zero_gradient():
    sim = make_sim(norm="batch", depth=2)
    grads = sim.gradients(*batch(sim))
    for g in grads.biases[:-1]:
        np.testing.assert_allclose(g, 0.0, atol=1e-12)
    assert np.abs(grads.biases[-1]).max() > 1e-4  # the output bias has no norm after it


# ----------------------------------------------------------------------------------- random nets
@settings(max_examples=20, deadline=None, derandomize=True)
@given(depth=st.integers(1, 4), data=st.data(),
       activation=st.sampled_from(sorted(ACTIVATIONS)), norm=st.sampled_from(NORMS),
       loss=st.sampled_from(sorted(LOSSES)), seed=st.integers(0, 2**16),
       n=st.integers(2, 16))
def test_random_networks(depth, data, activation, norm, loss, seed, n):
    widths = tuple(data.draw(st.lists(st.integers(2, 6), min_size=depth, max_size=depth), label="widths"))
    sim = make_sim(depth=depth, width=widths, activation=activation, norm=norm, loss=loss,
                   dataset=DATASET_FOR_LOSS[loss], seed=seed, bias_init=0.05)
    assert_gradients_match(sim, n=n)


# ----------------------------------------------------------------------------------- negative controls
def test_check_catches_a_wrong_derivative():
    """Give sigmoid tanh's derivative formula: the check must report mismatches."""
    sim = make_sim(activation="sigmoid")
    x, y = batch(sim)
    act = sim.network.act
    sim.network.act = dataclasses.replace(act, derivative=lambda xp, z, h, p: 1.0 - h * h)
    wrong = sim.gradients(x, y).flat
    num = numerical_gradient(sim, x, y)  # the forward pass is unchanged, so num is the true gradient
    assert mismatches(num, wrong).size > 0
    sim.network.act = act
    assert mismatches(num, sim.gradients(x, y).flat).size == 0


def test_check_catches_a_small_perturbation():
    sim = make_sim()
    x, y = batch(sim)
    num = numerical_gradient(sim, x, y)
    ana = sim.gradients(x, y).flat
    i = int(np.argmax(np.abs(num)))
    ana[i] *= 1.001  # a 0.1% error in one entry
    assert list(mismatches(num, ana)) == [i]


def test_check_catches_a_missing_batch_norm_term():
    """Drop the mean-gradient term of batch norm's backward: the check must see it."""
    sim = make_sim(norm="batch", depth=2)
    x, y = batch(sim)
    num = numerical_gradient(sim, x, y)
    net = sim.network
    original = net.backward

    def backward_without_norm(dout, **kwargs):
        saved, net.norm = net.norm, "none"   # treat the layer as if there were no normalisation
        try:
            # with norm "none" the gamma/beta gradients are skipped and d/da misses inv_std etc.
            original(dout, **kwargs)
        finally:
            net.norm = saved

    net.backward = backward_without_norm
    try:
        wrong = sim.gradients(x, y).flat
    finally:
        del net.backward
    assert mismatches(num, wrong).size > 0


# ----------------------------------------------------------------------------------- the training path
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("activation", sorted(set(ACTIVATIONS) - {"noisy_relu"}))
def test_training_steps_use_the_checked_gradient(activation, norm):
    """step() computes gradients on its own path (reused buffers); with full-batch SGD at lr 1 each
    update must be exactly the gradient that gradients() gives (and that the checks above verify)."""
    sim = make_sim(activation=activation, norm=norm, optimizer="sgd", lr=1.0, batch_size=0, n_samples=30,
                   bias_init=0.1, width=(5, 4, 3))
    x, y = sim.data.x_train, sim.data.y_train
    for _ in range(3):  # later steps run on buffers the earlier ones left behind
        expected = sim.gradients(x, y).flat
        before = sim.flat_parameters()
        sim.step(1)
        np.testing.assert_allclose(before - sim.flat_parameters(), expected, rtol=1e-10, atol=1e-13)


def test_noisy_relu_without_noise_trains_exactly_like_relu():
    common = dict(norm="batch", batch_size=8, n_samples=60, optimizer="momentum", lr=0.05)
    relu = make_sim(activation="relu", **common)
    quiet = make_sim(activation="noisy_relu", noise_std=0.0, **common)
    noisy = make_sim(activation="noisy_relu", noise_std=0.5, **common)
    a, b, c = relu.step(10), quiet.step(10), noisy.step(10)
    np.testing.assert_array_equal(a.history_loss, b.history_loss)
    np.testing.assert_array_equal(relu.flat_parameters(), quiet.flat_parameters())
    assert not np.array_equal(a.history_loss, c.history_loss)
    # the noise is for training only: predictions are deterministic
    np.testing.assert_array_equal(noisy.predict(x := noisy.data.x_test), noisy.predict(x))


# ----------------------------------------------------------------------------------- the forward pass
def reference_loss(sim: Simulation, x, labels, training: bool = True) -> float:
    """The network's loss written out plainly from its parameters (no engine maths)."""
    cfg, net = sim.config, sim.network
    theta = sim.flat_parameters()

    def part(sl):
        return theta[sl[0]:sl[1]].reshape(sl[2])

    act = cfg.activation
    h = np.asarray(x, dtype=np.float64)
    for l in range(cfg.depth):
        a = h @ part(net.w_slices[l]) + part(net.b_slices[l])
        if cfg.norm == "batch" and training:
            a = (a - a.mean(0)) / np.sqrt(a.var(0) + 1e-5)
        elif cfg.norm == "batch":
            a = (a - net.running_mean[l]) / np.sqrt(net.running_var[l] + 1e-5)
        elif cfg.norm == "layer":
            a = (a - a.mean(1, keepdims=True)) / np.sqrt(a.var(1, keepdims=True) + 1e-5)
        if cfg.norm != "none":
            a = a * part(net.gamma_slices[l]) + part(net.beta_slices[l])
        if act == "tanh":
            h = np.tanh(a)
        elif act == "sigmoid":
            h = 1 / (1 + np.exp(-a))
        elif act == "prelu":
            slope = theta[net.slope_slice[0] + l]
            h = np.where(a > 0, a, slope * a)
        elif act == "elu":
            h = np.where(a > 0, a, cfg.elu_alpha * (np.exp(a) - 1))
        else:
            raise AssertionError(act)
    out = h @ part(net.w_slices[-1]) + part(net.b_slices[-1])
    if cfg.loss == "mse":
        return float(np.mean((out - np.asarray(labels).reshape(out.shape)) ** 2))
    if cfg.loss == "bce":
        p = 1 / (1 + np.exp(-out[:, 0]))
        return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))
    p = np.exp(out) / np.exp(out).sum(1, keepdims=True)
    return float(-np.mean(np.log(p[np.arange(len(labels)), labels])))


@pytest.mark.parametrize("activation,norm,loss", [
    ("tanh", "none", "bce"), ("sigmoid", "batch", "softmax_ce"), ("prelu", "layer", "bce"),
    ("elu", "batch", "mse"), ("prelu", "batch", "softmax_ce"),
])
def test_forward_matches_a_plain_reference(activation, norm, loss):
    dataset = DATASET_FOR_LOSS[loss]
    sim = make_sim(activation=activation, norm=norm, loss=loss, dataset=dataset, batch_size=8, n_samples=60,
                   optimizer="adam", lr=0.02)
    sim.step(15)  # parameters, prelu slopes and running statistics away from their initial values
    x, y = sim.data.x_test, sim.data.y_test
    assert sim.gradients(x, y).loss == pytest.approx(reference_loss(sim, x, y), rel=1e-10)
    eval_loss = sim.losses_at(sim.flat_parameters()[None, :], inputs=x, targets=y)[0]
    assert eval_loss == pytest.approx(reference_loss(sim, x, y, training=False), rel=1e-10)


def test_batch_norm_running_statistics():
    """Running mean/var move by norm_momentum towards the batch's mean and unbiased variance."""
    sim = make_sim(norm="batch", batch_size=0, n_samples=30, norm_momentum=0.25, depth=1, width=3)
    x = sim.data.x_train
    theta = sim.flat_parameters()
    w, b = theta[slice(*sim.network.w_slices[0][:2])].reshape(2, 3), theta[slice(*sim.network.b_slices[0][:2])]
    a = x @ w + b
    sim.step(1)
    np.testing.assert_allclose(sim.network.running_mean[0], 0.25 * a.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sim.network.running_var[0], 0.75 + 0.25 * a.var(0, ddof=1), rtol=1e-12)
