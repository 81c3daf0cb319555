"""Comparison presets: ``[[member]]`` tables trained in lockstep and ``[[claim]]``s about the members.

A claim names its member, a metric, an operator and a number or another measurement::

    [[claim]]
    text = "ELU reaches a loss of 0.3 in at most 60% of ReLU's steps"
    metric = "steps_to_loss"        # a Snapshot field or property, "name[i]" for per-layer arrays,
    threshold = 0.3                 # or one of LOCKSTEP_METRICS (which need the whole run)
    member = "ELU"
    op = "<="
    against = { metric = "steps_to_loss", threshold = 0.3, member = "ReLU", factor = 0.6 }
    at_step = 600                   # default: the preset's steps

The metrics that need more than one snapshot (the first step at which a loss was reached, each
member's own training rate) are measured by the :class:`~engine.lockstep.Lockstep` itself.
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

from .config import Config, ConfigError
from .lockstep import Lockstep, Member, members_from_table

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
# metric -> what it measures (needs the Lockstep, not only a snapshot)
LOCKSTEP_METRICS = {
    "steps_to_loss": "steps until the mean training loss of the last 10 batches is <= threshold "
                     "(never: infinity)",
    "steps_per_second": "the member's steps over the wall time of its own steps",
}
_INDEXED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(-?\d+)\])?$")


class ComparisonSkipped(Exception):
    """The comparison cannot run here (e.g. it needs a GPU); the message says why."""


@dataclass(frozen=True)
class Verdict:
    text: str
    value: float               # the measured left-hand side
    holds: bool
    target: float              # what it was compared with (value, or factor x the other measurement)
    op: str
    member: str
    at_step: int

    def describe(self) -> str:
        return f"{_num(self.value)} {self.op} {_num(self.target)}"


def _num(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    if isinstance(v, float) and math.isinf(v):
        return "never" if v > 0 else "-inf"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class Comparison:
    name: str
    title: str
    caption: str
    base: Config
    members: list[Member]
    claims: list[dict]
    requires: str = ""

    @property
    def labels(self) -> list[str]:
        return [m.label for m in self.members]


def is_comparison(name: str) -> bool:
    from .presets import load_preset
    return bool(load_preset(name).extra.get("member"))


def load_comparison(name: str) -> Comparison:
    """A comparison preset; a ConfigError if it has no members or a claim names an unknown one."""
    from .presets import PRESET_DIR, load_preset
    preset = load_preset(name)
    table = preset.extra.get("member")
    if not table:
        raise ConfigError("preset", name, "a comparison preset (one with [[member]] tables)")
    members = members_from_table(table, f"{name}.toml")
    labels = {m.label for m in members}
    claims = preset.extra.get("claim", [])
    if isinstance(claims, dict):
        claims = [claims]
    for i, claim in enumerate(claims):
        for who in (claim.get("member"), (claim.get("against") or {}).get("member", claim.get("member"))):
            if who not in labels:
                raise ConfigError(f"{name}.toml: claim[{i}].member", who, " | ".join(sorted(labels)))
        if claim.get("op") not in OPS:
            raise ConfigError(f"{name}.toml: claim[{i}].op", claim.get("op"), " | ".join(OPS))
    raw = sys_tomllib.loads((PRESET_DIR / f"{name}.toml").read_text(encoding="utf-8"))
    requires = str(raw.get("preset", {}).get("requires", ""))
    return Comparison(name, preset.title, preset.caption, preset.config, members, list(claims), requires)


try:
    import tomllib as sys_tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as sys_tomllib


def measure(spec: dict, lock: Lockstep, k: int, snapshot) -> float:
    """The value of ``spec['metric']`` for member ``k`` (``snapshot`` is its state at the claim's step)."""
    metric = spec["metric"]
    if metric == "steps_to_loss":
        if "threshold" not in spec:
            raise ConfigError("claim.threshold", None, "a loss, for metric steps_to_loss")
        steps = lock.steps_to_loss(k, float(spec["threshold"]), until=spec.get("until"))
        return math.inf if steps is None else float(steps)
    if metric == "steps_per_second":
        rate = lock.steps_per_second(k)
        return float("nan") if rate is None else float(rate)
    try:
        from . import claims as judge_module     # the presets' judge, when it is there
        named = getattr(judge_module, "METRICS", {})
    except ImportError:
        named = {}
    m = _INDEXED.match(metric)
    if m is None:
        raise ConfigError("claim.metric", metric, "a Snapshot field, name[i], or " + " | ".join(LOCKSTEP_METRICS))
    name, index = m.group(1), m.group(2)
    if name in named and index is None:
        return float(named[name](snapshot) if callable(named[name]) else named[name])
    if not hasattr(snapshot, name):
        raise ConfigError("claim.metric", metric, "a Snapshot field, name[i], or " + " | ".join(LOCKSTEP_METRICS))
    value = getattr(snapshot, name)
    if index is not None:
        value = value[int(index)]
    return float(value)


def claim_steps(comp: Comparison) -> list[int]:
    """The steps at which the claims are judged, in order."""
    return sorted({int(c.get("at_step", comp.base.steps)) for c in comp.claims})


def judge(claim: dict, lock: Lockstep, snaps: list, step: int) -> Verdict:
    """One claim, with ``snaps`` the members' snapshots at ``step`` (the claim's step)."""
    index = {label: k for k, label in enumerate(lock.labels)}
    k = index[claim["member"]]
    value = measure(dict(claim, until=step), lock, k, snaps[k])
    if "against" in claim:
        other = dict(claim["against"])
        kk = index[other.get("member", claim["member"])]
        other.setdefault("threshold", claim.get("threshold"))
        target = float(other.get("factor", 1.0)) * measure(dict(other, until=step), lock, kk, snaps[kk])
    else:
        target = float(claim["value"])
    ok = not (math.isnan(value) or math.isnan(target))
    holds = bool(OPS[claim["op"]](value, target)) if ok else False
    return Verdict(claim["text"], value, holds, target, claim["op"], claim["member"], step)


def require(comp: Comparison) -> None:
    """Raise ComparisonSkipped when this machine lacks what the comparison needs."""
    if comp.requires == "gpu":
        from .backend import _try_cupy
        backend, why = _try_cupy()
        if backend is None:
            raise ComparisonSkipped(f"{comp.name} needs a GPU: {why}")


def run_and_judge(comp: Comparison, backend: str = "numpy") -> tuple[Lockstep, list[Verdict]]:
    """Train the members in lockstep to each claim's step and judge every claim there."""
    require(comp)
    base = comp.base.replace(backend=backend) if backend else comp.base
    lock = Lockstep(base, comp.members)
    verdicts: dict[int, Verdict] = {}
    for step in claim_steps(comp):
        snaps = lock.run_to(step, chunk=base.every * 10)
        for i, claim in enumerate(comp.claims):
            if int(claim.get("at_step", base.steps)) == step:
                verdicts[i] = judge(claim, lock, snaps, step)
    return lock, [verdicts[i] for i in range(len(comp.claims))]


def check_comparison(name: str, backend: str = "numpy") -> list[Verdict]:
    """Judge every claim of a comparison preset (raises ComparisonSkipped where it cannot run)."""
    return run_and_judge(load_comparison(name), backend)[1]
