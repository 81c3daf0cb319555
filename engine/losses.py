"""Loss registry. Every loss is a mean over the batch, takes the network's raw outputs (logits) and
dense float targets of the same shape, and works on leading grid dimensions ``(..., B, C)``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Loss:
    name: str
    title: str
    description: str
    value: Callable       # (xp, out, y) -> loss, reduced over the last two axes
    grad: Callable        # (xp, out, y) -> dL/dout for one batch (B, C)
    output: Callable      # (xp, out) -> what the network predicts (probabilities, or values)
    classification: bool  # needs class labels (not for regression sets)
    value_and_grad: Callable | None = None  # (xp, out, y) -> (value, grad) sharing work; optional

    def value_grad(self, xp, out, y):
        """``(value(out, y), grad(out, y))``, in one pass where the loss provides one."""
        if self.value_and_grad is not None:
            return self.value_and_grad(xp, out, y)
        return self.value(xp, out, y), self.grad(xp, out, y)


def _mse_value(xp, out, y):
    d = out - y
    return (d * d).mean(axis=(-2, -1))


def _mse_grad(xp, out, y):
    return (2.0 / out.size) * (out - y)


def _mse_value_and_grad(xp, out, y):
    d = out - y
    value = (d * d).mean(axis=(-2, -1))
    d *= 2.0 / out.size
    return value, d


def _bce_value(xp, out, y):
    # log(1 + e^o) - o*y written so that large |o| never overflows
    return (xp.maximum(out, 0) - out * y + xp.log1p(xp.exp(-xp.abs(out)))).mean(axis=(-2, -1))


def _sigmoid(xp, o):
    return 0.5 * (1.0 + xp.tanh(0.5 * o))


def _bce_grad(xp, out, y):
    return (_sigmoid(xp, out) - y) * (1.0 / out.size)


def _log_softmax(xp, out):
    shifted = out - out.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def _ce_value(xp, out, y):
    return -(y * _log_softmax(xp, out)).sum(axis=-1).mean(axis=-1)


def _softmax(xp, out):
    e = xp.exp(out - out.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _ce_grad(xp, out, y):
    return (_softmax(xp, out) - y) * (1.0 / out.shape[0])


_ENTRIES = [
    Loss("mse", "Mean squared error", "mean of (output - target)^2 over batch and outputs",
         _mse_value, _mse_grad, lambda xp, o: o, False, _mse_value_and_grad),
    Loss("bce", "Binary cross-entropy", "sigmoid outputs, cross-entropy per output (computed from logits)",
         _bce_value, _bce_grad, _sigmoid, True),
    Loss("softmax_ce", "Softmax cross-entropy", "softmax over the outputs, cross-entropy with the class",
         _ce_value, _ce_grad, _softmax, True),
]

LOSSES: dict[str, Loss] = {entry.name: entry for entry in _ENTRIES}
