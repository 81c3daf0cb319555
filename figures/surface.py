"""The ``surface`` command's figure: the loss surface with axes, ticks, a colour bar and labels.

``render_png(arrays, titles)`` takes the arrays the command writes to surface.npz, so the figure
can be redrawn from that file at any time (:func:`render_npz`). Drawn on matplotlib's Agg canvas
(``Figure`` + ``FigureCanvasAgg``): no pyplot state, no GUI backend.
"""
from __future__ import annotations

import io

import numpy as np

DPI = 100
LABEL_PT = 15
TICK_PT = 13
TITLE_PT = 16
PATH_COLOR = "#D55E00"      # Okabe-Ito vermillion: the path, on viridis
START_COLOR = "white"
CMAP = "viridis"


def _figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": "Gradient Flow Lab"})
    return buf.getvalue()


def _style(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel, fontsize=LABEL_PT)
    ax.set_ylabel(ylabel, fontsize=LABEL_PT)
    ax.set_title(title, fontsize=TITLE_PT, loc="left")
    ax.tick_params(labelsize=TICK_PT)


def _log_levels(z: np.ndarray, n: int = 24):
    finite = z[np.isfinite(z) & (z > 0)]
    if not finite.size:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        hi = lo * 1.01 + 1e-12
    return np.geomspace(lo, hi, n)


def _heat(fig, ax, x, y, loss, cbar_label: str):
    """Filled log-spaced contours of ``loss`` (rows along y) with thin contour lines and a colour bar."""
    from matplotlib.colors import LogNorm

    z = np.where(np.isfinite(loss) & (loss > 0), loss, np.nan)
    levels = _log_levels(z)
    if levels is None:
        ax.text(0.5, 0.5, "no finite loss on the grid", transform=ax.transAxes, ha="center", fontsize=LABEL_PT)
        return None
    norm = LogNorm(vmin=levels[0], vmax=levels[-1])
    filled = ax.contourf(x, y, z, levels=levels, cmap=CMAP, norm=norm, extend="neither")
    ax.contour(x, y, z, levels=levels[::2], colors="k", linewidths=0.5, alpha=0.45, norm=norm)
    bar = fig.colorbar(filled, ax=ax, shrink=0.92, pad=0.02)
    bar.set_label(cbar_label, fontsize=LABEL_PT)
    bar.ax.tick_params(labelsize=TICK_PT)
    _log_ticks(bar, levels[0], levels[-1])
    return filled


def _path(ax, path: np.ndarray, start=None, end=None, label="path", end_label="end") -> None:
    path = np.asarray(path, dtype=float).reshape(-1, 2)
    if len(path) > 1:
        ax.plot(path[:, 0], path[:, 1], color="white", lw=4.5, alpha=0.9, solid_capstyle="round")
        ax.plot(path[:, 0], path[:, 1], color=PATH_COLOR, lw=2.0, marker="o" if len(path) <= 300 else None,
                ms=3.5, label=label)
    if start is not None:
        from matplotlib import patheffects
        ax.plot(*np.asarray(start, float), marker="o", ms=13, mfc="none", mec=START_COLOR, mew=2.5,
                ls="none", label="start",
                path_effects=[patheffects.Stroke(linewidth=4.5, foreground="black"), patheffects.Normal()])
    if end is not None:
        ax.plot(*np.asarray(end, float), marker="X", ms=14, mfc=START_COLOR, mec="black", mew=1.2,
                ls="none", label=end_label)


