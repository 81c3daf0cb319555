"""Loss surfaces: the two-weight neuron (why positive inputs zig-zag) and 2D/1D slices of a real
network's loss along filter-normalised random or PCA directions (Li et al., 2018).

Pure NumPy on the host: the neuron is tiny, and the network slices are evaluated by the
simulation's own batched ``losses_at`` on its backend; only directions and coordinates live here.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

# ===================================================================================== neuron

POSITIVE_INPUTS = ("sigmoid", "relu")
CENTRED_INPUTS = ("tanh", "centred", "per-input-bias")
INPUT_KINDS = POSITIVE_INPUTS + CENTRED_INPUTS
NEURON_OPTIMIZERS = ("sgd", "momentum", "adam")

INPUT_CAPTIONS = {
    "sigmoid": "x = sigmoid(z): every input positive",
    "relu": "x = relu(z): every input >= 0",
    "tanh": "x = tanh(z): zero-centred",
    "centred": "x = sigmoid(z) - mean: zero-centred",
    "per-input-bias": "f = sum w_i (x_i + b_i), b_i = -E[x_i] = -1/2",
}


class NeuronError(ValueError):
    """A neuron-demo setting is invalid; names the key, the value and what is allowed."""

    def __init__(self, key: str, value, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"invalid value for '{key}': {value!r} (allowed: {allowed})")


def neuron_inputs(kind: str, n: int, rng: np.random.Generator, spread: float = 2.0) -> np.ndarray:
    """``n`` two-dimensional inputs as a previous layer of ``kind`` units would produce them.

    Pre-activations are z ~ N(0, spread^2). "centred" and "per-input-bias" shift the sigmoid
    outputs, so they have the sigmoid's spread without its mean: the fair comparison.
    """
    z = rng.normal(0.0, spread, size=(n, 2))
    sig = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid via tanh: no overflow
    if kind == "sigmoid":
        return sig
    if kind == "relu":
        return np.maximum(z, 0.0) / spread
    if kind == "tanh":
        return np.tanh(0.5 * z)  # = 2 sigmoid(z) - 1
    if kind == "centred":
        return sig - sig.mean(axis=0)
    if kind == "per-input-bias":
        return sig - 0.5  # b_i = -E[sigmoid(z)] = -1/2 for symmetric z
    raise NeuronError("inputs", kind, " | ".join(INPUT_KINDS))


@dataclass(frozen=True)
class NeuronProblem:
    """f = w1 x1 + w2 x2 learning a teacher f* = w*.x with the squared error L = mean (f - f*)^2 / 2.

    With positive inputs every per-sample gradient dL/dw = (f - f*) x points into quadrant I or
    III, so each update moves both weights up or both down; a minimum that needs w1 up and w2 down
    is reached by a zig-zag. Zero-centred inputs let updates point anywhere.
    """

    inputs: str = "sigmoid"
    target: tuple[float, float] = (2.0, -1.0)
    start: tuple[float, float] = (-1.0, 1.0)
    optimizer: str = "sgd"
    lr: float = 0.75
    batch_size: int = 1                 # 0 = full batch
    momentum: float = 0.9               # momentum's coefficient, adam's beta1
    beta2: float = 0.999
    adam_eps: float = 1e-8
    n_samples: int = 256
    seed: int = 0
    steps: int = 200                    # optimiser steps of the path
    eps: float = 0.01                   # "reached": within eps * |start - target| of the minimum

    def __post_init__(self) -> None:
        def pair(v):
            return tuple(float(a) for a in v)
        object.__setattr__(self, "target", pair(self.target))
        object.__setattr__(self, "start", pair(self.start))
        checks = [
            ("inputs", self.inputs in INPUT_KINDS, " | ".join(INPUT_KINDS)),
            ("optimizer", self.optimizer in NEURON_OPTIMIZERS, " | ".join(NEURON_OPTIMIZERS)),
            ("lr", _finite(self.lr) and 0 < self.lr <= 100, "a number in (0, 100]"),
            ("batch_size", _int(self.batch_size) and 0 <= self.batch_size <= self.n_samples,
             f"an integer from 0 (full batch) to n_samples ({self.n_samples})"),
            ("momentum", _finite(self.momentum) and 0 <= self.momentum < 1, "a number in [0, 1)"),
            ("beta2", _finite(self.beta2) and 0 <= self.beta2 < 1, "a number in [0, 1)"),
            ("n_samples", _int(self.n_samples) and 2 <= self.n_samples <= 100_000, "an integer 2..100000"),
            ("steps", _int(self.steps) and 1 <= self.steps <= 100_000, "an integer 1..100000"),
            ("eps", _finite(self.eps) and 0 < self.eps < 1, "a number in (0, 1)"),
            ("target", len(self.target) == 2 and all(map(_finite, self.target)), "two finite numbers"),
            ("start", len(self.start) == 2 and all(map(_finite, self.start)), "two finite numbers"),
        ]
        for key, ok, allowed in checks:
            if not ok:
                raise NeuronError(key, getattr(self, key), allowed)

    @classmethod
    def from_dict(cls, data: dict) -> "NeuronProblem":
        """Build from a TOML ``[neuron]`` table; unknown keys are an error naming the allowed ones."""
        names = cls.__dataclass_fields__
        for key in data:
            if key not in names:
                raise NeuronError(key, "(unknown key)", "one of: " + ", ".join(names))
        return cls(**data)

    def replace(self, **changes) -> "NeuronProblem":
        from dataclasses import replace
        return replace(self, **changes)

    # ------------------------------------------------------------------------- data and loss
    @property
    def positive(self) -> bool:
        return self.inputs in POSITIVE_INPUTS

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """Inputs (n, 2) and teacher outputs (n,); fixed by the seed."""
        x = neuron_inputs(self.inputs, self.n_samples, np.random.default_rng(self.seed))
        return x, x @ np.asarray(self.target)

    def loss(self, w: np.ndarray) -> float:
        """Direct loss at one weight pair (the reference the grid is checked against)."""
        x, y = self.data()
        return float(0.5 * np.mean((x @ np.asarray(w, float) - y) ** 2))

    def loss_grid(self, w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
        """Loss on the grid ``w1`` x ``w2``: shape (len(w2), len(w1)), rows along w2.

        The loss is a quadratic form, L = (w - w*)^T C (w - w*) / 2 with C = X^T X / n, so the whole
        grid costs one pass over its points, not over points times samples.
        """
        x, _ = self.data()
        c = x.T @ x / len(x)
        d1 = np.asarray(w1, float)[None, :] - self.target[0]
        d2 = np.asarray(w2, float)[:, None] - self.target[1]
        return 0.5 * (c[0, 0] * d1 * d1 + 2.0 * c[0, 1] * d1 * d2 + c[1, 1] * d2 * d2)

    def hessian(self) -> np.ndarray:
        x, _ = self.data()
        return x.T @ x / len(x)

    # ------------------------------------------------------------------------- optimiser path
    def path(self) -> np.ndarray:
        """The optimiser's weights after 0..steps updates, shape (steps + 1, 2).

        Stops early (shorter array) if the weights leave any sensible range (divergence).
        """
        x, y = self.data()
        rng = np.random.default_rng(self.seed + 1)
        n = len(x)
        w = np.array(self.start, float)
        v = np.zeros(2)
        s = np.zeros(2)
        out = np.empty((self.steps + 1, 2))
        out[0] = w
        b1, b2 = self.momentum, self.beta2
        for k in range(1, self.steps + 1):
            if self.batch_size:
                idx = rng.integers(0, n, self.batch_size)
                xb, yb = x[idx], y[idx]
            else:
                xb, yb = x, y
            g = xb.T @ (xb @ w - yb) / len(xb)
            if self.optimizer == "sgd":
                w = w - self.lr * g
            elif self.optimizer == "momentum":
                v = b1 * v + g
                w = w - self.lr * v
            else:  # adam
                v = b1 * v + (1 - b1) * g
                s = b2 * s + (1 - b2) * g * g
                w = w - self.lr * (v / (1 - b1**k)) / (np.sqrt(s / (1 - b2**k)) + self.adam_eps)
            out[k] = w
            if not np.all(np.abs(w) < 1e6):
                return out[: k + 1]
        return out

    # ------------------------------------------------------------------------- numbers
    def allowed_quadrants(self, w: Sequence[float] | None = None) -> list[tuple[int, int]]:
        """Sign patterns (dw1, dw2) an update can take at ``w``.

        For positive inputs the per-sample update -lr (f - f*) x has the sign pattern of +-x:
        [(+1, +1), (-1, -1)] wherever ``w`` is. Zero-centred inputs allow all four quadrants.
        """
        if self.positive:
            return [(1, 1), (-1, -1)]
        return [(1, 1), (-1, 1), (-1, -1), (1, -1)]

    def update_quadrant(self, w: Sequence[float]) -> tuple[int, int]:
        """Sign pattern of the full-batch descent direction -dL/dw at ``w``."""
        g = self.hessian() @ (np.asarray(w, float) - np.asarray(self.target))
        return int(np.sign(-g[0])), int(np.sign(-g[1]))


@dataclass(frozen=True)
class PathStats:
    steps_to_min: int | None    # first step within eps of the minimum (None: never within the path)
    path_ratio: float           # path length / straight-line distance it covered (1 = straight)
    path_length: float
    distance: float


def path_stats(path: np.ndarray, target: Sequence[float], eps: float = 0.01) -> PathStats:
    """Steps until the path is within ``eps * |start - target|`` of ``target``, and how straight it ran.

    The ratio uses the path up to that step (all of it when it never gets there), divided by the
    straight line from its start to where it stopped: exactly 1 for a straight path.
    """
    path = np.asarray(path, float)
    target = np.asarray(target, float)
    dist = np.linalg.norm(path - target, axis=1)
    hit = np.flatnonzero(dist <= eps * dist[0]) if dist[0] > 0 else np.array([0])
    k = int(hit[0]) if hit.size else None
    end = k if k is not None else len(path) - 1
    seg = path[: end + 1]
    length = float(np.linalg.norm(np.diff(seg, axis=0), axis=1).sum())
    chord = float(np.linalg.norm(seg[-1] - seg[0]))
    ratio = length / chord if chord > 0 else float("nan")
    return PathStats(k, ratio, length, chord)


@dataclass(frozen=True)
class NeuronSurface:
    """What the neuron demo shows for one problem: grid, path and its numbers."""

    problem: NeuronProblem
    w1: np.ndarray          # (r,)
    w2: np.ndarray          # (r,)
    loss: np.ndarray        # (r, r), rows along w2
    path: np.ndarray        # (k, 2)
    stats: PathStats


def neuron_extent(*problems: NeuronProblem, margin: float = 0.6) -> tuple[float, float, float, float]:
    """A square window around every start and target, shared so side-by-side panels match."""
    pts = np.array([p.start for p in problems] + [p.target for p in problems])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    c = (lo + hi) / 2
    half = float(max(hi - lo)) / 2 + margin
    return c[0] - half, c[0] + half, c[1] - half, c[1] + half


def neuron_surface(problem: NeuronProblem, resolution: int = 101,
                   extent: tuple[float, float, float, float] | None = None) -> NeuronSurface:
    x0, x1, y0, y1 = extent or neuron_extent(problem)
    w1 = np.linspace(x0, x1, resolution)
    w2 = np.linspace(y0, y1, resolution)
    path = problem.path()
    return NeuronSurface(problem, w1, w2, problem.loss_grid(w1, w2), path,
                         path_stats(path, problem.target, problem.eps))


# ===================================================================================== network

DIRECTIONS = ("random", "pca")
MAX_RESOLUTION = 101


class SurfaceCancelled(Exception):
    """The progress callback or the cancel event asked the computation to stop."""


def filter_normalized_direction(theta: np.ndarray, weight_slices, rng: np.random.Generator) -> np.ndarray:
    """A random direction in parameter space, rescaled per neuron (Li et al., 2018).

    For every weight matrix W (fan_in, fan_out) the direction's column j gets the norm of W's
    column j (the weights into unit j); biases, norm and prelu parameters get 0.
    """
    theta = np.asarray(theta, dtype=np.float64)
    d = np.zeros_like(theta)
    for start, stop, shape in weight_slices:
        conv = len(shape) == 4   # (out, in, k, k): one filter per output channel, as Li et al.
        w = theta[start:stop].reshape((shape[0], -1) if conv else shape)
        r = rng.standard_normal(w.shape)
        w_norm = np.linalg.norm(w, axis=int(conv), keepdims=True)
        r_norm = np.linalg.norm(r, axis=int(conv), keepdims=True)
        d[start:stop] = (r * (w_norm / np.where(r_norm > 0, r_norm, 1.0))).ravel()
    return d


def pca_directions(trajectory: np.ndarray, center: np.ndarray | None = None,
                   n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Top ``n`` principal directions of a recorded trajectory (k, P), about ``center``.

    ``center`` defaults to the last point, as in Li et al. Returns orthonormal directions (n, P)
    and the share of the trajectory's variance each explains (n,).
    """
    traj = np.asarray(trajectory, dtype=np.float64)
    if traj.ndim != 2 or len(traj) < n + 1:
        raise ValueError(f"PCA needs a trajectory of at least {n + 1} recorded points, got {len(traj)}")
    center = traj[-1] if center is None else np.asarray(center, np.float64)
    m = traj - center
    # SVD of the small (k, k) Gram matrix instead of the (k, P) matrix: k << P
    gram = m @ m.T
    evals, evecs = np.linalg.eigh(gram)
    order = np.argsort(evals)[::-1][:n]
    evals = np.clip(evals[order], 0.0, None)
    dirs = (evecs[:, order].T @ m)
    norms = np.linalg.norm(dirs, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("the trajectory does not move in enough directions for PCA (did training run?)")
    dirs /= norms
    total = float(np.clip(np.linalg.eigvalsh(gram), 0, None).sum())
    return dirs, (evals / total if total > 0 else np.zeros(n))


def project(points: np.ndarray, center: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Least-squares coordinates (k, n) of ``points`` (k, P) in the plane center + a d1 + b d2."""
    d = np.asarray(directions, np.float64)
    m = np.asarray(points, np.float64) - center
    coords, *_ = np.linalg.lstsq(d.T, m.T, rcond=None)
    return coords.T


@dataclass(frozen=True)
class NetworkSurface:
    """A 2D slice (and a 1D slice along the first direction) of a network's loss."""

    directions_kind: str         # "random" | "pca"
    alphas: np.ndarray           # (r,) coordinates along direction 1
    betas: np.ndarray            # (r,) coordinates along direction 2
    loss: np.ndarray             # (r, r), rows along betas; nan where the loss was not finite
    alphas_1d: np.ndarray        # (r1,)
    loss_1d: np.ndarray          # (r1,)
    path: np.ndarray             # (k, 2) the trajectory projected on the plane (empty without one)
    center: np.ndarray           # (P,) theta at (0, 0)
    directions: np.ndarray       # (2, P)
    explained: np.ndarray        # (2,) PCA variance shares (nan for random)
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


ProgressFn = Callable[[int, int], "bool | None"]


def evaluate_losses(loss_fn: Callable[[np.ndarray], np.ndarray], thetas: np.ndarray, chunk: int = 256,
                    progress: ProgressFn | None = None, cancel: threading.Event | None = None,
                    done_before: int = 0, total: int | None = None) -> np.ndarray:
    """``loss_fn`` over the rows of ``thetas`` in chunks, reporting (done, total) after each.

    ``progress`` returning False, or ``cancel`` being set, raises SurfaceCancelled between chunks.
    """
    g = len(thetas)
    total = g if total is None else total
    out = np.empty(g)
    for i in range(0, g, chunk):
        if cancel is not None and cancel.is_set():
            raise SurfaceCancelled()
        out[i:i + chunk] = np.asarray(loss_fn(thetas[i:i + chunk]), dtype=np.float64).reshape(-1)
        if progress is not None and progress(done_before + min(i + chunk, g), total) is False:
            raise SurfaceCancelled()
        if cancel is not None and cancel.is_set():
            raise SurfaceCancelled()
    return out


def reference_losses(sim, thetas: np.ndarray) -> np.ndarray:
    """Per-point losses through set_flat_parameters + gradients on the training set (slow, for tests).

    Restores the simulation's parameters afterwards.
    """
    saved = sim.flat_parameters()
    x, y = sim.data.x_train, sim.data.y_train
    try:
        out = np.empty(len(thetas))
        for i, theta in enumerate(thetas):
            sim.set_flat_parameters(theta)
            out[i] = float(sim.gradients(x, y)[0])
        return out
    finally:
        sim.set_flat_parameters(saved)


def record_trajectory(sim, steps: int, points: int = 50,
                      progress: ProgressFn | None = None,
                      cancel: threading.Event | None = None) -> np.ndarray:
    """Train ``sim`` for ``steps`` steps, recording its flat parameters ~``points`` times: (k, P)."""
    every = max(1, steps // max(1, points))
    traj = [sim.flat_parameters().astype(np.float64)]
    done = 0
    while done < steps:
        if cancel is not None and cancel.is_set():
            raise SurfaceCancelled()
        n = min(every, steps - done)
        sim.step(n)
        done += n
        traj.append(sim.flat_parameters().astype(np.float64))
        if progress is not None and progress(done, steps) is False:
            raise SurfaceCancelled()
        if getattr(sim, "diverged", False):
            break
    return np.asarray(traj)


def slice_plane(sim, directions: str = "random", resolution: int = 41, trajectory: np.ndarray | None = None,
                span: float = 1.0, resolution_1d: int | None = None, seed: int = 0):
    """The plane of a slice through ``sim``'s current parameters (see ``network_surface``):
    ``(center, directions (2, P), explained (2,), path (k, 2), alphas, betas, alphas_1d)``."""
    if directions not in DIRECTIONS:
        raise ValueError(f"invalid value for 'directions': {directions!r} (allowed: {' | '.join(DIRECTIONS)})")
    if not (isinstance(resolution, int) and 3 <= resolution <= MAX_RESOLUTION):
        raise ValueError(f"invalid value for 'resolution': {resolution!r} (allowed: an integer 3..{MAX_RESOLUTION})")
    explained = np.full(2, np.nan)
    if directions == "pca":
        if trajectory is None:
            raise ValueError("PCA directions need a recorded trajectory (train first)")
        center = np.asarray(trajectory[-1], np.float64)
        dirs, explained = pca_directions(trajectory, center)
    else:
        center = sim.flat_parameters().astype(np.float64)
        rng = np.random.default_rng(seed)
        slices = sim.weight_slices()
        dirs = np.stack([filter_normalized_direction(center, slices, rng) for _ in range(2)])
    path = project(trajectory, center, dirs) if trajectory is not None and len(trajectory) else np.zeros((0, 2))

    if directions == "pca" and len(path):
        lo, hi = path.min(axis=0), path.max(axis=0)
        mid, half = (lo + hi) / 2, np.maximum((hi - lo) / 2 * 1.3, 1e-3) * span
        a_lim = (mid[0] - half[0], mid[0] + half[0])
        b_lim = (mid[1] - half[1], mid[1] + half[1])
    else:
        a_lim = b_lim = (-span, span)
    alphas = np.linspace(*a_lim, resolution)
    betas = np.linspace(*b_lim, resolution)
    alphas_1d = np.linspace(*a_lim, resolution_1d or max(resolution, 101))
    return center, dirs, explained, path, alphas, betas, alphas_1d


def network_surface(sim, directions: str = "random", resolution: int = 41,
                    trajectory: np.ndarray | None = None, span: float = 1.0,
                    resolution_1d: int | None = None, seed: int = 0, chunk: int | None = None,
                    split: str = "train", progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None,
                    loss_fn: Callable[[np.ndarray], np.ndarray] | None = None) -> NetworkSurface:
    """Loss of ``sim``'s network on a plane through its current parameters.

    directions: "random" (two filter-normalised directions; the grid spans [-span, span]) or "pca"
    (top two principal directions of ``trajectory``, centred on its last point; the grid covers the
    projected trajectory with a margin, ``span`` scaling it). The 1D slice runs along direction 1.
    Losses come from ``sim.losses_at`` (batched on the backend) unless ``loss_fn`` is given.
    ``chunk`` grid points go to it per call (default: ~64 MB of parameters, a multiple of its
    256-point chunks so both of its threads get work); progress and cancellation act between calls.
    """
    import time

    t0 = time.perf_counter()
    loss_fn = loss_fn or (lambda th: sim.losses_at(th, split=split))
    center, dirs, explained, path, alphas, betas, alphas_1d = slice_plane(
        sim, directions, resolution, trajectory, span, resolution_1d, seed)
    r1 = len(alphas_1d)

    total = resolution * resolution + r1
    aa, bb = np.meshgrid(alphas, betas)  # rows along betas
    coeffs = np.stack([aa.ravel(), bb.ravel()], axis=1)
    # build thetas in the simulation's compute dtype: float64 here would double the memory traffic
    # and make losses_at copy every block again
    cfg_dtype = getattr(getattr(sim, "config", None), "dtype", None)
    dtype = np.dtype(cfg_dtype) if cfg_dtype else np.asarray(sim.flat_parameters()).dtype
    if chunk is None:
        budget = 2**26 // (center.size * dtype.itemsize)   # ~64 MB of parameters per call
        chunk = 4096 if budget >= 4096 else (budget // 256 * 256 if budget >= 256 else max(16, budget))
    c, d = center.astype(dtype), dirs.astype(dtype)
    coeffs = coeffs.astype(dtype)
    buf, tmp = np.empty((chunk, c.size), dtype), np.empty((chunk, c.size), dtype)
    losses = np.empty(len(coeffs))
    done = 0
    # thetas are built chunk by chunk into one reused buffer (a 101x101 grid of a big net would not
    # fit in memory at once); in place, which is ~2x faster than center + coeffs @ dirs
    for i in range(0, len(coeffs), chunk):
        k = min(chunk, len(coeffs) - i)
        th, tm = buf[:k], tmp[:k]
        np.multiply(coeffs[i:i + k, 0:1], d[0], out=th)
        np.multiply(coeffs[i:i + k, 1:2], d[1], out=tm)
        th += tm
        th += c
        losses[i:i + k] = evaluate_losses(loss_fn, th, chunk, progress, cancel, done, total)
        done += k
    thetas_1d = (center + alphas_1d[:, None] * dirs[0]).astype(dtype, copy=False)
    loss_1d = evaluate_losses(loss_fn, thetas_1d, chunk, progress, cancel, done, total)
    grid = losses.reshape(resolution, resolution)
    grid[~np.isfinite(grid)] = np.nan
    loss_1d[~np.isfinite(loss_1d)] = np.nan
    return NetworkSurface(directions, alphas, betas, grid, alphas_1d, loss_1d, path, center, dirs,
                          explained, time.perf_counter() - t0)


# ============================================================ slices of a network that is training
TRAJECTORY_POINTS = 64            # at most this many recorded parameter vectors ...
TRAJECTORY_BYTES = 128 * 2**20    # ... and at most this much memory for them


class TrajectoryRecorder:
    """A running network's flat parameters, recorded every ``every`` steps for the whole run in
    bounded memory: when full, every other point goes and the interval doubles.

    ``capacity`` is ``TRAJECTORY_POINTS``, fewer when that many vectors of ``n_params`` float32
    would pass ``TRAJECTORY_BYTES`` (0: a net too big to record; ``reason`` says so). Points are
    float32 (a slice is drawn, not resumed from them). Non-finite parameters are not recorded.
    """

    def __init__(self, n_params: int, max_points: int = TRAJECTORY_POINTS, budget_bytes: int = TRAJECTORY_BYTES):
        self.n_params = int(n_params)
        self.capacity = int(min(max_points, budget_bytes // max(4 * self.n_params, 1)))
        self.reason = "" if self.capacity >= 3 else (
            f"a trajectory of {self.n_params:,} parameters needs {3 * 4 * self.n_params / 2**20:,.0f} MB "
            f"for 3 points (budget {budget_bytes / 2**20:.0f} MB): not recorded")
        if self.capacity < 3:
            self.capacity = 0
        self.every = 1
        self.steps: list[int] = []
        self.points: list[np.ndarray] = []

    def next_step(self, step: int) -> int | None:
        """The next step at which a point is due (>= ``step``), None when nothing is recorded."""
        if not self.capacity:
            return None
        return -(-step // self.every) * self.every

    def offer(self, step: int, theta) -> bool:
        """Record ``theta`` (the parameters after ``step`` steps) when it is due; True if recorded."""
        if not self.capacity or step % self.every or (self.steps and self.steps[-1] >= step):
            return False
        point = np.asarray(theta, dtype=np.float32)
        if not np.isfinite(point).all():
            return False
        self.steps.append(int(step))
        self.points.append(point.copy())
        while len(self.points) > self.capacity:
            self.every *= 2
            keep = [i for i, s in enumerate(self.steps) if s % self.every == 0]
            if len(keep) == len(self.steps):          # cannot happen, but never loop forever
                keep = keep[::2]
            self.steps = [self.steps[i] for i in keep]
            self.points = [self.points[i] for i in keep]
        return True

    def with_current(self, step: int, theta) -> tuple[np.ndarray, np.ndarray]:
        """(steps (k,), points (k, P) float64): the recorded points, ending with ``theta`` at ``step``."""
        steps, points = list(self.steps), [p.astype(np.float64) for p in self.points]
        if steps and steps[-1] == step:
            steps.pop(), points.pop()
        current = np.asarray(theta, dtype=np.float64)
        return np.asarray(steps + [int(step)], dtype=np.int64), np.stack(points + [current])


class SurfaceJob:
    """``network_surface`` in pieces, for a loop that trains between them (the app's engine
    process): the plane is fixed at construction (``sim``'s parameters then, or the end of
    ``trajectory``); each ``advance(seconds)`` evaluates grid points for about that long.

    ``sim`` may go on training between pieces: the grid is of the parameters at construction.
    """

    MAX_CHUNK_BYTES = 2**26

    def __init__(self, sim, directions: str = "random", resolution: int = 41,
                 trajectory: np.ndarray | None = None, span: float = 1.0, resolution_1d: int | None = None,
                 seed: int = 0, split: str = "train"):
        import time

        self.t0 = time.perf_counter()
        self.sim, self.kind, self.split, self.resolution = sim, directions, split, resolution
        (self.center, self.dirs, self.explained, self.path, self.alphas, self.betas,
         self.alphas_1d) = slice_plane(sim, directions, resolution, trajectory, span, resolution_1d, seed)
        aa, bb = np.meshgrid(self.alphas, self.betas)  # rows along betas
        coeffs = np.concatenate([np.stack([aa.ravel(), bb.ravel()], axis=1),
                                 np.stack([self.alphas_1d, np.zeros_like(self.alphas_1d)], axis=1)])
        cfg_dtype = getattr(getattr(sim, "config", None), "dtype", None)
        self.dtype = np.dtype(cfg_dtype) if cfg_dtype else np.dtype(np.float64)
        self.coeffs = coeffs.astype(self.dtype)
        # kept in the compute dtype only (a 50 x 1024 net: 3 x 52M values)
        self._c, self._d = self.center.astype(self.dtype, copy=False), self.dirs.astype(self.dtype, copy=False)
        self.center = self.dirs = None
        self.losses = np.full(len(coeffs), np.nan)
        self.total, self.done = len(coeffs), 0
        self.max_chunk = max(1, self.MAX_CHUNK_BYTES // (self._c.size * self.dtype.itemsize))
        self.chunk = 1
        self.compute_seconds = 0.0

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    def step(self, k: int | None = None) -> int:
        """Evaluate the next ``k`` (default ``chunk``) grid points; returns how many were done."""
        k = min(k or self.chunk, self.max_chunk, self.total - self.done)
        if k <= 0:
            return 0
        i = self.done
        th = np.multiply(self.coeffs[i:i + k, 0:1], self._d[0])
        th += self.coeffs[i:i + k, 1:2] * self._d[1]
        th += self._c
        self.losses[i:i + k] = np.asarray(self.sim.losses_at(th, split=self.split), dtype=np.float64)
        self.done += k
        return k

    def advance(self, seconds: float) -> bool:
        """Evaluate points for about ``seconds`` (at least one chunk); True once finished. The chunk
        adapts so that one piece takes about ``seconds``."""
        import time

        t0 = time.perf_counter()
        while not self.finished:
            t = time.perf_counter()
            k = self.step()
            took = time.perf_counter() - t
            per_point = took / max(k, 1)
            self.chunk = int(max(1, min(self.max_chunk, 0.5 * seconds / max(per_point, 1e-7))))
            if time.perf_counter() - t0 + took > seconds:
                break
        self.compute_seconds += time.perf_counter() - t0
        return self.finished

    def result(self, light: bool = False) -> NetworkSurface:
        """The finished slice; ``light``: without ``center`` and ``directions`` (2 P values each:
        what a picture of a big net's slice does not need to carry)."""
        import time

        r, r1 = self.resolution, len(self.alphas_1d)
        grid = self.losses[: r * r].reshape(r, r).copy()
        loss_1d = self.losses[r * r:].copy()
        grid[~np.isfinite(grid)] = np.nan
        loss_1d[~np.isfinite(loss_1d)] = np.nan
        center = np.zeros(0) if light else self._c
        dirs = np.zeros((2, 0)) if light else self._d
        return NetworkSurface(self.kind, self.alphas, self.betas, grid, self.alphas_1d, loss_1d, self.path,
                              center, dirs, self.explained, time.perf_counter() - self.t0,
                              extra={"compute_seconds": self.compute_seconds})

    def position(self, theta) -> np.ndarray:
        """Coordinates (2,) of parameters ``theta`` projected onto this job's plane."""
        return project(np.asarray(theta, np.float64)[None], self._c, self._d)[0]


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
