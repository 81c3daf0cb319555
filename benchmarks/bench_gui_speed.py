"""Does the window train as fast as the headless engine? GUI steps/s ÷ headless steps/s, frames/s.

    python benchmarks/bench_gui_speed.py                      # every case, 8 s each
    python benchmarks/bench_gui_speed.py --cases 4x16 --tabs Gradients --seconds 5

For each case, in the same run and one right after the other: the headless engine trains the
config for ``--seconds`` (``Simulation.step(n, snapshot=False)`` in ~10 ms chunks: the engine's own
top speed, the toughest reference), then the real app runs it (``main.py gui --config ... --play
--quit-after S --report --tab TAB``, offscreen unless --onscreen) and prints its JSON report. The
table shows the ratio, display frames/s, the GUI thread's 1 ms timer lateness (p99), the GUI
process's CPU time per displayed frame (all its threads: the least noisy figure on a shared
machine) and how much of a core the GUI process, the engine process and the headless loop each
got; the load average is printed beside each row. On a loaded machine
the processes compete with everyone else, so the last column also compares steps per CPU-second
(engine process vs headless loop): the engine process's own overhead, whatever the load.
Targets: ratio >= 0.9 with >= 30 frames/s at 4x16 and 10x32, p99 lateness < 50 ms everywhere.
Prints numbers only; no assertions. On a shared machine, compare ratios, not absolute figures.
``--repeat N`` measures each row N times, alternating which of the pair runs first (headless then
GUI, GUI then headless: a machine that drifts faster or slower favours neither), and ends with the
median ratio, frames/s and p99 of each row and the range of the ratio.
``--bare`` adds a third run between the two: the engine process beside a bare frame reader (the
app's protocol and frame credit, frames taken at display rate, nothing drawn). It splits the gap:
bare ÷ headless is what the engine process itself costs, GUI ÷ bare what the window's drawing on
the other cores costs it. On a noisy VM the headless rate of one config can swing 2x between
consecutive seconds, so pool many rows (``--repeat``) before reading a ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TABS = ("Gradients", "Training", "Activation", "Zig-zag", "Landscape")


def case_configs():
    from engine import Config
    from engine.presets import load_preset
    return {
        "4x16": Config(depth=4, width=16),
        "10x32": load_preset("sigmoid-vanishing").config,
        "30x256": Config(depth=30, width=256),
    }


def headless_rate(config, seconds: float) -> tuple[float, float]:
    """Steps per wall-clock second, and the share of a core the loop got."""
    from engine import Simulation
    sim = Simulation(config)
    sim.step(1, snapshot=False)
    chunk, done = 1, 0
    t_end = time.perf_counter() + seconds
    t0, cpu0 = time.perf_counter(), time.process_time()
    while time.perf_counter() < t_end and not sim.diverged:
        t = time.perf_counter()
        sim.step(chunk, snapshot=False)
        done += chunk
        per = (time.perf_counter() - t) / chunk
        chunk = int(min(max(1, 0.01 / max(per, 1e-7)), 100_000))
    sim.snapshot()
    wall = time.perf_counter() - t0
    return done / wall, (time.process_time() - cpu0) / wall


def bare_rate(config, seconds: float, boundary: bool) -> float:
    """Steps per wall-clock second of the engine process beside a reader that takes its frames at
    display rate (60 a second at most, as the window asks) and draws nothing."""
    from gui.engine_process import EngineProcess
    engine = EngineProcess().start()
    try:
        engine.send("boundary", boundary)
        engine.send("configs", [config])
        deadline = time.perf_counter() + 60
        while not any(m[0] == "built" for m in engine.take_messages()):
            if time.perf_counter() > deadline or not engine.alive:
                raise RuntimeError("the engine process did not build the config")
            time.sleep(0.01)
        engine.send("play")

        def step_now() -> tuple[float, int]:
            while True:
                frame = engine.take_frame()
                if frame is not None:
                    return time.perf_counter(), frame.snapshots[0].step
                time.sleep(0.002)

        time.sleep(1.0)                      # past the first chunks, as the report's first frame is
        t0, s0 = step_now()
        while time.perf_counter() - t0 < seconds:
            time.sleep(1 / 60)
            engine.take_frame()
        t1, s1 = step_now()
        return (s1 - s0) / (t1 - t0)
    finally:
        engine.close()


def gui_report(config_path: Path, tab: str, seconds: float, onscreen: bool) -> dict:
    env = dict(os.environ, GRADIENT_FLOW_LAB_SETTINGS_DIR=tempfile.mkdtemp(prefix="gfl-bench-"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if not onscreen:
        env["QT_QPA_PLATFORM"] = "offscreen"
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "gui", "--config", str(config_path), "--play",
                             "--quit-after", str(seconds), "--report", "--tab", tab],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 120)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"the app failed ({result.returncode}): {result.stderr[-2000:]}")
    return json.loads(lines[-1])


def share(x) -> str:
    return "?" if x is None else f"{x:.0%}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="4x16,10x32,30x256", help="comma-separated: 4x16, 10x32, 30x256")
    parser.add_argument("--tabs", default=None,
                        help="comma-separated view tabs for 10x32 (default: every tab; other cases: Gradients)")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--onscreen", action="store_true", help="use $DISPLAY instead of offscreen")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="measure each row N times, alternating the order, and print the medians")
    parser.add_argument("--bare", action="store_true",
                        help="also run the engine process beside a bare frame reader (nothing drawn)")
    args = parser.parse_args()
    configs = case_configs()
    rows = []
    work = Path(tempfile.mkdtemp(prefix="gfl-bench-speed-"))
    print(f"{'case':>7} {'tab':>10} {'headless/s':>11} {'GUI/s':>9} {'ratio':>6} {'fps':>6} {'p99 late ms':>11}"
          f" {'GUI ms/fr':>9} {'GUI cpu':>8} {'engine cpu':>10} {'headless cpu':>12} {'per-cpu ratio':>13}"
          f" {'load':>5}" + (f" {'bare/s':>8} {'bare÷hl':>7} {'GUI÷bare':>8}" if args.bare else ""), flush=True)
    for name in args.cases.split(","):
        config = configs[name]
        path = work / f"{name}.toml"
        config.save(path)
        tabs = args.tabs.split(",") if args.tabs else (TABS if name == "10x32" else ("Gradients",))
        for tab, turn in ((t, i) for t in tabs for i in range(max(1, args.repeat))):
            bare = None
            if turn % 2 == 0:
                headless, headless_cpu = headless_rate(config, args.seconds)
                if args.bare:
                    bare = bare_rate(config, args.seconds, boundary=tab == "Training")
                report = gui_report(path, tab, args.seconds, args.onscreen)
            else:
                report = gui_report(path, tab, args.seconds, args.onscreen)
                if args.bare:
                    bare = bare_rate(config, args.seconds, boundary=tab == "Training")
                headless, headless_cpu = headless_rate(config, args.seconds)
            ratio = report["steps_per_second"] / headless if headless else float("nan")
            engine_cpu = report.get("engine_cpu_share")
            # steps per CPU-second of the engine process vs of the headless loop: the process's own
            # overhead (snapshots, pickling), whatever share of a core the scheduler gave each
            per_cpu = (ratio * headless_cpu / engine_cpu) if engine_cpu else float("nan")
            late = report.get("timer_late_p99_ms")
            rows.append((name, tab, headless, report, ratio, bare))
            print(f"{name:>7} {tab:>10} {headless:>11,.0f} {report['steps_per_second']:>9,.0f} {ratio:>6.2f} "
                  f"{report['fps']:>6.1f} {late if late is not None else float('nan'):>11.1f}"
                  f" {report.get('gui_cpu_ms_per_frame') or float('nan'):>9.1f}"
                  f" {share(report.get('gui_cpu_share')):>8} {share(engine_cpu):>10} {share(headless_cpu):>12}"
                  f" {per_cpu:>13.2f} {os.getloadavg()[0]:>5.2f}"
                  + (f" {bare:>8,.0f} {bare / headless:>7.2f} {report['steps_per_second'] / bare:>8.2f}"
                     if bare else ""), flush=True)
    if args.repeat > 1:
        print(f"\nmedians of {args.repeat} runs each (order alternated):")
        print(f"{'case':>7} {'tab':>10} {'ratio':>6} {'ratio range':>12} {'fps':>6} {'p99 late ms':>11} {'GUI ms/fr':>9}"
              + (f" {'bare÷hl':>7} {'GUI÷bare':>8}" if args.bare else ""))
        for key in dict.fromkeys((r[0], r[1]) for r in rows):
            runs = [r for r in rows if (r[0], r[1]) == key]
            ratios = [r[4] for r in runs]
            lates = [r[3].get("timer_late_p99_ms") for r in runs if r[3].get("timer_late_p99_ms") is not None]
            costs = [r[3].get("gui_cpu_ms_per_frame") for r in runs if r[3].get("gui_cpu_ms_per_frame")]
            print(f"{key[0]:>7} {key[1]:>10} {statistics.median(ratios):>6.2f} "
                  f"{min(ratios):>5.2f}–{max(ratios):<5.2f} {statistics.median(r[3]['fps'] for r in runs):>6.1f} "
                  f"{statistics.median(lates) if lates else float('nan'):>11.1f} "
                  f"{statistics.median(costs) if costs else float('nan'):>9.1f}"
                  + (f" {statistics.median(r[5] / r[2] for r in runs):>7.2f}"
                     f" {statistics.median(r[3]['steps_per_second'] / r[5] for r in runs):>8.2f}"
                     if args.bare and all(r[5] for r in runs) else ""))
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores "
          "(a shared machine: compare ratios, not absolute figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
