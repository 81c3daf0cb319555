"""Training speed of the NumPy engine against idiomatic PyTorch CPU and JAX jit loops, probes on.

Both train the same tanh MLP (same initial weights, same batches, plain SGD, MSE on the "ripple"
regression set) at the same thread count, and both record the per-step probes the app shows:
the loss and a per-layer gradient norm, kept on the device as a history (no host sync per step).
Before timing, the two are checked against each other: the losses of the first steps must agree
within float32 tolerance, which is what makes the steps/s comparable.

    python benchmarks/bench_engine.py            # full run (about a minute)
    python benchmarks/bench_engine.py --quick    # short run
    python benchmarks/bench_engine.py --threads 1   # one thread count only (default: 1, then 2)

JAX (jit of the whole training step) runs beside them when installed. Targets: engine >= 2x
PyTorch and >= 1x JAX at every size, 1 and 2 threads. Timings are printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

SIZES = [(4, 16, 64), (8, 32, 128), (10, 64, 256), (20, 128, 256), (50, 256, 256)]  # (depth, width, batch)
LR = 0.01
CHECK_STEPS = 50


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (fewer steps and repeats)")
    parser.add_argument("--threads", type=int, default=None,
                        help="one thread count: BLAS/OpenMP/XLA threads, torch.set_num_threads, and the process "
                             "pinned to that many cores (default: 1 and then 2, each in its own process)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="target seconds per timed repeat (default 0.25, --quick 0.08)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats, best kept (default 7, --quick 3)")
    parser.add_argument("--only", choices=("mlp", "cnn"), help="only the MLP sizes, or only the CNN and residual rows")
    return parser.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else parse_args([])
ARGS.threads_list = [] if ARGS.threads else [1, min(2, os.cpu_count() or 1)]
ARGS.threads = ARGS.threads or 1
# BLAS and XLA read their thread counts when they are loaded: set them before the first import,
# and pin the process to that many cores so no library sneaks in more.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)
os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen={'true' if ARGS.threads > 1 else 'false'} "
                      f"intra_op_parallelism_threads={ARGS.threads}")
if not ARGS.threads_list and hasattr(os, "sched_setaffinity"):
    _cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, _cores[:ARGS.threads])

import subprocess  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine import Config, Simulation  # noqa: E402
from engine.probes import segment_sq_sums  # noqa: E402

try:
    import torch  # noqa: E402
except ImportError:  # optional dependency (pip install .[bench])
    torch = None
try:
    import jax  # noqa: E402
    import jax.numpy as jnp  # noqa: E402
    jax.config.update("jax_platforms", "cpu")
except ImportError:  # optional dependency (pip install .[bench])
    jax = None
try:
    from threadpoolctl import threadpool_info  # noqa: E402
except ImportError:
    threadpool_info = None


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


# ------------------------------------------------------------------------------------ JAX
class JaxRun:
    """The same network and probes as one jit-compiled training step, the way a JAX user would."""

    def __init__(self, sim: Simulation):
        weights, biases = sim.parameters()
        self.params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in zip(weights, biases)]
        self.x = jnp.asarray(np.ascontiguousarray(sim.x_train))
        self.y = jnp.asarray(np.ascontiguousarray(sim.y_train))
        self.batch = sim.batch_size
        self.rng = np.random.default_rng(0)
        self.perm, self.pos = None, 0
        self.hist_loss, self.hist_gn = [], []

        def loss_fn(params, x, y):
            h = x
            for w, b in params[:-1]:
                h = jnp.tanh(h @ w + b)
            w, b = params[-1]
            return jnp.mean((h @ w + b - y) ** 2)

        def step(params, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            gn = jnp.stack([jnp.linalg.norm(gw) for gw, _ in grads])
            new = [(w - LR * gw, b - LR * gb) for (w, b), (gw, gb) in zip(params, grads)]
            return new, loss, gn

        def indexed_step(params, idx):
            return step(params, self.x[idx], self.y[idx])

        self.step = jax.jit(step)
        self.indexed_step = jax.jit(indexed_step)

    def train_step(self, x, y):
        self.params, loss, gn = self.step(self.params, x, y)
        return loss

    def steps(self, n: int) -> float:
        t0 = time.perf_counter()
        rows = self.x.shape[0]
        for _ in range(n):
            if self.perm is None or self.pos + self.batch > rows:
                self.perm, self.pos = jnp.asarray(self.rng.permutation(rows)), 0
            idx = self.perm[self.pos:self.pos + self.batch]
            self.pos += self.batch
            self.params, loss, gn = self.indexed_step(self.params, idx)
            self.hist_loss.append(loss)
            self.hist_gn.append(gn)
        bad = ~(jnp.isfinite(jnp.stack(self.hist_loss)) & jnp.isfinite(jnp.stack(self.hist_gn)).all(1))
        bool(bad.any())
        elapsed = time.perf_counter() - t0
        self.hist_loss, self.hist_gn = [], []
        return elapsed


# ------------------------------------------------------------------------------------ measuring
def check_agreement(cfg: Config) -> dict:
    """Engine, PyTorch and JAX from the same weights on the same batches over CHECK_STEPS steps:
    each one's last loss and the largest relative difference of its per-step losses to the engine's."""
    sim = Simulation(cfg)
    peers = {}
    if torch is not None:
        peers["torch"] = (TorchRun(sim), lambda x, y: torch.from_numpy(x), lambda v: float(v.detach()))
    if jax is not None:
        peers["jax"] = (JaxRun(sim), lambda x, y: jnp.asarray(x), float)
    from bench_cnn import recorded_run   # loaded after the thread settings above, like print_rows
    engine_losses, batches = recorded_run(sim, CHECK_STEPS)
    out = {"engine_loss": float(engine_losses[-1])}
    for name, (run, convert, scalar) in peers.items():
        losses = np.array([scalar(run.train_step(convert(x, y), convert(y, x))) for x, y in batches])
        rel = np.abs(engine_losses - losses) / np.maximum(np.abs(losses), 1e-12)
        out[f"{name}_loss"], out[f"{name}_rel"] = float(losses[-1]), float(rel.max())
    return out


def engine_seconds(sim: Simulation, n: int) -> float:
    """Seconds for ``n`` training steps, as the engine's own loop measures them (no snapshot)."""
    return n / sim.step(n).steps_per_second


