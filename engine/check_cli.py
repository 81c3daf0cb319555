"""``python main.py check [--preset NAME | --all]``: run each preset's claims headless and say whether
they hold. Exit 0 when every claim holds, 1 when one fails (or cannot be measured), 2 bad usage."""
from __future__ import annotations

import sys
import time


def check_preset(name: str, backend: str = "numpy") -> list:
    """Run what every claim of preset ``name`` needs (cached) and judge each one (a list of
    engine.claims.Verdict): a comparison's members in lockstep, any other preset's claims on their runs."""
    from .claims import judge
    from .comparisons import check_comparison
    from .evidence import measure_sources
    from .presets import load_preset, preset_claims
    preset = load_preset(name)
    if preset.members:
        return check_comparison(name, backend)
    return [judge(c, measure_sources(preset, c, backend)) for c in preset_claims(preset)]


def cmd_check(args) -> int:
    from .presets import preset_names

    names = preset_names() if args.all or not args.preset else args.preset
    if not args.all and not args.preset:
        from .cli_common import UsageError
        raise UsageError("say which presets: --preset NAME (repeatable) or --all")
    failed = 0
    from .comparisons import ComparisonSkipped
    for name in names:
        t0 = time.perf_counter()
        try:
            verdicts = check_preset(name, backend=args.backend or "numpy")
        except ComparisonSkipped as exc:     # e.g. the CPU/GPU comparison on a machine without a GPU
            print(f"{name}  skipped: {exc}")
            continue
        print(f"{name}  ({time.perf_counter() - t0:.1f} s)")
        for v in verdicts:
            stage = f"stage {v.stage + 1}: " if v.stage is not None else ""
            print(f"  {stage}{v.line()}")
            failed += v.holds is not True
        if not verdicts:
            print("  ✗ no claim: every preset must state one")
            failed += 1
    total = "all claims hold" if not failed else f"{failed} claim(s) do not hold"
    print(total)
    sys.stdout.flush()
    return 0 if not failed else 1


def register(sub) -> None:
    check = sub.add_parser("check", help="judge every claim of one or all presets (exit 1 if one fails)",
                           description="Train each preset headless and judge its claims: the measured value, "
                                       "the threshold, holds (✓) or fails (✗). Exit 0 when all hold, 1 otherwise.")
    which = check.add_mutually_exclusive_group()
    which.add_argument("--preset", action="append", metavar="NAME", help="a preset (repeatable)")
    which.add_argument("--all", action="store_true", help="every preset")
    check.add_argument("--backend", choices=("auto", "numpy", "cupy"), help="array backend (default numpy)")
    check.set_defaults(func=cmd_check)
