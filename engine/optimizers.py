"""Optimiser registry. Optimisers work on the flat parameter and gradient buffers, with a flat
learning-rate vector (global rate x per-layer multiplier) or, when every multiplier is 1, one
scalar rate, so a step is a handful of array calls whatever the depth. ``step`` changes ``theta``
in place and returns the update that was subtracted."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .kernels import sgd_step


class _Base:
    def __init__(self, xp, lr, config, like=None):
        """``lr``: a flat vector like the parameters, or a float; ``like``: an array shaped like
        the parameters (needed when ``lr`` is a float)."""
        self.xp, self.lr, self.cfg = xp, lr, config
        # the last update, kept for the update-to-weight probe
        self.update = xp.zeros_like(lr if like is None else like)
        self.t = 0

    def step(self, theta, grad):
        self.t += 1
        self._compute(grad)
        theta -= self.update
        return self.update


class SGD(_Base):
    def step(self, theta, grad):
        self.t += 1
        sgd_step(self.xp, theta, grad, self.lr, self.update)   # update = lr * g; theta -= update
        return self.update


class Momentum(_Base):
    """v = mu*v + g; update = lr*v (the PyTorch convention)."""

    def __init__(self, xp, lr, config, like=None):
        super().__init__(xp, lr, config, like)
        self.v = xp.zeros_like(self.update)

    def _compute(self, g):
        self.v *= self.cfg.momentum
        self.v += g
        self.xp.multiply(self.lr, self.v, out=self.update)


class Nesterov(Momentum):
    """v = mu*v + g; update = lr*(g + mu*v)."""

    def _compute(self, g):
        xp, mu = self.xp, self.cfg.momentum
        self.v *= mu
        self.v += g
        xp.multiply(self.v, mu, out=self.update)
        self.update += g
        self.update *= self.lr


class RMSProp(_Base):
    """s = beta2*s + (1-beta2)*g^2; update = lr*g/(sqrt(s)+eps)."""

    def __init__(self, xp, lr, config, like=None):
        super().__init__(xp, lr, config, like)
        self.s = xp.zeros_like(self.update)

    def _compute(self, g):
        xp, b = self.xp, self.cfg.beta2
        self.s *= b
        self.s += (1.0 - b) * g * g
        xp.sqrt(self.s, out=self.update)
        self.update += self.cfg.eps
        xp.divide(g, self.update, out=self.update)
        self.update *= self.lr


class Adam(_Base):
    """Adam (Kingma & Ba 2015) with bias correction; beta1 is the config's momentum."""

    def __init__(self, xp, lr, config, like=None):
        super().__init__(xp, lr, config, like)
        self.m = xp.zeros_like(self.update)
        self.v = xp.zeros_like(self.update)

    def _compute(self, g):
        xp, b1, b2 = self.xp, self.cfg.momentum, self.cfg.beta2
        self.m *= b1
        self.m += (1.0 - b1) * g
        self.v *= b2
        self.v += (1.0 - b2) * g * g
        c1 = 1.0 - b1 ** self.t
        c2 = 1.0 - b2 ** self.t
        xp.sqrt(self.v, out=self.update)
        self.update *= 1.0 / (c2 ** 0.5)
        self.update += self.cfg.eps
        xp.divide(self.m, self.update, out=self.update)
        self.update *= self.lr
        self.update *= 1.0 / c1


@dataclass(frozen=True)
class OptimizerEntry:
    name: str
    title: str
    description: str
    make: Callable  # (xp, lr_vector_or_float, config, like=params) -> optimiser


_ENTRIES = [
    OptimizerEntry("sgd", "SGD", "theta -= lr * g", SGD),
    OptimizerEntry("momentum", "Momentum", "v = mu*v + g; theta -= lr * v", Momentum),
    OptimizerEntry("nesterov", "Nesterov", "v = mu*v + g; theta -= lr * (g + mu*v)", Nesterov),
    OptimizerEntry("rmsprop", "RMSProp", "per-parameter rate lr / sqrt(running mean of g^2) (decay = beta2)", RMSProp),
    OptimizerEntry("adam", "Adam", "momentum + RMSProp with bias correction (beta1 = momentum, beta2)", Adam),
]

OPTIMIZERS: dict[str, OptimizerEntry] = {o.name: o for o in _ENTRIES}