def _legend_below(ax) -> None:
    """The legend under the axes: never over the data."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=TICK_PT, frameon=False)


def _log_ticks(bar, lo: float, hi: float) -> None:
    """Colour-bar ticks at whole decades (1e-3, 1e-2, ...), or a few rounded values in a narrow range."""
    from matplotlib.ticker import FixedLocator, FuncFormatter

    decades = 10.0 ** np.arange(np.ceil(np.log10(lo)), np.floor(np.log10(hi)) + 1)
    ticks = decades if len(decades) >= 2 else np.array([float(f"{v:.2g}") for v in np.geomspace(lo, hi, 5)])
    bar.ax.yaxis.set_major_locator(FixedLocator(ticks))
    bar.ax.yaxis.set_minor_locator(FixedLocator([]))
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _short(v)))


def _short(v: float) -> str:
    if v == 0:
        return "0"
    if 1e-2 <= abs(v) < 1e3:
        return f"{v:.3g}"
    mant, exp = f"{v:.1e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}" if mant != "1" else f"1e{int(exp)}"


def render_neuron(arrays: dict, titles: list[list[str]] | None = None) -> bytes:
    """Two panels, positive and zero-centred inputs: loss of the two-weight neuron over (w1, w2)
    on one colour scale, the optimiser's path, the start and the minimum."""
    w1, w2, loss = arrays["w1"], arrays["w2"], np.asarray(arrays["loss"], float)
    inputs = [str(s) for s in np.atleast_1d(arrays["inputs"])]
    start, target = arrays["start"], arrays["target"]
    fig = _figure(16, 8)
    axes = fig.subplots(1, 2, sharey=True)
    from matplotlib.colors import LogNorm

    z_all = np.where(np.isfinite(loss) & (loss > 0), loss, np.nan)
    levels = _log_levels(z_all)
    norm = LogNorm(vmin=levels[0], vmax=levels[-1]) if levels is not None else None
    filled = None
    for k, ax in enumerate(axes):
        if levels is not None:
            filled = ax.contourf(w1, w2, z_all[k], levels=levels, cmap=CMAP, norm=norm)
            ax.contour(w1, w2, z_all[k], levels=levels[::2], colors="k", linewidths=0.5, alpha=0.45, norm=norm)
        _path(ax, arrays[f"path_{k}"], start, target, label="path", end_label="minimum (teacher's weights)")
        steps = int(np.atleast_1d(arrays["steps_to_min"])[k])
        ratio = float(np.atleast_1d(arrays["path_ratio"])[k])
        head = titles[k] if titles else [f"{inputs[k]} inputs"]
        sub = f"steps to the minimum: {steps if steps >= 0 else 'not reached'} · path / straight line {ratio:.2f}"
        _style(ax, "w1", "w2" if k == 0 else "", head[0] + "\n" + sub)
        _legend_below(ax)
    if filled is not None:
        bar = fig.colorbar(filled, ax=list(axes), shrink=0.9, pad=0.015)
        bar.set_label("loss L(w1, w2) (log scale)", fontsize=LABEL_PT)
        bar.ax.tick_params(labelsize=TICK_PT)
        _log_ticks(bar, levels[0], levels[-1])
    opt = f"{arrays['optimizer']} lr {float(arrays['lr']):g} batch {int(arrays['batch_size']) or 'full'}"
    fig.suptitle(f"Two-weight neuron: positive vs zero-centred inputs ({opt})", fontsize=TITLE_PT + 2,
                 fontweight="bold")
    return _png(fig)


def render_network(arrays: dict, titles: list[str] | None = None) -> bytes:
    """A 2D slice of the network's loss around its parameters (log colour), the trajectory
    projected onto it, and the 1D slice along the first direction."""
    alphas, betas = arrays["alphas"], arrays["betas"]
    loss = np.asarray(arrays["loss"], float)
    kind = str(arrays["directions_kind"])
    fig = _figure(16, 8)
    heat_ax, line_ax = fig.subplots(1, 2, width_ratios=(1.25, 1))
    _heat(fig, heat_ax, alphas, betas, loss, "training loss (log colour)")
    path = np.asarray(arrays["path"], float).reshape(-1, 2)
    if len(path):
        _path(heat_ax, path, path[0], path[-1], label="training path", end_label="now (the slice's centre)")
        _legend_below(heat_ax)
    names = ("PC 1", "PC 2") if kind == "pca" else ("direction 1 (α)", "direction 2 (β)")
    if kind == "pca" and "explained" in arrays:
        ex = np.atleast_1d(arrays["explained"])
        names = tuple(f"PC {i + 1} ({ex[i]:.0%} of the path)" for i in range(2))
    head = titles[0] if titles else f"{kind} directions"
    _style(heat_ax, names[0], names[1], head)
    a1, l1 = np.asarray(arrays["alphas_1d"], float), np.asarray(arrays["loss_1d"], float)
    ok = np.isfinite(l1) & (l1 > 0)
    line_ax.plot(a1[ok], l1[ok], color="#0072B2", lw=3, label="loss along direction 1")
    line_ax.set_yscale("log")
    line_ax.axvline(0.0, color="0.4", ls="--", lw=1.5, label="now (α = 0)")
    if len(path):
        on_line = np.interp(path[:, 0], a1[ok], l1[ok]) if ok.sum() > 1 else np.full(len(path), np.nan)
        line_ax.plot(path[:, 0], on_line, "o", color=PATH_COLOR, ms=5, label="path, projected")
    line_ax.grid(True, which="both", alpha=0.3)
    _style(line_ax, names[0], "training loss", titles[1] if titles and len(titles) > 1 else "1D slice")
    from matplotlib.ticker import FuncFormatter
    line_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _short(v)))
    line_ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _pos: _short(v)))
    _legend_below(line_ax)
    fig.suptitle(f"Loss landscape around the network after {int(arrays['steps'])} steps",
                 fontsize=TITLE_PT + 2, fontweight="bold")
    return _png(fig)


def render_png(arrays: dict, titles=None) -> bytes:
    """The figure for a surface.npz's arrays (``kind`` says which)."""
    kind = str(arrays["kind"])
    if titles is None and "figure_titles" in arrays:
        import json
        titles = json.loads(str(arrays["figure_titles"]))
    if kind == "neuron":
        return render_neuron(arrays, titles)
    if kind == "network":
        return render_network(arrays, titles)
    raise ValueError(f"unknown surface kind {kind!r}")


def render_npz(path) -> bytes:
    """Redraw a figure from a surface.npz written by the ``surface`` command."""
    with np.load(path) as data:
        return render_png({k: data[k] for k in data.files})
