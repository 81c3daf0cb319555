"""Activation registry: name -> forward, derivative and the facts the GUI shows in captions.

Each entry answers the same questions (``forward``, ``derivative``, ``facts``); adding one is one
entry here, and the GUI's menus and the CLI's help pick it up from ``ACTIVATIONS``.
``p`` is the activation's parameter: leaky_relu's slope, prelu's learned slope, elu's alpha.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

_SELU_LAMBDA = 1.0507009873554805
_SELU_ALPHA = 1.6732632423543772
_GELU_C = math.sqrt(2.0 / math.pi)


@dataclass(frozen=True)
class Facts:
    zero_centred: bool
    smooth_at_zero: bool
    output_range: tuple[float, float]
    max_derivative: float
    caption: str


@dataclass(frozen=True)
class Activation:
    name: str
    title: str
    description: str
    facts: Facts
    forward: Callable          # (xp, z, p) -> h
    derivative: Callable       # (xp, z, h, p) -> dh/dz, given h = forward(z)
    param: str | None = None   # the Config field holding p, if any
    learnable: bool = False    # prelu: p is a trained parameter (one slope per layer)
    noisy: bool = False        # noisy_relu: Gaussian noise is added to z while training
    # Optional in-place versions for the training loop's buffers: (xp, z, p, out) -> out and
    # (xp, z, h, p, out) -> out, the same numbers as forward/derivative without allocating.
    forward_out: Callable | None = None
    derivative_out: Callable | None = None

    def param_value(self, config) -> float:
        return float(getattr(config, self.param)) if self.param else 0.0

    def curve(self, z, config):
        """Forward and derivative on NumPy ``z`` with the config's parameter (eval mode: no noise)."""
        z = np.asarray(z, dtype=np.float64)
        p = self.param_value(config)
        h = self.forward(np, z, p)
        return h, self.derivative(np, z, h, p)

    def saturation_threshold(self) -> float:
        """A unit counts as saturated where its derivative is below 5% of the largest possible."""
        return 0.05 * self.facts.max_derivative


def _sigmoid(xp, z, p=0.0):
    return 0.5 * (1.0 + xp.tanh(0.5 * z))  # sigmoid via tanh: no overflow for large |z|


def _elu(xp, z, p):
    return xp.where(z > 0, z, p * xp.expm1(xp.minimum(z, 0)))


def _selu(xp, z, p=0.0):
    return _SELU_LAMBDA * xp.where(z > 0, z, _SELU_ALPHA * xp.expm1(xp.minimum(z, 0)))


def _gelu(xp, z, p=0.0):
    return 0.5 * z * (1.0 + xp.tanh(_GELU_C * (z + 0.044715 * z ** 3)))


def _gelu_derivative(xp, z, h, p=0.0):
    t = xp.tanh(_GELU_C * (z + 0.044715 * z ** 3))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * z * z)


def _silu_derivative(xp, z, h, p=0.0):
    s = _sigmoid(xp, z)
    return s * (1.0 + z * (1.0 - s))


def _sigmoid_out(xp, z, p, out):
    xp.multiply(z, 0.5, out=out)
    xp.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def _sigmoid_derivative_out(xp, z, h, p, out):  # h * (1 - h)
    xp.subtract(1.0, h, out=out)
    out *= h
    return out


def _tanh_derivative_out(xp, z, h, p, out):  # 1 - h^2
    xp.multiply(h, h, out=out)
    xp.subtract(1.0, out, out=out)
    return out


def _relu(xp, z, p=0.0):
    return xp.maximum(z, 0)


def _relu_derivative(xp, z, h, p=0.0):
    return (z > 0).astype(z.dtype)


def _leaky(xp, z, p):
    return xp.where(z > 0, z, p * z)


def _leaky_derivative(xp, z, h, p):
    return xp.where(z > 0, xp.ones_like(z), xp.full_like(z, p))


INF = float("inf")

