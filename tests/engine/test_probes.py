"""Unit statistics measured on stacked layers equal the same measurements taken layer by layer."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Config, Simulation
from engine.probes import MAX_ACTIVATION_SAMPLES, _stacked, unit_statistics


def per_layer(network) -> dict:
    """The plain definition, one hidden layer at a time (float64)."""
    threshold = network.act.saturation_threshold()
    out = {"dead_fraction": [], "saturated_fraction": [], "act_mean": [], "act_std": [], "unit_dead": []}
    for c in network.caches:
        d, h = np.asarray(c.d, dtype=np.float64), np.asarray(c.h, dtype=np.float64)
        dead = ~(d != 0).any(axis=0)
        out["unit_dead"].append(dead)
        out["dead_fraction"].append(dead.mean())
        out["saturated_fraction"].append((np.abs(d) < threshold).mean())
        out["act_mean"].append(h.mean())
        out["act_std"].append(h.std())
    return out


@pytest.mark.parametrize("widths,activation", [((16, 16, 16), "relu"), ((32, 8, 8, 24), "sigmoid"), ((200,), "tanh")])
def test_stacked_statistics_equal_the_per_layer_definition(widths, activation):
    cfg = Config(width=widths if len(set(widths)) > 1 else widths[0], depth=len(widths), activation=activation, dataset="spiral", batch_size=64,
                 backend="numpy", seed=2, init="normal" if activation == "relu" else "xavier_normal", init_sigma=1.0)
    sim = Simulation(cfg)
    sim.step(3)
    stats, ref = unit_statistics(sim.network), per_layer(sim.network)
    for key in ("dead_fraction", "saturated_fraction", "act_mean", "act_std"):
        np.testing.assert_allclose(stats[key], ref[key], rtol=1e-5, atol=1e-7, err_msg=key)
    for got, want in zip(stats["unit_dead"], ref["unit_dead"]):
        np.testing.assert_array_equal(got, want)
    assert [len(u) for u in stats["unit_activation"]] == list(widths)
    assert all(s.size <= MAX_ACTIVATION_SAMPLES for s in stats["activation_samples"])
    # negative control: the comparison notices a layer measured out of order
    if len(set(ref["act_std"])) > 1:
        with pytest.raises(AssertionError):
            np.testing.assert_allclose(stats["act_std"][::-1], ref["act_std"], rtol=1e-5)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "leaky_relu", "elu"])
@pytest.mark.parametrize("width,batch,plain", [(128, 256, False), (16, 32, False), (16, 32, True)],
                         ids=["compiled", "block", "stacked"])
def test_compiled_and_stacked_unit_statistics_equal_the_per_layer_definition(activation, width, batch, plain):
    """Large float32 layers take one compiled pass each (the derivative recomputed for compiled
    layers, read for the rest); small ones are measured as one run of layers, in one compiled call
    where the network trains on the compiled path ("block") and in stacked NumPy calls otherwise
    ("stacked"; kernels off, or an activation without them). The numbers are the plain
    definition's, NaN units included."""
    from engine import kernels

    cfg = Config(width=width, depth=3, activation=activation, dataset="spiral", batch_size=batch, dtype="float32",
                 backend="numpy", seed=4, init="normal", init_sigma=0.6)
    sim = Simulation(cfg)
    if plain:
        sim.network._fused = None
    sim.step(3)
    net = sim.network
    compiled = [kernels.unit_statistics(net, c, net.act.saturation_threshold()) for c in net.caches]
    if kernels.AVAILABLE and width == 128:
        assert all(r is not None for r in compiled)
    elif width == 16:
        assert all(r is None for r in compiled)
        block = kernels.unit_statistics_block(net, _stacked(np, [c.h for c in net.caches]),
                                              _stacked(np, [c.d for c in net.caches]), 0.1)
        assert (block is not None) == (kernels.AVAILABLE and not plain and activation in kernels.FUSED_ACTIVATIONS)
    net.caches[1].h[5, 7] = np.nan                     # a non-finite unit is not counted as dead
    net.caches[2].h[:, 3] = 0.0
    stats, ref = unit_statistics(net), per_layer(net)
    for key in ("dead_fraction", "saturated_fraction"):
        np.testing.assert_allclose(stats[key], ref[key], rtol=1e-12, err_msg=key)
    for key in ("act_mean", "act_std"):  # NaN where the layer holds one, as np.mean gives it
        np.testing.assert_allclose(stats[key], ref[key], rtol=1e-9, atol=1e-12, err_msg=key)
    assert np.isnan(stats["act_mean"][1]) and np.isfinite(stats["act_mean"][[0, 2]]).all()
    for c, got, want in zip(net.caches, stats["unit_dead"], ref["unit_dead"]):
        np.testing.assert_array_equal(got, want & np.isfinite(c.h).all(axis=0))
    assert not stats["unit_dead"][1][7]
    for c, got in zip(net.caches, stats["unit_activation"]):
        np.testing.assert_allclose(got, np.abs(c.h.astype(np.float64)).mean(axis=0), rtol=1e-12)
    threshold = net.act.saturation_threshold()
    for c, got in zip(net.caches, stats["unit_saturation"]):
        np.testing.assert_allclose(got, (np.abs(np.asarray(c.d, dtype=np.float64)) < threshold).mean(axis=0), rtol=1e-12)
    assert all(s.size <= MAX_ACTIVATION_SAMPLES for s in stats["activation_samples"])


