"""Colour maps, log scaling, colour-bar helpers and the dark/light theme palettes.

Every view that colours magnitudes (gradients, weights, updates) goes through :func:`log_positions`
with one decade range, so the same colour means the same number everywhere on screen. Maps are
perceptual and colour-blind-safe (viridis, cividis, CET); markers differ in shape as well as colour.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtGui, QtWidgets

# Okabe-Ito colours (safe for the common colour-vision deficiencies); markers also differ in shape.
OKABE_ITO = {
    "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000",
}

THEMES: dict[str, dict[str, str]] = {
    "dark": {
        "background": "#101216",
        "foreground": "#F2F2F2",
        "muted": "#A8ADB5",         # secondary text, axis lines
        "accent": OKABE_ITO["sky_blue"],
        "node_fill_low": "#30343B",  # node fill at zero activation
        "node_fill_high": "#FFFFFF",  # node fill at the largest activation
        "node_outline": "#C8CCD2",
        "dead": OKABE_ITO["vermillion"],      # dead unit: big X
        "dead_outline": "#FFFFFF",
        "saturated": OKABE_ITO["purple"],     # saturated / inactive unit: square ring (not in viridis)
        "edge_cmap": "viridis",     # low end dark: fading gradients sink into the background
        "panel": "#1B1E24",
        "skip": OKABE_ITO["orange"],          # residual skip arcs
    },
    "light": {
        "background": "#FFFFFF",
        "foreground": "#111111",
        "muted": "#555A61",
        "accent": OKABE_ITO["blue"],
        "node_fill_low": "#F4F4F4",
        "node_fill_high": "#202020",
        "node_outline": "#3A3A3A",
        "dead": OKABE_ITO["vermillion"],
        "dead_outline": "#000000",
        "saturated": "#A8437E",      # reddish purple, darker for white (not in viridis)
        "edge_cmap": "viridis@0:0.6",  # same meaning as dark (purple weak -> green strong); strong edges keep 3:1 on white
        "panel": "#EEF0F3",
        "skip": OKABE_ITO["vermillion"],      # residual skip arcs
    },
}


# Two data series (weights vs signal, train vs test): the same hues in both themes, the light theme's
# darker so that every line keeps >= 3:1 contrast on its background (WCAG 2 non-text contrast).
SERIES = {"dark": (OKABE_ITO["sky_blue"], OKABE_ITO["orange"]), "light": (OKABE_ITO["blue"], OKABE_ITO["vermillion"])}


def luminance(color) -> float:
    """WCAG relative luminance of a colour (hex string or QColor)."""
    c = QtGui.QColor(color)

    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
    return 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF())


def contrast(a, b) -> float:
    """WCAG contrast ratio between two colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def legible_range(cmap_name: str, background, minimum: float = 3.0, n: int = 201) -> tuple[float, float]:
    """The widest [lo, hi] of a colour map whose colours all have ``minimum`` contrast on ``background``."""
    cmap = colormap(cmap_name)
    pos = np.linspace(0.0, 1.0, n)
    ok = np.array([contrast(cmap.map(float(p), mode="qcolor"), background) >= minimum for p in pos])
    if not ok.any():
        return 0.0, 1.0
    # the longest run of legible positions
    best, start = (0, 0), None
    for i, good in enumerate(np.append(ok, False)):
        if good and start is None:
            start = i
        elif not good and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return float(pos[best[0]]), float(pos[best[1] - 1])


def theme(name: str) -> dict[str, str]:
    """The palette for ``"dark"`` or ``"light"`` (a copy, safe to modify)."""
    if name not in THEMES:
        raise ValueError(f"unknown theme {name!r} (allowed: {', '.join(THEMES)})")
    return dict(THEMES[name])


def colormap(name: str) -> pg.ColorMap:
    """A pyqtgraph colour map by name; ``NAME_r`` reverses it, ``NAME@0.1`` starts it at 10%."""
    start, end = 0.0, 1.0
    if "@" in name:
        name, frac = name.split("@")
        start, _, stop = frac.partition(":")
        start, end = float(start), float(stop) if stop else 1.0
    reverse = name.endswith("_r")
    cmap = copy.deepcopy(pg.colormap.get(name[:-2] if reverse else name))  # get() may share
    if reverse:
        cmap.reverse()
    if start > 0.0 or end < 1.0:
        cmap = pg.ColorMap(np.linspace(0.0, 1.0, 128), cmap.getLookupTable(start, end, 128, alpha=True))
    return cmap


def edge_colormap(theme_name: str) -> pg.ColorMap:
    """The magnitude map of a theme: its low end fades towards the background."""
    return colormap(THEMES[theme_name]["edge_cmap"])


def lut(cmap: pg.ColorMap, n: int = 64) -> np.ndarray:
    """``n`` evenly spaced RGBA bytes of ``cmap``, shape (n, 4)."""
    return cmap.getLookupTable(0.0, 1.0, n, alpha=True)


def decade_range(arrays, max_decades: int = 8, min_decades: int = 2,
                 low_quantile: float = 0.01) -> tuple[float, float]:
    """A log scale ``(vmin, vmax)`` that spans the data, both powers of ten.

    ``vmax`` is the next power of ten at or above the largest finite value; ``vmin`` reaches down to
    the ``low_quantile`` of the positive values, but the span stays within
    ``[min_decades, max_decades]``. Whole decades keep the colour bar's ticks still while training.
    """
    tops, lows = [], []
    for a in arrays:
        a = np.asarray(a)
        if a.dtype.kind != "f":
            a = a.astype(np.float64)
        a = a.ravel()                      # float32 stays float32: no 8-byte copy of big layers
        pos = a[np.isfinite(a) & (a > 0)]
        if pos.size:
            tops.append(float(pos.max()))
            k = int(low_quantile * (pos.size - 1))     # the lower order statistic: one partition
            lows.append(float(np.partition(pos, k)[k]))
    if not tops:
        return 10.0 ** -min_decades, 1.0
    hi = math.ceil(math.log10(max(tops)))
    lo = math.floor(math.log10(max(min(lows), 1e-300)))
    lo = min(max(lo, hi - max_decades), hi - min_decades)
    return 10.0 ** lo, 10.0 ** hi


