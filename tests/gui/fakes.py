"""Fake Snapshots for GUI tests and benchmarks: any layer sizes, gradients that fade per layer."""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.snapshot import Snapshot


def fake_snapshot(sizes: Sequence[int] = (2, 16, 16, 16, 1), *, fade: float = 10.0, seed: int = 0,
                  step: int = 0, top_grad: float = 1e-1, dead_units: Sequence[tuple[int, int]] = (),
                  saturated_units: Sequence[tuple[int, int]] = (), edge_grads: list | None = None,
                  weights: list | None = None, edge_updates: list | None = None) -> Snapshot:
    """A Snapshot of a network with layer ``sizes`` (input, hidden..., output).

    |dL/dw| of weight layer ``l`` is about ``top_grad / fade**(L - 1 - l)`` (the output layer
    largest), spread over a decade at random, so a vanishing gradient looks like a real one.
    ``dead_units`` / ``saturated_units`` are ``(hidden layer index, unit)`` pairs (0 = h1).
    Passing ``edge_grads`` / ``weights`` / ``edge_updates`` replaces the generated arrays.
    """
    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in sizes]
    L = len(sizes) - 1
    depth = L - 1
    shapes = list(zip(sizes[:-1], sizes[1:]))
    if weights is None:
        weights = [rng.uniform(-1, 1, s) / np.sqrt(s[0]) for s in shapes]
    if edge_grads is None:
        edge_grads = [top_grad / fade ** (L - 1 - l) * 10.0 ** rng.uniform(-1, 0, s)
                      for l, s in enumerate(shapes)]
    if edge_updates is None:
        edge_updates = [0.01 * g for g in edge_grads]
    edge_grads = [np.abs(np.asarray(g, dtype=np.float64)) for g in edge_grads]
    edge_updates = [np.abs(np.asarray(u, dtype=np.float64)) for u in edge_updates]
    weights = [np.asarray(w, dtype=np.float64) for w in weights]
    widths = sizes[1:-1]
    unit_dead = [np.zeros(w, dtype=bool) for w in widths]
    unit_saturation = [rng.uniform(0, 0.3, w) for w in widths]
    for k, u in dead_units:
        unit_dead[k][u] = True
    for k, u in saturated_units:
        unit_saturation[k][u] = 0.9
    unit_activation = [np.where(d, 0.0, rng.uniform(0.05, 1.0, w)) for d, w in zip(unit_dead, widths)]
    grad_norms = np.array([np.linalg.norm(g) for g in edge_grads])
    nan_d = np.full(depth, np.nan)
    return Snapshot(
        step=step, loss=0.5, test_loss=0.6, accuracy=0.7, test_accuracy=0.65,
        grad_norms=grad_norms, bias_grad_norms=grad_norms * 0.1, signal_norms=grad_norms * 2,
        update_ratios=np.full(L, 1e-3),
        edge_grads=edge_grads, edge_updates=edge_updates, weights=weights,
        biases=[rng.normal(0, 0.1, s[1]) for s in shapes],
        dead_fraction=np.array([d.mean() for d in unit_dead]),
        saturated_fraction=np.array([(s > 0.5).mean() for s in unit_saturation]),
        act_mean=np.array([a.mean() for a in unit_activation]),
        act_std=np.array([a.std() for a in unit_activation]),
        unit_activation=unit_activation, unit_dead=unit_dead, unit_saturation=unit_saturation,
        activation_samples=[a.copy() for a in unit_activation], prelu_slopes=nan_d,
        history_steps=np.zeros(0, dtype=np.int64), history_loss=np.zeros(0),
        history_grad_norms=np.zeros((0, L)), steps_per_second=100.0, backend="numpy",
        device="CPU (fake)", diverged=False, diverged_at=-1,
    )


def sizes_for_edges(n_edges: int, depth: int = 8) -> tuple[int, ...]:
    """Layer sizes (2 inputs, ``depth`` equal hidden layers, 1 output) with about ``n_edges`` edges."""
    # edges ~ 2w + (depth - 1) w^2 + w
    a, b, c = depth - 1, 3, -n_edges
    w = max(2, int(round((-b + np.sqrt(b * b - 4 * a * c)) / (2 * a))))
    return (2, *([w] * depth), 1)


def fake_snapshot_float32(sizes: Sequence[int], *, fade: float = 3.0, seed: int = 0, step: int = 0,
                          top_grad: float = 1e-1, edge_grads: list | None = None,
                          weights: list | None = None) -> Snapshot:
    """Like :func:`fake_snapshot` but with float32 edge arrays made cheaply, for huge networks
    (50 x 1024 units: ~51M edges, ~200 MB per list). ``edge_grads`` / ``weights`` passed in are used
    as they are (no copies), so a benchmark can build the big arrays once and reuse them; the
    update arrays are the gradient arrays (the same objects)."""
    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in sizes]
    shapes = list(zip(sizes[:-1], sizes[1:]))
    L = len(shapes)
    if edge_grads is None:
        edge_grads = []
        for l, s in enumerate(shapes):
            u = rng.random(s, dtype=np.float32)          # 10 ** (u - 1): a decade of spread
            u -= 1.0
            u *= np.float32(np.log(10.0))
            np.exp(u, out=u)
            u *= np.float32(top_grad / fade ** (L - 1 - l))
            edge_grads.append(u)
    if weights is None:
        weights = []
        for s in shapes:
            w = rng.random(s, dtype=np.float32)
            w -= 0.5
            w *= np.float32(2.0 / np.sqrt(s[0]))
            weights.append(w)
    small = fake_snapshot((2, 2, 1), seed=seed, step=step)
    widths = sizes[1:-1]
    unit_dead = [np.zeros(w, dtype=bool) for w in widths]
    unit_saturation = [rng.uniform(0, 0.3, w).astype(np.float32) for w in widths]
    unit_activation = [rng.uniform(0.05, 1.0, w).astype(np.float32) for w in widths]
    grad_norms = np.array([top_grad / fade ** (L - 1 - l) * np.sqrt(n * m) / 3 for l, (n, m) in enumerate(shapes)])
    return dataclasses.replace(
        small, step=step, grad_norms=grad_norms, bias_grad_norms=grad_norms * 0.1,
        signal_norms=grad_norms * 2, update_ratios=np.full(L, 1e-3),
        edge_grads=list(edge_grads), edge_updates=list(edge_grads), weights=list(weights),
        biases=[np.zeros(s[1], dtype=np.float32) for s in shapes],
        dead_fraction=np.zeros(len(widths)), saturated_fraction=np.zeros(len(widths)),
        act_mean=np.array([a.mean() for a in unit_activation]),
        act_std=np.array([a.std() for a in unit_activation]),
        unit_activation=unit_activation, unit_dead=unit_dead, unit_saturation=unit_saturation,
        activation_samples=[a.copy() for a in unit_activation], prelu_slopes=np.full(len(widths), np.nan),
        history_grad_norms=np.zeros((0, L)))


def gone_within(pid: int, seconds: float = 3.0) -> bool:
    """Whether process ``pid`` ends within ``seconds`` (looked at every 50 ms)."""
    deadline = time.monotonic() + seconds
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not pid_alive(pid)


def end_popen(proc) -> None:
    """A test's child program, killed if it still runs, its pipes closed."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    proc.stdout.close()
    proc.stderr.close()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
