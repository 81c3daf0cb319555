"""Dataset registry: generated 2D sets, regression sets and the shipped 8x8 digits. Never downloaded.

Every generator takes ``(rng, n, noise)`` and returns NumPy ``(x, y)``: x float64 (n, d), y int
labels (n,) for classification or float targets (n, k) for regression.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

ASSETS = Path(__file__).resolve().parent.parent / "assets"


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    title: str
    description: str
    make: Callable          # (rng, n, noise) -> (x, y)
    n_classes: int          # 0 = regression
    image_shape: tuple[int, int, int] | None = None   # (channels, height, width) of image sets


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray     # int labels (n,) or float targets (n, k)
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int          # 0 for regression
    image_shape: tuple[int, int, int] | None = None   # (C, H, W): inputs are images flattened in that order
    source: str = ""        # where the data came from (a data file's path), "" for built-in sets

    @property
    def task(self) -> str:
        return "regression" if self.n_classes == 0 else ("binary" if self.n_classes == 2 else "multiclass")

    @property
    def n_inputs(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_targets(self) -> int:
        return self.y_train.shape[1] if self.n_classes == 0 else self.n_classes

    @property
    def is_2d(self) -> bool:
        return self.n_inputs == 2

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """A padded bounding box of all inputs (first two input dimensions): x0, x1, y0, y1."""
        x = np.concatenate([self.x_train, self.x_test])[:, :2]
        lo, hi = x.min(axis=0), x.max(axis=0)
        pad = 0.1 * np.maximum(hi - lo, 1e-9)
        return (float(lo[0] - pad[0]), float(hi[0] + pad[0]),
                float(lo[-1] - pad[-1]), float(hi[-1] + pad[-1]))


def _circle(rng, n, noise):
    inner = n // 2
    r = np.concatenate([rng.uniform(0, 0.5, inner), rng.uniform(0.7, 1.0, n - inner)])
    t = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([r * np.cos(t), r * np.sin(t)], axis=1) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.ones(inner, int), np.zeros(n - inner, int)])
    return x, y


def _xor(rng, n, noise):
    x = rng.uniform(-1, 1, (n, 2))
    x += np.sign(x) * 0.05  # a small margin around the axes
    y = (x[:, 0] * x[:, 1] > 0).astype(int)
    return x + noise * rng.standard_normal((n, 2)), y


def _gauss(rng, n, noise):
    y = (np.arange(n) % 2).astype(int)
    centres = np.where(y[:, None] == 1, 0.5, -0.5) * np.ones((n, 2))
    return centres + (0.15 + noise) * rng.standard_normal((n, 2)), y


def _spiral(rng, n, noise):
    y = (np.arange(n) % 2).astype(int)
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
    phase = np.pi * y
    x = np.stack([t * np.cos(t + phase), t * np.sin(t + phase)], axis=1) / (3 * np.pi)
    return x + noise * rng.standard_normal((n, 2)), y


def _moons(rng, n, noise):
    y = (np.arange(n) % 2).astype(int)
    t = rng.uniform(0, np.pi, n)
    x = np.where(y[:, None] == 0,
                 np.stack([np.cos(t), np.sin(t)], axis=1),
                 np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1))
    x = (x - [0.5, 0.25]) / 1.2
    return x + noise * rng.standard_normal((n, 2)), y


def _sine(rng, n, noise):
    x = rng.uniform(-1, 1, (n, 1))
    return x, np.sin(3 * x) + noise * rng.standard_normal((n, 1))


def _ripple(rng, n, noise):
    x = rng.uniform(-1, 1, (n, 2))
    y = np.sin(3 * x[:, :1]) * np.cos(3 * x[:, 1:])
    return x, y + noise * rng.standard_normal((n, 1))


def _digits(rng, n, noise):
    try:
        with np.load(ASSETS / "datasets" / "digits.npz") as f:
            images, labels = f["images"], f["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise RuntimeError(f"the shipped digits dataset could not be read from {ASSETS / 'datasets'}: {exc}") from exc
    order = rng.permutation(len(labels))[: min(n, len(labels))]
    x = images[order].astype(np.float64) / 16.0  # pixels in [0, 1]: every input is positive
    return x + noise * rng.standard_normal(x.shape), labels[order].astype(int)


SHAPE_CLASSES = ("horizontal bar", "vertical bar", "diagonal", "square", "plus", "disc")
SHAPE_SIZE = 16


def _shapes(rng, n, noise):
    """16x16 images of six shape classes at random positions and sizes, pixels in [0, 1]."""
    size = SHAPE_SIZE
    y = (np.arange(n) % len(SHAPE_CLASSES)).astype(int)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    cy = rng.integers(5, size - 5, n)[:, None, None]
    cx = rng.integers(5, size - 5, n)[:, None, None]
    half = rng.integers(3, 6, n)[:, None, None]
    thick = rng.integers(1, 3, n)[:, None, None]
    dy, dx = yy - cy, xx - cx
    sign = np.where(rng.random(n) < 0.5, 1.0, -1.0)[:, None, None]
    hbar = (np.abs(dy) < thick) & (np.abs(dx) <= half)
    vbar = (np.abs(dx) < thick) & (np.abs(dy) <= half)
    masks = [
        hbar,
        vbar,
        (np.abs(dy - sign * dx) < thick) & (np.abs(dx) <= half),
        (np.maximum(np.abs(dy), np.abs(dx)) <= half) & (np.maximum(np.abs(dy), np.abs(dx)) > half - thick),
        hbar | vbar,
        dy * dy + dx * dx <= half * half,
    ]
    images = np.select([y[:, None, None] == k for k in range(len(masks))], masks).astype(np.float64)
    images += noise * rng.standard_normal(images.shape)
    return images.reshape(n, size * size), y


_ENTRIES = [
    DatasetEntry("circle", "Circle", "2D: a disc inside a ring (2 classes)", _circle, 2),
    DatasetEntry("xor", "XOR", "2D: the four quadrants, opposite ones share a class", _xor, 2),
    DatasetEntry("gauss", "Two Gaussians", "2D: two Gaussian blobs (linearly separable)", _gauss, 2),
    DatasetEntry("spiral", "Spiral", "2D: two interleaved spirals (hard; needs depth)", _spiral, 2),
    DatasetEntry("moons", "Two moons", "2D: two interleaving half circles", _moons, 2),
    DatasetEntry("sine", "Sine (regression)", "1D regression: y = sin(3x) + noise", _sine, 0),
    DatasetEntry("ripple", "Ripple (regression)", "2D regression: y = sin(3x1) cos(3x2) + noise", _ripple, 0),
    DatasetEntry("digits", "Digits 8x8", "1,797 handwritten digits, 64 pixels in [0, 1], 10 classes (shipped)",
                 _digits, 10, (1, 8, 8)),
    DatasetEntry("file", "Your data file", "a CSV or NPZ file of numeric columns (data_file, target_column)",
                 None, -1),
    DatasetEntry("shapes", "Shapes 16x16", "generated 16x16 images: bars, diagonal, square, plus, disc (6 classes)",
                 _shapes, len(SHAPE_CLASSES), (1, SHAPE_SIZE, SHAPE_SIZE)),
]

DATASETS: dict[str, DatasetEntry] = {d.name: d for d in _ENTRIES}


def make_dataset(name: str, n_samples: int, noise: float, test_fraction: float, seed: int) -> Dataset:
    """Generate (deterministically for a seed) and split into train and test."""
    entry = DATASETS[name]
    if entry.make is None:
        raise ValueError(f"the '{name}' dataset is read from a file: use engine.datafile.load_dataset(config)")
    rng = np.random.default_rng([seed, 1])  # a stream of its own: init and batches use others
    x, y = entry.make(rng, n_samples, noise)
    order = rng.permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    if len(x) - n_test < 1:
        n_test = len(x) - 1
    test, train = order[:n_test], order[n_test:]
    return Dataset(name, x[train], y[train], x[test], y[test], entry.n_classes, entry.image_shape)