def log_positions(values, vmin: float, vmax: float) -> np.ndarray:
    """Map magnitudes to ``[0, 1]`` on a log scale: ``vmin -> 0``, ``vmax -> 1``.

    Values a decade apart land evenly spaced. Zeros, negatives, NaN and values below ``vmin`` map to
    0; values above ``vmax`` (and +inf) map to 1. Never warns.
    """
    v = np.asarray(values, dtype=np.float64)
    lo, hi = math.log10(vmin), math.log10(vmax)
    span = hi - lo if hi > lo else 1.0
    out = np.zeros(v.shape, dtype=np.float64)
    ok = np.isfinite(v) & (v > 0)
    np.log10(v, out=out, where=ok)
    out -= lo
    out /= span
    out[~ok] = 0.0
    out[np.isposinf(v)] = 1.0
    np.clip(out, 0.0, 1.0, out=out)
    return out


def to_bins(positions: np.ndarray, n_bins: int) -> np.ndarray:
    """Colour-bin index (uint8/uint16) of positions in ``[0, 1]``."""
    idx = (np.asarray(positions) * (n_bins - 1) + 0.5).astype(np.intp)
    np.clip(idx, 0, n_bins - 1, out=idx)
    return idx.astype(np.uint8 if n_bins <= 256 else np.uint16)


def sci(value: float, digits: int = 2) -> str:
    """Compact scientific text for labels: ``3.2e-4``, ``1e-6``, ``0``, ``nan``."""
    if value is None or not np.isfinite(value):
        return "nan" if value is None or np.isnan(value) else ("inf" if value > 0 else "-inf")
    if value == 0:
        return "0"
    if 1e-2 <= abs(value) < 1e3:
        return f"{value:.{digits + 1}g}"
    mant, exp = f"{value:.{max(digits - 1, 0)}e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


FLOAT32_TINY = 1.1754944e-38   # smallest normal float32: a norm of 0 means "underflowed below this"


def magnitude_text(value: float, digits: int = 2) -> str:
    """A norm or ratio as text that never says 'nan' for something measurable.

    0 reads "< 1e-38" (underflow: the float32 engine cannot hold a smaller positive number),
    infinity "overflow", NaN "not finite".
    """
    if value is None or np.isnan(value):
        return "not finite"
    if np.isinf(value):
        return "overflow" if value > 0 else "-overflow"
    if value == 0:
        return "< 1e-38"
    return sci(value, digits)


def decade_ticks(vmin: float, vmax: float, max_ticks: int = 9) -> list[tuple[float, str]]:
    """Ticks for a colour bar whose axis runs in log10 units: ``[(log10 v, "1e-6"), ...]``."""
    lo, hi = round(math.log10(vmin)), round(math.log10(vmax))
    step = max(1, math.ceil((hi - lo + 1) / max_ticks))
    ticks = []
    for k in range(hi, lo - 1, -step):
        ticks.append((float(k), "1" if k == 0 else ("10" if k == 1 else f"1e{k}")))
    return ticks[::-1]


def log_color_bar(cmap: pg.ColorMap, vmin: float, vmax: float, label: str = "",
                  font_pt: int = 14, width: int = 28) -> pg.ColorBarItem:
    """A non-interactive vertical colour bar whose tick labels are real values on a log scale."""
    bar = pg.ColorBarItem(values=(math.log10(vmin), math.log10(vmax)), colorMap=cmap, width=width,
                          interactive=False, colorMapMenu=False, label=label)
    font = QtGui.QFont()
    font.setPointSize(font_pt)
    bar.axis.setStyle(tickFont=font, tickTextOffset=6)
    bar.axis.setWidth(int(font_pt * 4.2))
    bar.getAxis("left").label.setFont(font)
    for key in ("left", "right", "top", "bottom"):   # painted again only when they change
        bar.getAxis(key).setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
    set_log_color_bar_range(bar, vmin, vmax)
    return bar


def set_log_color_bar_range(bar: pg.ColorBarItem, vmin: float, vmax: float) -> None:
    """Move a :func:`log_color_bar` to a new range, with ticks at each decade (an unchanged range is
    left alone: new ticks would lay the axis out again)."""
    if getattr(bar, "_gfl_log_range", None) == (vmin, vmax):
        return
    bar._gfl_log_range = (vmin, vmax)
    bar.setLevels((math.log10(vmin), math.log10(vmax)))
    bar.axis.setTicks([decade_ticks(vmin, vmax)])


def style_color_bar(bar: pg.ColorBarItem, palette: dict[str, str]) -> None:
    """Theme a colour bar's frame, ticks and label."""
    for key in ("left", "right", "top", "bottom"):
        axis = bar.getAxis(key)
        axis.setPen(pg.mkPen(palette["muted"]))
        axis.setTextPen(pg.mkPen(palette["foreground"]))
    label = bar.getAxis("left").labelText
    if label:
        bar.getAxis("left").setLabel(label, color=palette["foreground"])
