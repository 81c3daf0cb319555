"""The convolutional network: conv layers (per-channel norm, activation, optional 2x2 pooling,
residual blocks), then a dense head, on the same flat parameter/gradient buffers as the MLP.

Layout per weight layer ``l``: ``W_l`` then ``b_l`` — conv weights ``(out_channels, in_channels,
k, k)`` as in PyTorch, dense weights ``(fan_in, fan_out)``; then per hidden layer (conv layers
first) the norm's ``gamma_l, beta_l`` (one per channel / unit); then one prelu slope per hidden
layer. Inputs arrive flat ``(N, C*H*W)`` in (C, H, W) order; inside, maps are channels-last. The
head flattens in PyTorch's (C, H, W) order. It answers the same questions as ``Network``
(forward, backward, caches, signals, losses_of_stack), so the simulation, probes and snapshot
code are shared.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATIONS
from .config import ConfigError
from .flatparams import adopt, flat_layout, initial_values
from .initializers import INITIALIZERS
from .layers.conv import conv_backward, conv_forward, output_size
from .layers.norm import norm_backward, norm_forward
from .layers.pool import pool_backward, pool_forward
from .layers.residual import skip_sources

VIEW_CHANNELS = 32   # kernels per axis a snapshot carries for the views


@dataclass
class ConvSpec:
    in_channels: int
    out_channels: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]       # after the convolution
    pooled_hw: tuple[int, int]    # after pooling (= out_hw without)
    pool: bool


@dataclass
class Cache:
    """One hidden layer's forward facts: ``h`` and ``d`` are 2-D (samples x positions, units) so
    the probes see a conv channel as they see a unit."""
    x: object
    s: object
    h: object
    d: object
    u: object = None
    inv_std: object = None
    cols: object = None
    pool: object = None
    shape: tuple = ()


class ConvNetwork:
    def __init__(self, backend, config, image_shape, n_outputs: int, rng: np.random.Generator):
        xp = self.xp = backend.xp
        self.dtype = np.dtype(config.dtype)
        self.config = config
        self.act = ACTIVATIONS[config.activation]
        self.act_param = self.act.param_value(config)
        self.norm = config.norm
        self.image_shape = tuple(int(v) for v in image_shape)
        c, h, w = self.image_shape
        k, st, pad = config.kernel_size, config.stride, config.padding
        self.specs: list[ConvSpec] = []
        for l, out_c in enumerate(config.channels):
            ho, wo = output_size(h, k, st, pad), output_size(w, k, st, pad)
            if ho < 1 or wo < 1:
                raise ConfigError("channels", config.channels, "fewer conv layers, a smaller kernel or stride, "
                                  "or more padding", f"conv layer {l + 1} gets a {h}x{w} map, smaller than its "
                                  f"{k}x{k} kernel (kernel_size={k}, stride={st}, padding={pad})")
            pool = config.pool != "none" and (l + 1) % config.pool_every == 0
            if pool and (ho < 2 or wo < 2):
                raise ConfigError("pool_every", config.pool_every, "pooling only where a map is at least 2x2",
                                  f"conv layer {l + 1}'s {ho}x{wo} map is too small for 2x2 pooling")
            ph, pw = (ho // 2, wo // 2) if pool else (ho, wo)
            self.specs.append(ConvSpec(c, out_c, (h, w), (ho, wo), (ph, pw), pool))
            c, h, w = out_c, ph, pw
        self.n_conv = len(self.specs)
        self.flat_features = c * h * w
        self.dense_sizes = [self.flat_features, *config.widths, n_outputs]
        self.depth = self.n_conv + config.depth            # hidden layers (with an activation)
        self.n_layers = self.n_conv + config.depth + 1     # weight layers
        self.hidden_widths = [s.out_channels for s in self.specs] + list(config.widths)
        # graph columns: input channels, each conv layer's channels, the head's units
        self.sizes = [self.image_shape[0], *self.hidden_widths, n_outputs]
        self.kinds = ["conv"] * self.n_conv + ["dense"] * (config.depth + 1)
        self.skips = skip_sources(config)
        self._block_firsts = set(self.skips.values())

        shapes = [(s.out_channels, s.in_channels, k, k) for s in self.specs]
        shapes += list(zip(self.dense_sizes[:-1], self.dense_sizes[1:]))
        bias_sizes = [s.out_channels for s in self.specs] + self.dense_sizes[1:]
        layout = flat_layout(shapes, bias_sizes, self.hidden_widths if self.norm != "none" else (),
                             self.depth if self.act.learnable else 0)
        adopt(self, layout)
        init = INITIALIZERS[config.init]

        def draw(shape):
            if len(shape) == 4:   # fans as PyTorch counts them: in*k*k and out*k*k
                o, i, kh, kw = shape
                m = init(rng, i * kh * kw, o * kh * kw, sigma=config.init_sigma, gain=config.init_gain)
                return np.ascontiguousarray(m[:, :o].T)
            return init(rng, *shape, sigma=config.init_sigma, gain=config.init_gain)
        self.theta[...] = xp.asarray(initial_values(layout, config, draw), dtype=self.dtype)

        self.running_mean = [xp.zeros(wd, dtype=self.dtype) for wd in self.hidden_widths]
        self.running_var = [xp.ones(wd, dtype=self.dtype) for wd in self.hidden_widths]
        self.caches: list[Cache] = []
        self.signals: list = []
        self.last_input = None
        self._ones = {}

    # ------------------------------------------------------------------------------- views
    def _views(self, flat, slices):
        return [flat[a:b].reshape(shape) for a, b, shape in slices]

    def _params(self, flat):
        """(W, b, gamma, beta, slopes) as views of one flat vector (theta, grad or a grid row)."""
        slopes = flat[self.slope_slice[0]:self.slope_slice[1]] if self.slope_slice else None
        return (self._views(flat, self.w_slices), self._views(flat, self.b_slices),
                self._views(flat, self.gamma_slices), self._views(flat, self.beta_slices), slopes)

    def _bind_views(self):
        self.W, self.b, self.gamma, self.beta, self.slopes = self._params(self.theta)
        self.dW, self.db, self.dgamma, self.dbeta, self.dslopes = self._params(self.grad)

    def _ones_row(self, n):
        ones = self._ones.get(n)
        if ones is None:
            ones = self._ones[n] = self.xp.ones((1, n), dtype=self.dtype)
        return ones

    # ------------------------------------------------------------------------------- forward
    def _hidden(self, l, a, params, training, noise_rng, update_stats):
        """Norm and activation of hidden layer ``l``'s pre-activation ``a`` (last axis = units)."""
        xp, act = self.xp, self.act
        _, _, gamma, beta, slopes = params
        u = inv_std = None
        s = a
        if self.norm != "none":
            s, u, inv_std = norm_forward(xp, a, self.norm, gamma[l], beta[l], training,
                                         self.running_mean[l], self.running_var[l],
                                         self.config.norm_momentum, update_stats)
        if act.noisy and training and noise_rng is not None and self.act_param > 0:
            s = s + self.act_param * noise_rng.standard_normal(s.shape, dtype=self.dtype)
        p = slopes[l] if slopes is not None else self.act_param
        h = act.forward(xp, s, p)
        return s, h, u, inv_std, p

    def forward(self, x, training: bool = True, noise_rng=None, update_stats: bool = False,
                keep: bool = True, reuse: bool = False, params=None):
        """Logits for flat inputs ``x`` (N, C*H*W); ``params`` (from ``_params``) replaces theta."""
        xp, act = self.xp, self.act
        params = params or (self.W, self.b, self.gamma, self.beta, self.slopes)
        W, b = params[0], params[1]
        n = x.shape[0]
        c0, h0, w0 = self.image_shape
        z = xp.ascontiguousarray(x.reshape(n, c0, h0, w0).transpose(0, 2, 3, 1))
        caches, block_inputs, maps = [], {}, []
        for l, spec in enumerate(self.specs):
            if l in self._block_firsts:
                block_inputs[l] = z
            a, cols = conv_forward(xp, z, W[l], b[l], self.config.stride, self.config.padding)
            s, h, u, inv_std, p = self._hidden(l, a, params, training, noise_rng, update_stats)
            out = h + block_inputs.pop(self.skips[l]) if l in self.skips else h   # h <- h + F(h)
            pool = None
            if spec.pool:
                out, pool = pool_forward(xp, out, self.config.pool)
            if keep:
                ch = spec.out_channels
                d = act.derivative(xp, s, h, p)
                caches.append(Cache(z, s, h.reshape(-1, ch), d.reshape(-1, ch), u, inv_std, cols, pool, a.shape))
            z = out
        z = z.transpose(0, 3, 1, 2).reshape(n, -1)   # flatten as PyTorch: (C, H, W)
        for j in range(self.config.depth):
            l = self.n_conv + j
            a = xp.dot(z, W[l])
            a += b[l]
            s, h, u, inv_std, p = self._hidden(l, a, params, training, noise_rng, update_stats)
            if keep:
                caches.append(Cache(z, s, h, act.derivative(xp, s, h, p), u, inv_std))
            z = h
        if keep:
            self.caches, self.last_input = caches, z
        out = xp.dot(z, W[-1])
        out += b[-1]
        return out

    # ------------------------------------------------------------------------------- backward
    def backward(self, dout, reuse: bool = False):
        """Fill ``grad`` from dL/dout (batch mean included); ``signals`` gets dL/da per layer."""
        xp, cfg = self.xp, self.config
        n = dout.shape[0]
        L = self.n_layers - 1
        xp.dot(self.last_input.T, dout, out=self.dW[L])
        xp.dot(self._ones_row(n), dout, out=self.db[L].reshape(1, -1))
        signals = [None] * self.n_layers
        signals[L] = dout
        g = xp.dot(dout, self.W[L].T)
        skip_grads = {}
        for l in range(self.depth - 1, -1, -1):
            c = self.caches[l]
            conv = l < self.n_conv
            if conv:
                spec = self.specs[l]
                if l == self.n_conv - 1:     # unflatten the head's input gradient
                    ph, pw = spec.pooled_hw
                    g = xp.ascontiguousarray(g.reshape(n, spec.out_channels, ph, pw).transpose(0, 2, 3, 1))
                if spec.pool:
                    g = pool_backward(xp, g, c.pool, cfg.pool)
                if l in self.skips:             # the block's output also feeds its input directly
                    skip_grads[self.skips[l]] = g.copy()
                d = c.d.reshape(c.s.shape)
            else:
                d = c.d
            if self.slope_slice:
                self.dslopes[l] = (g * xp.minimum(c.s, 0)).sum()
            g = g * d                            # dL/ds
            if self.norm != "none":
                g = norm_backward(xp, g, c.u, c.inv_std, self.gamma[l], self.norm, self.dgamma[l], self.dbeta[l])
            signals[l] = g                       # dL/da
            if conv:
                ones = self._ones_row(g.shape[0] * g.shape[1] * g.shape[2])
                g = conv_backward(xp, g, c.cols, self.W[l], c.x.shape, cfg.stride, cfg.padding,
                                  self.dW[l], self.db[l], ones, need_input_grad=l > 0)
                if l in skip_grads:
                    g = g + skip_grads.pop(l)
            else:
                xp.dot(c.x.T, g, out=self.dW[l])
                xp.dot(self._ones_row(n), g, out=self.db[l].reshape(1, -1))
                g = xp.dot(g, self.W[l].T)
        self.signals = signals

    # ------------------------------------------------------------------------------- grid
    def losses_of_stack(self, thetas, x, y, loss):
        """Loss (eval mode) at each row of ``thetas`` (g, n_params): one forward per row."""
        xp = self.xp
        values = xp.empty(thetas.shape[0], dtype=self.dtype)
        for i in range(thetas.shape[0]):
            out = self.forward(x, training=False, keep=False, params=self._params(thetas[i]))
            values[i] = loss.value(xp, out, y)
        return values

    # ------------------------------------------------------------------------------- for the views
    def graph_matrices(self, flat, signed: bool = False) -> list[np.ndarray]:
        """Per weight layer, one (nodes in, nodes out) matrix for the network graph: a conv layer's
        entry [i, o] is the norm of kernel W[o, i]; the head's first layer's is the norm of the
        weights from input channel i to unit o; dense layers are themselves (|.| unless signed)."""
        from .backend import to_numpy

        mats = []
        for l, (a, b, shape) in enumerate(self.w_slices):
            m = to_numpy(flat[a:b]).reshape(shape).astype(np.float64)
            if len(shape) == 4:
                mats.append(np.sqrt((m * m).sum(axis=(2, 3))).T)
            elif l == self.n_conv:
                ch = self.specs[-1].out_channels
                blocks = m.reshape(ch, -1, shape[1])
                mats.append(np.sqrt((blocks * blocks).sum(axis=1)))
            else:
                mats.append(m if signed else np.abs(m))
        return mats

    def view_facts(self, update) -> dict:
        """Plain NumPy facts the views draw: kernels, their gradients, one sample's feature maps."""
        from .backend import to_numpy

        conv = range(self.n_conv)
        facts = {
            "layer_kinds": tuple(self.kinds),
            # a frame carries what the views draw: at most VIEW_CHANNELS x VIEW_CHANNELS kernels a layer
            "kernels": tuple(to_numpy(self.W[l][:VIEW_CHANNELS, :VIEW_CHANNELS]).astype(np.float64) for l in conv),
            "kernel_grads": tuple(to_numpy(self.dW[l][:VIEW_CHANNELS, :VIEW_CHANNELS]).astype(np.float64)
                                  for l in conv),
            "feature_maps": (), "sample_image": None,
        }
        if self.caches:
            c0, h0, w0 = self.image_shape
            facts["sample_image"] = to_numpy(self.caches[0].x[0]).astype(np.float64).transpose(2, 0, 1).copy()
            maps = []
            for l in conv:
                ho, wo = self.specs[l].out_hw
                h = to_numpy(self.caches[l].h).reshape(-1, ho, wo, self.specs[l].out_channels)[0]
                maps.append(h.astype(np.float64).transpose(2, 0, 1).copy())
            facts["feature_maps"] = tuple(maps)
        return facts