def timed(fn, k: int) -> float:
    t0 = time.perf_counter()
    for _ in range(k):
        fn()
    return time.perf_counter() - t0


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
    # the three loops' timed repeats taken in turn (engine, torch, JAX, engine, ...), so that a
    # slow spell of a shared machine hits all of them rather than whichever ran in it
    timers = {"engine": (lambda k: engine_seconds(sim, k), n)}
    for name, runner in (("torch", TorchRun if torch is not None else None),
                         ("jax", JaxRun if jax is not None else None)):
        if runner is not None:
            run = runner(Simulation(cfg))
            run.steps(20)  # warm up (and, for JAX, compile)
            timers[name] = (run.steps, calibrate(run.steps, seconds))
    best = {name: float("inf") for name in timers}
    for _ in range(repeats):
        for name, (timer, k) in timers.items():
            best[name] = min(best[name], timer(k) / k)
    row.update({name: 1.0 / t for name, t in best.items()})
    row["probe_pct"] = 100.0 * (min(on) - min(off)) / min(on)
    # the same probe call timed on its own, as a share of a step (steadier than the difference)
    net = sim.network
    starts, work, weights = net.segment_starts, np.empty_like(net.grad), slice(0, 2 * net.n_layers, 2)
    k = 200
    call = min(timed(lambda: segment_sq_sums(np, net.grad, starts, work)[weights], k)
               for _ in range(repeats)) / k
    row["probe_call_pct"] = 100.0 * call * row["engine"]
    # what a snapshot costs, in training steps: as the app takes them at display rate (metrics kept,
    # no per-edge arrays) and as the CLI records them (full evaluation and every array)
    sim.snapshot()
    display = min(timed(lambda: sim.snapshot(evaluate=False, edges=False), 3) for _ in range(repeats)) / 3
    full = min(timed(sim.snapshot, 1) for _ in range(repeats))
    row["snap_display"], row["snap_full"] = display * row["engine"], full * row["engine"]

    # the step's matmul FLOP rate as a share of plain sgemm at these shapes (target >= 70% at
    # width >= 128, 2 threads)
    row["sgemm_pct"] = 100.0 * step_flops(sim) * row["engine"] / sgemm_rate(batch, width, repeats)
    row.update(check_agreement(cfg))
    return row


def step_flops(sim: Simulation) -> float:
    """Matmul FLOPs of one training step: forward x @ W, backward x^T @ g and g @ W^T (not for the
    input layer)."""
    sizes, batch = sim.network.sizes, sim.batch_size
    pairs = list(zip(sizes[:-1], sizes[1:]))
    return 2.0 * batch * (3 * sum(i * o for i, o in pairs) - pairs[0][0] * pairs[0][1])


