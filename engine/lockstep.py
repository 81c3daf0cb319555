"""Several simulations in lockstep: identical data and batch order from one seed, differing only
in the settings a comparison is about.

Every member is built from the same base Config with a few fields changed. The fields that decide
the data and the batch order (:data:`DATA_KEYS`) must be the same for all members, so the members
see the same training examples in the same order at every step; :meth:`Lockstep.digests` proves it
with a digest of each member's data and of the batch sequence it actually drew.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np

from .config import FIELD_NAMES, Config, ConfigError, unknown_key_error
from .snapshot import Snapshot

MIN_MEMBERS, MAX_MEMBERS = 2, 4
# Fields that decide the data and the order of the batches: one value for every member.
DATA_KEYS = ("dataset", "n_samples", "noise", "test_fraction", "seed", "batch_size")
# Fields of the run, not of the network: one value for every member too.
RUN_KEYS = ("steps", "every")


@dataclass(frozen=True)
class Member:
    """One network of a comparison: a label and the Config fields it changes."""

    label: str
    changes: dict = field(default_factory=dict)

    def config(self, base: Config) -> Config:
        return base.replace(**self.changes) if self.changes else base


def _fmt(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def describe_changes(changes: dict) -> str:
    """``init=he_normal, lr=0.05``: what a member changes, as a label."""
    return ", ".join(f"{k}={_fmt(v)}" for k, v in changes.items()) or "base"


def differences(configs: list[Config]) -> list[str]:
    """The Config fields whose values are not the same across ``configs``, in field order."""
    return [k for k in FIELD_NAMES if len({repr(getattr(c, k)) for c in configs}) > 1]


def member_labels(configs: list[Config]) -> list[str]:
    """A label per member naming only what differs, e.g. ``init=he_normal`` / ``init=xavier_uniform``."""
    keys = differences(configs)
    return [describe_changes({k: getattr(c, k) for k in keys}) for c in configs]


def members_from_table(entries, where: str = "preset") -> list[Member]:
    """Members from a preset's ``[[member]]`` tables (``label = "..."``, ``set = {key = value}``)."""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{where}: member", entries, "[[member]] tables with label and set")
    members = []
    for i, entry in enumerate(entries):
        unknown = set(entry) - {"label", "set", "caption"}
        if unknown:
            raise ConfigError(f"{where}: member[{i}]", sorted(unknown)[0], "label | set | caption")
        changes = entry.get("set", {})
        if not isinstance(changes, dict):
            raise ConfigError(f"{where}: member[{i}].set", changes, "a table of config keys, e.g. { init = \"he_normal\" }")
        for key in changes:
            if key not in FIELD_NAMES:
                raise unknown_key_error(key)
        from .config import _coerce
        changes = {k: _coerce(k, v) for k, v in changes.items()}
        label = entry.get("label") or describe_changes(changes)
        if not isinstance(label, str):
            raise ConfigError(f"{where}: member[{i}].label", label, "a string")
        members.append(Member(label, changes))
    return members


def members_from_vary(items: list[str]) -> list[Member]:
    """Members from ``--vary key=v1,v2`` (one key; list values use ':' as in ``sweep``)."""
    from .config import parse_value
    if len(items) != 1:
        raise ConfigError("--vary", " ".join(items) or None,
                          "exactly one key=v1,v2[,...] (a comparison varies one setting; use a preset "
                          "with [[member]] tables to vary several)")
    key, sep, raw = items[0].partition("=")
    key = key.strip()
    if not sep or not raw.strip():
        raise ConfigError("--vary", items[0], "key=v1,v2[,...], e.g. activation=sigmoid,relu")
    values = [parse_value(key, v.strip().replace(":", ",")) for v in raw.split(",") if v.strip()]
    return [Member(describe_changes({key: v}), {key: v}) for v in values]


def _check_members(base: Config, members: list[Member]) -> list[Config]:
    if not MIN_MEMBERS <= len(members) <= MAX_MEMBERS:
        raise ConfigError("members", len(members), f"{MIN_MEMBERS} to {MAX_MEMBERS} networks to compare")
    labels = [m.label for m in members]
    if len(set(labels)) != len(labels):
        raise ConfigError("members", labels, "a different label for every member")
    configs = []
    for m in members:
        try:
            configs.append(m.config(base))
        except ConfigError as exc:
            raise ConfigError(f"member '{m.label}': {exc.key}", exc.value, exc.allowed) from None
    for key in DATA_KEYS + RUN_KEYS:
        values = {repr(getattr(c, key)) for c in configs}
        if len(values) > 1:
            raise ConfigError(key, sorted(values),
                              f"one value for every member: {', '.join(DATA_KEYS + RUN_KEYS)} decide the data, "
                              f"the batch order and the run length, which a comparison keeps identical")
    return configs


class _RecordingRng:
    """Stands in for a Simulation's batch-order generator and hashes every permutation it draws."""

    def __init__(self, rng: np.random.Generator, digest):
        self._rng, self._digest = rng, digest
        self.epochs: list[str] = []      # a digest of each permutation, in order

    def permutation(self, n):
        perm = self._rng.permutation(n)
        raw = np.asarray(perm, dtype=np.int64).tobytes()
        self._digest.update(raw)
        self.epochs.append(hashlib.blake2b(raw, digest_size=8).hexdigest())
        return perm


def data_digest(sim) -> str:
    """Digest of a simulation's raw training and test data (before any centring)."""
    h = hashlib.blake2b(digest_size=16)
    for a in (sim.data.x_train, sim.data.y_train, sim.data.x_test, sim.data.y_test):
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class Cancelled(Exception):
    """A run given up on because its ``stop`` event was set (its result is no longer wanted)."""