def test_a_run_of_equal_width_layers_is_read_from_the_workspace_block_without_a_copy():
    """The training workspace slices each run of equal-width hidden layers from one block, so the
    snapshot's statistics read the run as it is; arrays from anywhere else are stacked (a copy)."""
    sim = Simulation(Config(width=(16, 16, 16, 8), depth=4, activation="tanh", dataset="spiral",
                            batch_size=32, backend="numpy", seed=1))
    sim.step(2)
    caches = sim.network.caches
    for name in ("h", "d"):
        arrays = [getattr(c, name) for c in caches[:3]]
        block = _stacked(np, arrays)
        assert block.shape == (3, 32, 16) and all(np.shares_memory(block, a) for a in arrays)
        for i, a in enumerate(arrays):
            np.testing.assert_array_equal(block[i], a)
        copies = [a.copy() for a in arrays]   # negative control: not one block
        stacked = _stacked(np, copies)
        assert not any(np.shares_memory(stacked, a) for a in copies)
        np.testing.assert_array_equal(stacked, block)
    assert caches[3].h.shape == (32, 8) and not np.shares_memory(caches[3].h, caches[2].h)
    # the training step still writes each layer's own rows: a step changes what the block shows
    before = _stacked(np, [c.h for c in caches[:3]]).copy()
    sim.step(1)
    after = _stacked(np, [c.h for c in sim.network.caches[:3]])
    assert not np.array_equal(before, after)


@pytest.mark.parametrize("size,compiled", [(881, False), (70_000, False), (881, True)],
                         ids=["stacked", "per-buffer", "compiled-small"])
def test_segment_sums_of_several_buffers_equal_each_buffers_float64_sums(size, compiled, monkeypatch):
    """Small buffers are stacked into one NumPy pass, unless the network trains on the compiled
    path (numba loaded): then, like large buffers, one compiled pass each."""
    from engine import kernels
    from engine.probes import segment_sq_sums_many

    if compiled and not kernels.AVAILABLE:
        pytest.skip(kernels.UNAVAILABLE_REASON)

    rng = np.random.default_rng(3)
    flats = [rng.normal(size=size).astype(np.float32) for _ in range(3)]
    starts = np.array([0, 7, size // 3, size // 2, size - 1])
    bounds = list(starts) + [size]
    want = np.array([[np.sum(f[a:b].astype(np.float64) ** 2) for a, b in zip(bounds[:-1], bounds[1:])]
                     for f in flats])
    calls = []
    kernel = kernels.segment_sq_sums

    def counted(*args, **kwargs):
        out = kernel(*args, **kwargs)
        calls.append(out is not None)
        return out
    monkeypatch.setattr(kernels, "segment_sq_sums", counted)
    got = segment_sq_sums_many(np, flats, starts, compiled=compiled)
    assert calls == ([True] * 3 if compiled or (size > 8 * kernels.FUSED_MIN_ELEMENTS and kernels.AVAILABLE)
                     else [False] * 3 if size > 8 * kernels.FUSED_MIN_ELEMENTS else [])
    assert got.dtype == np.float64 and got.shape == (3, len(starts))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # the buffers are read, not squared in place
    np.testing.assert_allclose(segment_sq_sums_many(np, flats, starts, compiled=compiled), want, rtol=1e-5)
    with pytest.raises(AssertionError):      # negative control: the rows are the buffers, in order
        np.testing.assert_allclose(got[::-1], want, rtol=1e-5)


def test_signal_sums_of_squares_read_each_run_of_layers_in_one_call(monkeypatch):
    """A snapshot's back-propagated signal norms: the workspace's runs of layers are summed one
    block at a time, the rest (the output's, another width's) one array at a time; both equal the
    float64 sums. Negative control: copies of the layers take the per-array path."""
    from engine import probes

    sim = Simulation(Config(width=(16, 16, 16, 8), depth=4, activation="tanh", dataset="spiral",
                            batch_size=32, dtype="float32", backend="numpy", seed=3))
    sim.step(2, snapshot=False)
    signals = sim.network.signals
    assert _stacked(np, signals[:3]).shape == (3, 32, 16)     # the hidden run is one block
    calls = []
    monkeypatch.setattr(np, "einsum", lambda *a, **k: calls.append(a[0]) or _einsum(*a, **k))
    ref = [float((s.astype(np.float64) ** 2).sum()) for s in signals]
    np.testing.assert_allclose(probes.sq_sums(np, signals), ref, rtol=1e-5)
    assert calls == ["kij,kij->k"]
    calls.clear()
    np.testing.assert_allclose(probes.sq_sums(np, [s.copy() for s in signals]), ref, rtol=1e-5)
    assert calls == []
    snap = sim.snapshot()
    np.testing.assert_allclose(snap.signal_norms, np.sqrt(ref), rtol=1e-5)


_einsum = np.einsum