def sgemm_rate(batch: int, width: int, repeats: int) -> float:
    """FLOP/s of a float32 (batch, width) @ (width, width) matmul into a kept buffer, best of
    ``repeats``: the rate a FLOP-bound step could reach at these shapes and thread count."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch, width)).astype(np.float32)
    w = rng.standard_normal((width, width)).astype(np.float32)
    out = np.empty((batch, width), np.float32)
    k = max(3, int(5e7 / (2 * batch * width * width)))   # short runs, many: the best escapes the load
    best = min(timed(lambda: np.dot(a, w, out=out), k) for _ in range(4 * repeats)) / k
    return 2.0 * batch * width * width / best


def blas_text() -> str:
    if threadpool_info is None:
        return "BLAS: unknown (pip install threadpoolctl)"
    parts = [f"{i.get('internal_api')} {i.get('version')} kernel {i.get('architecture')} x{i.get('num_threads')}"
             for i in threadpool_info() if i.get("user_api") == "blas"]
    core = os.environ.get("OPENBLAS_CORETYPE")
    return "BLAS: " + ("; ".join(parts) or "none found") + (f" (OPENBLAS_CORETYPE={core})" if core else "")


def fmt_ratio(num, den) -> str:
    return f"{num / den:>6.2f}x" if den else f"{'-':>7}"


def main() -> None:
    if ARGS.threads_list:
        # one child process per thread count: BLAS, PyTorch and XLA all read it at start-up
        for threads in ARGS.threads_list:
            argv = [a for a in sys.argv[1:]]
            cmd = [sys.executable, __file__, "--threads", str(threads)] + [
                a for i, a in enumerate(argv) if not (a.startswith("--threads") or (i and argv[i - 1] == "--threads"))]
            subprocess.run(cmd, check=False)
            print()
        return
    seconds = ARGS.seconds or (0.08 if ARGS.quick else 0.25)
    repeats = ARGS.repeats or (3 if ARGS.quick else 7)
    print(f"== {ARGS.threads} thread(s): NumPy {np.__version__}; {blas_text()}")
    if torch is None:
        print("PyTorch is not installed (pip install .[bench]): no torch column.")
    else:
        torch.set_num_threads(ARGS.threads)
        print(f"PyTorch {torch.__version__}, torch.set_num_threads({torch.get_num_threads()})")
    if jax is None:
        print("JAX is not installed (pip install .[bench]): no JAX column.")
    else:
        print(f"JAX {jax.__version__} jit, {jax.devices()[0].platform}")
    if hasattr(os, "sched_getaffinity"):
        print(f"process pinned to cores {sorted(os.sched_getaffinity(0))}")
    print(f"tanh + MSE, SGD lr {LR}, float32, dataset ripple, probes on; best of {repeats} repeats, the loops timed in turn")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    cores = os.cpu_count() or 1
    print(f"load average {load:.2f} on {cores} cores at the start")
    if load > 0.5 * cores:
        print(f"warning: load average {load:.1f} on {cores} cores: other work is sharing the CPU, timings are noisy")
    print()

    header = (f"{'depth':>5} {'width':>5} {'batch':>5} | {'engine/s':>9} {'torch/s':>9} {'jax/s':>9} | "
              f"{'e/torch':>7} {'e/jax':>7} | {'sgemm':>5} | {'probes':>6} {'(call)':>6} | {'snap':>5} {'full':>5} | "
              f"{'loss@' + str(CHECK_STEPS):>10} {'rel torch':>9} {'rel jax':>9} | {'load':>4}")
    print(header)
    print("-" * len(header))
    for depth, width, batch in (() if ARGS.only == "cnn" else SIZES):
        r = bench_size(depth, width, batch, seconds, repeats)
        dash = f"{'-':>9}"
        print(f"{depth:>5} {width:>5} {batch:>5} | {r['engine']:>9.0f} "
              f"{format(r['torch'], '>9.0f') if 'torch' in r else dash} "
              f"{format(r['jax'], '>9.0f') if 'jax' in r else dash} | "
              f"{fmt_ratio(r['engine'], r.get('torch'))} {fmt_ratio(r['engine'], r.get('jax'))} | "
              f"{r['sgemm_pct']:>4.0f}% | {r['probe_pct']:>5.1f}% {r['probe_call_pct']:>5.1f}% | {r['snap_display']:>5.2f} {r['snap_full']:>5.1f} | "
              f"{r['engine_loss']:>10.6g} "
              f"{format(r['torch_rel'], '>9.1e') if 'torch_rel' in r else dash} "
              f"{format(r['jax_rel'], '>9.1e') if 'jax_rel' in r else dash} | {os.getloadavg()[0]:>4.1f}")
    print()
    print("engine/s, torch/s, jax/s: training steps per second, per-step probes on (loss and per-layer gradient")
    print("  norms kept as a history); e/torch, e/jax = engine/s over the peer's (targets: >= 2x torch, >= 1x JAX).")
    print("sgemm: the engine step's matmul FLOP rate as % of one float32 (batch, width) @ (width, width) sgemm")
    print("  at this thread count (target >= 70% at width >= 128, 2 threads).")
    print("probes: engine step time with the per-step gradient-norm probe minus without, as % of a step;")
    print("  (call): the probe call timed on its own, as % of a step.")
    print("snap: one Snapshot as the app takes it at display rate (metrics on their own clock, no per-edge")
    print("  arrays), in training steps (target < 1); full: with a whole-data evaluation and every array (the CLI).")
    print("load: the 1-minute load average after the row (other processes sharing the cores).")
    print(f"loss@{CHECK_STEPS}: engine training loss at step {CHECK_STEPS}; rel torch/jax: largest relative difference")
    print(f"  of the per-step losses over {CHECK_STEPS} steps from the same weights and batches (float32).")
    if ARGS.only != "mlp":
        from bench_cnn import print_rows   # the CNN and residual rows (issue 11)
        print_rows(torch, seconds, repeats)


if __name__ == "__main__":
    main()
