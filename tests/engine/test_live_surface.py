"""Slices of a network that is training: the recorded trajectory, the grid in pieces, and the
per-edge values a display frame reads at sampled edges only."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from engine import Config, Simulation
from engine import surface as S

SMALL = Config(depth=3, width=8, activation="tanh", n_samples=80, dtype="float64", backend="numpy", seed=3)


# ------------------------------------------------------------------ edge_arrays
def test_edge_arrays_whole_layers_equal_the_snapshot():
    sim = Simulation(SMALL)
    sim.step(5, snapshot=False)
    arrays = sim.edge_arrays([None] * len(sim.weight_slices()))
    snap = sim.snapshot()
    for name in ("edge_grads", "edge_updates", "weights", "biases"):
        for got, want in zip(arrays[name], getattr(snap, name)):
            np.testing.assert_array_equal(got, want)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_edge_arrays_at_flat_indices_are_those_entries(seed):
    sim = Simulation(SMALL)
    sim.step(3, snapshot=False)
    rng = np.random.default_rng(seed)
    shapes = [shape for _, _, shape in sim.weight_slices()]
    flats = [np.sort(rng.choice(a * b, size=rng.integers(1, a * b + 1), replace=False)) for a, b in shapes]
    arrays = sim.edge_arrays(flats)
    snap = sim.snapshot()
    for name in ("edge_grads", "edge_updates", "weights"):
        for got, full, flat in zip(arrays[name], getattr(snap, name), flats):
            np.testing.assert_array_equal(got, np.ravel(full)[flat])
    # a negative control: a neighbouring index is not the same entry (the check can fail)
    w = np.ravel(snap.weights[0])
    assert not np.array_equal(arrays["weights"][0], w[(flats[0] + 1) % w.size]) or w.size == 1


def test_edge_arrays_bad_input_is_a_clear_error():
    sim = Simulation(SMALL)
    with pytest.raises(ValueError, match="one per weight layer"):
        sim.edge_arrays([None])
    (a, b, shape) = sim.weight_slices()[0]
    with pytest.raises(IndexError, match="out of range"):
        sim.edge_arrays([np.array([shape[0] * shape[1]])] + [None] * (len(sim.weight_slices()) - 1))


# ------------------------------------------------------------------ the trajectory recorder
def test_recorder_covers_the_whole_run_in_bounded_memory():
    rec = S.TrajectoryRecorder(10, max_points=8)
    for step in range(0, 1001):
        due = rec.next_step(step)
        assert due >= step
        rec.offer(step, np.full(10, float(step)))
    assert 4 <= len(rec.points) <= 8
    assert rec.steps[0] == 0 and rec.steps[-1] >= 1000 - rec.every
    assert all(s % rec.every == 0 for s in rec.steps)
    assert all(p[0] == s for s, p in zip(rec.steps, rec.points))   # each point is its step's
    steps, points = rec.with_current(1000, np.full(10, 1000.0))
    assert steps[-1] == 1000 and points.shape == (len(steps), 10) and len(set(steps)) == len(steps)


def test_recorder_skips_non_finite_and_refuses_huge_nets():
    rec = S.TrajectoryRecorder(4, max_points=8)
    assert rec.offer(0, np.zeros(4))
    assert not rec.offer(1, np.array([0, np.nan, 0, 0]))
    assert rec.steps == [0]
    huge = S.TrajectoryRecorder(52_000_000)
    assert huge.capacity == 0 and "not recorded" in huge.reason and huge.next_step(5) is None
    assert not huge.offer(0, np.zeros(3))


# ------------------------------------------------------------------ the grid in pieces
@pytest.mark.parametrize("kind", S.DIRECTIONS)
def test_surface_job_in_pieces_equals_network_surface(kind):
    sim = Simulation(SMALL)
    traj = S.record_trajectory(sim, steps=30, points=10)
    want = S.network_surface(sim, kind, resolution=7, resolution_1d=5, trajectory=traj, seed=4)
    job = S.SurfaceJob(sim, kind, resolution=7, resolution_1d=5, trajectory=traj, seed=4)
    pieces = 0
    while not job.advance(1e-6):           # the smallest pieces: one chunk each
        pieces += 1
        assert 0 < job.done < job.total
    assert pieces >= 1
    got = job.result()
    np.testing.assert_allclose(got.loss, want.loss, rtol=1e-12)
    np.testing.assert_allclose(got.loss_1d, want.loss_1d, rtol=1e-12)
    np.testing.assert_allclose(got.path, want.path, atol=1e-12)
    light = job.result(light=True)
    assert light.center.size == 0 and light.directions.shape == (2, 0)
    np.testing.assert_allclose(job.position(want.center), 0, atol=1e-12)


def test_surface_job_fixes_the_plane_while_training_goes_on():
    sim = Simulation(SMALL)
    sim.step(20, snapshot=False)
    job = S.SurfaceJob(sim, "random", resolution=5, resolution_1d=3, seed=1)
    center_loss = sim.losses_at(sim.flat_parameters()[None])[0]
    job.step(3)
    sim.step(50, snapshot=False)          # the run goes on between pieces
    while not job.advance(0.01):
        pass
    res = job.result()
    assert res.loss[2, 2] == pytest.approx(center_loss, rel=1e-12)   # the parameters at the request
    assert sim.losses_at(sim.flat_parameters()[None])[0] != pytest.approx(center_loss, rel=1e-6)
    assert np.linalg.norm(job.position(sim.flat_parameters())) > 0
