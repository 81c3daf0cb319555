"""Simulation: determinism, side-effect-free gradients, snapshot shapes and history, divergence,
unit statistics, and the batched loss grid against direct evaluation."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from engine import Config, Simulation, Snapshot


def make_sim(**overrides) -> Simulation:
    base = dict(depth=3, width=8, n_samples=120, batch_size=32, backend="numpy", seed=1)
    base.update(overrides)
    return Simulation(Config(**base))


def assert_snapshots_identical(a: Snapshot, b: Snapshot) -> None:
    for f in dataclasses.fields(Snapshot):
        if f.name == "steps_per_second":
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, list):
            assert len(x) == len(y), f.name
            for i, (u, v) in enumerate(zip(x, y)):
                np.testing.assert_array_equal(u, v, err_msg=f"{f.name}[{i}]")
        elif isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=f.name)
        elif isinstance(x, float) and np.isnan(x):
            assert np.isnan(y), f.name
        else:
            assert x == y, f.name


# a config that uses every random stream: minibatches, noisy_relu's noise, batch norm's statistics
BUSY = dict(activation="noisy_relu", norm="batch", optimizer="adam", lr=0.01, dataset="moons")


# ----------------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_config_and_seed_give_identical_runs(dtype):
    a, b = make_sim(dtype=dtype, **BUSY), make_sim(dtype=dtype, **BUSY)
    for n in (7, 13, 1):
        sa, sb = a.step(n), b.step(n)
        assert_snapshots_identical(sa, sb)
        assert sa.history_loss.tobytes() == sb.history_loss.tobytes()  # bitwise, not just close
    np.testing.assert_array_equal(a.flat_parameters(), b.flat_parameters())


def test_another_seed_gives_another_run():
    a, b = make_sim(**BUSY), make_sim(seed=2, **BUSY)
    assert not np.array_equal(a.step(5).history_loss, b.step(5).history_loss)


def test_step_in_chunks_equals_step_at_once():
    a, b = make_sim(**BUSY), make_sim(**BUSY)
    a.step(10)
    a.step(15)
    b.step(25)
    np.testing.assert_array_equal(a.flat_parameters(), b.flat_parameters())


# ----------------------------------------------------------------------------------- gradients()
@pytest.mark.parametrize("extra", [BUSY, dict(activation="prelu", norm="layer", optimizer="momentum")])
def test_gradients_leave_training_state_untouched(extra):
    a, b = make_sim(**extra), make_sim(**extra)
    a.step(5)
    b.step(5)
    snap_before = b.snapshot()
    running = [m.copy() for m in b.network.running_mean] + [v.copy() for v in b.network.running_var]
    x, y = b.data.x_test[:10], b.data.y_test[:10]
    g1 = b.gradients(x, y)
    g2 = b.gradients(x, y)
    np.testing.assert_array_equal(g1.flat, g2.flat)  # repeatable, noise included
    assert g1.loss == g2.loss
    assert_snapshots_identical(b.snapshot(), snap_before)  # caches and gradient buffer restored
    for r, now in zip(running, b.network.running_mean + b.network.running_var):
        np.testing.assert_array_equal(r, now)
    a.snapshot()  # keep the history bookkeeping the same on both
    assert_snapshots_identical(a.step(6), b.step(6))
    np.testing.assert_array_equal(a.flat_parameters(), b.flat_parameters())


def test_gradients_before_the_first_step():
    a, b = make_sim(**BUSY), make_sim(**BUSY)
    b.gradients(b.data.x_train[:5], b.data.y_train[:5])
    assert b.step_count == 0
    assert_snapshots_identical(a.step(3), b.step(3))


def test_gradients_accept_labels_or_dense_targets():
    sim = make_sim(loss="softmax_ce", dtype="float64")
    x, labels = sim.data.x_train[:8], sim.data.y_train[:8]
    dense = np.eye(2)[labels]
    np.testing.assert_array_equal(sim.gradients(x, labels).flat, sim.gradients(x, dense).flat)


# ----------------------------------------------------------------------------------- snapshots
def test_snapshot_fields_have_the_documented_shapes():
    widths = (5, 4, 3)
    sim = make_sim(depth=3, width=widths, activation="prelu", dataset="gauss")
    sizes = [2, *widths, 1]
    snap = sim.step(4)
    L = 4
    assert snap.step == 4 and snap.n_weight_layers == L
    for name in ("grad_norms", "bias_grad_norms", "signal_norms", "update_ratios"):
        assert getattr(snap, name).shape == (L,), name
    for name in ("dead_fraction", "saturated_fraction", "act_mean", "act_std", "prelu_slopes"):
        assert getattr(snap, name).shape == (3,), name
    for name in ("edge_grads", "edge_updates", "weights"):
        assert [a.shape for a in getattr(snap, name)] == list(zip(sizes[:-1], sizes[1:])), name
    assert [b.shape for b in snap.biases] == [(n,) for n in sizes[1:]]
    for name in ("unit_activation", "unit_dead", "unit_saturation"):
        assert [a.shape for a in getattr(snap, name)] == [(w,) for w in widths], name
    assert all(d.dtype == bool for d in snap.unit_dead)
    assert [a.size for a in snap.activation_samples] == [32 * w for w in widths]
    assert snap.history_steps.shape == (4,) and snap.history_loss.shape == (4,)
    assert snap.history_grad_norms.shape == (4, L)
    assert snap.backend == "numpy" and snap.device.startswith("CPU")
    assert snap.diverged is False and snap.diverged_at == -1
    assert snap.boundary is None and snap.boundary_extent is None
    for f in dataclasses.fields(Snapshot):
        value = getattr(snap, f.name)
        values = value if isinstance(value, list) else [value]
        assert not any(type(v).__module__.startswith("cupy") for v in values), f.name
    assert all(0 <= v <= 1 for v in (*snap.dead_fraction, *snap.saturated_fraction, snap.accuracy,
                                     snap.test_accuracy))
    assert np.all(snap.edge_grads[0] >= 0) and np.all(snap.edge_updates[0] >= 0)
    assert snap.grad_ratio == pytest.approx(snap.grad_norms[0] / snap.grad_norms[-1])


def test_snapshot_numbers_agree_with_the_parameters():
    sim = make_sim(activation="prelu", dataset="gauss")
    snap = sim.step(3)
    weights, biases = sim.parameters()
    for a, b in zip(snap.weights + snap.biases, weights + biases):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(snap.grad_norms, [np.linalg.norm(g) for g in snap.edge_grads], rtol=1e-5)
    np.testing.assert_array_equal(snap.prelu_slopes, sim.flat_parameters()[slice(*sim.network.slope_slice[:2])])
    snap.weights[0][...] = 99.0  # snapshots own their arrays
    assert not np.any(sim.parameters()[0][0] == 99.0)


def first_step(**overrides):
    """The full-batch gradient at the start (independently, via gradients()) and step 1's snapshot."""
    sim = make_sim(batch_size=0, dtype="float64", **overrides)
    grads = sim.gradients(sim.data.x_train, sim.data.y_train)
    return sim, grads, sim.step(1)


