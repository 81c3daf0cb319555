"""A small stand-in Simulation for window/worker tests: fast, deterministic, can be told to diverge."""
from __future__ import annotations

import functools
import time
from types import SimpleNamespace

import numpy as np

from engine.snapshot import Snapshot


class FakeSimulation:
    """Mimics engine.Simulation's surface the GUI uses: step, snapshot, data, backend, config."""

    def __init__(self, config, diverge_at: int | None = None, step_delay: float = 0.0):
        self.config = config
        self.diverge_at = diverge_at
        self.step_delay = step_delay
        self.step_count = 0
        self.diverged = False
        self._diverged_at = -1
        self._rng = np.random.default_rng(config.seed)
        n = 64
        x = self._rng.normal(size=(n, 2)).astype(np.float32)
        self.data = SimpleNamespace(x_train=x, y_train=(x[:, 0] * x[:, 1] > 0).astype(np.float32)[:, None],
                                    x_test=x[:8], y_test=x[:8, :1], n_inputs=2, n_outputs=1, task="binary",
                                    is_2d=True, extent=(-3.0, 3.0, -3.0, 3.0))
        self.backend = SimpleNamespace(name="numpy", device="CPU (fake)", reason="test")
        self.sizes = (2, *config.widths, 1)
        self._hist: list[tuple[int, float, np.ndarray]] = []
        self._t = time.perf_counter()

    def _layer_norms(self):
        L = len(self.sizes) - 1
        return np.geomspace(1e-1, 1e-1 * 0.3 ** (L - 1), L)[::-1].astype(np.float64) * (1 + 0.1 * np.sin(self.step_count))

    def step(self, n: int = 1, snapshot: bool = True) -> Snapshot | None:
        for _ in range(n):
            if self.diverged:
                break
            if self.step_delay:
                time.sleep(self.step_delay)
            self.step_count += 1
            loss = 1.0 / (1 + 0.01 * self.step_count)
            if self.diverge_at is not None and self.step_count >= self.diverge_at:
                loss = float("nan")
                self.diverged, self._diverged_at = True, self.step_count
            self._hist.append((self.step_count, loss, self._layer_norms()))
        return self.snapshot() if snapshot else None

    def snapshot(self, boundary_resolution: int | None = None) -> Snapshot:
        sizes = self.sizes
        L = len(sizes) - 1
        rng = self._rng
        hist, self._hist = self._hist, []
        now = time.perf_counter()
        sps = len(hist) / max(now - self._t, 1e-9)
        self._t = now
        g = self._layer_norms()
        edge = [np.abs(rng.normal(size=(a, b))) * g[i] for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
        boundary = extent = None
        if boundary_resolution:
            r = boundary_resolution
            u = np.linspace(-3, 3, r)
            boundary = 1 / (1 + np.exp(-np.outer(u, u)))
            extent = (-3.0, 3.0, -3.0, 3.0)
        depth = L - 1
        loss = hist[-1][1] if hist else 1.0
        return Snapshot(
            step=self.step_count, loss=loss, test_loss=loss * 1.1, accuracy=0.5, test_accuracy=0.5,
            grad_norms=g, bias_grad_norms=g / 2, signal_norms=g * 2, update_ratios=g / 10,
            edge_grads=edge, edge_updates=[e / 10 for e in edge],
            weights=[rng.normal(size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:])],
            biases=[np.zeros(b) for b in sizes[1:]],
            dead_fraction=np.zeros(depth), saturated_fraction=np.zeros(depth),
            act_mean=np.zeros(depth), act_std=np.ones(depth),
            unit_activation=[np.ones(w) for w in sizes[1:-1]], unit_dead=[np.zeros(w, bool) for w in sizes[1:-1]],
            unit_saturation=[np.zeros(w) for w in sizes[1:-1]],
            activation_samples=[np.tanh(rng.normal(size=64 * w)) for w in sizes[1:-1]],
            prelu_slopes=np.full(depth, np.nan),
            history_steps=np.array([h[0] for h in hist], dtype=np.int64),
            history_loss=np.array([h[1] for h in hist], dtype=np.float64),
            history_grad_norms=np.array([h[2] for h in hist], dtype=np.float64).reshape(len(hist), L),
            steps_per_second=sps, backend="numpy", device="CPU (fake)",
            diverged=self.diverged, diverged_at=self._diverged_at,
            boundary=boundary, boundary_extent=extent,
        )


def fake_factory(**kwargs):
    """A picklable factory (the engine process builds simulations in a child)."""
    return functools.partial(FakeSimulation, **kwargs)


def refuse_depth_3(config):
    """Builds a FakeSimulation, except for depth 3 (a failing build)."""
    from engine.config import ConfigError
    if config.depth == 3:
        raise ConfigError("loss", "bce", "a loss that fits the dataset")
    return FakeSimulation(config)


class BrokenStep(FakeSimulation):
    """Builds, then fails on every training step."""

    def step(self, n: int = 1, snapshot: bool = True):
        raise RuntimeError("CUDA out of memory")


def spy_on_jobs(monkeypatch, name: str) -> list:
    """The jobs named ``name`` sent to the window's worker process from now on (they still run)."""
    from gui import offload
    sent, submit = [], offload.Offloader.submit

    def spy(self, fn, *args, **kwargs):
        if fn.__name__ == name:
            sent.append(args)
        return submit(self, fn, *args, **kwargs)
    monkeypatch.setattr(offload.Offloader, "submit", spy)
    return sent


def inline_jobs(monkeypatch) -> None:
    """Jobs for the window's worker process run on a thread of this process instead, so a test's
    monkeypatches reach them (the worker imports the modules afresh)."""
    import threading

    from gui import offload

    def submit(self, fn, *args, on_done, stoppable=False):
        stop = threading.Event()

        def work():
            try:
                result = fn(*args, stop) if stoppable else fn(*args)
            except Exception as exc:  # noqa: BLE001 - handed over, as the worker does
                result = exc
            on_done(result)
        threading.Thread(target=work, daemon=True).start()
        return 0
    monkeypatch.setattr(offload.Offloader, "submit", submit)
