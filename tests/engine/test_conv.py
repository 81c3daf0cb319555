"""Convolutional nets: convolution and pooling equal a direct reference computation; backprop
through conv, pooling, per-channel norms, residual blocks and the dense head equals float64 central
differences for every activation and normalisation, with negative controls; PyTorch layouts."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Config, Simulation
from engine.activations import ACTIVATIONS
from engine.config import NORMS, ConfigError
from engine.layers.conv import conv_backward, conv_forward
from engine.layers.pool import pool_backward, pool_forward

from .checks import assert_steps_follow_the_gradient, gradients_without_skip_backward
from .test_gradients import assert_gradients_match, batch, mismatches, numerical_gradient


def direct_conv(x, w, b, stride, padding):
    """Cross-correlation written out element by element: x (N, C, H, W), w (O, C, k, k)."""
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - k) // stride + 1, (wd + 2 * padding - k) // stride + 1
    out = np.zeros((n, o, ho, wo))
    for s in range(n):
        for f in range(o):
            for i in range(ho):
                for j in range(wo):
                    patch = xp[s, :, i * stride:i * stride + k, j * stride:j * stride + k]
                    out[s, f, i, j] = (patch * w[f]).sum() + b[f]
    return out


@pytest.mark.parametrize("k,stride,padding,size", [(3, 1, 1, 6), (3, 2, 0, 7), (1, 1, 0, 5), (2, 2, 1, 6),
                                                   (5, 1, 2, 5), (3, 3, 2, 8)])
def test_convolution_equals_direct_computation(k, stride, padding, size):
    rng = np.random.default_rng(k * 10 + stride)
    x = rng.standard_normal((3, 2, size, size + 1))
    w, b = rng.standard_normal((4, 2, k, k)), rng.standard_normal(4)
    out, cols = conv_forward(np, x.transpose(0, 2, 3, 1), w, b, stride, padding)
    np.testing.assert_allclose(out.transpose(0, 3, 1, 2), direct_conv(x, w, b, stride, padding), rtol=1e-12, atol=1e-12)
    # backward: the loss sum(out * r) has gradients that the direct computation gives by linearity
    r = rng.standard_normal(out.shape)
    dw, db = np.zeros_like(w), np.zeros_like(b)
    dx = conv_backward(np, r, cols, w, (3, size, size + 1, 2), stride, padding, dw, db,
                       np.ones((1, r.shape[0] * r.shape[1] * r.shape[2])))
    rt = r.transpose(0, 3, 1, 2)
    eps = 1e-6
    for idx in [(0, 0, 0, 0), (2, 1, k - 1, k - 1), (1, 1, size - 1, size)]:
        e = np.zeros_like(x)
        e[idx] = eps
        num = ((direct_conv(x + e, w, b, stride, padding) - direct_conv(x - e, w, b, stride, padding)) * rt).sum() / (2 * eps)
        assert dx.transpose(0, 3, 1, 2)[idx] == pytest.approx(num, rel=1e-6, abs=1e-9)
    for idx in [(0, 0, 0, 0), (3, 1, k - 1, 0)]:
        e = np.zeros_like(w)
        e[idx] = eps
        num = ((direct_conv(x, w + e, b, stride, padding) - direct_conv(x, w - e, b, stride, padding)) * rt).sum() / (2 * eps)
        assert dw[idx] == pytest.approx(num, rel=1e-6, abs=1e-9)
    np.testing.assert_allclose(db, rt.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_convolution_equals_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((5, 3, 3, 3)), rng.standard_normal(5)
    ours, _ = conv_forward(np, x.transpose(0, 2, 3, 1), w, b, 2, 1)
    theirs = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=2, padding=1)
    np.testing.assert_allclose(ours.transpose(0, 3, 1, 2), theirs.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("size", [(4, 6), (5, 7)])
def test_pooling_equals_direct_computation(kind, size):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, *size, 3))
    out, cache = pool_forward(np, x, kind)
    h2, w2 = size[0] // 2, size[1] // 2
    ref = np.zeros((2, h2, w2, 3))
    for i in range(h2):
        for j in range(w2):
            win = x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2, :]
            ref[:, i, j, :] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    g = rng.standard_normal(out.shape)
    dx = pool_backward(np, g, cache, kind)
    assert dx.shape == x.shape
    assert dx.sum() == pytest.approx(g.sum(), rel=1e-12)        # every window passes its gradient on once
    if size[0] % 2:
        assert np.all(dx[:, -1] == 0)                        # the dropped row has no gradient


def test_max_pool_sends_a_tied_gradient_once():
    x = np.ones((1, 2, 2, 1))
    out, cache = pool_forward(np, x, "max")
    dx = pool_backward(np, np.ones_like(out), cache, "max")
    assert dx.sum() == 1.0 and dx[0, 0, 0, 0] == 1.0


# ----------------------------------------------------------------------------------- whole networks
def make_cnn(**overrides) -> Simulation:
    base = dict(arch="cnn", channels=(2, 3), kernel_size=3, padding=1, depth=1, width=3, activation="tanh",
                norm="none", loss="softmax_ce", dataset="digits", n_samples=30, backend="numpy",
                dtype="float64", seed=3, init="xavier_normal", pool="max", pool_every=1)
    base.update(overrides)
    return Simulation(Config(**base))


def test_layouts_are_pytorchs_and_input_side_first():
    sim = make_cnn(channels=(2, 3), pool="none")
    weights, biases = sim.parameters()
    assert [w.shape for w in weights] == [(2, 1, 3, 3), (3, 2, 3, 3), (3 * 8 * 8, 3), (3, 10)]
    assert [b.shape for b in biases] == [(2,), (3,), (3,), (10,)]
    grads = sim.gradients(*batch(sim, 6))
    assert [g.shape for g in grads.weights] == [w.shape for w in weights]
    snap = sim.step(1)
    assert snap.layer_kinds == ("conv", "conv", "dense", "dense")
    assert [e.shape for e in snap.edge_grads] == [(1, 2), (2, 3), (3, 3), (3, 10)]   # one node per channel
    np.testing.assert_allclose(snap.edge_grads[1], np.sqrt((snap.kernel_grads[1] ** 2).sum(axis=(2, 3))).T)
    assert snap.grad_norms[1] == pytest.approx(np.linalg.norm(snap.kernel_grads[1]))
    assert [f.shape for f in snap.feature_maps] == [(2, 8, 8), (3, 8, 8)]
    assert snap.sample_image.shape == (1, 8, 8)
    assert len(snap.unit_dead) == 3 and snap.unit_dead[0].shape == (2,)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_gradients_every_activation_and_norm(activation, norm):
    sim = make_cnn(activation=activation, norm=norm, bias_init=0.1)
    assert_gradients_match(sim, n=6)


@pytest.mark.parametrize("overrides", [
    dict(pool="avg", stride=1), dict(pool="none", stride=2, padding=0), dict(kernel_size=1, padding=0, pool="none"),
    dict(channels=(2, 2, 2), residual=True, residual_every=2, pool="none", norm="batch", activation="relu", bias_init=0.1),
    dict(channels=(3, 3, 3, 3), residual=True, residual_every=1, pool="max", pool_every=4, norm="layer"),
    dict(dataset="shapes", channels=(2,), pool="max", depth=2, width=(4, 3), loss="bce", activation="elu"),
])
def test_gradients_other_shapes(overrides):
    assert_gradients_match(make_cnn(**overrides), n=5)


def test_training_step_uses_the_checked_gradient():
    sim = make_cnn(norm="batch", activation="relu", bias_init=0.1, optimizer="sgd", lr=1.0, batch_size=0,
                   channels=(2, 2, 2), residual=True, pool="none")
    assert_steps_follow_the_gradient(sim)


def test_loss_grid_matches_the_forward_pass():
    sim = make_cnn(norm="none")
    x, y = batch(sim, 6)
    theta = sim.flat_parameters()
    grid = sim.losses_at(np.stack([theta, theta * 0.5]), inputs=x, targets=y)
    assert grid[0] == pytest.approx(sim.gradients(x, y).loss, rel=1e-12)
    assert grid[1] != pytest.approx(grid[0], rel=1e-3)


def test_negative_control_flipped_kernel_gradient(monkeypatch):
    """Flip each kernel's gradient (the convolution-vs-correlation mix-up): the check must fail."""
    import engine.convnet as convnet

    sim = make_cnn()
    x, y = batch(sim, 6)
    num = numerical_gradient(sim, x, y)
    real = convnet.conv_backward

    def flipped(*args, **kwargs):
        dx = real(*args, **kwargs)
        dweight = args[7]
        dweight[...] = dweight[:, :, ::-1, ::-1].copy()
        return dx

    monkeypatch.setattr(convnet, "conv_backward", flipped)
    assert mismatches(num, sim.gradients(x, y).flat).size > 0
    monkeypatch.setattr(convnet, "conv_backward", real)
    assert mismatches(num, sim.gradients(x, y).flat).size == 0


