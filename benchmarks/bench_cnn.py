"""The CNN and residual rows of bench_engine.py: training steps/s against the same network in
PyTorch CPU (same initial weights, same batches, plain SGD, probes on), after checking that the
two agree on the losses of the first steps. Imported by bench_engine.py (which sets the thread
count before NumPy loads); run on its own with ``python benchmarks/bench_engine.py --only cnn``.
"""
from __future__ import annotations

import time

import numpy as np

from engine import Config, Simulation

CHECK_STEPS = 30
LR = 0.05

CNN = Config(arch="cnn", channels=(8, 16), kernel_size=3, padding=1, pool="max", depth=1, width=32,
             activation="relu", init="he_normal", loss="softmax_ce", optimizer="sgd", lr=LR, batch_size=64,
             dataset="digits", n_samples=1797, noise=0.0, dtype="float32", backend="numpy", seed=0)
RESIDUAL = Config(depth=10, width=64, residual=True, residual_every=2, activation="tanh", loss="mse",
                  dataset="ripple", n_samples=1280, optimizer="sgd", lr=0.01, batch_size=128,
                  dtype="float32", backend="numpy", seed=0)


def torch_model(torch, sim: Simulation):
    """The engine's network as PyTorch modules, with its current weights."""
    cfg = sim.config
    weights, biases = sim.parameters()
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[cfg.activation]

    def load(module, w, b):
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(w if w.ndim == 4 else w.T.copy()))
            module.bias.copy_(torch.from_numpy(b))
        return module

    if cfg.arch == "cnn":
        layers = []
        for l, c in enumerate(cfg.channels):
            w = weights[l]
            layers += [load(torch.nn.Conv2d(w.shape[1], c, cfg.kernel_size, cfg.stride, cfg.padding), w, biases[l]),
                       act()]
            if cfg.pool == "max":
                layers.append(torch.nn.MaxPool2d(2))
        layers.append(torch.nn.Flatten())
        dense = list(zip(weights[len(cfg.channels):], biases[len(cfg.channels):]))
        for j, (w, b) in enumerate(dense):
            layers.append(load(torch.nn.Linear(*w.shape), w, b))
            if j < len(dense) - 1:
                layers.append(act())
        image = sim.data.image_shape

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.body = torch.nn.Sequential(*layers)

            def forward(self, x):
                return self.body(x.reshape(x.shape[0], *image))
        return Net()

    skips = sim.network.skips

    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linears = torch.nn.ModuleList(load(torch.nn.Linear(*w.shape), w, b) for w, b in zip(weights, biases))
            self.act = act()

        def forward(self, x):
            block = {}
            for l, lin in enumerate(self.linears[:-1]):
                if l in skips.values():
                    block[l] = x
                h = self.act(lin(x))
                x = h + block.pop(skips[l]) if l in skips else h
            return self.linears[-1](x)
    return Residual()


class TorchRun:
    def __init__(self, torch, sim: Simulation):
        self.torch = torch
        self.model = torch_model(torch, sim)
        self.weights = [p for n, p in self.model.named_parameters() if n.endswith("weight")]
        self.loss_fn = torch.nn.CrossEntropyLoss() if sim.config.loss == "softmax_ce" else torch.nn.MSELoss()
        self.classes = sim.config.loss == "softmax_ce"
        self.opt = torch.optim.SGD(self.model.parameters(), lr=sim.config.lr)
        self.x = torch.from_numpy(np.ascontiguousarray(sim.x_train))
        y = np.ascontiguousarray(sim.y_train)
        self.y = torch.from_numpy(y.argmax(1) if self.classes else y)
        self.batch = sim.batch_size
        self.gen = torch.Generator().manual_seed(0)
        self.perm, self.pos = None, 0
        self.hist = []

    def target(self, y):
        return self.torch.from_numpy(np.asarray(y).argmax(1)) if self.classes else self.torch.from_numpy(np.asarray(y))

    def train_step(self, x, y):
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.hist.append((loss.detach(), self.torch.stack([w.grad.norm() for w in self.weights])))
        self.opt.step()
        return loss

    def steps(self, n: int) -> float:
        torch = self.torch
        t0 = time.perf_counter()
        for _ in range(n):
            if self.perm is None or self.pos + self.batch > self.x.shape[0]:
                self.perm, self.pos = torch.randperm(self.x.shape[0], generator=self.gen), 0
            idx = self.perm[self.pos:self.pos + self.batch]
            self.pos += self.batch
            self.train_step(self.x[idx], self.y[idx])
        torch.isfinite(torch.stack([h[0] for h in self.hist])).all().item()
        self.hist = []
        return time.perf_counter() - t0


def recorded_run(sim: Simulation, steps: int) -> tuple[np.ndarray, list]:
    """``sim``'s per-step losses over ``steps`` steps and the batches it drew, for a peer to train on."""
    batches = []
    next_batch = sim._next_batch

    def recording():
        x, y = next_batch()
        batches.append((x.copy(), y.copy()))
        return x, y

    sim._next_batch = recording
    return sim.step(steps).history_loss, batches


def agreement(torch, cfg: Config) -> float:
    """Largest relative difference of the per-step losses, engine vs PyTorch, same batches."""
    sim = Simulation(cfg)
    run = TorchRun(torch, sim)
    ours, batches = recorded_run(sim, CHECK_STEPS)
    theirs = np.array([float(run.train_step(torch.from_numpy(x), run.target(y)).detach()) for x, y in batches])
    return float((np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)).max())


def rate(fn, seconds: float, repeats: int) -> float:
    n = 4
    while fn(n) < seconds / 4 and n < 100_000:
        n *= 4
    best = min(fn(n) for _ in range(repeats))
    return n / best


def rows(torch, seconds: float, repeats: int) -> list[dict]:
    out = []
    for label, cfg in (("CNN digits (8,16 ch, 3x3, maxpool, 32)", CNN), ("residual MLP (10, 64, 128)", RESIDUAL)):
        sim = Simulation(cfg)
        sim.step(10)
        row = {"label": label, "engine": rate(lambda k: k / sim.step(k).steps_per_second, seconds, repeats)}
        plain = Simulation(cfg.replace(residual=False)) if cfg.residual else None
        if plain is not None:
            plain.step(10)
            row["plain"] = rate(lambda k: k / plain.step(k).steps_per_second, seconds, repeats)
        if torch is not None:
            row["rel"] = agreement(torch, cfg)
            run = TorchRun(torch, Simulation(cfg))
            run.steps(10)
            row["torch"] = rate(run.steps, seconds, repeats)
        out.append(row)
    return out


def print_rows(torch, seconds: float, repeats: int) -> None:
    print()
    header = f"{'network':<40} | {'engine/s':>9} {'torch/s':>9} {'ratio':>6} | {'max rel loss diff':>17}"
    print(header)
    print("-" * len(header))
    for r in rows(torch, seconds, repeats):
        if "torch" in r:
            print(f"{r['label']:<40} | {r['engine']:>9.0f} {r['torch']:>9.0f} {r['engine'] / r['torch']:>5.2f}x | "
                  f"{r['rel']:>17.1e}")
        else:
            print(f"{r['label']:<40} | {r['engine']:>9.0f} {'-':>9} {'-':>6} |")
        if "plain" in r:
            print(f"{'  the same without skips':<40} | {r['plain']:>9.0f}  (skips cost {100 * (1 - r['engine'] / r['plain']):.0f}%)")
    print("CNN target (issue): >= 1x PyTorch CPU at this size. Same weights and batches; losses checked first.")
