"""Soak: record a long headless run and print the process's memory as it goes (it must stay flat:
metrics stream to disk, nothing per row stays in RAM). Usage:
    python benchmarks/soak_run.py [--steps 1000000] [--every 100] [--depth 3]
Prints RSS at each tenth of the run and the growth from the first tenth to the end."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        import os
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def soak(steps: int, every: int, depth: int, width: int = 16, report=print, keep_rows: bool = False,
         measure=rss_bytes) -> list[int]:
    """Run ``steps`` steps recording every ``every``; RSS at each tenth of the run.
    ``keep_rows`` also keeps every row in a list, as runs did before streaming (the control)."""
    from engine import Config
    from engine.cli import record_loop
    from engine.cli_common import metric_columns, metric_row
    from engine.rundir import MetricsStream
    from engine.simulation import Simulation
    from engine.stopping import StopSignals

    config = Config(backend="numpy", depth=depth, width=width, steps=steps, every=every, batch_size=16)
    sim = Simulation(config)
    samples: list[int] = []
    with tempfile.TemporaryDirectory() as tmp, StopSignals() as stop:
        snap = sim.snapshot()
        stream = MetricsStream(Path(tmp) / "metrics.csv", metric_columns(snap))
        tenth = max(steps // 10, every)
        t0 = time.perf_counter()

        kept = []

        def on_record(s):
            stream.write(metric_row(s))
            if keep_rows:
                kept.append(metric_row(s))
            if s.step % tenth == 0:
                samples.append(measure())
                report(f"step {s.step:>9,}  memory {samples[-1] / 2**20:7.1f} MB  "
                       f"{s.step / (time.perf_counter() - t0):8.0f} steps/s")

        record_loop(sim, steps, every, stop, on_record)
        stream.close()
    return samples


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--depth", type=int, default=3)
    a = ap.parse_args()
    s = soak(a.steps, a.every, a.depth)
    print(f"RSS growth from the first tenth to the end: {(s[-1] - s[0]) / 2**20:+.1f} MB "
          f"over {a.steps:,} steps ({a.steps // a.every:,} rows; timings noisy on a shared machine)")
