"""The headless ``surface`` subcommand: a loss surface as NPZ data and a PNG figure.

    python main.py surface --preset zigzag --out runs/zz                 # the two-weight neuron
    python main.py surface --config my.toml --kind network --directions pca --out runs/pca

The PNG is drawn by a small NumPy rasteriser (heatmap, contour lines, path, 5x7 bitmap text), so
this path never imports Qt or matplotlib.
"""
from __future__ import annotations

import argparse
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from . import surface as S
from .config import Config, ConfigError, atomic_write_bytes
from .presets import load_preset

KINDS = ("neuron", "network")


class UsageError(Exception):
    """A bad argument: printed as one line, exit status 2."""


# ===================================================================================== argparse
def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``surface`` subcommand; its handler is ``args.func(args) -> exit status``."""
    p = subparsers.add_parser(
        "surface", help="loss surface of the two-weight neuron or of a network (NPZ + PNG)",
        description="Write a loss surface as surface.npz (grid, path, numbers) and surface.png. "
                    "--kind neuron: the two-weight neuron f = w1 x1 + w2 x2 with positive vs "
                    "zero-centred inputs (settings from the file's [neuron] table). --kind network: "
                    "train the config's network for --steps steps recording its parameters, then "
                    "slice its loss along two directions through the final parameters.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", metavar="NAME", help="a preset from assets/presets (e.g. zigzag)")
    src.add_argument("--config", metavar="FILE", help="a TOML config file ([config] and optional [neuron])")
    p.add_argument("--kind", choices=KINDS, default=None,
                   help="neuron | network (default: neuron when the file has a [neuron] table, else network)")
    p.add_argument("--directions", choices=S.DIRECTIONS, default="random",
                   help="network slice directions: random (filter-normalised) | pca (of the trajectory)")
    p.add_argument("--resolution", type=int, default=None, metavar="N",
                   help=f"grid points per axis, 3..{S.MAX_RESOLUTION} (default 41 network, 101 neuron)")
    p.add_argument("--steps", type=int, default=None, metavar="N",
                   help="training steps (network; default: the config's steps) or optimiser steps (neuron)")
    p.add_argument("--span", type=float, default=1.0, help="network grid half-width (random) or zoom (pca)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a config field, e.g. --set lr=0.05 (repeatable)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.set_defaults(func=run_surface_command)
    return p


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m engine.surface_cli surface ...``) with the same handler."""
    parser = argparse.ArgumentParser(prog="surface")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def run_surface_command(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (UsageError, ConfigError, S.NeuronError) as exc:
        print(f"surface: error: {exc}", file=sys.stderr)
        return 2


# ===================================================================================== work
def _load(args) -> tuple[Config, dict, str]:
    """Config, the raw [neuron] table (may be empty) and a label naming the source."""
    if args.preset is not None:
        try:
            preset = load_preset(args.preset)  # keeps the [neuron] table in preset.extra
        except ConfigError as exc:
            if exc.key != "preset":
                raise
            raise UsageError(f"invalid value for '--preset': {args.preset!r} (allowed: {exc.allowed})") from None
        config, neuron, label = preset.config, preset.extra.get("neuron", {}), args.preset
    else:
        path = Path(args.config)
        if not path.is_file():
            raise UsageError(f"invalid value for '--config': {args.config!r} (allowed: an existing TOML file)")
        label = path.stem
        from .config import parse_toml
        from .fileio import UnreadableFile, read_text
        try:
            data = parse_toml(read_text(path), str(path))  # regular file, size limit; errors name the line
        except UnreadableFile as exc:
            raise UsageError(f"cannot use config file {exc}") from None
        neuron = data.get("neuron", {})
        # Config.from_dict reads the [config] table when present and ignores [preset] / [neuron]
        config = Config.from_dict(data if "config" in data else {k: v for k, v in data.items() if k != "neuron"})
    if not isinstance(neuron, dict):
        raise UsageError("invalid value for 'neuron': not a table (allowed: a [neuron] table)")
    if args.overrides:
        config = config.with_overrides(args.overrides)
    return config, neuron, label


def _run(args) -> int:
    config, neuron_table, label = _load(args)
    kind = args.kind or ("neuron" if neuron_table else "network")
    default_res = 101 if kind == "neuron" else 41
    res = default_res if args.resolution is None else args.resolution
    if not 3 <= res <= S.MAX_RESOLUTION:
        raise UsageError(f"invalid value for '--resolution': {res} (allowed: an integer 3..{S.MAX_RESOLUTION})")
    if args.steps is not None and not 1 <= args.steps <= 1_000_000:
        raise UsageError(f"invalid value for '--steps': {args.steps} (allowed: an integer 1..1000000)")
    if not (np.isfinite(args.span) and 0 < args.span <= 1000):
        raise UsageError(f"invalid value for '--span': {args.span} (allowed: a number in (0, 1000])")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"invalid value for '--out': {args.out!r} (allowed: a writable folder: {exc})")
    if kind != "neuron":  # refuse up front what the machine cannot hold
        from .memory import check_fits, estimate_grid, estimate_simulation
        check_fits(estimate_simulation(config) + estimate_grid(config, res * res),
                   f"a {res}x{res} loss grid of this network")
    t0 = time.perf_counter()
    if kind == "neuron":
        arrays, png, summary = _neuron(config, neuron_table, res, args.steps)
    else:
        arrays, png, summary = _network(config, args.directions, res, args.steps, args.span)
    import io
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(out / "surface.npz", buf.getvalue())
    atomic_write_bytes(out / "surface.png", png)
    print(f"{label}: {summary} ({time.perf_counter() - t0:.1f} s)")
    print(f"wrote {out / 'surface.npz'} and {out / 'surface.png'}")
    return 0


