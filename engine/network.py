"""The multilayer perceptron: dense layers (optionally batch/layer-normalised) on flat buffers.

All parameters live in one flat array ``theta`` and all gradients in ``grad`` with the same
layout, so optimisers, clipping and per-layer norms are a few array calls whatever the depth.
Per weight layer ``l``: ``W_l`` (fan_in, fan_out) then ``b_l``; then per hidden layer the norm's
``gamma_l, beta_l``; then one prelu slope per hidden layer. ``W[l]``/``dW[l]``... are views.

Forward per hidden layer: ``a = x @ W + b`` (pre-activation; the back-propagated signal dL/da is
what ``signals`` holds), ``s = gamma * norm(a) + beta`` (or ``s = a``), ``h = f(s)``.
"""
from __future__ import annotations

from itertools import groupby

import numpy as np

from .activations import ACTIVATIONS
from .flatparams import adopt, flat_layout, initial_values
from .initializers import INITIALIZERS
from .kernels import FUSED_MIN_ELEMENTS, fused_activation, multiply_into
from .layers.residual import skip_sources

NORM_EPS = 1e-5


class LayerCache:
    """What backward needs from the forward pass of one hidden layer, kept for the probes too:
    ``x`` the layer's input, ``s`` the activation's input (after normalisation), ``h`` its output,
    ``d`` its derivative f'(s), ``u`` the normalised pre-activation and ``inv_std`` (norm layers).

    A layer of the compiled path keeps no derivative (backward recomputes it from ``s``/``h`` in
    the same pass as the product with dL/dh); ``d`` is then computed on first read, by the plain
    path's formula."""

    __slots__ = ("x", "s", "h", "_d", "u", "inv_std", "_derive")

    def __init__(self, x, s, h, d, u=None, inv_std=None, derive=None):
        self.x, self.s, self.h, self._d, self.u, self.inv_std = x, s, h, d, u, inv_std
        self._derive = derive      # () -> d, for a layer that kept none

    @property
    def d(self):
        if self._d is None and self._derive is not None:
            self._d, self._derive = self._derive(), None
        return self._d


class _Workspace:
    """Buffers the training loop reuses every step, for one batch size ``n``: per weight layer the
    pre-activation ``a`` (the last one is the network's output), per hidden layer the activation
    ``h``, its derivative ``d`` and the back-propagated ``g``. With ``fused`` (compiled activation
    passes), layers of at least ``FUSED_MIN_ELEMENTS`` get no ``d``: backward recomputes f' from
    ``a`` and ``h`` (at 50 x 1024, batch 256, that buffer was 51 MB never written)."""

    def __init__(self, xp, dtype, n, sizes, fused: bool = False):
        self.n = n
        self.a = [xp.empty((n, w), dtype=dtype) for w in sizes[1:]]
        self.h = _runs_of_layers(xp, dtype, n, sizes[1:-1])
        self.d = _runs_of_layers(xp, dtype, n, sizes[1:-1], skip=FUSED_MIN_ELEMENTS if fused else None)
        self.g = _runs_of_layers(xp, dtype, n, sizes[1:-1])   # (signals: one call per run, probes.sq_sums)


def _runs_of_layers(xp, dtype, n, widths, skip=None):
    """One (n, w) buffer per layer, each run of consecutive layers of one width sliced from one
    (k, n, w) block: a snapshot's unit statistics read such a run with no copy (probes.py). Layers
    of at least ``skip`` elements get None (no buffer)."""
    out = []
    for w, run in groupby(widths):
        k = len(list(run))
        if skip is not None and n * w >= skip:
            out.extend([None] * k)
        else:
            block = xp.empty((k, n, w), dtype=dtype)
            out.extend(block[i] for i in range(k))
    return out


class _NoWorkspace:
    """Stands in for a workspace when nothing is reused: every buffer is None (allocate)."""

    class _Nones:
        def __getitem__(self, index):
            return None

    a = h = d = g = _Nones()


_NO_WORKSPACE = _NoWorkspace()