class Lockstep:
    """K simulations advanced together; ``step(n)`` trains every member ``n`` steps.

    The members share the data and batch order (checked when built, proved by :meth:`digests`).
    A diverged member stops where it diverged; the others go on.
    """

    def __init__(self, base: Config, members: list[Member]):
        from .simulation import Simulation

        self.base = base
        self.members = list(members)
        self.configs = _check_members(base, self.members)
        self.labels = [m.label for m in self.members]
        self.differs = differences(self.configs)
        self.sims = [Simulation(c) for c in self.configs]
        self._order = []
        for sim in self.sims:
            h = hashlib.blake2b(digest_size=16)
            h.update(f"n_train={sim.n_train} batch={sim.batch_size}".encode())
            sim._batch_rng = _RecordingRng(sim._batch_rng, h)
            self._order.append(h)
        self._history = [([], []) for _ in self.sims]   # per member: steps, losses (every step)
        self.train_seconds = [0.0] * len(self.sims)      # per member: wall time spent in its steps
        self._last: list[Snapshot] = [sim.snapshot() for sim in self.sims]

    def __len__(self) -> int:
        return len(self.sims)

    @property
    def step_counts(self) -> list[int]:
        return [sim.step_count for sim in self.sims]

    def step(self, n: int = 1, boundary_resolution: int = 0) -> list[Snapshot]:
        """Train every member ``n`` steps; return one Snapshot per member (labels' order)."""
        snaps = []
        for k, sim in enumerate(self.sims):
            t0 = time.perf_counter()
            snap = sim.step(n)
            self.train_seconds[k] += time.perf_counter() - t0
            if boundary_resolution:
                extra = sim.snapshot(boundary_resolution)
                snap = _with_history(extra, snap)
            self._record(k, snap)
            snaps.append(snap)
        self._last = snaps
        return snaps

    def run_to(self, step: int, chunk: int = 0, stop=None) -> list[Snapshot]:
        """Train until every live member has ``step`` steps (chunks of ``chunk`` steps, 0 = one go).
        ``stop`` (a threading.Event) is looked at between chunks: once set, :class:`Cancelled`."""
        while any(s.step_count < step and not s.diverged for s in self.sims):
            if stop is not None and stop.is_set():
                raise Cancelled(f"stopped at step {min(s.step_count for s in self.sims)} of {step}")
            todo = step - min(s.step_count for s in self.sims if not s.diverged)
            n = min(todo, chunk) if chunk > 0 else todo
            snaps = []
            for k, sim in enumerate(self.sims):
                m = max(0, min(n, step - sim.step_count))
                t0 = time.perf_counter()
                snap = sim.step(m) if m else sim.snapshot()
                self.train_seconds[k] += time.perf_counter() - t0
                self._record(k, snap)
                snaps.append(snap)
            self._last = snaps
        return self._last

    def _record(self, k: int, snap: Snapshot) -> None:
        steps, losses = self._history[k]
        steps.append(np.asarray(snap.history_steps))
        losses.append(np.asarray(snap.history_loss))

    def snapshots(self) -> list[Snapshot]:
        """The latest Snapshot of every member (no training)."""
        return list(self._last)

    def by_label(self) -> dict[str, Snapshot]:
        return dict(zip(self.labels, self._last))

    def loss_history(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Every recorded step of member ``k`` and its training loss (the step's batch, before its update)."""
        steps, losses = self._history[k]
        if not steps:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(steps), np.concatenate(losses)

    def steps_per_second(self, k: int) -> float | None:
        """Member ``k``'s steps over the wall time of its own steps (snapshots included)."""
        t = self.train_seconds[k]
        return self.sims[k].step_count / t if t > 0 else None

    def steps_to_loss(self, k: int, threshold: float, window: int = 10, until: int | None = None) -> int | None:
        """Steps member ``k`` took until the mean training loss of its last ``window`` batches was at
        or below ``threshold`` (one batch's loss is noisy); None when it did not get there (within
        ``until`` steps)."""
        steps, losses = self.loss_history(k)
        if until is not None:
            keep = steps < until
            steps, losses = steps[keep], losses[keep]
        if losses.size < window:
            return None
        clean = np.where(np.isfinite(losses), losses, np.inf)
        mean = np.convolve(clean, np.ones(window) / window, mode="valid")   # mean[i] ends at i + window - 1
        hit = np.flatnonzero(mean <= threshold)
        return int(steps[hit[0] + window - 1]) + 1 if hit.size else None

    def same_batches(self) -> bool:
        """True when every member trained on the same data and drew the same batch order for the
        steps it took (a member that diverged stops early: its order is a prefix of the others')."""
        if len({data_digest(sim) for sim in self.sims}) != 1:
            return False
        orders = [sim._batch_rng.epochs for sim in self.sims]
        longest = max(orders, key=len)
        return all(o == longest[: len(o)] for o in orders) and len({s.batch_size for s in self.sims}) == 1

    def digests(self) -> list[dict]:
        """Per member: a digest of its data and of the batch sequence it drew, and its step count.

        The batch digest covers the training-set size, the batch size, every permutation drawn and
        the number of steps taken, which together fix the index of every example in every batch.
        """
        out = []
        for sim, h in zip(self.sims, self._order):
            order = h.copy()
            order.update(f"steps={sim.step_count}".encode())
            out.append({"data_digest": data_digest(sim), "batch_digest": order.hexdigest(),
                        "steps": sim.step_count})
        return out


def _with_history(snap: Snapshot, trained: Snapshot) -> Snapshot:
    """``snap`` (taken right after ``trained``) with ``trained``'s per-step history and rate."""
    import dataclasses
    return dataclasses.replace(snap, history_steps=trained.history_steps, history_loss=trained.history_loss,
                               history_grad_norms=trained.history_grad_norms,
                               steps_per_second=trained.steps_per_second)
