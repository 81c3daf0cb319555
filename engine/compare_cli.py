"""``python main.py compare``: 2-4 networks in lockstep, one run folder each plus a summary table.

    python main.py compare --preset cmp-sigmoid-relu --out runs/sr
    python main.py compare --config my.toml --vary init=xavier_uniform,he_normal --steps 500 --out runs/init

Each member's folder holds the same files as ``run`` (config.toml, metrics.csv, summary.json,
weights.npz); its summary.json adds the member label, what differs and the digests of its data and
batch sequence, so anyone can check that the members saw the same batches. DIR/summary.csv holds
one row per member; a comparison preset's claims are judged at the end.
"""
from __future__ import annotations

import json
import math
import re
import sys
import time
from pathlib import Path

from .config import atomic_write_text
from .lockstep import Lockstep, members_from_vary

SUMMARY_COLUMNS = ("member", "steps", "final_loss", "final_accuracy", "test_accuracy",
                   "grad_norm_ratio_first_last", "dead_fraction", "diverged", "diverged_at",
                   "steps_per_second", "batch_digest")


def folder_name(label: str, taken: set[str]) -> str:
    """A safe, unique folder name for a member label (``init=he_normal`` -> ``init-he_normal``)."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.") or "member"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


def resolve_comparison(args):
    """(base Config, members, label, Comparison or None) from --preset/--config/--set/--vary."""
    from .cli_common import UsageError, resolve_config
    from .comparisons import load_comparison
    from .presets import load_preset

    base, label = resolve_config(args)
    comp = None
    if getattr(args, "preset", None) and load_preset(args.preset).members:
        comp = load_comparison(args.preset)
    if args.vary:
        members = members_from_vary(args.vary)
        comp = None                       # the preset's claims are about its own members
    elif comp is not None:
        members = comp.members
    else:
        where = f"preset {args.preset} has no [[member]] tables; " if getattr(args, "preset", None) else ""
        raise UsageError(f"{where}compare needs --vary key=v1,v2[,...] or a comparison preset "
                         f"(`presets` lists them: cmp-...)")
    return base, members, label, comp


def record_lockstep(lock: Lockstep, steps: int, every: int, progress: bool = False, stops=(), on_stop=None):
    """Train all members to ``steps``, a row of metrics every ``every`` steps; at each of ``stops``
    call ``on_stop(step, snapshots)``. Ctrl-C keeps the rows recorded so far."""
    from .cli_common import metric_columns, metric_row, progress_bar

    snaps = lock.snapshots()
    columns = [metric_columns(s) for s in snaps]
    rows = [[metric_row(s)] for s in snaps]
    targets = sorted(set(range(every, steps, every)) | {steps} | {s for s in stops if 0 < s <= steps})
    bar = progress_bar(steps, progress)
    t0 = time.perf_counter()
    interrupted = False
    done = 0
    try:
        for target in targets:
            if any(s.step_count < target and not s.diverged for s in lock.sims):
                snaps = lock.run_to(target)
                if target % every == 0 or target == steps:
                    for k, snap in enumerate(snaps):
                        if snap.step > rows[k][-1][0]:
                            rows[k].append(metric_row(snap))
            if target in stops and on_stop is not None:
                on_stop(target, lock.snapshots())
            if bar is not None:
                bar.update(target - done)
                done = target
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    return columns, rows, time.perf_counter() - t0, interrupted


def cmd_compare(args) -> int:
    from .cli_common import UsageError, csv_text, make_out_dir, run_summary, text_table, weights_npz

    from .comparisons import claim_step, judge, on_members, require

    base, members, label, comp = resolve_comparison(args)
    if comp is not None:
        from .comparisons import ComparisonSkipped
        try:
            require(comp)                      # e.g. a GPU comparison on a machine without one
        except ComparisonSkipped as exc:
            raise UsageError(str(exc)) from None
    lock = Lockstep(base, members)            # validates every member before anything is written
    out = Path(args.out)
    make_out_dir(out)
    steps = base.steps
    progress = sys.stderr.isatty() and not args.quiet
    if not args.quiet:
        print(f"{label}: {len(lock)} networks in lockstep, {steps} steps; differ in "
              f"{', '.join(lock.differs) or 'nothing'}", file=sys.stderr, flush=True)
    verdicts = []
    # claims about the members, judged on this run at their steps (a shorter --steps run judges
    # the later ones at its end, and says so: each verdict carries its step)
    claims = [c for c in comp.claims if on_members(c)] if comp is not None else []
    at = [claim_step(comp, c, steps) for c in claims]

    def on_stop(step, snaps):
        verdicts.extend(judge(comp, c, lock, step, snaps) for c, s in zip(claims, at) if s == step)

    columns, rows, wall, interrupted = record_lockstep(lock, steps, base.every, progress, set(at), on_stop)
    digests = lock.digests()
    snaps = lock.snapshots()
    taken: set[str] = set()
    table_rows = []
    for k, (member, sim, snap) in enumerate(zip(members, lock.sims, snaps)):
        folder = out / folder_name(member.label, taken)
        folder.mkdir(parents=True, exist_ok=True)
        summary = run_summary(sim, snap, f"{label}, member {member.label}", wall, snap.step)
        summary["steps_per_second"] = lock.steps_per_second(k)   # its own steps over its own time
        summary.update(member=member.label, changes={kk: _jsonable(v) for kk, v in member.changes.items()},
                       differs={kk: _jsonable(getattr(lock.configs[k], kk)) for kk in lock.differs},
                       interrupted=interrupted, **digests[k])
        lock.configs[k].save(folder / "config.toml")
        atomic_write_text(folder / "metrics.csv", csv_text(columns[k], rows[k]))
        atomic_write_text(folder / "summary.json", json.dumps(summary, indent=2) + "\n")
        from .config import atomic_write_bytes
        atomic_write_bytes(folder / "weights.npz", weights_npz(sim))
        table_rows.append([member.label, snap.step, summary["final_loss"], summary["final_accuracy"],
                           summary["test_accuracy"], summary["grad_norm_ratio_first_last"],
                           summary["dead_fraction"], summary["diverged"], summary["diverged_at"],
                           summary["steps_per_second"],
                           digests[k]["batch_digest"][:12]])
    csv_rows = [[("" if v is None else v) for v in r[:-1]] + [digests[k]["batch_digest"]]
                for k, r in enumerate(table_rows)]
    atomic_write_text(out / "summary.csv", csv_text(list(SUMMARY_COLUMNS), csv_rows))
    same = lock.same_batches()
    stopped = [f"{m.label} stopped at step {s.step} (diverged)" for m, s in zip(members, snaps) if s.diverged]
    compare_json = {
        "source": label, "members": [m.label for m in members], "differs": lock.differs,
        "steps": steps, "lockstep": same, "wall_seconds": wall, "interrupted": interrupted,
        "claims": [_verdict_dict(v) for v in verdicts],
    }
    atomic_write_text(out / "compare.json", json.dumps(compare_json, indent=2) + "\n")
    if not args.quiet:
        print(text_table(list(SUMMARY_COLUMNS), table_rows))
        print(f"steps_per_second: each member's steps over the time spent in them (members take turns). "
              f"Same data and batch order for every member: {'yes' if same else 'NO'}"
              + (f"; {'; '.join(stopped)}" if stopped else ""))
        for v in verdicts:
            print(f"{v.member}: {v.line()}")
        print(f"-> {out}/")
    return 130 if interrupted else 0


def _verdict_dict(v) -> dict:
    def num(x):
        return x if isinstance(x, float) and math.isfinite(x) else None
    return {"text": v.text, "member": v.member, "metric": v.metric, "step": v.step, "at_step": v.at_step,
            "value": num(v.value), "op": v.op, "threshold": num(v.threshold), "holds": v.holds}


def _jsonable(v):
    return list(v) if isinstance(v, tuple) else v


def register(sub) -> None:
    """Add the ``compare`` subcommand to the CLI's subparsers."""
    from .cli_common import registry_help, add_config_arguments
    import argparse

    p = sub.add_parser("compare", help="train 2-4 networks in lockstep (same data and batches), one folder each",
                       description="Train 2-4 networks on identical data and batch order, differing only in "
                                   "the members' settings (a comparison preset's [[member]] tables, or "
                                   "--vary key=v1,v2). Writes DIR/<member>/ with the files of `run`, "
                                   "DIR/summary.csv and DIR/compare.json (lockstep check, claim verdicts).",
                       epilog=registry_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p)
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="the setting that differs, one member per value (list values use ':')")
    p.add_argument("--every", type=int, metavar="K", help="record every K steps (default: the config's)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or table")
    p.set_defaults(func=cmd_compare)
