"""What crosses from the engine process to the window: compact snapshots, merged histories.

Qt-free (the engine process imports it). A frame carries what the views draw and no more: for a
network above ``EXACT_LIMIT`` edges the weight-shaped arrays travel as :class:`SampledEdges`, the
same fixed random sample of edges the network graph draws from (``sample_plan``), and the
activation samples are cut to what a histogram looks at, so a 50 x 1024 net's frame is a few MB
instead of ~600 MB. Smaller nets travel whole (at most ~12 MB at the limit).
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

EDGE_LIMIT = 20_000       # above this many edges, the graph draws each layer's strongest (DESIGN.md)
EXACT_LIMIT = 1_000_000   # up to this many edges, the strongest are chosen among all of them
SAMPLE_FACTOR = 10        # above EXACT_LIMIT: candidates per drawn edge, a fixed random sample per layer
ACTIVATION_SAMPLE = 20_000  # hidden outputs per layer a frame carries (the histograms look at 20k)
EDGE_FIELDS = ("edge_grads", "edge_updates", "weights")
HISTORY_FIELDS = ("history_steps", "history_loss", "history_grad_norms")


@dataclass(frozen=True)
class DataInfo:
    """The dataset of the current run, sent once per build/reset (NumPy arrays)."""

    x_train: np.ndarray
    y_train: np.ndarray
    task: str
    is_2d: bool
    extent: tuple[float, float, float, float] | None
    backend: str
    device: str
    backend_reason: str


@dataclass(frozen=True)
class Frame:
    """One display frame: the run it belongs to (``generation``), and per member its config, data
    and compact snapshot. Each snapshot's ``history_*`` holds every step since the previous frame
    the GUI took (frames it never took are merged in), so every step reaches the charts.

    ``snapshot``, ``config`` and ``data`` are member 0's (the single-network window uses those).
    """

    generation: int
    configs: tuple
    member_data: tuple         # DataInfo per member
    snapshots: tuple
    merged: int = 1            # how many frames the engine sent that this one stands for

    @property
    def snapshot(self):
        return self.snapshots[0]

    @property
    def config(self):
        return self.configs[0]

    @property
    def data(self) -> DataInfo | None:
        return self.member_data[0] if self.member_data else None

    @property
    def step(self) -> int:
        return max(s.step for s in self.snapshots)


class SampledEdges:
    """A weight-shaped ``(fan_in, fan_out)`` array of which only a fixed sample of entries travelled.

    ``flat`` holds the sorted flat indices ``i * fan_out + j``, ``values`` their values. Indexing with
    ``[i, j]`` (ints or index arrays) gives the sampled value, NaN for an entry outside the sample.
    ``np.asarray`` gives the sampled values (1-D): statistics such as histograms see the sample.
    """

    __slots__ = ("shape", "flat", "values", "plan_key")
    ndim = 2

    def __init__(self, shape: tuple[int, int], flat: np.ndarray, values: np.ndarray, plan_key=None):
        self.shape = (int(shape[0]), int(shape[1]))
        self.flat = flat
        self.values = values
        self.plan_key = plan_key       # (layer sizes, layer): ``flat`` is that sample_plan's, not pickled

    @property
    def dtype(self):
        return self.values.dtype

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    def __getitem__(self, key):
        i, j = key
        q = np.asarray(i, dtype=np.int64) * self.shape[1] + np.asarray(j, dtype=np.int64)
        if q.shape == self.flat.shape and np.array_equal(q, self.flat):
            return self.values.copy()
        pos = np.clip(np.searchsorted(self.flat, q), 0, max(len(self.flat) - 1, 0))
        hit = self.flat[pos] == q if len(self.flat) else np.zeros(q.shape, bool)
        out = np.where(hit, self.values[pos] if len(self.flat) else np.nan, np.nan)
        return out.astype(self.values.dtype) if out.ndim else self.values.dtype.type(out)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    def __abs__(self):
        return SampledEdges(self.shape, self.flat, np.abs(self.values), self.plan_key)

    def __getstate__(self):
        if self.plan_key is not None:     # the receiver recomputes the (cached) sample: values only travel
            return self.shape, None, self.values, self.plan_key
        return self.shape, self.flat, self.values, None

    def __setstate__(self, state):
        self.shape, self.flat, self.values, self.plan_key = state
        if self.flat is None:
            sizes, layer = self.plan_key
            self.flat = sample_plan(sizes).candidates[layer]

    def __repr__(self):
        return f"SampledEdges(shape={self.shape}, sampled={len(self.flat):,})"


@dataclass(frozen=True)
class EdgeSample:
    """Which edges a network with these layer sizes can draw (see the network graph's note).

    ``mode``: ``"all"`` (every edge), ``"exact"`` (each layer's strongest ``quota[l]`` of all its
    edges) or ``"sample"`` (the strongest ``quota[l]`` of ``candidates[l]``, a sorted random sample
    of flat indices, fixed for these sizes).
    """

    mode: str
    quota: tuple
    candidates: tuple
    n_candidates: int


@functools.lru_cache(maxsize=8)
def sample_plan(sizes: tuple[int, ...], edge_limit: int = EDGE_LIMIT, exact_limit: int = EXACT_LIMIT,
                seed: int = 0) -> EdgeSample:
    """The edge sample for layer ``sizes``; the engine process and the graph call it alike, so a
    compact frame holds exactly the edges the graph chooses among."""
    counts = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    total = int(sum(counts))
    none = (None,) * len(counts)
    if total <= edge_limit:
        return EdgeSample("all", tuple(counts), none, total)
    quota = tuple(max(1, int(edge_limit * n / total)) for n in counts)
    if total <= exact_limit:
        return EdgeSample("exact", quota, none, total)
    rng = np.random.default_rng(seed)
    cands = []
    for n, q in zip(counts, quota):
        c = min(n, SAMPLE_FACTOR * q)
        flat = np.arange(n) if c == n else np.sort(rng.choice(n, size=c, replace=False))
        flat.setflags(write=False)
        cands.append(flat)
    return EdgeSample("sample", quota, tuple(cands), int(sum(len(c) for c in cands)))


def layer_sizes(snapshot) -> tuple[int, ...]:
    w = snapshot.weights
    return tuple([int(w[0].shape[0])] + [int(a.shape[1]) for a in w])


def compact_snapshot(snapshot):
    """``snapshot`` with only what the views draw (unchanged for nets up to ``EXACT_LIMIT`` edges,
    except activation samples: cut to ``ACTIVATION_SAMPLE`` values per layer, and float32, the
    engine's own precision, which is all a 40-bin histogram reads; as float64 they were more than
    half of a 10 x 32 frame, and every byte of a frame is pickled and piped 30 times a second)."""
    changes: dict[str, Any] = {}
    acts = snapshot.activation_samples
    if any(np.size(a) > ACTIVATION_SAMPLE or np.asarray(a).dtype != np.float32 for a in acts):
        changes["activation_samples"] = [
            np.ascontiguousarray(np.ravel(a)[:: max(1, np.size(a) // ACTIVATION_SAMPLE)], dtype=np.float32)
            for a in acts]
    sizes = layer_sizes(snapshot)
    plan = sample_plan(sizes)
    if plan.mode == "sample":
        for name in EDGE_FIELDS:
            arrays = getattr(snapshot, name)
            changes[name] = [SampledEdges(a.shape, flat, np.ascontiguousarray(np.ravel(a)[flat]), (sizes, l))
                             if isinstance(a, np.ndarray) else a
                             for l, (a, flat) in enumerate(zip(arrays, plan.candidates))]
    return dataclasses.replace(snapshot, **changes) if changes else snapshot


def frame_snapshot(sim, boundary_resolution: int = 0):
    """A display frame's snapshot of ``sim``, built at a cost well under a training step's where
    the engine allows it: accuracy and test metrics on their own clock (``evaluate="auto"``:
    ``metrics_step`` says from which step), and above ``EXACT_LIMIT`` edges the per-edge arrays read
    at the sampled edges only (``Simulation.edge_arrays``), never copied whole. A simulation
    without those options (a stand-in) gets a full snapshot, cut down by ``compact_snapshot``."""
    edge_arrays = getattr(sim, "edge_arrays", None)
    if edge_arrays is None:
        return compact_snapshot(sim.snapshot(boundary_resolution=boundary_resolution))
    shapes = [tuple(shape) for _, _, shape in sim.weight_slices()]
    chained = all(len(a) == 2 for a in shapes) and all(a[1] == b[0] for a, b in zip(shapes, shapes[1:]))
    sizes = tuple([int(shapes[0][0])] + [int(s[1]) for s in shapes]) if chained and shapes else ()
    plan = sample_plan(sizes) if sizes else None
    if plan is None or plan.mode != "sample":        # small nets, and layers other than a dense chain
        return compact_snapshot(sim.snapshot(boundary_resolution=boundary_resolution, evaluate="auto"))
    snapshot = sim.snapshot(boundary_resolution=boundary_resolution, evaluate="auto", edges=False)
    arrays = edge_arrays(plan.candidates)
    changes: dict[str, Any] = {name: [SampledEdges(shape, flat, values, (sizes, l))
                                      for l, (shape, flat, values) in enumerate(zip(shapes, plan.candidates, arrays[name]))]
                               for name in EDGE_FIELDS}
    changes["biases"] = arrays["biases"]
    return compact_snapshot(dataclasses.replace(snapshot, **changes))


def metrics_lag_text(snapshot, share: float = 0.1) -> str:
    """" (from step N)" when the snapshot's accuracy and test metrics are from an earlier step
    (``metrics_step``, display-rate frames evaluate on their own clock) by more than ``share`` of
    the steps trained, so it would matter to a reader; "" otherwise. For the text beside the
    test loss/accuracy."""
    at, step = int(getattr(snapshot, "metrics_step", -1)), int(snapshot.step)
    if at < 0 or at >= step or step - at <= share * step:
        return ""
    return f" (from step {at:,})"


def merge_history(older, newer):
    """``newer`` with the per-step history of ``older`` prepended (older was never displayed)."""
    if older is None or len(older.history_steps) == 0:
        return newer
    if len(newer.history_steps) == 0:
        return dataclasses.replace(newer, **{f: getattr(older, f) for f in HISTORY_FIELDS})
    return dataclasses.replace(newer, **{f: np.concatenate([getattr(older, f), getattr(newer, f)])
                                         for f in HISTORY_FIELDS})


def merge_frames(older: Frame | None, newer: Frame) -> Frame:
    """The newer frame, carrying the older one's history when both belong to the same run."""
    if older is None or older.generation != newer.generation or len(older.snapshots) != len(newer.snapshots):
        return newer
    return dataclasses.replace(newer, snapshots=tuple(merge_history(o, n) for o, n in
                                                      zip(older.snapshots, newer.snapshots)),
                               merged=older.merged + newer.merged)
