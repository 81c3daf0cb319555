"""Datasets: deterministic for a seed, the documented shapes, balanced labels, the split, the
shipped digits, and regression sets refusing classification losses."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Config, ConfigError, Simulation
from engine.datasets import ASSETS, DATASETS, make_dataset

NAMES = sorted(n for n in DATASETS if DATASETS[n].make is not None)   # "file" reads a file (test_datafile.py)
N_INPUTS = {"circle": 2, "xor": 2, "gauss": 2, "spiral": 2, "moons": 2, "sine": 1, "ripple": 2, "digits": 64,
            "shapes": 256}
CLASSIFICATION = [n for n in NAMES if DATASETS[n].n_classes]
REGRESSION = [n for n in NAMES if not DATASETS[n].n_classes]


def test_every_dataset_has_an_expectation():
    assert set(N_INPUTS) == set(NAMES) == set(DATASETS) - {"file"}
    assert REGRESSION == ["ripple", "sine"]


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_for_a_seed(name):
    a = make_dataset(name, 200, 0.1, 0.25, seed=4)
    b = make_dataset(name, 200, 0.1, 0.25, seed=4)
    c = make_dataset(name, 200, 0.1, 0.25, seed=5)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x_train, c.x_train)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_types(name):
    d = make_dataset(name, 200, 0.1, 0.25, seed=0)
    n_test = 50
    assert d.x_train.shape == (200 - n_test, N_INPUTS[name]) and d.x_test.shape == (n_test, N_INPUTS[name])
    assert d.x_train.dtype == np.float64 and np.isfinite(d.x_train).all()
    assert d.n_inputs == N_INPUTS[name] and d.is_2d == (N_INPUTS[name] == 2)
    if d.n_classes:
        assert d.y_train.shape == (200 - n_test,) and d.y_train.dtype.kind == "i"
        assert set(np.unique(np.concatenate([d.y_train, d.y_test]))) <= set(range(d.n_classes))
        assert d.n_targets == d.n_classes
        assert d.task == ("binary" if d.n_classes == 2 else "multiclass")
    else:
        assert d.y_train.shape == (200 - n_test, 1) and d.y_train.dtype == np.float64
        assert d.task == "regression" and d.n_targets == 1
    x0, x1, y0, y1 = d.extent
    allx = np.concatenate([d.x_train, d.x_test])
    assert x0 < allx[:, 0].min() and allx[:, 0].max() < x1
    second = allx[:, min(1, d.n_inputs - 1)]  # the second input (the first again for 1D inputs)
    assert y0 < second.min() and second.max() < y1


@pytest.mark.parametrize("name", [n for n in CLASSIFICATION if DATASETS[n].n_classes == 2])
def test_two_class_sets_are_balanced(name):
    d = make_dataset(name, 401, 0.1, 0.2, seed=2)
    labels = np.concatenate([d.y_train, d.y_test])
    ones, zeros = int((labels == 1).sum()), int((labels == 0).sum())
    assert ones + zeros == 401
    if name == "xor":  # quadrants drawn uniformly: balanced in expectation only
        assert abs(ones - zeros) < 0.15 * 401
    else:
        assert abs(ones - zeros) <= 1


def test_digits_labels_are_roughly_balanced():
    d = make_dataset("digits", 1797, 0.0, 0.0, seed=0)
    counts = np.bincount(d.y_train, minlength=10)
    assert counts.min() >= 170 and counts.max() <= 190


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 0.9])
def test_test_fraction_split(fraction):
    d = make_dataset("spiral", 300, 0.1, fraction, seed=0)
    assert len(d.x_test) == round(fraction * 300)
    assert len(d.x_train) + len(d.x_test) == 300
    # a split, not a copy: no training point appears in the test set
    train = {tuple(r) for r in d.x_train}
    assert not any(tuple(r) in train for r in d.x_test)


def test_the_split_keeps_one_training_point():
    d = make_dataset("gauss", 10, 0.1, 0.9, seed=0)
    assert len(d.x_train) >= 1


def test_digits_are_shipped_and_load():
    path = ASSETS / "datasets" / "digits.npz"
    assert path.is_file()
    with np.load(path) as f:
        images, labels = f["images"], f["labels"]
    assert images.reshape(len(images), -1).shape == (1797, 64)
    assert sorted(np.unique(labels)) == list(range(10))
    d = make_dataset("digits", 1797, 0.0, 0.0, seed=0)
    assert d.x_train.shape == (1797, 64) and d.x_test.shape == (0, 64)
    assert sorted(np.unique(d.y_train)) == list(range(10))
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0  # pixels scaled to [0, 1]
    # the rows are the shipped images, shuffled
    assert sorted(map(bytes, (images.reshape(1797, -1) / 16.0).astype(np.float64))) == \
        sorted(map(bytes, d.x_train))


def test_digits_subset():
    d = make_dataset("digits", 100, 0.0, 0.2, seed=1)
    assert d.x_train.shape == (80, 64) and d.x_test.shape == (20, 64)


def test_geometry_of_the_noise_free_sets():
    c = make_dataset("circle", 400, 0.0, 0.0, seed=0)
    r = np.linalg.norm(c.x_train, axis=1)
    assert r[c.y_train == 1].max() <= 0.5 and r[c.y_train == 0].min() >= 0.7
    x = make_dataset("xor", 400, 0.0, 0.0, seed=0)
    np.testing.assert_array_equal(x.y_train, (x.x_train[:, 0] * x.x_train[:, 1] > 0).astype(int))
    s = make_dataset("sine", 200, 0.0, 0.0, seed=0)
    np.testing.assert_allclose(s.y_train[:, 0], np.sin(3 * s.x_train[:, 0]))


@pytest.mark.parametrize("name", REGRESSION)
@pytest.mark.parametrize("loss", ["bce", "softmax_ce"])
def test_regression_set_with_classification_loss_names_loss(name, loss):
    with pytest.raises(ConfigError) as info:
        Simulation(Config(dataset=name, loss=loss, backend="numpy"))
    assert info.value.key == "loss"
    assert "'loss'" in str(info.value) and loss in str(info.value) and "mse" in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_every_dataset_trains_a_few_steps(name):
    loss = "mse" if name in REGRESSION else ("softmax_ce" if DATASETS[name].n_classes > 2 else "bce")
    sim = Simulation(Config(dataset=name, loss=loss, n_samples=120, depth=2, width=8, backend="numpy"))
    snap = sim.step(5)
    assert np.isfinite(snap.loss) and not snap.diverged
    assert sim.n_outputs == {"digits": 10, "shapes": 6}.get(name, 1)
