"""Training speed of the NumPy engine against an idiomatic PyTorch CPU loop, probes on.

Both train the same tanh MLP (same initial weights, same batches, plain SGD, MSE on the "ripple"
regression set) at the same thread count, and both record the per-step probes the app shows:
the loss and a per-layer gradient norm, kept on the device as a history (no host sync per step).
Before timing, the two are checked against each other: the losses of the first steps must agree
within float32 tolerance, which is what makes the steps/s comparable.

    python benchmarks/bench_engine.py            # full run (about a minute)
    python benchmarks/bench_engine.py --quick    # short run
    python benchmarks/bench_engine.py --threads 1

Targets (issue): >= 3x PyTorch at (8, 32, 128), >= 1.3x at (10, 64, 256), >= 1.0x at
(20, 128, 256); the per-step probes cost <= 5% of a step. Timings are printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

SIZES = [(4, 16, 64), (8, 32, 128), (10, 64, 256), (20, 128, 256)]  # (depth, width, batch)
TARGETS = {(8, 32, 128): 3.0, (10, 64, 256): 1.3, (20, 128, 256): 1.0}
LR = 0.01
CHECK_STEPS = 50


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (fewer steps and repeats)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="BLAS/OpenMP threads for NumPy and torch.set_num_threads (default: all cores)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="target seconds per timed repeat (default 0.25, --quick 0.08)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats, best kept (default 7, --quick 3)")
    parser.add_argument("--only", choices=("mlp", "cnn"), help="only the MLP sizes, or only the CNN and residual rows")
    return parser.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else parse_args([])
# NumPy's BLAS reads its thread count when it is loaded: set it before the first numpy import.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine import Config, Simulation  # noqa: E402
from engine.probes import segment_sq_sums  # noqa: E402

try:
    import torch  # noqa: E402
except ImportError:  # optional dependency (pip install .[bench])
    torch = None


def make_config(depth: int, width: int, batch: int) -> Config:
    # 8 batches per epoch, so both loops also pay for drawing minibatches
    return Config(depth=depth, width=width, activation="tanh", loss="mse", dataset="ripple",
                  n_samples=int(batch * 8 / 0.8), optimizer="sgd", lr=LR, batch_size=batch,
                  dtype="float32", backend="numpy", seed=0)


# ------------------------------------------------------------------------------------ PyTorch
class TorchRun:
    """The same network and probes, written the way a PyTorch user would."""

    def __init__(self, sim: Simulation):
        weights, biases = sim.parameters()
        layers = []
        for l, (w, b) in enumerate(zip(weights, biases)):
            linear = torch.nn.Linear(*w.shape)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(w.T.copy()))  # torch keeps (fan_out, fan_in)
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
            if l < len(weights) - 1:
                layers.append(torch.nn.Tanh())
        self.model = torch.nn.Sequential(*layers)
        self.linears = [m for m in self.model if isinstance(m, torch.nn.Linear)]
        self.loss_fn = torch.nn.MSELoss()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.x = torch.from_numpy(np.ascontiguousarray(sim.x_train))
        self.y = torch.from_numpy(np.ascontiguousarray(sim.y_train))
        self.batch = sim.batch_size
        self.gen = torch.Generator().manual_seed(0)
        self.perm, self.pos = None, 0
        self.hist_loss, self.hist_gn = [], []

    def next_batch(self):
        n = self.x.shape[0]
        if self.perm is None or self.pos + self.batch > n:
            self.perm, self.pos = torch.randperm(n, generator=self.gen), 0
        idx = self.perm[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return self.x[idx], self.y[idx]

    def train_step(self, x, y):
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        # the per-step probes: loss and per-layer gradient norms, kept on the device
        self.hist_loss.append(loss.detach())
        self.hist_gn.append(torch.stack([lin.weight.grad.norm() for lin in self.linears]))
        self.opt.step()
        return loss

    def steps(self, n: int) -> float:
        """Train ``n`` steps; seconds taken (including the end-of-run divergence check)."""
        t0 = time.perf_counter()
        for _ in range(n):
            x, y = self.next_batch()
            self.train_step(x, y)
        bad = ~(torch.isfinite(torch.stack(self.hist_loss)) & torch.isfinite(torch.stack(self.hist_gn)).all(1))
        bad.any().item()
        elapsed = time.perf_counter() - t0
        self.hist_loss, self.hist_gn = [], []
        return elapsed


# ------------------------------------------------------------------------------------ measuring
def check_agreement(cfg: Config) -> tuple[float, float, float]:
    """Engine and PyTorch from the same weights on the same batches: (engine loss, torch loss,
    largest relative difference of the per-step losses) over CHECK_STEPS steps."""
    sim = Simulation(cfg)
    run = TorchRun(sim)
    batches = []
    next_batch = sim._next_batch

    def recording():
        x, y = next_batch()
        batches.append((x.copy(), y.copy()))
        return x, y

    sim._next_batch = recording
    engine_losses = sim.step(CHECK_STEPS).history_loss
    torch_losses = np.array([float(run.train_step(torch.from_numpy(x), torch.from_numpy(y)).detach())
                             for x, y in batches])
    rel = np.abs(engine_losses - torch_losses) / np.maximum(np.abs(torch_losses), 1e-12)
    return float(engine_losses[-1]), float(torch_losses[-1]), float(rel.max())


def engine_seconds(sim: Simulation, n: int) -> float:
    """Seconds for ``n`` training steps, as the engine's own loop measures them (no snapshot)."""
    return n / sim.step(n).steps_per_second


