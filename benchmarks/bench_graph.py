"""Frame time of the network graph view with every edge recoloured each frame.

Prints ms per frame and fps at about 1k, 10k and 50k edges (a 2-input, 8-hidden-layer, 1-output
network), each frame = ``set_snapshot`` with new values + rendering the shown graphics view
(``grab()``); ``set ms`` is the ``set_snapshot`` part alone. The last row is the largest network
the controls allow (50 hidden layers x 1024 units, ~51M float32 edges, built once): only a fixed
random sample of each layer is looked at, and its strongest drawn. Targets: >= 60 fps at 10k edges and >= 20 fps at 50k on a 2-core machine. Above the view's
edge limit (20k) only the strongest edges are drawn; the "all drawn" row lifts that limit to show
the cost of drawing every edge. Numbers only: nothing here asserts on time.

    python benchmarks/bench_graph.py [--iterations 60] [--size 1600x900] [--no-huge]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from pyqtgraph.Qt import QtCore, QtWidgets  # noqa: E402

from gui.views.network_graph import NetworkGraphView  # noqa: E402
from tests.gui.fakes import fake_snapshot, fake_snapshot_float32, sizes_for_edges  # noqa: E402

TARGETS = {10_000: 60.0, 50_000: 20.0}


HUGE = (2, *[1024] * 50, 1)


def huge_snapshots() -> list:
    """Two snapshots of the 50 x 1024 network sharing the big arrays (gradients and weights swapped,
    so the colours change each frame)."""
    first = fake_snapshot_float32(HUGE, seed=0)
    second = fake_snapshot_float32(HUGE, seed=1, step=1, edge_grads=first.weights, weights=first.edge_grads)
    return [first, second]


def measure(app, n_edges: int, iterations: int, size: tuple[int, int], edge_limit: int | None,
            snaps: list | None = None) -> dict:
    view = NetworkGraphView(**({} if edge_limit is None else {"edge_limit": edge_limit}))
    view.resize(*size)
    view.show()
    if snaps is None:
        sizes = sizes_for_edges(n_edges)
        snaps = [fake_snapshot(sizes, seed=k, fade=3.0) for k in range(4)]  # different colours each frame
    view.set_snapshot(snaps[0])
    app.processEvents()
    times: list[float] = []
    set_times: list[float] = []
    state = {"i": 0}

    def frame():
        t0 = time.perf_counter()
        view.set_snapshot(snaps[state["i"] % len(snaps)])
        set_times.append(time.perf_counter() - t0)
        with view.edges.exact():       # the full edge drawing: what the background renderer pays
            view.graphics.grab()       # render the whole graphics view (offscreen: into a pixmap)
        times.append(time.perf_counter() - t0)
        state["i"] += 1
        if state["i"] >= iterations:
            timer.stop()
            loop.quit()

    timer = QtCore.QTimer()
    timer.timeout.connect(frame)
    loop = QtCore.QEventLoop()
    timer.start(0)
    loop.exec()
    g = view.geometry_info()
    drawn = len(view.drawn_edges()[0])
    view.close()
    t = np.array(times[2:]) * 1e3      # skip warm-up frames
    return {"sizes": g.sizes, "edges": g.n_edges, "drawn": drawn, "ms": float(np.median(t)),
            "p90": float(np.percentile(t, 90)), "set_ms": float(np.median(np.array(set_times[2:]) * 1e3))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--size", default="1600x900", help="widget size in pixels, WxH")
    parser.add_argument("--no-huge", action="store_true", help="skip the 50 x 1024 network (needs ~1 GB)")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    print(f"network graph frame time, widget {size[0]}x{size[1]}, {os.cpu_count()} CPUs, "
          f"Qt platform {app.platformName()}; {args.iterations} frames, median (p90)")
    print(f"{'edges':>10} {'drawn':>7} {'ms/frame':>9} {'p90 ms':>7} {'fps':>6} {'set ms':>7}  target")
    rows = [(1_000, None), (10_000, None), (50_000, None), (50_000, 10 ** 9)]
    if not args.no_huge:
        rows.append((0, None))
    for n, limit in rows:
        snaps = huge_snapshots() if n == 0 else None
        r = measure(app, n, args.iterations, size, limit, snaps)
        target = TARGETS.get(n)
        note = f">= {target:.0f} fps" if target else ""
        if limit:
            note = "(edge limit lifted: every edge drawn)"
        if n == 0:
            note = "50 x 1024 units: strongest of a fixed sample"
        print(f"{r['edges']:>10,} {r['drawn']:>7,} {r['ms']:>9.1f} {r['p90']:>7.1f} {1e3 / r['ms']:>6.1f} "
              f"{r['set_ms']:>7.1f}  {note}")
    print("targets: >= 60 fps at 10k edges, >= 20 fps at 50k edges (2-core machine)")


if __name__ == "__main__":
    main()
