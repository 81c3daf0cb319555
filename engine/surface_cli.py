"""The headless ``surface`` subcommand: a loss surface as NPZ data and a PNG figure.

    python main.py surface --preset zigzag --out runs/zz                 # the two-weight neuron
    python main.py surface --config my.toml --kind network --directions pca --out runs/pca

The engine computes and writes surface.npz; the figure (surface.png, with axes, ticks, a colour
bar and labels) is drawn from those same arrays by a renderer outside the engine -- ``main.py``
sets ``figure_renderer`` to ``figures.surface.render_png`` (matplotlib, Agg) -- so this module never
imports a plotting or GUI library. Without a renderer only the NPZ is written.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from . import surface as S
from .config import Config, ConfigError, atomic_write_bytes
from .presets import load_preset

KINDS = ("neuron", "network")
# (arrays, titles) -> PNG bytes; set by main.py (figures.surface.render_png). None: NPZ only.
figure_renderer = None


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
        arrays, titles, summary = _neuron(config, neuron_table, res, args.steps)
    else:
        arrays, titles, summary = _network(config, args.directions, res, args.steps, args.span)
    import io
    import json
    arrays["figure_titles"] = np.array(json.dumps(titles))   # the figure can be redrawn from the NPZ alone
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    png = figure_renderer(arrays, titles) if figure_renderer is not None else None
    atomic_write_bytes(out / "surface.npz", buf.getvalue())
    if png is not None:
        atomic_write_bytes(out / "surface.png", png)
    print(f"{label}: {summary} ({time.perf_counter() - t0:.1f} s)")
    if png is not None:
        print(f"wrote {out / 'surface.npz'} and {out / 'surface.png'}")
    else:
        print(f"wrote {out / 'surface.npz'} (no figure: run through main.py for surface.png)")
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
    titles = [_neuron_title(s) for s in (a, b)]
    summary = "; ".join(f"{s.problem.inputs}: steps to minimum {_steps_text(s.stats)}, "
                        f"path/straight {s.stats.path_ratio:.2f}" for s in (a, b))
    return arrays, titles, summary


def _steps_text(stats) -> str:
    return str(stats.steps_to_min) if stats.steps_to_min is not None else "never"


def _neuron_title(s) -> list[str]:
    p = s.problem
    return [f"{S.INPUT_CAPTIONS.get(p.inputs, p.inputs)}", f"{p.optimizer} lr {p.lr:g} batch {p.batch_size or 'full'}"]


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
    expl = f", PCs explain {surf.explained[0]:.0%} and {surf.explained[1]:.0%}" if directions == "pca" else ""
    titles = [f"{config.activation}, depth {config.depth}, width {config.widths[0]}: {directions} directions, "
              f"{res}x{res}{expl}", "1D slice along direction 1"]
    finite = surf.loss[np.isfinite(surf.loss)]
    summary = (f"{directions} slice {res}x{res} after {sim.step_count} steps, loss "
               f"{finite.min():.4g}..{finite.max():.4g}" if finite.size else "no finite loss on the grid")
    return arrays, titles, summary


if __name__ == "__main__":
    sys.exit(main())