def test_snapshot_grad_norms_are_weight_gradient_norms():
    _, grads, snap = first_step()
    np.testing.assert_allclose(snap.grad_norms, [np.linalg.norm(g) for g in grads.weights], rtol=1e-12)
    np.testing.assert_allclose(snap.bias_grad_norms, [np.linalg.norm(g) for g in grads.biases], rtol=1e-12)
    assert snap.history_loss[-1] == pytest.approx(snap.loss)


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_history_grad_norms_are_weight_gradient_norms(norm):
    """history_grad_norms is the per-step record of grad_norms: weights only, per layer."""
    _, grads, snap = first_step(norm=norm)
    np.testing.assert_allclose(snap.history_grad_norms[0], [np.linalg.norm(g) for g in grads.weights],
                               rtol=1e-12)
    np.testing.assert_allclose(snap.history_grad_norms[-1], snap.grad_norms, rtol=1e-12)


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_update_ratios_are_weight_update_over_weight_norms(norm):
    sim, grads, snap = first_step(norm=norm)  # sgd: the update of W_l is lr * dW_l
    expected = [0.1 * np.linalg.norm(g) / np.linalg.norm(w) for g, w in zip(grads.weights, sim.parameters()[0])]
    np.testing.assert_allclose(snap.update_ratios, expected, rtol=1e-9)
    np.testing.assert_allclose(snap.edge_updates[1], 0.1 * np.abs(grads.weights[1]), rtol=1e-9)


@pytest.mark.parametrize("setting", [dict(clip_norm=1e-3), dict(weight_decay=0.5)])
def test_snapshot_grad_norms_are_the_loss_gradient_with_clipping_or_decay(setting):
    """grad_norms and edge_grads are documented as the loss gradient dL/dW, so they should not show
    the clipped or decayed step direction (the history, taken before clipping, does not)."""
    _, grads, snap = first_step(**setting)
    np.testing.assert_allclose(snap.grad_norms, [np.linalg.norm(g) for g in grads.weights], rtol=1e-12)
    np.testing.assert_allclose(snap.edge_grads[0], np.abs(grads.weights[0]), rtol=1e-12)