class Network:
    def __init__(self, backend, config, n_inputs: int, n_outputs: int, rng: np.random.Generator):
        xp = self.xp = backend.xp
        self.dtype = np.dtype(config.dtype)
        self.config = config
        self.sizes = [n_inputs, *config.widths, n_outputs]
        self.depth = config.depth
        self.n_layers = len(self.sizes) - 1
        self.act = ACTIVATIONS[config.activation]
        self.norm = config.norm
        self.act_param = self.act.param_value(config)
        # compiled passes for a += b, h = f(a) and for g * f'(a), where they give the same numbers
        self._fused = (fused_activation(config.activation, self.dtype, xp)
                       if self.norm == "none" and not self.act.noisy and not self.act.learnable else None)
        self.skips = skip_sources(config)      # {last layer of a block: its first layer}
        self._block_firsts = set(self.skips.values())

        # ---- the flat buffers (engine/flatparams.py) and their initial values
        layout = flat_layout(list(zip(self.sizes[:-1], self.sizes[1:])), self.sizes[1:],
                             config.widths if self.norm != "none" else (),
                             self.depth if self.act.learnable else 0)
        adopt(self, layout)
        init = INITIALIZERS[config.init]
        host = initial_values(layout, config,
                              lambda shape: init(rng, *shape, sigma=config.init_sigma, gain=config.init_gain))
        self.theta[...] = xp.asarray(host, dtype=self.dtype)

        self.running_mean = [xp.zeros(w, dtype=self.dtype) for w in config.widths]
        self.running_var = [xp.ones(w, dtype=self.dtype) for w in config.widths]
        self.caches: list[LayerCache] = []
        self.signals: list = []        # dL/da per weight layer from the last backward
        self._ones = {}
        self._ws = None                # buffers of the training loop (``reuse``), for one batch size

    # ------------------------------------------------------------------------------- views
    def _views(self, flat, slices):
        return [flat[a:b].reshape(shape) for a, b, shape in slices]

    def _bind_views(self):
        self.W, self.dW = self._views(self.theta, self.w_slices), self._views(self.grad, self.w_slices)
        self.b, self.db = self._views(self.theta, self.b_slices), self._views(self.grad, self.b_slices)
        self.gamma, self.dgamma = self._views(self.theta, self.gamma_slices), self._views(self.grad, self.gamma_slices)
        self.beta, self.dbeta = self._views(self.theta, self.beta_slices), self._views(self.grad, self.beta_slices)
        if self.slope_slice:
            a, b, _ = self.slope_slice
            self.slopes, self.dslopes = self.theta[a:b], self.grad[a:b]
        # views made once rather than per step: W^T, and gradients as (1, n) rows for ones @ g
        self._WT = [w.T for w in self.W]
        self._db_rows = [d.reshape(1, -1) for d in self.db]
        self._dgamma_rows = [d.reshape(1, -1) for d in self.dgamma]
        self._dbeta_rows = [d.reshape(1, -1) for d in self.dbeta]

    def _ones_row(self, n):
        ones = self._ones.get(n)
        if ones is None:
            ones = self._ones[n] = self.xp.ones((1, n), dtype=self.dtype)
        return ones

    def _derive(self, s, h, p):
        """The derivative of a compiled-path layer, when a probe asks for it."""
        return lambda: self._fused.derivative(self.xp, s, h, p)

    def _param(self, l):
        return self.slopes[l] if self.slope_slice else self.act_param

    # ------------------------------------------------------------------------------- workspace
    def _workspace(self, n: int) -> "_Workspace":
        ws = self._ws
        if ws is None or ws.n != n:
            ws = self._ws = _Workspace(self.xp, self.dtype, n, self.sizes, fused=self._fused is not None)
        return ws

    # ------------------------------------------------------------------------------- forward
    def forward(self, x, training: bool = True, noise_rng=None, update_stats: bool = False,
                keep: bool = True, reuse: bool = False):
        """Outputs (logits) for a batch; with ``keep`` the per-layer caches stay for ``backward``.

        ``training`` uses batch statistics for batch norm and adds noisy_relu's noise (drawn from
        ``noise_rng``); ``update_stats`` also moves batch norm's running statistics. ``reuse``
        writes into buffers kept between calls (the training loop): the caches, signals and
        outputs of the previous ``reuse`` call are overwritten.
        """
        xp, act = self.xp, self.act
        ws = self._workspace(x.shape[0]) if reuse else _NO_WORKSPACE
        in_place = act.forward_out is not None
        caches = []
        block_inputs = {}
        for l in range(self.depth):
            if l in self._block_firsts:
                block_inputs[l] = x
            a = xp.dot(x, self.W[l], out=ws.a[l])
            fused = self._fused is not None and keep and ws.h[l] is not None
            if fused:      # one compiled pass: bias, activation (and f' where the layer keeps it)
                if ws.d[l] is None:
                    h, d = self._fused.forward(a, self.b[l], ws.h[l], self.act_param), None
                else:
                    h = self._fused.forward_derive(a, self.b[l], ws.h[l], ws.d[l], self.act_param)
                    d = ws.d[l]
            else:
                a += self.b[l]
            u = inv_std = None
            if self.norm == "none":
                s = a
            else:
                if self.norm == "layer" or training:
                    axis = 1 if self.norm == "layer" else 0
                    mean = a.mean(axis=axis, keepdims=True)
                    centred = a - mean
                    var = (centred * centred).mean(axis=axis, keepdims=True)
                    if update_stats and self.norm == "batch":
                        m = self.config.norm_momentum
                        n = a.shape[0]
                        self.running_mean[l] *= 1 - m
                        self.running_mean[l] += m * mean[0]
                        self.running_var[l] *= 1 - m
                        self.running_var[l] += (m * n / max(n - 1, 1)) * var[0]  # unbiased, as PyTorch
                else:
                    centred = a - self.running_mean[l]
                    var = self.running_var[l]
                inv_std = 1.0 / xp.sqrt(var + NORM_EPS)
                u = centred * inv_std
                s = u * self.gamma[l] + self.beta[l]
            if act.noisy and training and noise_rng is not None and self.act_param > 0:
                s = s + self.act_param * noise_rng.standard_normal(s.shape, dtype=self.dtype)
            p = self._param(l)
            if fused:      # h (and d) came with the bias add; without d, backward recomputes f'(a)
                pass
            elif in_place and ws.h[l] is not None:
                h = act.forward_out(xp, s, p, ws.h[l])
                d = act.derivative_out(xp, s, h, p, ws.d[l]) if keep else None
            else:
                h = act.forward(xp, s, p)
                d = act.derivative(xp, s, h, p) if keep else None
            if keep:
                caches.append(LayerCache(x, s, h, d, u, inv_std, self._derive(s, h, p) if d is None else None))
            x = h + block_inputs.pop(self.skips[l]) if l in self.skips else h   # h <- h + F(h)
        if keep:
            self.caches, self.last_input = caches, x
        out = xp.dot(x, self.W[-1], out=ws.a[-1])
        out += self.b[-1]
        return out

    # ------------------------------------------------------------------------------- backward
    def backward(self, dout, reuse: bool = False):
        """Fill ``grad`` from dL/dout (the loss's gradient, batch mean included).

        With ``reuse`` (after a ``reuse`` forward) dL/da is computed in place in kept buffers."""
        xp = self.xp
        ws = self._workspace(dout.shape[0]) if reuse else _NO_WORKSPACE
        ones = self._ones_row(dout.shape[0])
        L = self.n_layers - 1
        xp.dot(self.last_input.T, dout, out=self.dW[L])
        xp.dot(ones, dout, out=self._db_rows[L])  # ones @ g: faster than sum on small arrays;
        # dot rather than matmul: less overhead per call, and faster with a transposed operand
        signals = [None] * self.n_layers
        signals[L] = dout
        g = xp.dot(dout, self._WT[L], out=ws.g[L - 1])   # dL/dh of the last hidden layer
        skip_grads = {}
        for l in range(self.depth - 1, -1, -1):
            c = self.caches[l]
            if l in self.skips:                  # the block's output also feeds its input directly
                skip_grads[self.skips[l]] = g.copy()
            if self.slope_slice:
                self.dslopes[l] = (g * xp.minimum(c.s, 0)).sum()
            if c._d is None and ws.g[l] is not None:                       # the compiled path
                g = self._fused.backward(g, c.s, c.h, self.act_param, ws.g[l])   # dL/ds
            else:
                g = multiply_into(xp, g, c.d, ws.g[l]) if ws.g[l] is not None else g * c.d

            if self.norm != "none":
                xp.dot(ones, g * c.u, out=self._dgamma_rows[l])
                xp.dot(ones, g, out=self._dbeta_rows[l])
                gu = g * self.gamma[l]
                axis = 1 if self.norm == "layer" else 0
                # d/da of (a - mean) / std over `axis`, for batch statistics
                g = c.inv_std * (gu - gu.mean(axis=axis, keepdims=True)
                                 - c.u * (gu * c.u).mean(axis=axis, keepdims=True))
            signals[l] = g                       # dL/da
            xp.dot(c.x.T, g, out=self.dW[l])
            xp.dot(ones, g, out=self._db_rows[l])
            if l > 0:
                g = xp.dot(g, self._WT[l], out=ws.g[l - 1])
                if l in skip_grads:
                    g += skip_grads.pop(l)
        self.signals = signals

    # ------------------------------------------------------------------------------- grid
    def losses_of_stack(self, thetas, x, y, loss):
        """Loss (eval mode) for each row of ``thetas`` (g, n_params) at once: the grid points are a
        leading batch dimension of every weight matrix, so the work is a few batched matmuls."""
        xp = self.xp
        g = thetas.shape[0]

        def part(sl):
            a, b, shape = sl
            return thetas[:, a:b].reshape((g, *shape))

        h = x
        block_inputs = {}
        for l in range(self.depth):
            if l in self._block_firsts:
                block_inputs[l] = h
            a = h @ part(self.w_slices[l])            # (B, fi) @ (g, fi, fo) -> (g, B, fo)
            a += part(self.b_slices[l])[:, None, :]
            if self.norm == "none":
                s = a
            else:
                if self.norm == "layer":
                    mean = a.mean(axis=2, keepdims=True)
                    centred = a - mean
                    var = (centred * centred).mean(axis=2, keepdims=True)
                else:
                    centred = a - self.running_mean[l]
                    var = self.running_var[l]
                s = centred / xp.sqrt(var + NORM_EPS)
                s = s * part(self.gamma_slices[l])[:, None, :] + part(self.beta_slices[l])[:, None, :]
            if self.slope_slice:
                p = thetas[:, self.slope_slice[0] + l].reshape(g, 1, 1)
            else:
                p = self.act_param
            if self.act.forward_out is not None and s is a:
                h = self.act.forward_out(xp, a, p, a)  # in place: a is this call's own array
            else:
                h = self.act.forward(xp, s, p)
            if l in self.skips:
                h = h + block_inputs.pop(self.skips[l])
        out = h @ part(self.w_slices[-1])
        out += part(self.b_slices[-1])[:, None, :]
        return loss.value(xp, out, y)
