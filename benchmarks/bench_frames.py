"""What one display frame costs the engine process, in training steps: the frame as the engine
process builds it now (``gui.frames.frame_snapshot``: evaluation on its own clock, per-edge arrays
read at the sampled edges only) against the full ``Simulation.snapshot()`` cut down afterwards
(``compact_snapshot``, what it did before), at 10x32, 30x256 and 50x1024 (default Config
otherwise: float32, batch 32, NumPy, one BLAS thread as in the engine process beside the GUI).

    python benchmarks/bench_frames.py [--sizes 10x32,30x256] [--repeats 5]

Prints medians and ratios measured in the same run; timings are printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pickle  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    from engine import Config, Simulation
    from gui.frames import compact_snapshot, frame_snapshot

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10x32,30x256,50x1024")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{'net':>8} {'step ms':>9} {'old frame ms':>13} {'new frame ms':>13} {'old/step':>9} "
          f"{'new/step':>9} {'edge MB':>8} {'frame MB':>9}")
    for size in args.sizes.split(","):
        depth, width = (int(v) for v in size.split("x"))
        sim = Simulation(Config(depth=depth, width=width, backend="numpy"))
        sim.step(3, snapshot=False)
        sim.snapshot()                                          # an evaluation on record, caches warm
        step = median_time(lambda: sim.step(1, snapshot=False), max(args.repeats, 5))
        box = {}

        def old():
            box["old"] = compact_snapshot(sim.snapshot())

        def new():
            box["new"] = frame_snapshot(sim)
        sim.step(1, snapshot=False)
        t_old = median_time(old, args.repeats)
        sim.step(1, snapshot=False)
        t_new = median_time(new, args.repeats)
        edges = sum(shape[0] * shape[1] for _, _, shape in sim.weight_slices())
        full_mb = 3 * edges * sim.dtype.itemsize / 2**20          # |dL/dW|, |update|, W: what edges=True copies
        sent = len(pickle.dumps(box["new"], protocol=pickle.HIGHEST_PROTOCOL)) / 2**20
        print(f"{size:>8} {step * 1e3:9.2f} {t_old * 1e3:13.2f} {t_new * 1e3:13.2f} {t_old / step:9.2f} "
              f"{t_new / step:9.2f} {full_mb:8.1f} {sent:9.2f}", flush=True)
        del sim, box
    print("old: compact_snapshot(Simulation.snapshot()) (evaluates the whole data, copies every edge array); "
          "new: gui.frames.frame_snapshot (the engine process's frame); edge MB: the per-edge arrays a full snapshot copies; "
          "frame MB: the new frame pickled. Ratios are to one training step, "
          "same run; the shared 2-core machine makes absolute figures noisy.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