def test_negative_control_missing_skip_gradient():
    sim = make_cnn(channels=(2, 2, 2), residual=True, pool="none")
    x, y = batch(sim, 6)
    num = numerical_gradient(sim, x, y)
    assert mismatches(num, gradients_without_skip_backward(sim, x, y)).size > 0


def test_dead_channel_is_reported_per_channel():
    sim = make_cnn(activation="relu", channels=(3, 2), pool="none")
    weights, biases = sim.parameters()
    biases[0][1] = -100.0                       # channel 1 of conv layer 1 never fires
    sim.set_parameters(weights, biases)
    snap = sim.snapshot()
    assert list(snap.unit_dead[0]) == [False, True, False]
    assert snap.dead_fraction[0] == pytest.approx(1 / 3)


def test_cnn_needs_an_image_dataset_and_room_for_its_layers():
    with pytest.raises(ConfigError, match="image dataset"):
        Simulation(Config(arch="cnn", dataset="spiral"))
    with pytest.raises(ConfigError, match="smaller than its"):
        Simulation(Config(arch="cnn", dataset="digits", loss="softmax_ce", channels=(2,) * 5, padding=0,
                          n_samples=20))
    with pytest.raises(ConfigError, match="too small for 2x2 pooling"):
        Simulation(Config(arch="cnn", dataset="digits", loss="softmax_ce", channels=(2,) * 4, pool="max",
                          n_samples=20))


