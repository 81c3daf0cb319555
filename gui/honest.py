"""Honest numbers when a run diverges: keep showing the last finite state, and say where it broke.

A diverged snapshot is all NaN/Inf: every unit would read as dead, every norm "nan", every axis would
stack its ticks. The window shows the last snapshot whose loss and norms were all finite instead, with
a banner naming the step and the first layer that went non-finite.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np


def all_finite(snapshot) -> bool:
    return (math.isfinite(snapshot.loss) and bool(np.isfinite(snapshot.grad_norms).all())
            and bool(np.isfinite(snapshot.signal_norms).all()) and bool(np.isfinite(snapshot.act_std).all()))


def first_nonfinite(snapshot) -> str:
    """Where the numbers first stop being finite, in the order they are computed: the forward pass
    (hidden layers, input side first), the loss, then the backward pass (output side first)."""
    for k, v in enumerate(np.asarray(snapshot.act_std, dtype=float)):
        if not math.isfinite(v):
            return f"hidden layer h{k + 1} (forward: its activations)"
    if not math.isfinite(snapshot.loss):
        return "the loss"
    signals = np.asarray(snapshot.signal_norms, dtype=float)
    grads = np.asarray(snapshot.grad_norms, dtype=float)
    for l in range(len(signals) - 1, -1, -1):
        if not (math.isfinite(signals[l]) and math.isfinite(grads[l])):
            return f"weight layer W{l + 1} (backward: ‖∂L/∂a‖ overflowed)"
    return "the update (the parameters became non-finite)"


@dataclasses.dataclass
class Divergence:
    step: int            # the first non-finite step
    where: str           # first non-finite layer
    shown_step: int | None   # the step of the last finite state on screen (None: there was none)

    def banner(self) -> str:
        shown = (f" Showing step {self.shown_step:,}, the last finite state." if self.shown_step is not None
                 else " No finite state was recorded.")
        return (f"Diverged at step {self.step:,}: first non-finite: {self.where}.{shown} Training paused — "
                "lower the learning rate or change the init, then Reset (R).")


class DivergenceKeeper:
    """Per run (generation): the last finite snapshot, and what to show for a diverged one."""

    def __init__(self):
        self._generation = None
        self.last_finite = None
        self.divergence: Divergence | None = None

    def filter(self, generation, snapshot, replayed=None):
        """(snapshot to show, Divergence or None); ``replayed``: a finite state the engine rebuilt."""
        if generation != self._generation:
            self._generation, self.last_finite, self.divergence = generation, None, None
        if replayed is not None and all_finite(replayed) and (
                self.last_finite is None or replayed.step > self.last_finite.step):
            self.last_finite = replayed
        if all_finite(snapshot):
            self.last_finite = snapshot
            return snapshot, None
        if self.divergence is None:
            step = snapshot.diverged_at if snapshot.diverged and snapshot.diverged_at >= 0 else snapshot.step
            self.divergence = Divergence(int(step), first_nonfinite(snapshot),
                                         None if self.last_finite is None else int(self.last_finite.step))
        if self.last_finite is None:
            return snapshot, self.divergence
        # the history of the steps before the divergence is real: keep it, drop the non-finite steps
        keep = np.asarray(snapshot.history_steps) < self.divergence.step
        return dataclasses.replace(self.last_finite, diverged=True, diverged_at=self.divergence.step,
                                   history_steps=np.asarray(snapshot.history_steps)[keep],
                                   history_loss=np.asarray(snapshot.history_loss)[keep],
                                   history_grad_norms=np.asarray(snapshot.history_grad_norms)[keep]), self.divergence
