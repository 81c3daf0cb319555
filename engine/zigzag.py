"""A fair zig-zag comparison: the two-weight neuron with positive inputs against its zero-centred
counterpart, each at its own best stable learning rate (searched on the spot) and at a shared one.

The cost of positive inputs is not only a longer path at one learning rate; it is a smaller stable
step. Comparing both sides at one rate can even favour the zig-zag, so the numbers reported here
are steps to the minimum at each side's best rate, next to the steps at the shared rate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .surface import NeuronProblem, PathStats, path_stats

CENTRED_COUNTERPART = "centred"
LR_GRID = tuple(float(v) for v in np.geomspace(0.02, 8.0, 48))


@dataclass(frozen=True)
class SideResult:
    problem: NeuronProblem        # at the learning rate this result is for
    stats: PathStats
    path: np.ndarray

    @property
    def steps(self) -> int | None:
        return self.stats.steps_to_min


@dataclass(frozen=True)
class FairComparison:
    """Steps to the minimum for both input kinds, at the shared rate and at each side's best rate."""

    shared_lr: float
    positive_shared: SideResult
    centred_shared: SideResult
    positive_best: SideResult
    centred_best: SideResult

    @property
    def best_steps_ratio(self) -> float:
        """Positive-input steps over centred steps, each at its own best stable learning rate."""
        a, b = self.positive_best.steps, self.centred_best.steps
        if a is None:
            return float("inf")
        return float(a) / b if b else float("nan")

    @property
    def best_lr_ratio(self) -> float:
        """Centred best rate over positive best rate (> 1: zero-centred inputs tolerate bigger steps)."""
        return self.centred_best.problem.lr / self.positive_best.problem.lr


def run_side(problem: NeuronProblem) -> SideResult:
    path = problem.path()
    stats = path_stats(path, problem.target, problem.eps)
    if len(path) < problem.steps + 1:  # the path left every sensible range: diverged, never reached
        stats = PathStats(None, stats.path_ratio, stats.path_length, stats.distance)
    return SideResult(problem, stats, path)


def best_stable_lr(problem: NeuronProblem, grid=LR_GRID) -> SideResult:
    """The learning rate on ``grid`` that reaches the minimum in the fewest steps without diverging.

    Ties go to the smaller rate. A rate counts as stable only when its path stays bounded for all of
    ``problem.steps`` steps and ends within ``eps`` of the minimum.
    """
    best: SideResult | None = None
    for lr in grid:
        side = run_side(problem.replace(lr=lr))
        if side.steps is None or not _ends_near(side):
            continue
        if best is None or side.steps < best.steps:
            best = side
    return best if best is not None else run_side(problem)


def _ends_near(side: SideResult) -> bool:
    p = side.problem
    d0 = np.linalg.norm(np.subtract(p.start, p.target))
    return bool(np.linalg.norm(side.path[-1] - np.asarray(p.target)) <= p.eps * d0 * 2)


def centred_counterpart(problem: NeuronProblem) -> NeuronProblem:
    return problem.replace(inputs=CENTRED_COUNTERPART) if problem.positive else problem


def fair_comparison(problem: NeuronProblem, centred: NeuronProblem | None = None) -> FairComparison:
    """Both input kinds at ``problem.lr`` and at each one's best stable rate.

    ``centred`` is the zero-centred side (default: ``problem`` with centred inputs); only its
    inputs differ from ``problem``'s.
    """
    positive = problem if problem.positive else problem.replace(inputs="sigmoid")
    centred = centred_counterpart(positive) if centred is None else positive.replace(inputs=centred.inputs)
    return FairComparison(problem.lr, run_side(positive), run_side(centred),
                          best_stable_lr(positive), best_stable_lr(centred))


_CACHE: dict[NeuronProblem, FairComparison] = {}


def cached_fair_comparison(problem: NeuronProblem) -> FairComparison:
    if problem not in _CACHE:
        _CACHE[problem] = fair_comparison(problem)
    return _CACHE[problem]
