"""A real engine.Simulation that keeps a digest of the batch order it trains on (picklable for the
engine process's ``spawn``): the lockstep test compares it across members."""
from __future__ import annotations

import hashlib

import numpy as np

from engine.simulation import Simulation


class DigestSimulation(Simulation):
    """``get_state()`` adds ``batch_digest`` (sha256 of every batch's training-set row indices, in
    order) and ``batches`` (how many)."""

    def __init__(self, config):
        super().__init__(config)
        self._digest = hashlib.sha256()
        self._batches = 0

    def _next_batch(self):
        batch = super()._next_batch()
        if self.batch_size >= self.n_train:
            idx = np.arange(self.n_train)
        else:
            idx = np.asarray(self._perm[self._pos - self.batch_size:self._pos])
        self._digest.update(np.ascontiguousarray(idx, dtype=np.int64).tobytes())
        self._batches += 1
        return batch

    def get_state(self) -> dict:
        state = super().get_state()
        state["batch_digest"] = self._digest.hexdigest()
        state["batches"] = self._batches
        return state
