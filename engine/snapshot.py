"""What the views and the CLI see of a simulation: immutable, NumPy only."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The state after the last training step, plus the per-step history since the last snapshot.

    Lists are per weight layer, input side first (``depth + 1`` entries) unless said otherwise;
    per-unit lists are per hidden layer (``depth`` entries). Weight-shaped arrays are
    ``(fan_in, fan_out)``. Every array is a NumPy array owned by this snapshot.
    """

    step: int                             # steps trained so far
    loss: float                           # training loss of the last step's batch (before its update)
    test_loss: float                      # loss on the held-out set (nan when there is none)
    accuracy: float                       # training-set accuracy (nan for regression)
    test_accuracy: float
    # gradients, per weight layer
    grad_norms: np.ndarray                # ||dL/dW_l||, shape (L,)
    bias_grad_norms: np.ndarray           # ||dL/db_l||, shape (L,)
    signal_norms: np.ndarray              # ||dL/da_l||, a_l = x_l @ W_l + b_l (pre-activation), (L,)
    update_ratios: np.ndarray             # ||dW_l|| / ||W_l|| of the last update, (L,)
    edge_grads: list[np.ndarray]          # |dL/dW_l|, (fan_in, fan_out)
    edge_updates: list[np.ndarray]        # |last update of W_l|, (fan_in, fan_out)
    weights: list[np.ndarray]             # W_l, (fan_in, fan_out)
    biases: list[np.ndarray]              # b_l, (fan_out,)
    # units, per hidden layer
    dead_fraction: np.ndarray             # share of units inactive (zero derivative) for the whole batch, (depth,)
    saturated_fraction: np.ndarray        # share of unit outputs with derivative < 5% of its max, (depth,)
    act_mean: np.ndarray                  # mean activation per hidden layer, (depth,)
    act_std: np.ndarray                   # std of activations per hidden layer, (depth,)
    unit_activation: list[np.ndarray]     # mean |h| per unit over the batch, (width_l,)
    unit_dead: list[np.ndarray]           # bool per unit, (width_l,)
    unit_saturation: list[np.ndarray]     # per unit: share of the batch where it is saturated, (width_l,)
    activation_samples: list[np.ndarray]  # the hidden outputs h_l of the last batch, flattened (for histograms)
    prelu_slopes: np.ndarray              # learned prelu slope per hidden layer (nan when not prelu), (depth,)
    # history since the previous snapshot (one entry per step; empty when none)
    history_steps: np.ndarray             # (k,)
    history_loss: np.ndarray              # (k,)
    history_grad_norms: np.ndarray        # (k, L)
    # run facts
    steps_per_second: float
    backend: str                          # "numpy" | "cupy"
    device: str                           # e.g. "CPU (NumPy 2.1, 2 threads)" or the GPU's name
    diverged: bool                        # a non-finite loss or gradient appeared
    diverged_at: int                      # the first step that was non-finite (-1 when not diverged)
    metrics_step: int = -1                # the step accuracy, test_loss and test_accuracy were computed at
    boundary: np.ndarray | None = None    # model output on a grid over the 2D input plane, (r, r)
    boundary_extent: tuple[float, float, float, float] | None = None  # x0, x1, y0, y1 of that grid
    # architecture facts for the views (issue 11). For a CNN the lists above are the graph's view,
    # one node per channel: edge_grads[l][i, o] = ||dL/dW_l[o, i]|| over the k x k kernel (and for
    # the head's first layer over the map positions of channel i); unit_* are per channel.
    layer_kinds: tuple[str, ...] = ()     # per weight layer: "conv" | "dense"
    skips: tuple[tuple[int, int], ...] = ()   # residual arcs as graph columns (from, to); column 0 = input
    kernels: tuple[np.ndarray, ...] = ()  # per conv layer W (out_channels, in_channels, k, k), first 32 x 32
    kernel_grads: tuple[np.ndarray, ...] = ()   # per conv layer dL/dW, same shapes (sim.gradients has all)
    feature_maps: tuple[np.ndarray, ...] = ()   # per conv layer, one sample's activation maps (C, H, W)
    sample_image: np.ndarray | None = None      # that sample's input image (C, H, W)

    @property
    def n_weight_layers(self) -> int:
        return len(self.grad_norms)

    @property
    def is_cnn(self) -> bool:
        return "conv" in self.layer_kinds

    @property
    def grad_ratio(self) -> float:
        """First-layer over last-layer gradient norm: << 1 means the gradient vanishes."""
        last = float(self.grad_norms[-1])
        return float(self.grad_norms[0]) / last if last > 0 else float("nan")
