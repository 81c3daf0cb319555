"""Simulation: Config -> network + data + optimiser on a backend; ``step(n)`` -> Snapshot."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import kernels
from .backend import resolve, to_numpy
from .config import Config, ConfigError
from .datafile import load_dataset
from .datasets import make_dataset
from .losses import LOSSES
from .convnet import ConvNetwork
from .network import Network
from .optimizers import OPTIMIZERS
from .probes import segment_sq_sums, segment_sq_sums_many, sq_sums, unit_statistics
from .snapshot import Snapshot

GRID_CHUNK = 256  # grid points per batched evaluation (measured sweet spot, DESIGN.md)


class Gradients(tuple):
    """``loss, weight_grads, bias_grads = sim.gradients(...)``; ``.extra`` holds the rest
    (``gamma``, ``beta`` per hidden layer with normalisation, ``prelu_slopes``) and ``.flat``
    every gradient in ``flat_parameters()`` order."""

    def __new__(cls, loss, weights, biases, extra, flat):
        self = super().__new__(cls, (loss, weights, biases))
        self.extra, self.flat = extra, flat
        return self

    loss = property(lambda self: self[0])
    weights = property(lambda self: self[1])
    biases = property(lambda self: self[2])


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


class Simulation:
    """A network training on a dataset. Deterministic for a given config, seed and backend."""

    def __init__(self, config: Config):
        self.config = config
        self.backend = resolve(config.backend)
        xp = self.xp = self.backend.xp
        self.dtype = np.dtype(config.dtype)
        self.loss_fn = LOSSES[config.loss]
        if config.dataset == "file":
            self.data = data = load_dataset(config)
        else:
            self.data = data = make_dataset(config.dataset, config.n_samples, config.noise,
                                            config.test_fraction, config.seed)
        if data.n_classes == 0 and self.loss_fn.classification:
            raise ConfigError("loss", config.loss, f"mse (the '{config.dataset}' dataset is a regression set)")
        if data.n_classes == 0:
            self.n_outputs = data.n_targets
        elif data.n_classes == 2 and config.loss != "softmax_ce":
            self.n_outputs = 1
        else:
            self.n_outputs = data.n_classes

        self.input_mean = data.x_train.mean(axis=0) if config.center_inputs else np.zeros(data.n_inputs)
        self.x_train = self._inputs(data.x_train)
        self.y_train = self._targets(data.y_train)
        self.x_test = self._inputs(data.x_test)
        self.y_test = self._targets(data.y_test)
        self.n_train = len(data.x_train)

        init_rng = np.random.default_rng([config.seed, 0])
        if config.arch == "cnn":
            if data.image_shape is None:
                raise ConfigError("arch", config.arch, "mlp, or an image dataset (digits | shapes) for cnn")
            self.network = net = ConvNetwork(self.backend, config, data.image_shape, self.n_outputs, init_rng)
        else:
            self.network = net = Network(self.backend, config, data.n_inputs, self.n_outputs, init_rng)
        self.optimizer = OPTIMIZERS[config.optimizer].make(xp, self._lr_vector(), config, like=net.theta)

        self.batch_size = config.batch_size if 0 < config.batch_size < self.n_train else self.n_train
        self._batch_rng = np.random.default_rng([config.seed, 2])
        self._perm, self._pos = None, 0
        self._noise_rng = xp.random.default_rng(_seed(config.seed, 3))
        self._w_starts = net.segment_starts  # W_0, b_0, W_1, ...: the even segments are the weights
        self._w_only = slice(0, 2 * net.n_layers, 2)
        self._probe_work = xp.empty_like(net.grad)

        self.step_count = 0
        self.diverged, self.diverged_at = False, -1
        self._hist_steps: list[int] = []
        self._hist_loss: list = []
        self._hist_gn: list = []
        self._last_loss = None
        self._steps_per_second = 0.0
        self._probe_step = -1  # the step whose forward/backward the caches hold
        # Per-step gradient-norm history; off only to measure what it costs (benchmarks/bench_engine.py).
        self._probe_grad_norms = True
        # the last full evaluation: (step, train accuracy, test loss, test accuracy), and what it cost
        self._metrics = None
        self._metrics_clock = (0.0, 0.0)   # (perf_counter when taken, seconds it took)

    # --------------------------------------------------------------------------- setup helpers
    def _inputs(self, x):
        return self.xp.asarray(x - self.input_mean, dtype=self.dtype)

    def _user_inputs(self, inputs):
        """Raw inputs from a caller (any array-like, one row per sample) on the backend."""
        return self._inputs(np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1))

    def _user_targets(self, targets):
        """Class labels (n,) or dense targets (n, k) from a caller, as the loss expects them."""
        t = np.asarray(targets)
        if t.ndim == 1 and self.data.n_classes:
            return self._targets(t)
        return self.xp.asarray(t.reshape(len(t), -1), dtype=self.dtype)

    def _targets(self, y):
        """Dense float targets: one-hot labels, 0/1 for one output, values for regression."""
        y = np.asarray(y)
        if self.data.n_classes == 0:
            dense = y.reshape(len(y), -1)
        elif self.n_outputs == 1:
            dense = y.reshape(-1, 1)
        else:
            dense = np.eye(self.n_outputs)[y.astype(int)]
        return self.xp.asarray(dense, dtype=self.dtype)

    def _lr_vector(self):
        """The learning rate per parameter, or one float when every layer multiplier is 1."""
        cfg, net = self.config, self.network
        if not cfg.layer_lr or all(m == 1 for m in cfg.layer_lr):
            return float(cfg.lr)
        mult = cfg.layer_lr
        host = np.empty(net.n_params)
        for l, (w, b) in enumerate(zip(net.w_slices, net.b_slices)):
            host[w[0]:w[1]] = host[b[0]:b[1]] = cfg.lr * mult[l]
        for l, (g, b) in enumerate(zip(net.gamma_slices, net.beta_slices)):
            host[g[0]:g[1]] = host[b[0]:b[1]] = cfg.lr * mult[l]
        if net.slope_slice:
            a, b, _ = net.slope_slice
            host[a:b] = cfg.lr * np.asarray(mult[: net.depth])
        return self.xp.asarray(host, dtype=self.dtype)

    def _next_batch(self):
        if self.batch_size >= self.n_train:
            return self.x_train, self.y_train
        if self._perm is None or self._pos + self.batch_size > self.n_train:
            # one host->device transfer per epoch, not per step
            self._perm = self.xp.asarray(self._batch_rng.permutation(self.n_train))
            self._pos = 0
        idx = self._perm[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return self.x_train[idx], self.y_train[idx]

    @property
    def _compiled(self) -> bool:
        """The network trains on the compiled kernels (numba is loaded for it): its norm sums
        take the compiled pass too, at every size."""
        return getattr(self.network, "_fused", None) is not None

    def preload(self) -> None:
        """Load the compiled kernels the training loop will use now rather than in the first step
        (numba's import and its kernels: about a second, once per process; nothing where the
        network takes the plain path). The CLI calls it before its clock starts, the app's engine
        process once the first frame is out."""
        if self._compiled:
            kernels.preload(self.network._fused.name)

    # --------------------------------------------------------------------------- training
    def _forward_backward(self, x, y, noise_rng, update_stats, reuse=False):
        out = self.network.forward(x, training=True, noise_rng=noise_rng, update_stats=update_stats,
                                   reuse=reuse)
        loss, dout = self.loss_fn.value_grad(self.xp, out, y)
        self.network.backward(dout, reuse=reuse)
        return loss

    def step(self, n: int = 1, snapshot: bool = True, **options) -> Snapshot | None:
        """Train ``n`` steps (fewer if the run diverges) and return a Snapshot of the last, taken
        with ``options`` (see ``snapshot``); ``snapshot=False``: None, and the history keeps
        accumulating for the next ``snapshot()``."""
        if n < 0:
            raise ValueError("n must be >= 0")
        xp, net, cfg = self.xp, self.network, self.config
        t0 = time.perf_counter()
        compiled = self._compiled
        first = len(self._hist_loss)
        done = 0
        with np.errstate(all="ignore"):  # a diverging run is a result, not a warning
            for _ in range(0 if self.diverged else n):
                x, y = self._next_batch()
                loss = self._forward_backward(x, y, self._noise_rng, update_stats=True, reuse=True)
                if self._probe_grad_norms:
                    self._hist_gn.append(segment_sq_sums(xp, net.grad, self._w_starts, self._probe_work,
                                                         compiled)[self._w_only])
                grad = net.grad
                if cfg.weight_decay or cfg.clip_norm:
                    grad = grad.copy()  # net.grad stays dL/dtheta for the probes
                if cfg.weight_decay:
                    grad += cfg.weight_decay * net.theta
                if cfg.clip_norm:
                    norm = xp.sqrt(xp.vdot(grad, grad))
                    grad *= xp.minimum(1.0, cfg.clip_norm / (norm + 1e-12))  # no host sync
                self.optimizer.step(net.theta, grad)
                self._hist_loss.append(loss)
                self._hist_steps.append(self.step_count)
                self._last_loss = loss
                self._probe_step = self.step_count
                self.step_count += 1
                done += 1
        if done:
            self._check_divergence(first)
            self.backend.synchronize()
            elapsed = time.perf_counter() - t0
            self._steps_per_second = done / elapsed if elapsed > 0 else float("inf")
        return self.snapshot(**options) if snapshot else None

    def _check_divergence(self, first: int) -> None:
        losses = to_numpy(self.xp.stack(self._hist_loss[first:]))
        bad = ~np.isfinite(losses)
        if len(self._hist_gn) == len(self._hist_loss):
            norms = to_numpy(self.xp.stack(self._hist_gn[first:]))
            bad |= ~np.isfinite(norms).all(axis=1)
        if bad.any():
            self.diverged = True
            self.diverged_at = self._hist_steps[first + int(np.argmax(bad))]
            # the steps after the first bad one only pushed NaNs around: forget them
            keep = len(self._hist_steps) - (self._hist_steps[-1] - self.diverged_at)
            del self._hist_steps[keep:], self._hist_loss[keep:], self._hist_gn[keep:]
            self.step_count = self.diverged_at + 1

    # --------------------------------------------------------------------------- measuring
    def _ensure_probes(self):
        """Before the first step, fill the caches from one batch without updating anything."""
        if self._probe_step < 0 and not self.network.caches:
            x, y = (self.x_train[: self.batch_size], self.y_train[: self.batch_size])
            with np.errstate(all="ignore"):
                self._last_loss = self._forward_backward(x, y, None, update_stats=False)

    def evaluate(self, x=None, y=None) -> tuple[float, float]:
        """Loss and accuracy in eval mode (training set by default)."""
        x = self.x_train if x is None else x
        y = self.y_train if y is None else y
        if x.shape[0] == 0:
            return float("nan"), float("nan")
        xp = self.xp
        with np.errstate(all="ignore"):
            out = self.network.forward(x, training=False, keep=False)
            loss = float(self.loss_fn.value(xp, out, y))
            if self.data.n_classes == 0:
                return loss, float("nan")
            if out.shape[1] == 1:
                threshold = 0.5 if self.config.loss == "mse" else 0.0
                correct = (out[:, 0] > threshold) == (y[:, 0] > 0.5)
            else:
                correct = out.argmax(axis=1) == y.argmax(axis=1)
            return loss, float(correct.mean())

    def _evaluation(self, evaluate) -> tuple[int, float, float, float]:
        """(step, train accuracy, test loss, test accuracy): computed now, or the last ones kept.

        ``evaluate``: True always; False reuses the last (computing once if there is none);
        "auto" recomputes when the last is from an earlier step and at least ten times its own cost
        has passed since, so evaluating the whole data takes at most ~10% of the time."""
        if self._metrics is not None and evaluate is not True:
            taken, cost = self._metrics_clock
            if (evaluate is False or self._metrics[0] == self.step_count
                    or time.perf_counter() - taken < max(10 * cost, 0.2)):
                return self._metrics
        t0 = time.perf_counter()
        _, acc = self.evaluate()
        test_loss, test_acc = self.evaluate(self.x_test, self.y_test)
        t1 = time.perf_counter()
        self._metrics, self._metrics_clock = (self.step_count, acc, test_loss, test_acc), (t1, t1 - t0)
        return self._metrics

    def snapshot(self, boundary_resolution: int = 0, evaluate: bool | str = True, edges: bool = True) -> Snapshot:
        """The state now (no training); with ``boundary_resolution`` also the 2D decision surface.

        The training loss is always the last step's batch loss. ``evaluate`` says when the accuracy
        and test metrics are computed on the whole data (see ``_evaluation``; ``metrics_step`` tells
        the step they are from): True (the default, what the CLI records), False or "auto" (the
        app's display rate). ``edges=False`` leaves out the per-edge arrays (``edge_grads``,
        ``edge_updates``, ``weights``, ``biases`` are empty lists), the largest part of a big net's
        snapshot."""
        xp, net = self.xp, self.network
        self._ensure_probes()
        with np.errstate(all="ignore"):
            sq = segment_sq_sums_many(xp, (net.grad, self.optimizer.update, net.theta), net.segment_starts,
                                      compiled=self._compiled)
            grad_norms = np.sqrt(sq[0, 0:2 * net.n_layers:2])
            bias_norms = np.sqrt(sq[0, 1:2 * net.n_layers:2])
            upd, wsq = sq[1, self._w_only], sq[2, self._w_only]
            update_ratios = np.sqrt(upd / wsq)
            update_ratios[~(wsq > 0)] = 0.0        # a zero (or NaN) weight layer: no ratio
            signal_norms = np.sqrt(sq_sums(xp, net.signals))
            stats = unit_statistics(net)
            metrics_step, acc, test_loss, test_acc = self._evaluation(evaluate)
        k = len(self._hist_loss)
        if k:
            h_loss = to_numpy(xp.stack(self._hist_loss)).astype(np.float64)
            if len(self._hist_gn) == k:
                h_gn = np.sqrt(to_numpy(xp.stack(self._hist_gn)).astype(np.float64))
            else:  # the per-step probe was switched off (benchmarking)
                h_gn = np.full((k, net.n_layers), np.nan)
        else:
            h_loss, h_gn = np.zeros(0), np.zeros((0, net.n_layers))
        h_steps = np.asarray(self._hist_steps, dtype=np.int64)
        self._hist_steps, self._hist_loss, self._hist_gn = [], [], []

        conv = isinstance(net, ConvNetwork)
        facts = net.view_facts(self.optimizer.update) if conv else {"layer_kinds": ("dense",) * net.n_layers}
        if not edges:
            edge_grads, edge_updates, weights, biases = [], [], [], []
        elif conv:   # the graph's view: one node per channel
            edge_grads = net.graph_matrices(net.grad)
            edge_updates = net.graph_matrices(self.optimizer.update)
            weights = net.graph_matrices(net.theta, signed=True)
        else:
            edge_grads = [np.abs(to_numpy(g)) for g in net.dW]
            edge_updates = [np.abs(to_numpy(self.optimizer.update[a:b].reshape(shape)))
                            for a, b, shape in net.w_slices]
            weights = [to_numpy(w).copy() for w in net.W]
        if edges:
            biases = [to_numpy(b).copy() for b in net.b]
        facts["skips"] = tuple((first, last + 1) for last, first in sorted(net.skips.items()))
        slopes = to_numpy(net.slopes).astype(np.float64) if net.slope_slice else np.full(net.depth, np.nan)
        boundary = extent = None
        if boundary_resolution and self.data.is_2d:
            boundary, extent = self.decision_surface(boundary_resolution)
        return Snapshot(
            step=self.step_count,
            loss=float(self._last_loss) if self._last_loss is not None else float("nan"),
            test_loss=test_loss, accuracy=acc, test_accuracy=test_acc,
            grad_norms=grad_norms, bias_grad_norms=bias_norms, signal_norms=signal_norms,
            update_ratios=update_ratios.astype(np.float64),
            edge_grads=edge_grads, edge_updates=edge_updates, weights=weights, biases=biases,
            metrics_step=metrics_step,
            prelu_slopes=slopes,
            history_steps=h_steps, history_loss=h_loss, history_grad_norms=h_gn,
            steps_per_second=self._steps_per_second,
            backend=self.backend.name, device=self.backend.device,
            diverged=self.diverged, diverged_at=self.diverged_at,
            boundary=boundary, boundary_extent=extent,
            **stats, **facts,
        )

    def edge_arrays(self, indices) -> dict[str, list[np.ndarray]]:
        """Per weight layer, ``|dL/dW|``, ``|last update|`` and ``W`` at the flat indices
        ``i * fan_out + j`` of ``indices[l]`` (1-D, in that order; None: the whole layer,
        ``(fan_in, fan_out)``), and every bias vector: the per-edge part of a display frame of a big
        net without copying every edge (``snapshot(edges=True)`` copies all of them). NumPy."""
        net, xp = self.network, self.xp
        if any(len(shape) != 2 for _, _, shape in net.w_slices):
            raise NotImplementedError("edge_arrays reads dense (fan_in, fan_out) layers only; use snapshot()")
        if len(indices) != len(net.w_slices):
            raise ValueError(f"expected {len(net.w_slices)} index arrays (one per weight layer), got {len(indices)}")
        out: dict[str, list[np.ndarray]] = {"edge_grads": [], "edge_updates": [], "weights": []}
        for (a, b, shape), flat in zip(net.w_slices, indices):
            if flat is None:
                pick = slice(a, b)
            else:
                flat = np.asarray(flat, dtype=np.int64)
                if flat.size and (flat.min() < 0 or flat.max() >= b - a):
                    raise IndexError(f"edge index out of range for a {shape[0]}x{shape[1]} layer")
                pick = xp.asarray(flat + a)
            for name, buf, f in (("edge_grads", net.grad, abs), ("edge_updates", self.optimizer.update, abs),
                                 ("weights", net.theta, None)):
                v = to_numpy(buf[pick])
                v = np.abs(v) if f else v.copy()
                out[name].append(v.reshape(shape) if flat is None else v)
        out["biases"] = [to_numpy(x).copy() for x in net.b]
        return out

    def decision_surface(self, resolution: int):
        """Model output (probability of class 1 / value / argmax class) on a grid over the inputs."""
        x0, x1, y0, y1 = self.data.extent
        gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
        points = np.stack([gx.ravel(), gy.ravel()], axis=1)
        out = self.predict(points)
        values = out[:, 0] if out.shape[1] == 1 else (out[:, 1] if out.shape[1] == 2 else out.argmax(1))
        return values.reshape(resolution, resolution).astype(np.float64), (x0, x1, y0, y1)

    def predict(self, inputs) -> np.ndarray:
        """Eval-mode predictions for raw (uncentred) inputs: probabilities, or values for regression."""
        x = self._user_inputs(inputs)
        with np.errstate(all="ignore"):
            out = self.network.forward(x, training=False, keep=False)
            return to_numpy(self.loss_fn.output(self.xp, out)).astype(np.float64)

    # --------------------------------------------------------------------------- gradients API
    def gradients(self, inputs, targets) -> Gradients:
        """Loss and gradients at the current parameters for a batch, without updating anything.

        Training-mode forward (batch statistics; noisy_relu's noise from a fixed per-step stream,
        so repeated calls agree). ``targets`` are class labels (n,) or dense targets (n, k).
        Training state (gradient buffer, caches, running statistics, random streams) is untouched.
        """
        xp, net = self.xp, self.network
        x, y = self._user_inputs(inputs), self._user_targets(targets)
        saved = (net.grad.copy(), net.caches, net.signals, getattr(net, "last_input", None))
        try:
            noise = xp.random.default_rng(_seed(self.config.seed, 4, self.step_count))
            with np.errstate(all="ignore"):
                loss = float(self._forward_backward(x, y, noise, update_stats=False))
            flat = to_numpy(net.grad).astype(np.float64)
            extra = {
                "gamma": [to_numpy(g).copy() for g in net.dgamma],
                "beta": [to_numpy(b).copy() for b in net.dbeta],
                "prelu_slopes": to_numpy(net.dslopes).copy() if net.slope_slice else np.zeros(0),
            }
            result = Gradients(loss, [to_numpy(g).copy() for g in net.dW],
                               [to_numpy(g).copy() for g in net.db], extra, flat)
        finally:
            net.grad[...] = saved[0]
            net.caches, net.signals, net.last_input = saved[1], saved[2], saved[3]
        return result

    def get_state(self) -> dict:
        """The complete training state (see engine/state.py): ``{"config", "meta", "arrays"}``;
        ``set_state`` on a Simulation of the same config continues with identical numbers."""
        from .state import get_state
        meta, arrays = get_state(self)
        return {"config": self.config, "meta": meta, "arrays": arrays}

    def set_state(self, state: dict) -> None:
        from .state import set_state
        set_state(self, state["meta"], state["arrays"])

    def parameters(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """NumPy copies of the weights (fan_in, fan_out) and biases, input side first."""
        return ([to_numpy(w).copy() for w in self.network.W], [to_numpy(b).copy() for b in self.network.b])

    def set_parameters(self, weights, biases) -> None:
        net = self.network
        for dst, src in zip(net.W + net.b, list(weights) + list(biases)):
            if tuple(np.shape(src)) != tuple(dst.shape):
                raise ValueError(f"parameter shape {np.shape(src)} does not match {dst.shape}")
            dst[...] = self.xp.asarray(src, dtype=self.dtype)
        self._metrics = None   # the kept evaluation was of other parameters

    def flat_parameters(self) -> np.ndarray:
        return to_numpy(self.network.theta).astype(np.float64)

    def set_flat_parameters(self, theta) -> None:
        theta = np.asarray(theta)
        if theta.shape != (self.network.n_params,):
            raise ValueError(f"expected {self.network.n_params} parameters, got shape {theta.shape}")
        self.network.theta[...] = self.xp.asarray(theta, dtype=self.dtype)
        self._metrics = None

    def weight_slices(self) -> list[tuple[int, int, tuple[int, int]]]:
        return list(self.network.w_slices)

    # --------------------------------------------------------------------------- loss grids
    def losses_at(self, thetas, split: str = "train", inputs=None, targets=None, chunk: int = GRID_CHUNK,
                  progress=None) -> np.ndarray:
        """Loss (eval mode) at each row of ``thetas`` (g, n_params), batched on the backend.

        Grid points are stacked as a leading dimension of the weights, ``chunk`` at a time; on
        NumPy the chunks are split over two threads (matmul releases the GIL). ``progress(done,
        total)`` is called after each chunk; returning False cancels (the rest stays NaN).
        """
        xp = self.xp
        if inputs is not None:
            x, y = self._user_inputs(inputs), self._user_targets(targets)
        elif split == "train":
            x, y = self.x_train, self.y_train
        elif split == "test":
            x, y = self.x_test, self.y_test
        else:
            raise ValueError(f"split must be 'train' or 'test', not {split!r}")
        thetas = np.asarray(thetas)
        if thetas.ndim != 2 or thetas.shape[1] != self.network.n_params:
            raise ValueError(f"thetas must have shape (g, {self.network.n_params}), got {thetas.shape}")
        g = thetas.shape[0]
        result = np.full(g, np.nan)
        bounds = [(a, min(a + chunk, g)) for a in range(0, g, chunk)]

        def work(bound):
            a, b = bound
            block = xp.asarray(thetas[a:b], dtype=self.dtype)
            with np.errstate(all="ignore"):
                result[a:b] = to_numpy(self.network.losses_of_stack(block, x, y, self.loss_fn))
            return b - a

        done = 0
        if self.backend.name == "numpy" and len(bounds) > 1:
            with ThreadPoolExecutor(max_workers=2) as pool:
                futures = [pool.submit(work, bd) for bd in bounds]
                for fut in futures:
                    done += fut.result()
                    if progress is not None and progress(done, g) is False:
                        for other in futures:
                            other.cancel()
                        break
        else:
            for bd in bounds:
                done += work(bd)
                if progress is not None and progress(done, g) is False:
                    break
        return result
