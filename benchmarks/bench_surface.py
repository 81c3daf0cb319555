"""Grid points per second for a 64x64 loss slice of a (depth 8, width 32, batch 128, tanh) network.

Compares Simulation.losses_at (grid points stacked as a leading batch dimension, chunked and
threaded on the backend) with a per-point loop and with PyTorch's batched matmul (CPU, same thread
count) on the same data and parameters. Prints numbers; asserts nothing about time.

    python benchmarks/bench_surface.py [--resolution 64] [--repeats 5] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from engine import Config, Simulation  # noqa: E402
from engine import surface as S  # noqa: E402


def best_of(fn, repeats):
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def layout(sim):
    """(weight index arrays, bias index arrays) per layer, read through the public API:
    set theta = 0..P-1 and see where each value lands in parameters()."""
    saved = sim.flat_parameters()
    p = saved.size
    sim.set_flat_parameters(np.arange(p, dtype=np.float64))
    weights, biases = sim.parameters()
    sim.set_flat_parameters(saved)
    return ([np.rint(w).astype(np.int64) for w in weights], [np.rint(b).astype(np.int64) for b in biases])


def torch_losses(torch, thetas, w_idx, b_idx, x, y, chunk=256):
    """The same network and BCE loss in PyTorch: grid points as the bmm batch dimension."""
    th_all = torch.from_numpy(thetas)
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y)
    out = []
    with torch.no_grad():
        for i in range(0, len(thetas), chunk):
            th = th_all[i:i + chunk]
            g = th.shape[0]
            h = xt.expand(g, *xt.shape)
            for layer, (wi, bi) in enumerate(zip(w_idx, b_idx)):
                w = th[:, torch.from_numpy(wi.ravel())].reshape(g, *wi.shape)
                b = th[:, torch.from_numpy(bi)]
                h = torch.baddbmm(b[:, None, :], h, w)
                if layer < len(w_idx) - 1:
                    h = torch.tanh(h)
            loss = (h.clamp(min=0) - h * yt + torch.log1p(torch.exp(-h.abs()))).mean(dim=(-2, -1))
            out.append(loss)
    return torch.cat(out).numpy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--loop-points", type=int, default=256, help="points timed for the per-point loops")
    args = ap.parse_args(argv)

    config = Config(depth=8, width=32, activation="tanh", n_samples=160, test_fraction=0.2,
                    dataset="spiral", loss="bce", backend="numpy", dtype="float32", seed=0)
    sim = Simulation(config)
    sim.step(50)
    r = args.resolution
    g = r * r
    center = sim.flat_parameters().astype(np.float64)
    rng = np.random.default_rng(0)
    dirs = np.stack([S.filter_normalized_direction(center, sim.weight_slices(), rng) for _ in range(2)])
    a = np.linspace(-1, 1, r)
    aa, bb = np.meshgrid(a, a)
    thetas = (center + np.stack([aa.ravel(), bb.ravel()], 1) @ dirs).astype(np.float32)
    x, y = np.asarray(sim.x_train), np.asarray(sim.y_train)
    print(f"network: depth 8, width 32, tanh, {center.size} parameters; batch {len(x)}; "
          f"grid {r}x{r} = {g} points; backend {sim.backend.name} ({sim.backend.device}); "
          f"cpus {os.cpu_count()}")

    t_fast, fast = best_of(lambda: sim.losses_at(thetas), args.repeats)
    t_view, _ = best_of(lambda: S.network_surface(sim, "random", r, resolution_1d=3), args.repeats)

    n_loop = min(args.loop_points, g)
    t_loop, loop = best_of(lambda: np.array([sim.losses_at(t[None])[0] for t in thetas[:n_loop]]), 1)
    t_loop *= g / n_loop

    def reference():
        return S.reference_losses(sim, thetas[:n_loop])
    t_ref, ref = best_of(reference, 1)
    t_ref *= g / n_loop

    rows = [("sim.losses_at (batched, chunked, threaded)", t_fast),
            ("engine.surface.network_surface (grid + 3-point 1D)", t_view),
            ("per-point loop of sim.losses_at (g=1)", t_loop),
            ("per-point loop of set_flat_parameters + gradients", t_ref)]
    try:
        import torch
        torch.set_num_threads(args.threads)
        w_idx, b_idx = layout(sim)
        t_torch, tl = best_of(lambda: torch_losses(torch, thetas, w_idx, b_idx, x, y), args.repeats)
        rows.append((f"PyTorch {torch.__version__} bmm, chunks of 256, {args.threads} threads", t_torch))
        err = float(np.max(np.abs(tl - fast)))
        print(f"max |torch - losses_at| = {err:.2e}")
    except ImportError:
        print("torch not installed: no PyTorch row")
        t_torch = None
    print(f"max |per-point loop - losses_at| = {np.max(np.abs(loop - fast[:n_loop])):.2e}; "
          f"max |gradients reference - losses_at| = {np.max(np.abs(ref - fast[:n_loop])):.2e}")
    print()
    print(f"{'method':58s} {'ms/grid':>9s} {'points/s':>10s} {'vs losses_at':>13s}")
    for name, t in rows:
        print(f"{name:58s} {t * 1e3:9.1f} {g / t:10.0f} {t_fast / t:12.2f}x")
    if t_torch is not None:
        print(f"\nlosses_at / PyTorch speed: {t_torch / t_fast:.2f}x (>= 1 means at least as fast); "
              f"target <= 150 ms for the grid: {t_fast * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