def timed(fn, k: int) -> float:
    t0 = time.perf_counter()
    for _ in range(k):
        fn()
    return time.perf_counter() - t0


def best_rate(timer, n: int, repeats: int) -> float:
    return n / min(timer(n) for _ in range(repeats))


def calibrate(timer, seconds: float) -> int:
    n = 5
    while True:
        t = timer(n)
        if t > seconds / 4 or n > 100_000:
            return max(5, int(n * seconds / t))
        n *= 4


def bench_size(depth, width, batch, seconds, repeats):
    cfg = make_config(depth, width, batch)
    row = {"size": (depth, width, batch)}
    sim = Simulation(cfg)
    sim.step(20)  # warm up buffers and caches
    n = calibrate(lambda k: engine_seconds(sim, k), seconds)

    # probes on vs off, interleaved short runs so that drift on a shared machine hits both alike
    on, off = [], []
    short = max(5, n // 4)
    for _ in range(4 * repeats):
        sim._probe_grad_norms = True
        on.append(engine_seconds(sim, short) / short)
        sim._probe_grad_norms = False
        off.append(engine_seconds(sim, short) / short)
    sim._probe_grad_norms = True
    row["engine"] = best_rate(lambda k: engine_seconds(sim, k), n, repeats)
    row["probe_pct"] = 100.0 * (min(on) - min(off)) / min(on)
    # the same probe call timed on its own, as a share of a step (steadier than the difference)
    net = sim.network
    starts, work, weights = net.segment_starts, np.empty_like(net.grad), slice(0, 2 * net.n_layers, 2)
    k = 200
    call = min(timed(lambda: segment_sq_sums(np, net.grad, starts, work)[weights], k)
               for _ in range(repeats)) / k
    row["probe_call_pct"] = 100.0 * call * row["engine"]

    if torch is not None:
        e_loss, t_loss, rel = check_agreement(cfg)
        row.update(engine_loss=e_loss, torch_loss=t_loss, rel=rel)
        run = TorchRun(Simulation(cfg))
        run.steps(20)
        nt = calibrate(run.steps, seconds)
        row["torch"] = best_rate(run.steps, nt, repeats)
    return row


def main() -> None:
    seconds = ARGS.seconds or (0.08 if ARGS.quick else 0.25)
    repeats = ARGS.repeats or (3 if ARGS.quick else 7)
    print(f"NumPy {np.__version__}, threads = {ARGS.threads} (OMP/OPENBLAS/MKL_NUM_THREADS)", end="")
    if torch is None:
        print("\nPyTorch is not installed (pip install .[bench]): engine timings only.")
    else:
        torch.set_num_threads(ARGS.threads)
        print(f"; PyTorch {torch.__version__}, torch.set_num_threads({torch.get_num_threads()})")
    print(f"tanh + MSE, SGD lr {LR}, float32, dataset ripple, probes on; best of {repeats} repeats")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    cores = os.cpu_count() or 1
    if load > 0.5 * cores:
        print(f"warning: load average {load:.1f} on {cores} cores: other work is sharing the CPU, timings are noisy")
    print()

    header = (f"{'depth':>5} {'width':>5} {'batch':>5} | {'engine/s':>9} {'torch/s':>9} {'ratio':>6} "
              f"{'target':>6} | {'probes':>6} {'(call)':>6} | {'loss@' + str(CHECK_STEPS) + ' engine':>14} {'torch':>10} {'max rel':>8}")
    print(header)
    print("-" * len(header))
    for depth, width, batch in (() if ARGS.only == "cnn" else SIZES):
        r = bench_size(depth, width, batch, seconds, repeats)
        target = TARGETS.get(r["size"])
        target_text = f">={target:.1f}x" if target else ""
        if "torch" in r:
            ratio = r["engine"] / r["torch"]
            print(f"{depth:>5} {width:>5} {batch:>5} | {r['engine']:>9.0f} {r['torch']:>9.0f} {ratio:>5.2f}x "
                  f"{target_text:>6} | {r['probe_pct']:>5.1f}% {r['probe_call_pct']:>5.1f}% | {r['engine_loss']:>14.6g} "
                  f"{r['torch_loss']:>10.6g} {r['rel']:>8.1e}")
        else:
            print(f"{depth:>5} {width:>5} {batch:>5} | {r['engine']:>9.0f} {'-':>9} {'-':>6} "
                  f"{target_text:>6} | {r['probe_pct']:>5.1f}% {r['probe_call_pct']:>5.1f}% |")
    print()
    print("engine/s, torch/s: training steps per second, per-step probes on (loss and per-layer gradient norms")
    print("  kept as a history); ratio = engine/s / torch/s.")
    print("probes: engine step time with the per-step gradient-norm probe minus without, as % of a step (target")
    print("  <= 5%); (call): the probe call timed on its own, as % of a step.")
    print(f"loss@{CHECK_STEPS}: training loss at step {CHECK_STEPS} from the same initial weights and batches; max rel: largest")
    print(f"  relative difference of the per-step losses over the {CHECK_STEPS} steps (float32).")
    if ARGS.only != "mlp":
        from bench_cnn import print_rows   # the CNN and residual rows (issue 11)
        print_rows(torch, seconds, repeats)


if __name__ == "__main__":
    main()
