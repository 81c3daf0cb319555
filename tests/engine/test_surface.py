"""Loss surfaces: the neuron's grid and zig-zag numbers, directions, and network slices."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

from engine import surface as S


# ----------------------------------------------------------------------------------- neuron
@pytest.mark.parametrize("inputs", S.INPUT_KINDS)
def test_neuron_grid_equals_direct_loss(inputs):
    p = S.NeuronProblem(inputs=inputs)
    w1 = np.linspace(-3, 3, 31)
    w2 = np.linspace(-2, 4, 29)
    grid = p.loss_grid(w1, w2)
    assert grid.shape == (29, 31)
    rng = np.random.default_rng(1)
    for _ in range(10):
        i, j = rng.integers(0, 29), rng.integers(0, 31)
        assert grid[i, j] == pytest.approx(p.loss((w1[j], w2[i])), rel=1e-10, abs=1e-12)
    # the comparison can fail: a transposed lookup gives other numbers
    assert not np.isclose(grid[3, 20], p.loss((w1[3], w2[20])))


def test_input_distributions_have_the_sign_they_claim():
    for kind in S.INPUT_KINDS:
        x, _ = S.NeuronProblem(inputs=kind, n_samples=4000).data()
        if kind in S.POSITIVE_INPUTS:
            assert x.min() >= 0 and x.mean() > 0.2
        else:
            assert abs(x.mean()) < 0.05 and x.min() < 0 < x.max()


def test_zigzag_ratio_positive_vs_centred():
    common = dict(start=(-1.0, 1.0), target=(2.0, -1.0), lr=3.0, batch_size=16, steps=300)
    pos = S.neuron_surface(S.NeuronProblem(inputs="sigmoid", **common), resolution=21)
    cen = S.neuron_surface(S.NeuronProblem(inputs="centred", **common), resolution=21)
    assert pos.stats.path_ratio > 1.3
    assert cen.stats.path_ratio < 1.05
    assert pos.stats.steps_to_min is not None and cen.stats.steps_to_min is not None


def test_per_sample_updates_stay_in_the_allowed_quadrants():
    p = S.NeuronProblem(inputs="sigmoid", batch_size=1, steps=100)
    steps = np.diff(p.path(), axis=0)
    assert np.all(steps[:, 0] * steps[:, 1] >= 0)  # both up or both down, every time
    assert p.allowed_quadrants((0.0, 0.0)) == [(1, 1), (-1, -1)]
    c = S.NeuronProblem(inputs="centred", batch_size=1, steps=100)
    c_steps = np.diff(c.path(), axis=0)
    assert np.any(c_steps[:, 0] * c_steps[:, 1] < 0)  # the negative check: centred inputs break it
    assert len(c.allowed_quadrants((0.0, 0.0))) == 4


@pytest.mark.parametrize("opt", S.NEURON_OPTIMIZERS)
def test_every_optimizer_reaches_the_minimum_with_centred_inputs(opt):
    lr = {"sgd": 1.0, "momentum": 0.2, "adam": 0.05}[opt]
    p = S.NeuronProblem(inputs="centred", optimizer=opt, lr=lr, batch_size=0, steps=2000)
    st = S.path_stats(p.path(), p.target, p.eps)
    assert st.steps_to_min is not None


def test_path_stats_on_known_paths():
    straight = np.linspace([0, 0], [3, 4], 11)
    st = S.path_stats(straight, (3, 4), 0.01)
    assert st.path_ratio == pytest.approx(1.0)
    assert st.steps_to_min == 10
    zig = np.array([[0, 0], [1, 1], [1, 0], [2, 1], [2, 0]], float)
    st = S.path_stats(zig, (2, 0), 0.01)
    assert st.path_ratio == pytest.approx((2 * np.sqrt(2) + 2) / 2)
    assert S.path_stats(zig, (9, 9), 0.01).steps_to_min is None


def test_neuron_settings_are_validated_with_clear_messages():
    with pytest.raises(S.NeuronError, match="inputs.*sigmoid \\| relu"):
        S.NeuronProblem(inputs="softmax")
    with pytest.raises(S.NeuronError, match="lr"):
        S.NeuronProblem(lr=-1.0)
    with pytest.raises(S.NeuronError, match="unknown key"):
        S.NeuronProblem.from_dict({"learning_rate": 0.1})


def test_divergent_path_stops_early():
    p = S.NeuronProblem(inputs="sigmoid", lr=50.0, batch_size=0, steps=500)
    path = p.path()
    assert len(path) < 501
    assert S.path_stats(path, p.target).steps_to_min is None


# ----------------------------------------------------------------------------------- network
class TinySim:
    """A NumPy MLP with the Simulation surface API (flat parameters, weight slices, losses_at)."""

    def __init__(self, sizes=(2, 6, 5, 1), n=40, seed=0):
        rng = np.random.default_rng(seed)
        self.sizes = sizes
        self._slices, off = [], 0
        self._bias = []
        for fi, fo in zip(sizes[:-1], sizes[1:]):
            self._slices.append((off, off + fi * fo, (fi, fo)))
            off += fi * fo
            self._bias.append((off, off + fo))
            off += fo
        self.theta = rng.normal(0, 0.8, off)
        x = rng.normal(size=(n, sizes[0]))
        self.data = SimpleNamespace(x_train=x, y_train=np.sin(x.sum(axis=1, keepdims=True)))
        self.diverged = False
        self.calls = 0

    def flat_parameters(self):
        return self.theta.copy()

    def set_flat_parameters(self, theta):
        self.theta = np.array(theta, float)

    def weight_slices(self):
        return list(self._slices)

    def losses_at(self, thetas, split="train"):
        self.calls += 1
        thetas = np.atleast_2d(thetas)
        h = np.broadcast_to(self.data.x_train, (len(thetas),) + self.data.x_train.shape)
        for i, ((a, b, shape), (c, d)) in enumerate(zip(self._slices, self._bias)):
            h = h @ thetas[:, a:b].reshape((-1,) + shape) + thetas[:, None, c:d]
            if i < len(self._slices) - 1:
                h = np.tanh(h)
        return 0.5 * np.mean((h - self.data.y_train) ** 2, axis=(1, 2))

    def gradients(self, x, y):
        return float(self.losses_at(self.theta[None])[0]), [], []

    def step(self, n):
        for _ in range(n):
            g = np.zeros_like(self.theta)
            base = self.losses_at(self.theta[None])[0]
            for i in range(len(self.theta)):  # finite differences: slow, but the net is tiny
                t = self.theta.copy()
                t[i] += 1e-6
                g[i] = (self.losses_at(t[None])[0] - base) / 1e-6
            self.theta -= 0.3 * g


def test_filter_normalised_columns_match_weight_columns():
    sim = TinySim()
    theta = sim.flat_parameters()
    d = S.filter_normalized_direction(theta, sim.weight_slices(), np.random.default_rng(7))
    covered = np.zeros(len(theta), bool)
    for a, b, shape in sim.weight_slices():
        w, dw = theta[a:b].reshape(shape), d[a:b].reshape(shape)
        np.testing.assert_allclose(np.linalg.norm(dw, axis=0), np.linalg.norm(w, axis=0), rtol=1e-12)
        assert not np.allclose(dw, w)  # a direction, not the weights themselves
        covered[a:b] = True
    assert np.all(d[~covered] == 0)  # biases stay put


def test_pca_directions_are_orthonormal_and_capture_a_planar_path():
    rng = np.random.default_rng(0)
    u, v = np.linalg.qr(rng.normal(size=(50, 2)))[0].T
    t = np.linspace(0, 1, 30)
    traj = np.outer(np.cos(3 * t), u) * 2 + np.outer(t, v) + 5.0
    dirs, explained = S.pca_directions(traj)
    np.testing.assert_allclose(dirs @ dirs.T, np.eye(2), atol=1e-12)
    assert explained.sum() == pytest.approx(1.0, abs=1e-9)
    coords = S.project(traj, traj[-1], dirs)
    np.testing.assert_allclose(traj[-1] + coords @ dirs, traj, atol=1e-9)  # lies in the plane


def test_network_grid_equals_per_point_reference():
    sim = TinySim()
    res = S.network_surface(sim, "random", resolution=7, resolution_1d=9, chunk=10)
    assert res.loss.shape == (7, 7) and res.loss_1d.shape == (9,)
    aa, bb = np.meshgrid(res.alphas, res.betas)
    rng = np.random.default_rng(3)
    idx = rng.choice(49, 8, replace=False)
    thetas = res.center + np.stack([aa.ravel()[idx], bb.ravel()[idx]], 1) @ res.directions
    np.testing.assert_allclose(res.loss.ravel()[idx], S.reference_losses(sim, thetas), rtol=1e-10)
    assert res.loss[3, 3] == pytest.approx(sim.losses_at(res.center[None])[0])  # centre = the net


def test_pca_surface_projects_the_trajectory():
    sim = TinySim()
    traj = S.record_trajectory(sim, steps=12, points=12)
    assert traj.shape == (13, len(sim.theta))
    res = S.network_surface(sim, "pca", resolution=5, trajectory=traj)
    assert res.path.shape == (13, 2)
    np.testing.assert_allclose(res.path[-1], 0, atol=1e-12)  # centred on the last point
    assert res.alphas[0] <= res.path[:, 0].min() and res.alphas[-1] >= res.path[:, 0].max()
    assert np.all(np.isfinite(res.explained))


def test_progress_reports_and_cancellation():
    sim = TinySim()
    seen = []
    S.network_surface(sim, "random", resolution=6, resolution_1d=6, chunk=8,
                      progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (42, 42) and all(a[0] < b[0] for a, b in zip(seen, seen[1:]))
    sim.calls = 0
    with pytest.raises(S.SurfaceCancelled):
        S.network_surface(sim, "random", resolution=6, chunk=8, progress=lambda d, t: d < 16)
    assert sim.calls == 2  # stopped after the second chunk
    ev = threading.Event()
    ev.set()
    with pytest.raises(S.SurfaceCancelled):
        S.network_surface(sim, "random", resolution=6, chunk=8, cancel=ev)


def test_bad_network_arguments():
    sim = TinySim()
    with pytest.raises(ValueError, match="directions"):
        S.network_surface(sim, "diagonal")
    with pytest.raises(ValueError, match="resolution"):
        S.network_surface(sim, "random", resolution=500)
    with pytest.raises(ValueError, match="trajectory"):
        S.network_surface(sim, "pca")


def test_real_simulation_grid_equals_set_parameters_and_gradients():
    """The fast path (Simulation.losses_at) against per-point set_flat_parameters + gradients."""
    from engine import Config, Simulation

    sim = Simulation(Config(depth=3, width=8, activation="tanh", n_samples=80, dtype="float64",
                            backend="numpy", seed=3))
    traj = S.record_trajectory(sim, steps=30, points=10)
    for kind in S.DIRECTIONS:
        res = S.network_surface(sim, kind, resolution=7, resolution_1d=5, trajectory=traj)
        aa, bb = np.meshgrid(res.alphas, res.betas)
        idx = np.random.default_rng(0).choice(49, 6, replace=False)
        thetas = res.center + np.stack([aa.ravel()[idx], bb.ravel()[idx]], 1) @ res.directions
        np.testing.assert_allclose(res.loss.ravel()[idx], S.reference_losses(sim, thetas), rtol=1e-9)
        ref_1d = S.reference_losses(sim, res.center + res.alphas_1d[:, None] * res.directions[0])
        np.testing.assert_allclose(res.loss_1d, ref_1d, rtol=1e-9)
