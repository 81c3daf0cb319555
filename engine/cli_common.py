"""What the headless subcommands share: usage errors, the config options, the run summary, and the
CSV, table and weight files they write. ``engine/cli.py`` (run, sweep, presets, config) and the
subcommands in their own modules (``check_cli``, ``compare_cli``) import it; it imports none of them.
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
from pathlib import Path

import numpy as np

from .config import FIELD_NAMES, Config

EXIT_IO, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class UsageError(Exception):
    """A user error that is not about one config value (exit 2)."""


def registry_help() -> str:
    from .activations import ACTIVATIONS
    from .config import BACKENDS, DTYPES, NORMS
    from .datasets import DATASETS
    from .initializers import INITIALIZERS
    from .losses import LOSSES
    from .optimizers import OPTIMIZERS

    defaults = Config()
    lines = ["config keys for --set key=value (default in brackets):"]
    line = "  "
    for name in FIELD_NAMES:
        value = getattr(defaults, name)
        item = f"{name} [{value if not isinstance(value, tuple) else ','.join(map(str, value)) or '-'}]  "
        if len(line) + len(item) > 100:
            lines.append(line.rstrip())
            line = "  "
        line += item
    lines.append(line.rstrip())
    for title, names in (("activation", ACTIVATIONS), ("init", INITIALIZERS), ("loss", LOSSES),
                         ("optimizer", OPTIMIZERS), ("dataset", DATASETS), ("norm", NORMS),
                         ("backend", BACKENDS), ("dtype", DTYPES)):
        lines.append(f"{title}: {' | '.join(names)}")
    return "\n".join(lines)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--preset/--config/--set/--steps/--seed/--backend, shared by every subcommand that runs."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", metavar="NAME", help="start from a preset (see `presets`)")
    source.add_argument("--config", metavar="FILE", help="start from a config TOML file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key (repeatable), e.g. --set lr=0.05 --set width=8,16")
    parser.add_argument("--steps", type=int, metavar="N", help="training steps (default: the config's)")
    parser.add_argument("--seed", type=int, metavar="S", help="random seed")
    parser.add_argument("--backend", choices=("auto", "numpy", "cupy"),
                        help="array backend (default: the config's; env GRADFLOW_BACKEND for auto)")


def parser_prog() -> str:
    return "gradflow"


def resolve_config(args) -> tuple[Config, str]:
    """The Config that the arguments describe, and a label of where it came from."""
    for flag in ("preset", "config"):
        value = getattr(args, flag, None)
        if value is not None and not value.strip():
            raise UsageError(f"--{flag} is empty: give a {'preset name (see `presets`)' if flag == 'preset' else 'TOML file'}"
                             " or leave the option out for the defaults")
    if getattr(args, "preset", None):
        from .presets import load_preset
        config, label = load_preset(args.preset).config, f"preset {args.preset}"
    elif getattr(args, "config", None):
        config, label = Config.load(args.config), args.config
    else:
        config, label = Config(), "defaults"
    config = config.with_overrides(args.overrides)
    changes = {k: getattr(args, k) for k in ("steps", "seed", "backend") if getattr(args, k, None) is not None}
    if getattr(args, "every", None) is not None:
        changes["every"] = args.every
    return (config.replace(**changes) if changes else config), label


def metric_columns(snap) -> list[str]:
    L, H = snap.n_weight_layers, len(snap.dead_fraction)
    cols = ["step", "loss", "test_loss", "accuracy", "test_accuracy"]
    for name, n in (("grad_norm", L), ("bias_grad_norm", L), ("signal_norm", L), ("update_ratio", L),
                    ("dead_fraction", H), ("saturated_fraction", H), ("act_mean", H), ("act_std", H)):
        cols += [f"{name}_{i}" for i in range(n)]
    return cols + ["steps_per_second"]


def metric_row(snap) -> list:
    row = [snap.step, snap.loss, snap.test_loss, snap.accuracy, snap.test_accuracy]
    for arr in (snap.grad_norms, snap.bias_grad_norms, snap.signal_norms, snap.update_ratios,
                snap.dead_fraction, snap.saturated_fraction, snap.act_mean, snap.act_std):
        row += [float(v) for v in arr]
    return row + [snap.steps_per_second]


def csv_text(columns, rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([f"{v:.9g}" if isinstance(v, float) else v for v in row])
    return buf.getvalue()


def finite_or_none(x: float):
    return float(x) if math.isfinite(float(x)) else None


def run_summary(sim, snap, label, wall, steps_done) -> dict:
    return {
        "source": label,
        "steps": snap.step,
        "final_loss": finite_or_none(snap.loss),
        "final_accuracy": finite_or_none(snap.accuracy),
        "test_loss": finite_or_none(snap.test_loss),
        "test_accuracy": finite_or_none(snap.test_accuracy),
        "grad_norm_ratio_first_last": finite_or_none(snap.grad_ratio),
        "grad_norms": [finite_or_none(v) for v in snap.grad_norms],
        "signal_norms": [finite_or_none(v) for v in snap.signal_norms],
        "dead_fraction": finite_or_none(snap.dead_fraction.mean()) if len(snap.dead_fraction) else 0.0,
        "dead_fraction_per_layer": [finite_or_none(v) for v in snap.dead_fraction],
        "saturated_fraction": finite_or_none(snap.saturated_fraction.mean()),
        "diverged": bool(snap.diverged),
        "diverged_at": int(snap.diverged_at) if snap.diverged else None,
        "steps_per_second": steps_done / wall if wall > 0 else None,
        "backend": sim.backend.name,
        "device": sim.backend.device,
        "backend_reason": sim.backend.reason,
    }


def weights_npz(sim) -> bytes:
    weights, biases = sim.parameters()
    arrays = {f"W_{i}": w for i, w in enumerate(weights)}
    arrays.update({f"b_{i}": b for i, b in enumerate(biases)})
    arrays["theta"] = sim.flat_parameters()
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="step", dynamic_ncols=True, leave=False, file=sys.stderr)


def make_out_dir(out: Path) -> None:
    """A folder for files written one at a time (sweep.csv), checked before any training."""
    from .rundir import RunDirError, check_out_dir
    try:
        path = check_out_dir(out) if not Path(out).is_dir() else Path(out)
    except RunDirError as exc:
        raise UsageError(str(exc)) from None
    path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out} is not writable")
    for stale in path.glob(".sweep.csv.*.tmp"):  # left by a sweep killed mid-write
        stale.unlink(missing_ok=True)


def grid_value_text(v) -> str:
    return ":".join(map(str, v)) if isinstance(v, tuple) else str(v)


def csv_cell(v):
    return "" if v is None else v


def text_table(columns, rows) -> str:
    def text(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)
    cells = [[text(v) for v in row] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)
