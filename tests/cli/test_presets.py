"""Every preset states a lecture claim; these tests check that the numbers bear it out."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine import Simulation
from engine.presets import list_presets, load_preset, preset_names

LN2 = math.log(2)

_cache: dict = {}


def trained(name: str, **changes):
    """(snapshot at step 0, snapshot after the preset's steps) for a preset, optionally changed."""
    key = (name, tuple(sorted(changes.items())))
    if key not in _cache:
        config = load_preset(name).config.replace(backend="numpy", **changes)
        sim = Simulation(config)
        first = sim.snapshot()
        _cache[key] = (first, sim.step(config.steps))
    return _cache[key]


REQUIRED = ["sigmoid-vanishing", "relu-fix", "dead-relu", "leaky-rescue", "init-naive-small",
            "init-naive-large", "init-xavier", "init-he", "elu-vs-relu", "batchnorm-rescue",
            "per-layer-lr", "exploding", "zigzag"]


def test_required_presets_exist_with_title_caption_and_claim():
    names = preset_names()
    for name in REQUIRED:
        assert name in names
    for preset in list_presets():
        assert preset.title and len(preset.caption) > 40, preset.name
        if preset.name != "zigzag":  # the zig-zag's claim is checked by the surface tests
            assert preset.claim, preset.name


def test_sigmoid_vanishing():
    first, last = trained("sigmoid-vanishing")
    for snap in (first, last):
        assert snap.grad_norms[0] < 1e-4 * snap.grad_norms[-1]
    # it shrinks layer by layer, not in one place
    assert np.all(np.diff(np.log10(first.grad_norms)) > 0)


def test_relu_fix_reaches_the_first_layer():
    first, last = trained("relu-fix")
    assert first.grad_ratio > 0.1 and last.grad_ratio > 0.1
    assert last.accuracy > trained("sigmoid-vanishing")[1].accuracy + 0.15


def test_dead_relu():
    _, last = trained("dead-relu")
    assert last.dead_fraction.mean() > 0.5
    assert abs(last.loss - LN2) < 0.02


def test_leaky_rescue():
    _, last = trained("leaky-rescue")
    assert last.dead_fraction.max() == 0
    assert last.loss < trained("dead-relu")[1].loss - 0.05


def test_init_naive_small_vanishes_in_the_signal_not_the_weight_gradients():
    first, last = trained("init-naive-small")
    assert first.signal_norms[0] < 1e-8 * first.signal_norms[-1]
    assert first.grad_ratio > 0.1  # Glorot & Bengio: weight gradients can look level
    assert first.act_std[-1] < 1e-6
    assert abs(last.loss - LN2) < 0.01


def test_init_naive_large_saturates():
    first, _ = trained("init-naive-large")
    assert first.saturated_fraction.mean() > 0.5


def test_init_xavier_keeps_scale():
    first, last = trained("init-xavier")
    std = first.act_std
    assert std.max() / std.min() < 10
    sig = first.signal_norms
    assert sig.max() / sig.min() < 10
    assert first.saturated_fraction.mean() < 0.1
    assert last.loss < trained("init-naive-small")[1].loss - 0.03


def test_init_he_keeps_relu_scale_where_xavier_shrinks_it():
    he, _ = trained("init-he")
    xavier, _ = trained("init-he", init="xavier_normal")
    assert he.act_std[-1] / he.act_std[0] > 0.3
    assert xavier.act_std[-1] / xavier.act_std[0] < 0.1


def test_elu_vs_relu():
    _, elu = trained("elu-vs-relu")
    _, relu = trained("elu-vs-relu", activation="relu")
    assert elu.dead_fraction.max() == 0
    assert relu.dead_fraction.mean() > 0
    assert elu.loss < relu.loss


def test_batchnorm_rescue():
    first, last = trained("batchnorm-rescue")
    assert first.grad_ratio > 1e-2 and last.grad_ratio > 1e-2
    assert last.accuracy > trained("sigmoid-vanishing")[1].accuracy + 0.1


def test_per_layer_lr_balances_relative_updates():
    _, tuned = trained("per-layer-lr")
    _, single = trained("per-layer-lr", layer_lr=())
    tuned_ratio = tuned.update_ratios[0] / tuned.update_ratios[-1]
    single_ratio = single.update_ratios[0] / single.update_ratios[-1]
    assert tuned_ratio > 100 * single_ratio
    assert tuned.loss < single.loss


def test_exploding():
    first, last = trained("exploding")
    assert first.signal_norms[0] > 1000 * first.signal_norms[-1]
    assert last.diverged and 0 <= last.diverged_at < 10