def test_a_small_cnn_learns_the_shapes():
    sim = Simulation(Config(arch="cnn", dataset="shapes", channels=(6, 8), pool="max", depth=1, width=16,
                            activation="relu", init="he_normal", norm="batch", loss="softmax_ce",
                            optimizer="adam", lr=0.01, n_samples=360, batch_size=32, seed=1))
    first = sim.step(1).loss
    snap = sim.step(120)
    assert snap.accuracy > 0.9 and snap.loss < first / 3


def test_loss_surface_of_a_cnn():
    from engine.surface import network_surface, reference_losses

    sim = make_cnn(dtype="float32", n_samples=60, activation="relu", init="he_normal")
    sim.step(5)
    surface = network_surface(sim, resolution=5)
    assert surface.loss.shape == (5, 5) and np.isfinite(surface.loss).all()
    theta = sim.flat_parameters()[None, :]
    assert sim.losses_at(theta)[0] == pytest.approx(reference_losses(sim, theta)[0], rel=1e-5)


@pytest.mark.skipif(not __import__("engine.backend", fromlist=["cupy_available"]).cupy_available(),
                    reason="needs a working CUDA GPU and CuPy")
def test_cupy_cnn_matches_numpy():
    """The same code path on CuPy: gradients and a few training steps equal NumPy's (float64)."""
    common = dict(channels=(3, 3, 3), residual=True, pool="max", pool_every=3, norm="batch", activation="relu",
                  bias_init=0.1)
    a, b = make_cnn(**common), make_cnn(backend="cupy", **common)
    x, y = batch(a, 8)
    np.testing.assert_allclose(b.gradients(x, y).flat, a.gradients(x, y).flat, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.step(5).history_loss, a.step(5).history_loss, rtol=1e-9)