def test_history_holds_every_step_since_the_previous_snapshot():
    sim = make_sim(batch_size=0, dtype="float64")
    initial_loss, _ = sim.evaluate()  # full batch, no norm/noise: the first step's loss
    first = sim.step(5)
    np.testing.assert_array_equal(first.history_steps, np.arange(5))
    assert first.history_loss[0] == pytest.approx(initial_loss, rel=1e-12)
    second = sim.step(3)
    np.testing.assert_array_equal(second.history_steps, [5, 6, 7])
    empty = sim.snapshot()
    assert empty.history_steps.shape == (0,) and empty.history_grad_norms.shape == (0, 4)
    assert empty.step == 8 and empty.loss == second.loss
    third = sim.step(2)
    np.testing.assert_array_equal(third.history_steps, [8, 9])
    assert np.all(np.diff(np.concatenate([first.history_loss, second.history_loss, third.history_loss])) < 0)


def test_snapshot_before_training_does_not_train():
    sim = make_sim(**BUSY)
    theta = sim.flat_parameters()
    snap = sim.snapshot(boundary_resolution=8)
    assert snap.step == 0 and np.isfinite(snap.loss) and snap.history_steps.size == 0
    np.testing.assert_array_equal(sim.flat_parameters(), theta)
    assert_snapshots_identical(make_sim(**BUSY).step(2), sim.step(2))


def test_boundary_for_2d_sets_only():
    sim = make_sim(dataset="circle")
    snap = sim.snapshot(boundary_resolution=16)
    assert snap.boundary.shape == (16, 16) and len(snap.boundary_extent) == 4
    assert np.all((snap.boundary >= 0) & (snap.boundary <= 1))  # probabilities of class 1
    x0, x1, y0, y1 = snap.boundary_extent
    assert snap.boundary[0, -1] == pytest.approx(sim.predict([[x1, y0]])[0, 0])  # rows along y
    regression = make_sim(dataset="sine", loss="mse").snapshot(boundary_resolution=16)
    assert regression.boundary is None and np.isnan(regression.accuracy)


def test_default_dtype_is_float32():
    assert Config().dtype == "float32"
    sim = make_sim()
    assert sim.network.theta.dtype == np.float32 and sim.x_train.dtype == np.float32
    assert sim.step(1).weights[0].dtype == np.float32
    assert sim.flat_parameters().dtype == np.float64  # the public copies are float64


# ----------------------------------------------------------------------------------- divergence
DIVERGING = dict(lr=50.0, activation="relu", init="he_normal", loss="mse", dataset="sine", depth=3, width=16,
                 batch_size=0)


def test_divergence_is_detected_without_warnings():
    sim = make_sim(**DIVERGING)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        snap = sim.step(50)
        assert snap.diverged and sim.diverged
        assert 0 <= snap.diverged_at < 50
        assert not np.isfinite(snap.history_loss[snap.diverged_at])
        assert np.all(np.isfinite(snap.history_loss[:snap.diverged_at]))
        params = sim.flat_parameters()
        later = sim.step(10)  # does nothing now
        assert later.step == snap.step and later.history_steps.size == 0
        assert later.diverged and later.diverged_at == snap.diverged_at
        np.testing.assert_array_equal(sim.flat_parameters(), params)
        sim.snapshot(boundary_resolution=8)
        sim.predict(sim.data.x_test[:4])
        sim.losses_at(params[None, :])


def test_divergence_stops_the_step_early():
    """step(n) documents "fewer if the run diverges": it should stop at the first bad step."""
    sim = make_sim(**DIVERGING)
    snap = sim.step(50)
    assert snap.diverged
    assert snap.step == snap.diverged_at + 1
    assert snap.history_steps[-1] == snap.diverged_at


def test_a_healthy_run_does_not_diverge():
    snap = make_sim(**{**DIVERGING, "lr": 0.01}).step(50)
    assert not snap.diverged and snap.diverged_at == -1


