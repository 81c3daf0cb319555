"""Headless mode: ``python main.py run | sweep | presets | config | surface ...``.

Exit codes: 0 success (a diverged run is a result), 1 an I/O failure (e.g. a full disk), 2 bad usage
or config (the message names the key, the value and what is allowed), 130 / 143 / 129 stopped by
SIGINT / SIGTERM / SIGHUP (what was recorded so far is written first, with a checkpoint for
``run --resume``). Never a traceback for user error.
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import shutil
import sys
import time
from pathlib import Path

from .backend import BackendError
from .cli_common import (EXIT_INTERRUPTED, EXIT_IO, EXIT_USAGE, UsageError, add_config_arguments, csv_cell,
                         csv_text, grid_value_text, make_out_dir, metric_columns, metric_row, parser_prog,
                         progress_bar, registry_help, resolve_config, run_summary, text_table, weights_npz)
from .config import FIELD_NAMES, Config, ConfigError, atomic_write_text, parse_value, short


# ------------------------------------------------------------------------------------ run
CHUNK_S = 0.2  # longest stretch of training between two looks at the stop flag


def record_loop(sim, steps: int, every: int, stop, on_record=None, progress: bool = False,
                checkpoint_every: int = 0, on_checkpoint=None):
    """Train ``sim`` up to ``steps`` steps, calling ``on_record(snapshot)`` at every multiple of
    ``every`` (and at divergence) and ``on_checkpoint()`` after a record once ``checkpoint_every``
    steps have passed. Stops between chunks of at most ~CHUNK_S when ``stop.requested``.
    Returns the last snapshot (taken now if the loop stopped between records)."""
    bar = progress_bar(max(steps - sim.step_count, 0), progress)
    chunk, last_checkpoint, snap = 1, sim.step_count, None
    try:
        while sim.step_count < steps and not sim.diverged and not stop.requested:
            to_record = min(every - sim.step_count % every, steps - sim.step_count)
            n = min(chunk, to_record)
            before, t0 = sim.step_count, time.perf_counter()
            sim.step(n, snapshot=False)
            dt = time.perf_counter() - t0
            chunk = max(1, min(1 << 20, int(CHUNK_S * n / dt) if dt > 0 else chunk * 2))
            if bar is not None:
                bar.update(sim.step_count - before)
            if n < to_record and not sim.diverged:
                continue
            snap = sim.snapshot()
            if on_record is not None:
                on_record(snap)
            if bar is not None:
                bar.set_postfix(loss=f"{snap.loss:.4g}", refresh=False)
            if checkpoint_every and on_checkpoint is not None and sim.step_count - last_checkpoint >= checkpoint_every:
                on_checkpoint()
                last_checkpoint = sim.step_count
    finally:
        if bar is not None:
            bar.close()
    if snap is None or snap.step != sim.step_count:
        snap = sim.snapshot()
    return snap


def train_and_record(config: Config, progress: bool = False, stop=None):
    """Train ``config.steps`` steps, recording every ``config.every`` steps (in memory: for
    small runs and tests; ``run`` streams to disk). Returns (sim, columns, rows, snapshot,
    wall seconds, interrupted)."""
    from .simulation import Simulation
    from .stopping import StopSignals

    sim = Simulation(config)
    sim.preload()
    snap = sim.snapshot()
    columns, rows = metric_columns(snap), [metric_row(snap)]
    t0 = time.perf_counter()
    with (StopSignals() if stop is None else contextlib.nullcontext(stop)) as stop:
        snap = record_loop(sim, config.steps, config.every, stop, lambda s: rows.append(metric_row(s)), progress)
    return sim, columns, rows, snap, time.perf_counter() - t0, stop.requested


def _max_memory(args):
    from .memory import parse_size
    return parse_size(args.max_memory) if getattr(args, "max_memory", None) is not None else None


def cmd_run(args) -> int:
    from .memory import check_config
    from .rundir import RunDirError, RunFolder, check_out_dir
    from .stopping import StopSignals

    limit = _max_memory(args)
    try:
        if args.resume is not None:
            return _run_resume(args, limit)
        if args.out is None:
            raise UsageError("run needs --out DIR (or --resume DIR to continue a run)")
        config, label = resolve_config(args)
        for note in config.notes:   # e.g. residual blocks left without a skip
            print(f"note: {note}", file=sys.stderr)
        out = check_out_dir(args.out)
        check_config(config, limit)
        with StopSignals() as stop:
            folder = RunFolder.create(out, args.discard_unfinished)
            return _train_into(folder, config, label, args, stop, state=None)
    except RunDirError as exc:
        raise UsageError(str(exc)) from None


def _run_resume(args, limit) -> int:
    from .memory import check_config
    from .rundir import RunFolder, check_out_dir
    from .stopping import StopSignals

    given = [flag for flag, v in (("--preset", args.preset), ("--config", args.config), ("--set", args.overrides),
                                  ("--seed", args.seed), ("--backend", args.backend), ("--every", args.every))
             if v not in (None, [])]
    if given:
        raise UsageError(f"--resume continues the stored config; {given[0]} cannot change it (only --steps can)")
    if args.out is not None and Path(args.out).resolve() != Path(args.resume).resolve():
        raise UsageError("--resume DIR writes back into DIR; leave out --out")
    out = check_out_dir(args.resume)
    with StopSignals() as stop:
        folder, meta, arrays = RunFolder.resume(out)
        try:
            config = Config.from_dict(meta["config"])
            if args.steps is not None:
                config = config.replace(steps=args.steps)
            check_config(config, limit)
        except BaseException:
            folder.release()
            raise
        return _train_into(folder, config, meta["run"]["label"], args, stop, state=(meta, arrays))


def _train_into(folder, config, label, args, stop, state) -> int:
    """Train into ``folder`` (fresh, or from a checkpoint ``state``) and swap it in."""
    from .rundir import restore
    from .simulation import Simulation

    out, finished = folder.out, False
    try:
        folder.write("config.toml", config.to_toml().encode("utf-8"))
        sim = Simulation(config)
        sim.preload()
        wall0, resumed_from = 0.0, None
        if state is None:
            snap = sim.snapshot()
            columns = metric_columns(snap)
            folder.open_metrics(columns).write(metric_row(snap))
        else:
            meta, arrays = state
            restore(sim, meta, arrays)
            run = meta["run"]
            columns, wall0, resumed_from = run["columns"], float(run["wall"]), sim.step_count
            folder.open_metrics(columns, int(run["metrics_offset"]))
        t0 = time.perf_counter()

        def extra():
            return {"label": label, "wall": wall0 + time.perf_counter() - t0, "columns": columns}

        progress = sys.stderr.isatty() and not args.quiet
        try:
            snap = record_loop(sim, config.steps, config.every, stop,
                               lambda s: folder.metrics.write(metric_row(s)), progress,
                               args.checkpoint_every or 0, lambda: folder.checkpoint(sim, extra()))
        except KeyboardInterrupt:  # a second signal: leave the partial folder and its checkpoint
            print(f"gradflow run: stopped at once ({stop.name} twice); {out} is unchanged"
                  + (f"; continue from the last checkpoint with `run --resume {out}`"
                     if (folder.partial / "checkpoint.npz").exists() else ""), file=sys.stderr)
            finished = True
            return stop.exit_code or EXIT_INTERRUPTED
        interrupted = stop.requested
        summary = run_summary(sim, snap, label, extra()["wall"], snap.step)
        summary["interrupted"] = interrupted
        if interrupted:
            summary["signal"] = stop.name
        if resumed_from is not None:
            summary["resumed_from_step"] = resumed_from
        keep = interrupted or bool(args.checkpoint_every) or resumed_from is not None
        if keep:
            folder.checkpoint(sim, extra())
        folder.finish({"summary.json": (json.dumps(summary, indent=2) + "\n").encode("utf-8"),
                       "weights.npz": weights_npz(sim)}, keep_checkpoint=keep)
        finished = True
    finally:
        if not finished and not (folder.partial / "checkpoint.npz").exists():
            shutil.rmtree(folder.partial, ignore_errors=True)  # nothing to resume: no stale folder
        folder.release()
    if not args.quiet:
        state_text = f"DIVERGED at step {snap.diverged_at}" if snap.diverged else f"loss {snap.loss:.4g}"
        acc = "" if math.isnan(snap.accuracy) else f", accuracy {snap.accuracy:.3f}"
        stopped = f" (stopped by {stop.name}; `run --resume {out}` continues)" if interrupted else ""
        print(f"{label}: {snap.step} steps, {state_text}{acc}, first/last gradient ratio "
              f"{snap.grad_ratio:.3g}, {summary['steps_per_second'] or 0:.0f} steps/s on {sim.backend.name} "
              f"-> {out}/{stopped}")
    return stop.exit_code if interrupted else 0


# ------------------------------------------------------------------------------------ sweep
def _parse_grid(items: list[str]) -> list[tuple[str, list]]:
    grid = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not raw:
            raise UsageError(f"--grid {item!r}: expected key=v1,v2,... (list values use ':' e.g. width=8:16,32:32)")
        if key not in FIELD_NAMES:
            from .config import unknown_key_error
            raise unknown_key_error(key)
        values = [parse_value(key, v.replace(":", ",")) for v in raw.split(",")]
        grid.append((key, values))
    return grid


def cmd_sweep(args) -> int:
    base, label = resolve_config(args)
    grid = _parse_grid(args.grid)
    if not grid:
        raise UsageError("sweep needs at least one --grid key=v1,v2,...")
    keys = [k for k, _ in grid]
    combos = list(itertools.product(*(values for _, values in grid)))
    configs = [base.replace(**dict(zip(keys, combo))) for combo in combos]  # validate all first
    from .memory import check_config
    from .stopping import StopSignals
    limit = _max_memory(args)
    for config in configs:
        check_config(config, limit)
    out = Path(args.out)
    make_out_dir(out)
    columns = keys + ["final_loss", "final_accuracy", "test_accuracy", "grad_norm_ratio_first_last",
                      "dead_fraction", "saturated_fraction", "diverged", "diverged_at", "steps_per_second"]
    rows = []
    from .simulation import Simulation
    with StopSignals() as stop:
        for i, (combo, config) in enumerate(zip(combos, configs), 1):
            if not args.quiet:
                print(f"[{i}/{len(configs)}] " + " ".join(f"{k}={grid_value_text(v)}" for k, v in zip(keys, combo)),
                      file=sys.stderr, flush=True)
            sim = Simulation(config)
            sim.preload()
            t0 = time.perf_counter()
            snap = record_loop(sim, config.steps, config.every, stop)
            s = run_summary(sim, snap, label, time.perf_counter() - t0, snap.step)
            rows.append([grid_value_text(v) for v in combo] + [s[c] for c in columns[len(keys):]])
            atomic_write_text(out / "sweep.csv", csv_text(columns, [[csv_cell(v) for v in r] for r in rows]))
            if stop.requested:
                print(f"{parser_prog()} sweep: stopped by {stop.name} after {i} of {len(configs)} runs "
                      f"(the last one at step {snap.step}); {out / 'sweep.csv'} holds them", file=sys.stderr)
                return stop.exit_code
    print(text_table(columns, rows))
    return 0


# ------------------------------------------------------------------------------------ presets, config
def cmd_presets(args) -> int:
    from .presets import list_presets
    errors = []
    presets = list_presets(errors)
    for name, message in errors:
        print(f"gradflow presets: skipped broken preset '{name}': {message}", file=sys.stderr)
    if not presets:
        print("gradflow presets: no presets could be loaded", file=sys.stderr)
        return EXIT_USAGE if errors else 0
    width = max(len(p.name) for p in presets)
    for p in presets:
        line = f"{p.name.ljust(width)}  {p.title}"
        if args.verbose:
            line += f"\n{' ' * (width + 2)}{p.caption}\n{' ' * (width + 2)}claim: {p.claim}\n"
        print(line)
    return 0


def cmd_config(args) -> int:
    config, _ = resolve_config(args)
    sys.stdout.write(config.to_toml())
    return 0


# ------------------------------------------------------------------------------------ main
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {short(text)!r}")
    return value


def _add_max_memory(parser) -> None:
    parser.add_argument("--max-memory", metavar="SIZE",
                        help="refuse up front a run estimated to need more (e.g. 2G, 512M); "
                             "without it, what the machine has available")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradflow",
        description="Gradient Flow Lab, headless: train networks and record how gradients flow. "
                    "Run without a command to open the desktop app.",
        epilog="drawing command: record (GIF/MP4/PNG of the app's views, offscreen) -- "
               "see `main.py record --help`",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter

    run = sub.add_parser("run", help="train one network and write config, metrics, summary, weights",
                         description="Train one network; write DIR/config.toml (re-runnable), DIR/metrics.csv, "
                                     "DIR/summary.json and DIR/weights.npz.",
                         epilog=registry_help(), formatter_class=fmt)
    add_config_arguments(run)
    run.add_argument("--every", type=int, metavar="K", help="record every K steps (default: the config's)")
    run.add_argument("--out", metavar="DIR", help="output directory (created if missing; replaced whole "
                     "when the run ends, so it holds one complete run)")
    run.add_argument("--checkpoint-every", type=_positive_int, metavar="N",
                     help="write weights and optimiser state every N steps (at the next record), "
                          "so `--resume` can continue a killed run")
    run.add_argument("--resume", metavar="DIR",
                     help="continue the run in DIR from its last checkpoint (same numbers as an "
                          "uninterrupted run); --steps may raise the total")
    run.add_argument("--discard-unfinished", action="store_true",
                     help="start over even if --out has a killed run's checkpoint")
    _add_max_memory(run)
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar or final line")
    run.set_defaults(func=cmd_run)

    sweep = sub.add_parser("sweep", help="run the cartesian product of --grid values, one CSV row per run",
                           description="Run every combination of the --grid values; write DIR/sweep.csv and "
                                       "print a table.", epilog=registry_help(), formatter_class=fmt)
    add_config_arguments(sweep)
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                       help="a key and its values (repeatable); list values use ':' (width=8:16,32:32)")
    sweep.add_argument("--out", required=True, metavar="DIR", help="output directory")
    _add_max_memory(sweep)
    sweep.add_argument("-q", "--quiet", action="store_true", help="no per-run progress lines")
    sweep.set_defaults(func=cmd_sweep)

    presets = sub.add_parser("presets", help="list the presets, one line each")
    presets.add_argument("-v", "--verbose", action="store_true", help="also print captions and claims")
    presets.set_defaults(func=cmd_presets)

    config = sub.add_parser("config", help="print the fully resolved config as TOML",
                            epilog=registry_help(), formatter_class=fmt)
    add_config_arguments(config)
    config.set_defaults(func=cmd_config)

    try:
        from .surface_cli import register
    except ImportError:  # pragma: no cover - the surface module is optional in a partial checkout
        register = None
    if register is not None:
        register(sub)
    from .compare_cli import register as register_compare
    register_compare(sub)
    from .check_cli import register as register_check
    register_check(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except (ConfigError, UsageError, BackendError) as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"{parser.prog} {args.command}: error: could not read or write{where}: {exc.strerror or exc}",
              file=sys.stderr)
        return EXIT_IO
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
