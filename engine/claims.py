"""A preset's claims as data, judged by one piece of code: ``check``, the tests and the GUI's claim
line all call :func:`judge` (one claim, given the snapshots it needs). What a claim is measured on
comes from :mod:`engine.evidence` (single runs) and :mod:`engine.comparisons` (lockstep members);
``engine.check_cli.check_preset`` judges every claim of a preset.

A claim (a ``[[claim]]`` table in a preset TOML, also ``[[stage.claim]]``)::

    text = "First-layer gradient norm is at least 10,000x below the last layer's"
    metric = "grad_ratio"        # see METRICS, or a Snapshot field/property; arrays take an index
                                 # ("dead_fraction[2]", "grad_norms[-1]") or an aggregate
                                 # ("mean(dead_fraction)", "max(act_std)"); "A / B" divides two terms
    op = "<"                     # < <= > >=
    value = 1e-4                 # a number, or instead compare against another measurement:
    against = { metric = "loss", member = "plain", factor = 1.0, offset = 0.0 }
                                 # left op factor * right + offset; the right side may name a
                                 # member, a stage (index), another preset, config changes
                                 # (set = {...}) or its own at_step
    at_step = 200                # judged after this many steps (default: the config's steps)
    member = "he"                # comparison presets: which member the claim measures
    set = { init = "xavier_normal" }  # the claim measures the preset's config with these changes

Snapshots are passed to :func:`judge` keyed by :attr:`Claim.key` and :attr:`Against.key`: the
member label (``None`` for a single run) in the common case, a :class:`Source` otherwise.
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from .config import ConfigError

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {
    "mean": np.mean, "max": np.max, "min": np.min, "median": np.median, "sum": np.sum}
LN2 = math.log(2.0)


# ===================================================================================== metrics
@dataclass(frozen=True)
class Metric:
    """A named measurement: ``fn(measured) -> float``; ``needs`` says what it measures.

    ``needs = "snapshot"``: a training run's Snapshot. ``needs = "neuron"``: the preset's two-weight
    neuron problem (``[neuron]`` table, an engine.surface.NeuronProblem), no network trained.
    """

    fn: Callable[[Any], float]
    doc: str = ""
    needs: str = "snapshot"


METRICS: dict[str, Metric] = {}


def register_metric(name: str, fn: Callable[[Any], float], doc: str = "", needs: str = "snapshot") -> None:
    """Add a named metric (other modules extend the registry by name, e.g. CNN or comparison metrics)."""
    METRICS[name] = Metric(fn, doc, needs)


def _ratio(a: float, b: float) -> float:
    a, b = float(a), float(b)
    if b == 0:
        return float("inf") if a > 0 else float("nan")
    return a / b


def _spread(arr) -> float:
    arr = np.asarray(arr, dtype=np.float64)
    return _ratio(arr.max(), arr.min()) if arr.size else float("nan")


def _zigzag(problem):
    from .zigzag import cached_fair_comparison
    return cached_fair_comparison(problem)


for _name, _fn, _doc in [
    ("grad_ratio", lambda s: s.grad_ratio, "first/last weight-gradient norm ||dL/dW_1|| / ||dL/dW_L||"),
    ("signal_ratio", lambda s: _ratio(s.signal_norms[0], s.signal_norms[-1]),
     "first/last back-propagated signal ||dL/da_1|| / ||dL/da_L||"),
    ("update_ratio_first_last", lambda s: _ratio(s.update_ratios[0], s.update_ratios[-1]),
     "first/last relative update ||dW|| / ||W||"),
    ("act_std_ratio", lambda s: _ratio(s.act_std[-1], s.act_std[0]), "last/first hidden activation std"),
    ("act_std_spread", lambda s: _spread(s.act_std), "largest/smallest hidden activation std"),
    ("signal_spread", lambda s: _spread(s.signal_norms), "largest/smallest back-propagated signal norm"),
    ("dead_units", lambda s: float(sum(int(np.sum(u)) for u in s.unit_dead)), "hidden units dead for the whole batch"),
    ("loss_gap_ln2", lambda s: abs(float(s.loss) - LN2), "|loss - ln 2|: distance from chance for BCE"),
    ("diverged_by", lambda s: float(s.diverged_at) if s.diverged else float("inf"),
     "the first non-finite step (inf when the run has not diverged)"),
    ("generalisation_gap", lambda s: float(s.accuracy) - float(s.test_accuracy), "train minus test accuracy"),
]:
    register_metric(_name, _fn, _doc)

register_metric("steps_to_loss", lambda m: float(getattr(m, "steps_to_loss", float("nan"))),
                "steps until the mean training loss of the last 10 batches reached the preset's "
                "loss_threshold (comparison presets, measured on the lockstep run; inf = never)")
register_metric("zigzag_best_steps_ratio", lambda p: _zigzag(p).best_steps_ratio,
                "positive-input / zero-centred steps to the minimum, each at its best stable lr", "neuron")
register_metric("zigzag_best_lr_ratio", lambda p: _zigzag(p).best_lr_ratio,
                "zero-centred / positive-input best stable learning rate", "neuron")
register_metric("zigzag_path_ratio", lambda p: _zigzag(p).positive_shared.stats.path_ratio,
                "positive-input path length / straight distance at the preset's lr", "neuron")

_TERM = re.compile(r"^\s*(?:(?P<agg>[a-z_]+)\(\s*(?P<inner>[A-Za-z_][A-Za-z0-9_]*)\s*\)"
                   r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\[\s*(?P<index>-?\d+)\s*\])?)\s*$")


def _parse_term(text: str):
    m = _TERM.match(text)
    if not m:
        raise ValueError(f"cannot read metric term {text!r}")
    if m["agg"]:
        if m["agg"] not in AGGREGATES:
            raise ValueError(f"unknown aggregate {m['agg']!r} (use {' | '.join(AGGREGATES)})")
        return m["inner"], None, m["agg"]
    return m["name"], (int(m["index"]) if m["index"] is not None else None), None


def metric_terms(expr: str) -> list[tuple[str, int | None, str | None]]:
    """``"A"`` or ``"A / B"`` as parsed terms (name, index, aggregate)."""
    parts = expr.split("/")
    if len(parts) > 2:
        raise ValueError(f"metric {expr!r}: at most one '/'")
    return [_parse_term(p) for p in parts]


def metric_needs(expr: str) -> str:
    needs = {METRICS[n].needs if n in METRICS else "snapshot" for n, _, _ in metric_terms(expr)}
    if len(needs) > 1:
        raise ValueError(f"metric {expr!r} mixes a neuron metric with a network metric")
    return needs.pop()


def _term_value(measured, name: str, index: int | None, agg: str | None) -> float:
    if name in METRICS:
        raw = METRICS[name].fn(measured)
    elif hasattr(measured, name):
        raw = getattr(measured, name)
    else:
        raise KeyError(name)
    if isinstance(raw, (list, tuple)) or isinstance(raw, np.ndarray) and raw.ndim > 0:
        arr = np.asarray(raw, dtype=np.float64)
        if index is not None:
            return float(arr[index])
        if agg is not None:
            return float(AGGREGATES[agg](arr)) if arr.size else float("nan")
        raise ValueError(f"metric {name!r} is per layer: give an index ({name}[0]) or an aggregate (mean({name}))")
    if index is not None or agg is not None:
        raise ValueError(f"metric {name!r} is a single number: no index or aggregate")
    return float(raw)


def measure(measured, expr: str) -> float:
    """The value of metric expression ``expr`` on a Snapshot (or a neuron problem)."""
    terms = metric_terms(expr)
    with np.errstate(all="ignore"):
        values = [_term_value(measured, *t) for t in terms]
    return values[0] if len(values) == 1 else _ratio(values[0], values[1])


def known_metric(expr: str) -> None:
    """Raise ValueError unless every name in ``expr`` is a Snapshot field/property or a METRICS entry."""
    from .snapshot import Snapshot
    fields = set(Snapshot.__dataclass_fields__) | {n for n in dir(Snapshot) if not n.startswith("_")}
    for name, _, _ in metric_terms(expr):
        if name not in METRICS and name not in fields:
            raise ValueError(f"unknown metric {name!r}: a Snapshot field or one of {', '.join(sorted(METRICS))}")


# ===================================================================================== claims
def _frozen_items(changes: Mapping | None) -> tuple:
    def freeze(v):
        return tuple(freeze(x) for x in v) if isinstance(v, (list, tuple)) else v
    return tuple(sorted((k, freeze(v)) for k, v in (changes or {}).items()))


@dataclass(frozen=True)
class Source:
    """Which run a measurement comes from, beyond the run a claim is about."""

    preset: str | None = None     # another preset (None: this one)
    stage: int | None = None
    member: str | None = None
    changes: tuple = ()           # sorted (key, value) config changes
    at_step: int | None = None


@dataclass(frozen=True)
class Against:
    metric: str
    factor: float = 1.0
    offset: float = 0.0
    member: str | None = None
    stage: int | None = None
    preset: str | None = None
    changes: tuple = ()
    at_step: int | None = None

    def key_for(self, claim: "Claim"):
        """The key of the snapshot this side is measured on (see the module docstring)."""
        member = self.member if self.member is not None else claim.member
        if self.preset is None and self.stage is None and not self.changes and self.at_step is None:
            return member if not claim.changes else Source(None, claim.stage, member, claim.changes)
        changes = self.changes if self.changes or self.preset is not None else claim.changes
        stage = self.stage if self.stage is not None or self.preset is not None else claim.stage
        return Source(self.preset, stage, member if self.preset is None else self.member,
                      changes, self.at_step)


@dataclass(frozen=True)
class Claim:
    text: str
    metric: str
    op: str
    value: float | None = None
    against: Against | None = None
    at_step: int | None = None
    member: str | None = None
    stage: int | None = None       # set by the preset loader for [[stage.claim]]
    changes: tuple = ()

    @property
    def key(self):
        """The key of the snapshot the claim measures: the member (None for a single run)."""
        if self.changes:
            return Source(None, self.stage, self.member, self.changes)
        return self.member

    @property
    def needs(self) -> str:
        return metric_needs(self.metric)

    @classmethod
    def from_dict(cls, data: Mapping, where: str = "claim", stage: int | None = None) -> "Claim":
        """Parse one ``[[claim]]`` table; a ConfigError names the key, the value and what is allowed."""
        _only_keys(data, {"text", "metric", "op", "value", "against", "at_step", "member", "set"}, where)
        text, op = data.get("text"), data.get("op")
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where}.text", text, "a sentence stating the claim")
        metric = _metric_name(data, where, "a metric name, e.g. grad_ratio or dead_fraction[2]")
        if op not in OPS:
            raise ConfigError(f"{where}.op", op, " | ".join(OPS))
        value, against = data.get("value"), data.get("against")
        if (value is None) == (against is None):
            raise ConfigError(f"{where}.value", value, "exactly one of value = <number> or against = {...}")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{where}.value", value, "a number")
        at_step = data.get("at_step")
        if at_step is not None and (isinstance(at_step, bool) or not isinstance(at_step, int) or at_step < 0):
            raise ConfigError(f"{where}.at_step", at_step, "an integer >= 0")
        member = data.get("member")
        if member is not None and not isinstance(member, str):
            raise ConfigError(f"{where}.member", member, "a member label")
        return cls(" ".join(text.split()), metric, op, None if value is None else float(value),
                   _parse_against(against, f"{where}.against") if against is not None else None,
                   at_step, member, stage, parse_changes(data.get("set"), f"{where}.set"))


def _only_keys(table: Mapping, allowed: set, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}", "(unknown key)", "one of: " + ", ".join(sorted(allowed)))


def _metric_name(table: Mapping, where: str, expected: str) -> str:
    """``table["metric"]``, checked to name a metric that can be measured."""
    metric = table.get("metric")
    if not isinstance(metric, str):
        raise ConfigError(f"{where}.metric", metric, expected)
    try:
        known_metric(metric)
    except ValueError as exc:
        raise ConfigError(f"{where}.metric", metric, str(exc)) from None
    return metric


def parse_changes(raw, where: str) -> tuple:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise ConfigError(where, raw, "a table of config fields, e.g. { init = \"he_normal\" }")
    from .config import FIELD_NAMES
    for key in raw:
        if key not in FIELD_NAMES:
            raise ConfigError(f"{where}.{key}", "(unknown config key)", "a Config field")
    return _frozen_items(raw)


def _parse_against(raw, where: str) -> Against:
    if not isinstance(raw, Mapping):
        raise ConfigError(where, raw, "a table: { metric = ..., member/stage/preset/set = ..., factor = ... }")
    _only_keys(raw, {"metric", "factor", "offset", "member", "stage", "preset", "set", "at_step"}, where)
    metric = _metric_name(raw, where, "a metric name")
    for key in ("factor", "offset"):
        v = raw.get(key, 0.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{where}.{key}", v, "a finite number")
    stage = raw.get("stage")
    if stage is not None and (isinstance(stage, bool) or not isinstance(stage, int) or stage < 0):
        raise ConfigError(f"{where}.stage", stage, "a stage index (0 = the first stage)")
    return Against(metric, float(raw.get("factor", 1.0)), float(raw.get("offset", 0.0)), raw.get("member"),
                   stage, raw.get("preset"), parse_changes(raw.get("set"), f"{where}.set"), raw.get("at_step"))


def parse_claims(raw, where: str = "claim", stage: int | None = None) -> tuple[Claim, ...]:
    if raw is None:
        return ()
    if isinstance(raw, Mapping):
        raw = [raw]
    return tuple(Claim.from_dict(c, f"{where}[{i}]", stage) for i, c in enumerate(raw))


# ===================================================================================== verdicts
@dataclass(frozen=True)
class Verdict:
    """One claim, measured: ``holds`` is None when it could not be measured (``detail`` says why)."""

    text: str
    metric: str
    op: str
    value: float                   # the left side, measured
    threshold: float               # the right side as a number (value, or factor * reference + offset)
    holds: bool | None
    step: int | None = None        # the step the left side was measured at
    at_step: int | None = None     # the step the claim is stated for
    reference: float | None = None # the against measurement (before factor/offset)
    member: str | None = None
    stage: int | None = None
    detail: str = ""

    @property
    def mark(self) -> str:
        return {True: "✓", False: "✗", None: "?"}[self.holds]

    @property
    def final(self) -> bool:
        """Measured at (or past) the step the claim is stated for."""
        return self.step is not None and self.at_step is not None and self.step >= self.at_step

    def line(self) -> str:
        cmp = f"{format_value(self.value)} {self.op} {format_value(self.threshold)}"
        if self.reference is not None:
            cmp += f" (reference {format_value(self.reference)})"
        where = f" at step {self.step}" if self.step is not None else ""
        extra = f" — {self.detail}" if self.detail else ""
        return f"{self.mark} {self.text}  [{self.metric} = {cmp}{where}]{extra}"


def format_value(v: float | None) -> str:
    """A measured number as text: never a bare 'nan' without saying what it means."""
    if v is None:
        return "-"
    v = float(v)
    if math.isnan(v):
        return "not finite"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.2e}"
    return f"{v:.3g}"


def _lookup(snapshots, key):
    if not isinstance(snapshots, Mapping):
        return snapshots  # one snapshot for a single-run claim
    if key in snapshots:
        return snapshots[key]
    raise KeyError(key)


def judge(claim: Claim, snapshots) -> Verdict:
    """Measure ``claim`` on ``snapshots`` (a Mapping keyed by Claim.key / Against.key, or one Snapshot).

    Works on any snapshot (e.g. the GUI's live one); :attr:`Verdict.final` says whether it is at the
    claim's step. A missing snapshot gives ``holds = None``, never an exception.
    """
    base = dict(text=claim.text, metric=claim.metric, op=claim.op, at_step=claim.at_step,
                member=claim.member, stage=claim.stage)
    try:
        own = _lookup(snapshots, claim.key)
    except KeyError:
        return Verdict(value=float("nan"), threshold=float("nan"), holds=None,
                       detail=f"no run measured for {claim.key!r}", **base)
    step = getattr(own, "step", None)
    value = measure(own, claim.metric)
    reference = None
    if claim.against is None:
        threshold = float(claim.value)
    else:
        a = claim.against
        try:
            other = _lookup(snapshots, a.key_for(claim))
        except KeyError:
            return Verdict(value=value, threshold=float("nan"), holds=None, step=step,
                           detail="the comparison run is not measured yet", **base)
        reference = measure(other, a.metric)
        threshold = a.factor * reference + a.offset
    holds = bool(OPS[claim.op](value, threshold))
    detail = ""
    if math.isnan(value):
        holds, detail = False, "the measured value is not finite"
    elif math.isnan(threshold):
        holds, detail = False, "the comparison value is not finite"
    return Verdict(value=value, threshold=threshold, holds=holds, step=step, reference=reference,
                   detail=detail, **base)