# ----------------------------------------------------------------------------------- unit statistics
def test_relu_with_negative_bias_is_dead_leaky_relu_is_not():
    relu = make_sim(activation="relu", init="he_normal", bias_init=-5.0, dataset="gauss").snapshot()
    assert np.all(relu.dead_fraction > 0.9)
    assert all(d.mean() > 0.9 for d in relu.unit_dead)
    assert np.all(relu.grad_norms[:-1] == 0)  # no gradient flows through dead units
    leaky = make_sim(activation="leaky_relu", init="he_normal", bias_init=-5.0, dataset="gauss").snapshot()
    assert np.all(leaky.dead_fraction == 0)
    assert np.all(leaky.grad_norms > 0)


def test_healthy_relu_has_few_dead_units():
    snap = make_sim(activation="relu", init="he_normal", width=32, dataset="gauss").snapshot()
    assert np.all(snap.dead_fraction < 0.3)


def test_sigmoid_with_large_naive_init_saturates():
    big = make_sim(activation="sigmoid", init="normal", init_sigma=5.0, width=32, dataset="gauss").snapshot()
    assert np.all(big.saturated_fraction[1:] > 0.5)
    small = make_sim(activation="sigmoid", init="xavier_uniform", width=32, dataset="gauss").snapshot()
    assert np.all(small.saturated_fraction < 0.05)


def test_activation_statistics_match_the_samples():
    snap = make_sim(activation="tanh", dataset="gauss").snapshot()
    for l, samples in enumerate(snap.activation_samples):
        assert snap.act_mean[l] == pytest.approx(samples.mean(), rel=1e-5, abs=1e-7)
        assert snap.act_std[l] == pytest.approx(samples.std(), rel=1e-5)
        assert np.all(np.abs(samples) <= 1)


# ----------------------------------------------------------------------------------- losses_at
@pytest.mark.parametrize("extra", [
    dict(norm="none"), dict(norm="batch"), dict(norm="layer"), dict(activation="prelu", norm="batch"),
    dict(activation="noisy_relu", loss="softmax_ce"), dict(dataset="sine", loss="mse", norm="layer"),
    dict(center_inputs=True, dataset="digits", loss="softmax_ce", depth=2),
])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_losses_at_equals_direct_evaluation(extra, dtype):
    sim = make_sim(dtype=dtype, **extra)
    sim.step(10)  # batch norm's running statistics move away from 0 and 1
    theta = sim.flat_parameters()
    rng = np.random.default_rng(0)
    thetas = theta + 0.3 * rng.standard_normal((5, theta.size))
    thetas[0] = theta
    rel = 1e-10 if dtype == "float64" else 2e-5
    for split, data in (("train", (None, None)), ("test", (sim.x_test, sim.y_test))):
        grid = sim.losses_at(thetas, split=split, chunk=2)  # three chunks, over two threads
        assert grid.shape == (5,)
        for i, t in enumerate(thetas):
            sim.set_flat_parameters(t)
            assert grid[i] == pytest.approx(sim.evaluate(*data)[0], rel=rel), (split, i)
        sim.set_flat_parameters(theta)
    np.testing.assert_array_equal(sim.flat_parameters(), theta)


def test_losses_at_on_given_inputs():
    sim = make_sim(loss="softmax_ce", dtype="float64")
    x, labels = sim.data.x_train[:9], sim.data.y_train[:9]
    theta = sim.flat_parameters()
    thetas = np.stack([theta, 0.5 * theta])
    got = sim.losses_at(thetas, inputs=x, targets=labels)
    assert got[0] == pytest.approx(sim.gradients(x, labels).loss, rel=1e-12)  # no norm, no noise


def test_losses_at_progress_can_cancel():
    sim = make_sim(dtype="float64")
    theta = sim.flat_parameters()
    calls = []

    def progress(done, total):
        calls.append((done, total))
        return False

    got = sim.losses_at(np.tile(theta, (6, 1)), chunk=2, progress=progress)
    assert calls[0] == (2, 6) and len(calls) == 1
    assert np.isfinite(got[:2]).all()


def test_losses_at_refuses_wrong_shapes():
    sim = make_sim()
    with pytest.raises(ValueError, match="thetas"):
        sim.losses_at(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="split"):
        sim.losses_at(sim.flat_parameters()[None, :], split="valid")
    with pytest.raises(ValueError):
        sim.set_flat_parameters(np.zeros(3))


# ----------------------------------------------------------------------------------- small contracts
def test_parameters_round_trip_and_shape_check():
    sim = make_sim(dtype="float64", width=(4, 5, 6))
    weights, biases = sim.parameters()
    assert [w.shape for w in weights] == [(2, 4), (4, 5), (5, 6), (6, 1)]
    doubled = [2 * w for w in weights]
    sim.set_parameters(doubled, biases)
    np.testing.assert_array_equal(sim.parameters()[0][2], doubled[2])
    with pytest.raises(ValueError, match="shape"):
        sim.set_parameters([w.T for w in weights], biases)
    starts = [a for a, _, _ in sim.weight_slices()]
    np.testing.assert_array_equal(sim.flat_parameters()[starts[1]:starts[1] + 20].reshape(4, 5), doubled[1])