def neuron_pair(problem: S.NeuronProblem) -> tuple[S.NeuronProblem, S.NeuronProblem]:
    """(positive-input problem, zero-centred counterpart), whichever side ``problem`` is on."""
    if problem.positive:
        return problem, problem.replace(inputs="centred")
    return problem.replace(inputs="sigmoid"), problem


def _neuron(config: Config, table: dict, res: int, steps: int | None):
    settings = {"seed": config.seed, **table}
    if steps is not None:
        settings["steps"] = steps
    pos, cen = neuron_pair(S.NeuronProblem.from_dict(settings))
    ext = S.neuron_extent(pos, cen)
    a, b = S.neuron_surface(pos, res, ext), S.neuron_surface(cen, res, ext)
    arrays = dict(
        kind=np.array("neuron"), inputs=np.array([pos.inputs, cen.inputs]), w1=a.w1, w2=a.w2,
        loss=np.stack([a.loss, b.loss]), path_0=a.path, path_1=b.path,
        steps_to_min=np.array([-1 if s.stats.steps_to_min is None else s.stats.steps_to_min for s in (a, b)]),
        path_ratio=np.array([a.stats.path_ratio, b.stats.path_ratio]),
        target=np.array(pos.target), start=np.array(pos.start),
        optimizer=np.array(pos.optimizer), lr=np.array(pos.lr), batch_size=np.array(pos.batch_size))
    panels = [_heat_panel(s.loss, (s.w1[0], s.w1[-1], s.w2[0], s.w2[-1]), s.path, s.problem.start,
                          s.problem.target, _neuron_title(s), s.problem.positive) for s in (a, b)]
    summary = "; ".join(f"{s.problem.inputs}: steps to minimum {_steps_text(s.stats)}, "
                        f"path/straight {s.stats.path_ratio:.2f}" for s in (a, b))
    return arrays, encode_png(_hstack(panels)), summary


def _steps_text(stats) -> str:
    return str(stats.steps_to_min) if stats.steps_to_min is not None else "never"


def _neuron_title(s) -> list[str]:
    p = s.problem
    return [f"{p.inputs} inputs", f"{p.optimizer} lr {p.lr:g} batch {p.batch_size or 'full'}",
            f"steps {_steps_text(s.stats)}  ratio {s.stats.path_ratio:.2f}"]


