"""Unit statistics measured on stacked layers equal the same measurements taken layer by layer."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Config, Simulation
from engine.probes import MAX_ACTIVATION_SAMPLES, unit_statistics


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
def test_compiled_unit_statistics_equal_the_per_layer_definition(activation):
    """Large float32 layers take one compiled pass each (the derivative recomputed for compiled
    layers, read for the rest); the numbers are the plain definition's, NaN units included."""
    from engine import kernels

    cfg = Config(width=128, depth=3, activation=activation, dataset="spiral", batch_size=256, dtype="float32",
                 backend="numpy", seed=4, init="normal", init_sigma=0.6)
    sim = Simulation(cfg)
    sim.step(3)
    net = sim.network
    if kernels.AVAILABLE:
        assert all(kernels.unit_statistics(net, c, net.act.saturation_threshold()) is not None for c in net.caches)
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
    assert all(s.size <= MAX_ACTIVATION_SAMPLES for s in stats["activation_samples"])