_ENTRIES = [
    Activation(
        "sigmoid", "Sigmoid", "1 / (1 + e^-z): squashes to (0, 1); its derivative is at most 0.25",
        Facts(False, True, (0.0, 1.0), 0.25,
              "The sigmoid's derivative never exceeds 0.25, so every layer shrinks the gradient by 4x or "
              "more: it vanishes geometrically with depth. Outputs are all positive (not zero-centred)."),
        _sigmoid, lambda xp, z, h, p: h * (1.0 - h),
        forward_out=_sigmoid_out, derivative_out=_sigmoid_derivative_out),
    Activation(
        "tanh", "Tanh", "tanh(z): zero-centred, derivative at most 1, saturates for |z| > 2",
        Facts(True, True, (-1.0, 1.0), 1.0,
              "Tanh is zero-centred and its derivative peaks at 1, but it still saturates: for |z| > 2 "
              "the derivative is below 0.07."),
        lambda xp, z, p: xp.tanh(z), lambda xp, z, h, p: 1.0 - h * h,
        forward_out=lambda xp, z, p, out: xp.tanh(z, out=out), derivative_out=_tanh_derivative_out),
    Activation(
        "relu", "ReLU", "max(0, z): derivative 1 or 0; units can die",
        Facts(False, False, (0.0, INF), 1.0,
              "ReLU's derivative is exactly 1 or 0: no shrinking, but it jumps at 0, and a unit whose input "
              "stays negative is dead: it gets no gradient and never recovers."),
        _relu, _relu_derivative,
        forward_out=lambda xp, z, p, out: xp.maximum(z, 0, out=out),
        derivative_out=lambda xp, z, h, p, out: xp.greater(z, 0, out=out)),
    Activation(
        "leaky_relu", "Leaky ReLU", "z for z > 0, slope*z otherwise: keeps a small gradient for z < 0",
        Facts(False, False, (-INF, INF), 1.0,
              "Leaky ReLU keeps a small slope for negative inputs, so no unit can die."),
        _leaky, _leaky_derivative, param="leaky_slope"),
    Activation(
        "prelu", "PReLU", "leaky ReLU whose negative slope is learned (one per layer)",
        Facts(False, False, (-INF, INF), 1.0,
              "PReLU learns its negative slope by gradient descent, one per layer: units cannot die."),
        _leaky, _leaky_derivative, param="prelu_init", learnable=True),
    Activation(
        "noisy_relu", "Noisy ReLU", "max(0, z + noise) with Gaussian noise while training",
        Facts(False, False, (0.0, INF), 1.0,
              "Noisy ReLU adds Gaussian noise before the rectifier while training, so units near 0 still "
              "get a gradient some of the time."),
        _relu, _relu_derivative, param="noise_std", noisy=True),
    Activation(
        "elu", "ELU", "z for z > 0, alpha*(e^z - 1) otherwise: smooth, saturates to -alpha",
        Facts(False, True, (-1.0, INF), 1.0,
              "ELU is smooth at 0 (for alpha = 1 its derivative has no jump, unlike ReLU's) and saturates to "
              "-alpha for negative inputs, pushing mean activations towards zero."),
        _elu, lambda xp, z, h, p: xp.where(z > 0, xp.ones_like(z), h + p), param="elu_alpha"),
    Activation(
        "selu", "SELU", "scaled ELU (lambda 1.0507, alpha 1.6733): self-normalising with LeCun init",
        Facts(True, False, (-_SELU_LAMBDA * _SELU_ALPHA, INF), _SELU_LAMBDA * _SELU_ALPHA,
              "SELU's scale and offset keep activations near mean 0, variance 1 through depth when weights "
              "use LeCun normal initialisation."),
        _selu, lambda xp, z, h, p: xp.where(z > 0, xp.full_like(z, _SELU_LAMBDA), h + _SELU_LAMBDA * _SELU_ALPHA)),
    Activation(
        "gelu", "GELU", "z * Phi(z) (tanh approximation): smooth ReLU used in transformers",
        Facts(False, True, (-0.1701, INF), 1.13,
              "GELU is a smooth ReLU: slightly negative for small negative inputs, derivative up to 1.13."),
        _gelu, _gelu_derivative),
    Activation(
        "softplus", "Softplus", "log(1 + e^z): a smooth ReLU whose derivative is the sigmoid",
        Facts(False, True, (0.0, INF), 1.0,
              "Softplus is a smooth ReLU; its derivative is the sigmoid, so it never dies but is small for z < 0."),
        lambda xp, z, p: xp.logaddexp(0, z), lambda xp, z, h, p: _sigmoid(xp, z)),
    Activation(
        "silu", "SiLU / Swish", "z * sigmoid(z): smooth, non-monotonic",
        Facts(False, True, (-0.279, INF), 1.1,
              "SiLU (swish) is z*sigmoid(z): smooth, dips slightly below zero, derivative up to 1.1."),
        lambda xp, z, p: z * _sigmoid(xp, z), _silu_derivative),
    Activation(
        "linear", "Linear", "z: no non-linearity (the network collapses to one linear map)",
        Facts(True, True, (-INF, INF), 1.0,
              "Without a non-linearity a deep network is one linear map, but gradients pass unchanged."),
        lambda xp, z, p: z, lambda xp, z, h, p: xp.ones_like(z)),
]

ACTIVATIONS: dict[str, Activation] = {a.name: a for a in _ENTRIES}
