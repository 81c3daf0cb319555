"""GUI responsiveness while training: how late does a 1 ms QTimer fire on the GUI thread?

    python benchmarks/bench_gui_latency.py                     # the largest allowed network (50 x 1024)
    python benchmarks/bench_gui_latency.py --depth 4 --width 16 --seconds 10

Opens the real main window (offscreen unless DISPLAY is set and --onscreen is given), starts
training at full speed, and records each 1 ms timer's lateness (fire time - due time). Prints
p50/p99/max lateness, display frames per second and training steps per second. Target: p99 < 50 ms.
Prints numbers only; no assertions.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=None, help="hidden layers (default: MAX_DEPTH)")
    parser.add_argument("--width", type=int, default=None, help="units per hidden layer (default: MAX_WIDTH)")
    parser.add_argument("--seconds", type=float, default=15.0, help="measuring time after warm-up")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--onscreen", action="store_true", help="use $DISPLAY instead of offscreen")
    args = parser.parse_args()
    if not args.onscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["GRADIENT_FLOW_LAB_SETTINGS_DIR"] = tempfile.mkdtemp(prefix="gfl-bench-")

    import numpy as np
    from PySide6 import QtCore, QtWidgets

    from engine.config import MAX_DEPTH, MAX_WIDTH, Config
    from gui.main_window import MainWindow
    from gui.settings import open_settings

    depth = args.depth or MAX_DEPTH
    width = args.width or MAX_WIDTH
    config = Config(depth=depth, width=width)
    app = QtWidgets.QApplication([sys.argv[0]])
    window = MainWindow(settings=open_settings())
    window.resize(1920, 1050)
    window.show()
    window.finish_setup(config=config)
    window.transport.play_action.setChecked(True)

    lateness: list[float] = []
    frames: list[tuple[float, int]] = []
    window.sigFrameShown.connect(lambda s: frames.append((time.perf_counter(), s.step)))
    state = {"due": None, "measuring": False}
    probe = QtCore.QTimer()
    probe.setTimerType(QtCore.Qt.PreciseTimer)
    probe.setSingleShot(True)

    def fire():
        now = time.perf_counter()
        if state["measuring"] and state["due"] is not None:
            lateness.append(now - state["due"])
        state["due"] = time.perf_counter() + 0.001
        probe.start(1)

    probe.timeout.connect(fire)
    fire()

    def start():
        state["measuring"] = True
        frames.clear()

    QtCore.QTimer.singleShot(int(args.warmup * 1000), start)
    QtCore.QTimer.singleShot(int((args.warmup + args.seconds) * 1000), app.quit)
    app.exec()

    late_ms = np.array(lateness) * 1000
    print(f"network: depth {depth} x width {width} ({sum(a * b for a, b in zip((2, *config.widths), (*config.widths, 1))):,} weights)")
    if late_ms.size:
        print(f"timer lateness over {args.seconds:.0f} s ({late_ms.size} probes): p50 {np.percentile(late_ms, 50):.1f} ms, "
              f"p99 {np.percentile(late_ms, 99):.1f} ms, max {late_ms.max():.1f} ms  (target p99 < 50 ms)")
    if len(frames) > 1:
        (t0, s0), (t1, s1) = frames[0], frames[-1]
        print(f"display: {len(frames) / (t1 - t0):.1f} frames/s; training: {(s1 - s0) / (t1 - t0):,.1f} steps/s")
    else:
        print(f"display: {len(frames)} frames in {args.seconds:.0f} s")
    sys.stdout.flush()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