def _network(config: Config, directions: str, res: int, steps: int | None, span: float):
    from .simulation import Simulation

    sim = Simulation(config)
    n_steps = config.steps if steps is None else steps
    traj = S.record_trajectory(sim, n_steps, points=60) if n_steps > 0 else None
    if directions == "pca" and (traj is None or len(traj) < 3):
        raise UsageError("invalid value for '--steps': PCA directions need a trajectory (allowed: --steps >= 2)")
    try:
        surf = S.network_surface(sim, directions, res, trajectory=traj, span=span, seed=config.seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    arrays = dict(kind=np.array("network"), directions_kind=np.array(directions), alphas=surf.alphas,
                  betas=surf.betas, loss=surf.loss, alphas_1d=surf.alphas_1d, loss_1d=surf.loss_1d,
                  path=surf.path, center=surf.center, directions=surf.directions,
                  explained=surf.explained, steps=np.array(n_steps))
    ext = (surf.alphas[0], surf.alphas[-1], surf.betas[0], surf.betas[-1])
    expl = f"  pc {surf.explained[0]:.0%} {surf.explained[1]:.0%}" if directions == "pca" else ""
    title = [f"{config.activation} depth {config.depth} width {config.widths[0]}",
             f"{directions} {res}x{res}{expl}",
             f"loss {np.nanmin(surf.loss):.3g}-{np.nanmax(surf.loss):.3g}, log colour"]
    ends = (surf.path[0], surf.path[-1]) if len(surf.path) else (None, None)
    heat = _heat_panel(surf.loss, ext, surf.path, ends[0], ends[1], title, False, log=True)
    at_centre = float(np.interp(0.0, surf.alphas_1d, surf.loss_1d))
    line = _line_panel(surf.alphas_1d, surf.loss_1d, surf.path[:, 0] if len(surf.path) else None,
                       ["1d slice, log loss",
                        f"alpha {surf.alphas_1d[0]:.3g} to {surf.alphas_1d[-1]:.3g}",
                        f"loss {np.nanmin(surf.loss_1d):.3g}-{np.nanmax(surf.loss_1d):.3g} at 0 {at_centre:.3g}"])
    finite = surf.loss[np.isfinite(surf.loss)]
    summary = (f"{directions} slice {res}x{res} after {sim.step_count} steps, loss "
               f"{finite.min():.4g}..{finite.max():.4g}" if finite.size else "no finite loss on the grid")
    return arrays, encode_png(_hstack([heat, line])), summary


# ===================================================================================== PNG
# viridis, 9 anchors (matplotlib's values); interpolated linearly in between
_VIRIDIS = np.array([[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
                     [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]], float)

PANEL = 520          # heatmap side in pixels
MARGIN = 40
TITLE_H = 96
SCALE = 3            # bitmap font scale


def colormap(v: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (nan allowed: grey) -> uint8 RGB via viridis."""
    v = np.asarray(v, float)
    nan = ~np.isfinite(v)
    t = np.clip(np.where(nan, 0, v), 0, 1) * (len(_VIRIDIS) - 1)
    i = np.minimum(t.astype(int), len(_VIRIDIS) - 2)
    f = (t - i)[..., None]
    rgb = _VIRIDIS[i] * (1 - f) + _VIRIDIS[i + 1] * f
    rgb[nan] = 128
    return rgb.astype(np.uint8)


def _resample(grid: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour upsampling of a (r, r) grid (rows along y, bottom first) to (size, size), top row first."""
    r_y, r_x = grid.shape
    iy = np.minimum((np.arange(size) + 0.5) * r_y / size, r_y - 1).astype(int)
    ix = np.minimum((np.arange(size) + 0.5) * r_x / size, r_x - 1).astype(int)
    return grid[iy][:, ix][::-1]


def _bilinear(grid: np.ndarray, size: int) -> np.ndarray:
    r_y, r_x = grid.shape
    y = np.linspace(0, r_y - 1, size)
    x = np.linspace(0, r_x - 1, size)
    y0 = np.minimum(y.astype(int), r_y - 2)
    x0 = np.minimum(x.astype(int), r_x - 2)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    g = grid
    top = g[y0][:, x0] * (1 - fx) + g[y0][:, x0 + 1] * fx
    bot = g[y0 + 1][:, x0] * (1 - fx) + g[y0 + 1][:, x0 + 1] * fx
    return (top * (1 - fy) + bot * fy)[::-1]


def _heat_panel(loss, extent, path, start, target, title, quadrants, log=False) -> np.ndarray:
    """A heatmap of ``loss`` with contour lines, the path, start (white ring) and target (white cross)."""
    z = np.log10(np.maximum(loss, 1e-12)) if log else np.sqrt(np.maximum(loss, 0))
    finite = z[np.isfinite(z)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    norm = (z - lo) / (hi - lo if hi > lo else 1.0)
    norm = _bilinear(norm, PANEL) if min(loss.shape) >= 2 else _resample(norm, PANEL)
    img = colormap(norm)
    # contour lines: where the quantised level changes between neighbouring pixels
    bands = np.floor(np.nan_to_num(norm, nan=-1) * 12)
    edge = np.zeros(bands.shape, bool)
    edge[:-1] |= bands[:-1] != bands[1:]
    edge[:, :-1] |= bands[:, :-1] != bands[:, 1:]
    img[edge] = (img[edge] * 0.45).astype(np.uint8)
    x0, x1, y0, y1 = extent

    def to_px(pts):
        pts = np.asarray(pts, float).reshape(-1, 2)
        px = (pts[:, 0] - x0) / (x1 - x0) * (PANEL - 1)
        py = (y1 - pts[:, 1]) / (y1 - y0) * (PANEL - 1)
        return np.stack([px, py], 1)

    if quadrants and start is not None:
        # at the start the minimum lies in quadrant IV, which positive inputs never allow
        _draw_quadrants(img, to_px(start)[0])
    if path is not None and len(path) > 1:
        px = to_px(path)
        _polyline(img, px, (255, 255, 255), 3)
        _polyline(img, px, (230, 80, 20), 1)
        if len(px) <= 400:
            for c in px:
                _polyline(img, np.array([c, c]), (230, 80, 20), 5)
    if start is not None:
        _ring(img, to_px(start)[0], 9, (255, 255, 255))
    if target is not None:
        c = to_px(target)[0]
        for dx, dy in ((1, 1), (1, -1)):
            _polyline(img, np.array([c - 10 * np.array([dx, dy]), c + 10 * np.array([dx, dy])]), (255, 255, 255), 3)
    return _frame(img, title)


def _draw_quadrants(img, c):
    """Shade quadrants I and III (both weights up / both down) around pixel ``c``."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    dx, dy = xx - c[0], c[1] - yy   # dy up
    r = np.hypot(dx, dy)
    mask = (dx * dy > 0) & (r < 110)
    img[mask] = (img[mask] * 0.55 + np.array([255, 255, 255]) * 0.45).astype(np.uint8)


def _polyline(img, pts, color, width):
    h, w = img.shape[:2]
    for a, b in zip(pts[:-1], pts[1:]):
        n = int(max(abs(b - a).max(), 1)) * 2 + 1
        t = np.linspace(0, 1, n)[:, None]
        p = a + (b - a) * t
        for ox in range(-(width // 2), width // 2 + 1):
            for oy in range(-(width // 2), width // 2 + 1):
                x = np.round(p[:, 0] + ox).astype(int)
                y = np.round(p[:, 1] + oy).astype(int)
                ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
                img[y[ok], x[ok]] = color


def _ring(img, c, radius, color):
    t = np.linspace(0, 2 * np.pi, 200)
    for r in (radius - 1, radius, radius + 1):
        pts = np.stack([c[0] + r * np.cos(t), c[1] + r * np.sin(t)], 1)
        _polyline(img, pts, color, 1)


def _line_panel(xs, ys, marks, title) -> np.ndarray:
    img = np.full((PANEL, PANEL, 3), 250, np.uint8)
    good = np.isfinite(ys)
    if good.sum() >= 2:
        y = np.log10(np.maximum(ys[good], 1e-12))
        lo, hi = y.min(), y.max()
        span = hi - lo if hi > lo else 1.0
        px = (xs[good] - xs[0]) / (xs[-1] - xs[0]) * (PANEL - 41) + 20
        py = (1 - (y - lo) / span) * (PANEL - 41) + 20
        for gx in np.linspace(20, PANEL - 21, 5):
            img[20:PANEL - 20, int(gx)] = 215
        zero = (0 - xs[0]) / (xs[-1] - xs[0]) * (PANEL - 41) + 20
        if 0 <= zero < PANEL:
            img[20:PANEL - 20, int(zero)] = 150
        _polyline(img, np.stack([px, py], 1), (33, 100, 160), 3)
    img[[0, -1], :] = 60
    img[:, [0, -1]] = 60
    return _frame(img, title)


def _frame(img, title_lines) -> np.ndarray:
    h, w = img.shape[:2]
    out = np.full((h + TITLE_H + 2 * MARGIN, w + 2 * MARGIN, 3), 255, np.uint8)
    out[MARGIN + TITLE_H:MARGIN + TITLE_H + h, MARGIN:MARGIN + w] = img
    for i, line in enumerate(title_lines):
        _text(out, line, MARGIN, MARGIN // 2 + i * (8 * SCALE + 6))
    return out


def _hstack(panels) -> np.ndarray:
    h = max(p.shape[0] for p in panels)
    return np.concatenate([np.pad(p, ((0, h - p.shape[0]), (0, 0), (0, 0)), constant_values=255)
                           for p in panels], axis=1)


# 5x7 bitmap font: each glyph is 7 rows of 5 bits (MSB left). Lower case is drawn as upper case.
_FONT = {
    "A": "0E 11 11 1F 11 11 11", "B": "1E 11 11 1E 11 11 1E", "C": "0E 11 10 10 10 11 0E",
    "D": "1E 11 11 11 11 11 1E", "E": "1F 10 10 1E 10 10 1F", "F": "1F 10 10 1E 10 10 10",
    "G": "0E 11 10 17 11 11 0F", "H": "11 11 11 1F 11 11 11", "I": "0E 04 04 04 04 04 0E",
    "J": "07 02 02 02 02 12 0C", "K": "11 12 14 18 14 12 11", "L": "10 10 10 10 10 10 1F",
    "M": "11 1B 15 15 11 11 11", "N": "11 11 19 15 13 11 11", "O": "0E 11 11 11 11 11 0E",
    "P": "1E 11 11 1E 10 10 10", "Q": "0E 11 11 11 15 12 0D", "R": "1E 11 11 1E 14 12 11",
    "S": "0F 10 10 0E 01 01 1E", "T": "1F 04 04 04 04 04 04", "U": "11 11 11 11 11 11 0E",
    "V": "11 11 11 11 11 0A 04", "W": "11 11 11 15 15 15 0A", "X": "11 11 0A 04 0A 11 11",
    "Y": "11 11 11 0A 04 04 04", "Z": "1F 01 02 04 08 10 1F",
    "0": "0E 11 13 15 19 11 0E", "1": "04 0C 04 04 04 04 0E", "2": "0E 11 01 02 04 08 1F",
    "3": "1F 02 04 02 01 11 0E", "4": "02 06 0A 12 1F 02 02", "5": "1F 10 1E 01 01 11 0E",
    "6": "06 08 10 1E 11 11 0E", "7": "1F 01 02 04 08 08 08", "8": "0E 11 11 0E 11 11 0E",
    "9": "0E 11 11 0F 01 02 0C", ".": "00 00 00 00 00 0C 0C", "-": "00 00 00 1F 00 00 00",
    ":": "00 0C 0C 00 0C 0C 00", "/": "01 01 02 04 08 10 10", "(": "02 04 08 08 08 04 02",
    ")": "08 04 02 02 02 04 08", "=": "00 00 1F 00 1F 00 00", "+": "00 04 04 1F 04 04 00",
    "%": "18 19 02 04 08 13 03", " ": "00 00 00 00 00 00 00", "_": "00 00 00 00 00 00 1F",
    ",": "00 00 00 00 0C 04 08", "?": "0E 11 01 02 04 00 04",
}


def _text(img, text, x, y, color=(20, 20, 20)):
    for ch in text.upper():
        rows = _FONT.get(ch, _FONT["?"]).split()
        for r, hexrow in enumerate(rows):
            bits = int(hexrow, 16)
            for c in range(5):
                if bits & (1 << (4 - c)):
                    y0, x0 = y + r * SCALE, x + c * SCALE
                    if y0 + SCALE <= img.shape[0] and x0 + SCALE <= img.shape[1]:
                        img[y0:y0 + SCALE, x0:x0 + SCALE] = color
        x += 6 * SCALE


def encode_png(rgb: np.ndarray) -> bytes:
    """Encode an (h, w, 3) uint8 array as a PNG file (zlib + CRC chunks, no dependencies)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    sys.exit(main())