@pytest.mark.parametrize("loss,dataset,outputs", [("bce", "moons", 1), ("softmax_ce", "moons", 2),
                                                  ("softmax_ce", "digits", 10), ("mse", "ripple", 1)])
def test_predict_gives_probabilities_or_values(loss, dataset, outputs):
    sim = make_sim(loss=loss, dataset=dataset)
    p = sim.predict(sim.data.x_test[:7])
    assert p.shape == (7, outputs) and p.dtype == np.float64
    if loss != "mse":
        assert np.all((p >= 0) & (p <= 1))
    if loss == "softmax_ce":
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)


def test_centred_inputs_are_centred_inside_but_predict_takes_raw_inputs():
    plain = make_sim(dataset="digits", loss="softmax_ce", dtype="float64")
    centred = make_sim(dataset="digits", loss="softmax_ce", dtype="float64", center_inputs=True)
    np.testing.assert_allclose(centred.x_train.mean(axis=0), 0.0, atol=1e-12)
    centred.set_flat_parameters(plain.flat_parameters())
    # the same weights see shifted inputs, so predictions on the same raw points differ
    x = plain.data.x_test[:5]
    assert not np.allclose(plain.predict(x), centred.predict(x))
    np.testing.assert_allclose(centred.predict(x), plain.predict(x - centred.input_mean + 0.0), rtol=1e-10)


def test_no_test_set_and_oversized_batches():
    sim = make_sim(test_fraction=0.0, batch_size=10_000)
    assert sim.batch_size == sim.n_train == 120
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        snap = sim.step(3)
    assert np.isnan(snap.test_loss) and np.isnan(snap.test_accuracy) and np.isfinite(snap.loss)


def test_prelu_slopes_are_nan_unless_prelu():
    assert np.isnan(make_sim().step(1).prelu_slopes).all()
    slopes = make_sim(activation="prelu", prelu_init=0.2).snapshot().prelu_slopes
    np.testing.assert_allclose(slopes, 0.2, rtol=1e-6)


def test_negative_steps_are_refused():
    with pytest.raises(ValueError):
        make_sim().step(-1)


# ------------------------------------------------------------------ snapshot options (display rate)
def test_snapshot_keeps_the_last_evaluation_unless_asked():
    sim = Simulation(Config(depth=2, width=8, dataset="spiral", backend="numpy", seed=1))
    first = sim.step(5)
    assert first.metrics_step == 5
    sim.step(5, evaluate=False)
    sim.step(5, snapshot=False)
    kept = sim.snapshot(evaluate=False)
    assert kept.metrics_step == 5 and kept.test_loss == first.test_loss and kept.step == 15
    assert kept.loss != first.loss                      # the training loss is always the last step's
    fresh = sim.snapshot(evaluate=True)
    assert fresh.metrics_step == 15 and fresh.test_loss != first.test_loss
    # "auto" recomputes once enough time has passed, and never reports a step ahead of the run
    sim.step(5, snapshot=False)
    sim._metrics_clock = (sim._metrics_clock[0] - 10.0, sim._metrics_clock[1])
    auto = sim.snapshot(evaluate="auto")
    assert auto.metrics_step == auto.step == 20
    assert sim.snapshot(evaluate="auto").metrics_step == 20


def test_set_parameters_drops_the_kept_evaluation():
    sim = Simulation(Config(depth=2, width=8, dataset="spiral", backend="numpy", seed=1))
    before = sim.step(3)
    weights, biases = sim.parameters()
    sim.set_parameters([w * 0 for w in weights], biases)
    after = sim.snapshot(evaluate=False)
    assert after.test_loss != before.test_loss


def test_snapshot_without_edges_leaves_the_per_edge_arrays_out():
    sim = Simulation(Config(depth=3, width=16, dataset="spiral", backend="numpy", seed=1))
    sim.step(3)
    full, slim = sim.snapshot(), sim.snapshot(edges=False)
    assert len(full.edge_grads) == 4 and slim.edge_grads == [] and slim.weights == []
    np.testing.assert_array_equal(full.grad_norms, slim.grad_norms)
    assert slim.loss == full.loss
