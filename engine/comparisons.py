"""Comparison presets: ``[[member]]`` tables trained in lockstep, ``[[claim]]``s about the members.

The claims are parsed and judged by :mod:`engine.claims` like every other preset's; what this
module adds is where the measurements come from. A claim about members is measured on the
members' snapshots from one :class:`~engine.lockstep.Lockstep` run (same data, same batches), taken
at the claim's step, wrapped in a :class:`MemberMeasurement` that also answers the metrics that need
the whole run:

* ``steps_to_loss`` — steps until the mean training loss of the last 10 batches first reached the
  preset's ``loss_threshold`` (``[preset]`` table); infinity when it never did;
* ``steps_per_second`` — the member's own steps over the wall time of its own steps (members take
  turns, so one shared clock would be wrong).

``[preset] requires = "gpu"`` marks a comparison that needs a CUDA device; where there is none,
:class:`ComparisonSkipped` says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from . import claims as C
from .config import Config, ConfigError
from .evidence import measure_sources
from .lockstep import Lockstep, Member
from .presets import load_preset, preset_claims


class ComparisonSkipped(Exception):
    """The comparison cannot run here (e.g. it needs a GPU); the message says why."""


class MemberMeasurement:
    """One member at one step, as the judge sees it: its Snapshot plus the lockstep-run metrics."""

    def __init__(self, snapshot, lock: Lockstep, k: int, loss_threshold: float | None, until: int):
        self._snapshot, self._lock, self._k = snapshot, lock, k
        self._threshold, self._until = loss_threshold, until

    def __getattr__(self, name):
        return getattr(self._snapshot, name)

    @property
    def steps_to_loss(self) -> float:
        if self._threshold is None:
            return float("nan")
        steps = self._lock.steps_to_loss(self._k, self._threshold, until=self._until)
        return math.inf if steps is None else float(steps)

    @property
    def steps_per_second(self) -> float:
        rate = self._lock.steps_per_second(self._k)
        return float("nan") if rate is None else float(rate)


@dataclass(frozen=True)
class Comparison:
    name: str
    title: str
    caption: str
    base: Config
    members: list[Member]
    claims: list                   # engine.claims.Claim, the preset's (stage claims included)
    preset: object                 # engine.presets.Preset
    requires: str = ""
    loss_threshold: float | None = None

    @property
    def labels(self) -> list[str]:
        return [m.label for m in self.members]


def is_comparison(name: str) -> bool:
    return bool(load_preset(name).members)


def load_comparison(name: str) -> Comparison:
    """A comparison preset; a ConfigError if it has no members or a claim names an unknown one."""

    preset = load_preset(name)
    if not preset.members:
        raise ConfigError("preset", name, "a comparison preset (one with [[member]] tables)")
    members = [Member(m.label, dict(m.changes)) for m in preset.members]
    labels = {m.label for m in members}
    claims = preset_claims(preset)
    for i, claim in enumerate(claims):
        others = [claim.member] + ([claim.against.member] if claim.against is not None else [])
        for who in others:
            if who is not None and who not in labels:
                raise ConfigError(f"{name}.toml: claim[{i}].member", who, " | ".join(sorted(labels)))
    meta = preset.meta
    threshold = meta.get("loss_threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not threshold > 0):
        raise ConfigError(f"{name}.toml: preset.loss_threshold", threshold, "a loss > 0")
    return Comparison(name, preset.title, preset.caption, preset.config, members, claims, preset,
                      str(meta.get("requires", "")), None if threshold is None else float(threshold))


def on_members(claim) -> bool:
    """True when both sides of ``claim`` are members of this comparison (measured in lockstep)."""
    if claim.member is None or claim.stage is not None or claim.changes:
        return False
    return claim.against is None or isinstance(claim.against.key_for(claim), str)


def claim_step(comp: Comparison, claim, steps: int | None = None) -> int:
    """The step a claim is judged at (``steps``: a shorter run judges later claims at its end)."""
    at = claim.at_step if claim.at_step is not None else comp.base.steps
    return at if steps is None else min(at, steps)


def claim_steps(comp: Comparison, steps: int | None = None) -> list[int]:
    return sorted({claim_step(comp, c, steps) for c in comp.claims if on_members(c)})


def measurements(comp: Comparison, lock: Lockstep, step: int, snapshots=None) -> dict:
    """What the judge needs for member claims at ``step``: member label -> MemberMeasurement."""
    snaps = lock.snapshots() if snapshots is None else snapshots
    return {label: MemberMeasurement(s, lock, k, comp.loss_threshold, step)
            for k, (label, s) in enumerate(zip(lock.labels, snaps))}


def judge(comp: Comparison, claim, lock: Lockstep, step: int, snapshots=None):
    """One member claim, measured on the lockstep run now (at ``step``)."""
    return C.judge(claim, measurements(comp, lock, step, snapshots))


def require(comp: Comparison) -> None:
    """Raise ComparisonSkipped when this machine lacks what the comparison needs."""
    if comp.requires == "gpu":
        from .backend import _try_cupy
        backend, why = _try_cupy()
        if backend is None:
            raise ComparisonSkipped(f"{comp.name} needs a GPU: {why}")


def run_and_judge(comp: Comparison, backend: str = "numpy", stop=None) -> tuple[Lockstep, list]:
    """Train the members in lockstep to each claim's step and judge every claim there; claims that
    are not about members (a stage, another preset) are judged the ordinary way. ``stop`` (a
    threading.Event) cancels the run between chunks (engine.lockstep.Cancelled)."""
    require(comp)
    base = comp.base.replace(backend=backend) if backend else comp.base
    lock = Lockstep(base, comp.members)
    verdicts: dict[int, object] = {}
    for step in claim_steps(comp):
        lock.run_to(step, chunk=base.every * 10, stop=stop)
        for i, claim in enumerate(comp.claims):
            if on_members(claim) and claim_step(comp, claim) == step:
                verdicts[i] = judge(comp, claim, lock, step)
    for i, claim in enumerate(comp.claims):
        if i not in verdicts:
            verdicts[i] = C.judge(claim, measure_sources(comp.preset, claim, backend, stop))
    return lock, [verdicts[i] for i in range(len(comp.claims))]


def check_comparison(name: str, backend: str = "numpy") -> list:
    """Judge every claim of a comparison preset (raises ComparisonSkipped where it cannot run)."""
    return run_and_judge(load_comparison(name), backend)[1]


def measure_claims(preset, claims, backend: str = "numpy", stop=None) -> dict:
    """Each claim's sources and verdict, ``{index: (sources, verdict or the exception)}``: what the
    window shows beside its live run (gui/presenter.py; it runs this in a worker process). A
    comparison's members are measured on one lockstep run, as ``check`` does (steps_to_loss and
    steps_per_second need that run, not a member's snapshot alone). A broken claim gives its
    exception, never raises."""
    out: dict = {}
    if preset.members and not preset.stages:
        try:
            verdicts = run_and_judge(load_comparison(preset.name), backend, stop)[1]
            out = {i: ({}, v) for i, v in enumerate(verdicts)}
        except Exception as exc:  # noqa: BLE001 - shown in the claim bar
            out = {i: ({}, exc) for i in range(len(claims))}
    for i, claim in enumerate(claims):
        if i in out:
            continue
        try:
            sources = measure_sources(preset, claim, backend, stop)
            out[i] = (sources, C.judge(claim, sources))
        except Exception as exc:  # noqa: BLE001 - a broken claim must not take the window down
            out[i] = ({}, exc)
    return out
