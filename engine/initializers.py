"""Initialiser registry: name -> a function drawing a (fan_in, fan_out) weight matrix.

Weights are drawn with NumPy's Generator on the host in float64 and then cast, so the same seed
gives the same starting network on every backend and dtype.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Initializer:
    name: str
    title: str
    description: str
    draw: Callable  # (rng, fan_in, fan_out, sigma) -> float64 array (fan_in, fan_out), before gain

    def __call__(self, rng: np.random.Generator, fan_in: int, fan_out: int, *, sigma: float = 0.01,
                 gain: float = 1.0) -> np.ndarray:
        return gain * self.draw(rng, fan_in, fan_out, sigma)


def _uniform(limit):
    return lambda rng, fi, fo, s: rng.uniform(-limit(fi, fo), limit(fi, fo), size=(fi, fo))


def _normal(std):
    return lambda rng, fi, fo, s: rng.standard_normal((fi, fo)) * std(fi, fo, s)


def _orthogonal(rng, fan_in, fan_out, sigma):
    a = rng.standard_normal((max(fan_in, fan_out), min(fan_in, fan_out)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))  # makes the distribution uniform over orthogonal matrices
    return q if fan_in >= fan_out else q.T


_ENTRIES = [
    Initializer("normal", "Naive normal (sigma)",
                "N(0, sigma^2) with a hand-picked sigma (init_sigma): 0.01 vanishes, 1.0 explodes",
                _normal(lambda fi, fo, s: s)),
    Initializer("standard_uniform", "Standard uniform",
                "U(-1/sqrt(fan_in), 1/sqrt(fan_in)): the common heuristic Glorot & Bengio 2010 analyse",
                _uniform(lambda fi, fo: 1.0 / math.sqrt(fi))),
    Initializer("xavier_uniform", "Xavier/Glorot uniform",
                "U(+-sqrt(6/(fan_in+fan_out))): keeps variance for tanh/sigmoid",
                _uniform(lambda fi, fo: math.sqrt(6.0 / (fi + fo)))),
    Initializer("xavier_normal", "Xavier/Glorot normal",
                "N(0, 2/(fan_in+fan_out)): keeps variance for tanh/sigmoid",
                _normal(lambda fi, fo, s: math.sqrt(2.0 / (fi + fo)))),
    Initializer("he_uniform", "He/Kaiming uniform",
                "U(+-sqrt(6/fan_in)): keeps variance for ReLU",
                _uniform(lambda fi, fo: math.sqrt(6.0 / fi))),
    Initializer("he_normal", "He/Kaiming normal",
                "N(0, 2/fan_in): keeps variance for ReLU",
                _normal(lambda fi, fo, s: math.sqrt(2.0 / fi))),
    Initializer("lecun_normal", "LeCun normal",
                "N(0, 1/fan_in): for SELU's self-normalisation",
                _normal(lambda fi, fo, s: math.sqrt(1.0 / fi))),
    Initializer("orthogonal", "Orthogonal",
                "a random orthogonal matrix (Saxe et al. 2014): preserves norms exactly in linear nets",
                _orthogonal),
]

INITIALIZERS: dict[str, Initializer] = {i.name: i for i in _ENTRIES}
