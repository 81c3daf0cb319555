"""The two-weight neuron: why positive inputs make gradient descent zig-zag.

Two panels side by side share the start point, the target and the optimiser: on the left the
neuron's inputs are all positive (sigmoid or ReLU outputs), on the right they are zero-centred.
The path is animated step by step; at the current point the two allowed update quadrants are shaded
(positive inputs: both weights up, or both down). Drag the start (ring) or the target (cross).
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from engine import surface as S
from gui import colors
from gui.widgets import SHRINK, font, is_shown, settings_row

EXTENT = (-3.0, 4.0, -3.0, 3.5)     # w1 from, to; w2 from, to
RESOLUTION = 121
N_CONTOURS = 12
BATCH_CHOICES = (("1 (per sample)", 1), ("4", 4), ("16", 16), ("full batch", 0))
DEFAULT_LR = {"sgd": 0.75, "momentum": 0.1, "adam": 0.1}
RATE_CHOICES = (("each best", "best"), ("shared", "shared"))


def _font(px: int, bold: bool = False) -> QtGui.QFont:
    return font(px, bold, pixels=True)


class _NeuronPanel(QtWidgets.QWidget):
    """One side: loss contours, the animated path, quadrants, draggable start and target."""

    sigStartMoved = QtCore.Signal(object)    # (w1, w2)
    sigTargetMoved = QtCore.Signal(object)

    def __init__(self, choices: tuple[str, ...], parent=None):
        super().__init__(parent)
        self.problem: S.NeuronProblem | None = None
        self.path = np.zeros((1, 2))
        self.stats: S.PathStats | None = None
        self.shown = 0
        self.inputs = QtWidgets.QComboBox()
        for name in choices:
            self.inputs.addItem(S.INPUT_CAPTIONS[name], name)
        self.inputs.setFont(_font(18))
        self.inputs.setSizeAdjustPolicy(SHRINK)
        self.inputs.setMinimumContentsLength(12)

        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        for name in ("bottom", "left"):
            ax = self.plot.getAxis(name)
            ax.setTickFont(_font(16))
            ax.setStyle(tickTextOffset=6)
        self.plot.setLabel("bottom", "w1", **{"font-size": "18pt"})
        self.plot.setLabel("left", "w2", **{"font-size": "18pt"})
        x0, x1, y0, y1 = EXTENT
        self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        self.image = pg.ImageItem()
        self.image.setColorMap(colors.colormap("viridis"))
        self.plot.addItem(self.image)
        self.contours: list[pg.IsocurveItem] = []
        for _ in range(N_CONTOURS):
            iso = pg.IsocurveItem(pen=pg.mkPen((0, 0, 0, 140), width=1))
            iso.setParentItem(self.image)
            self.contours.append(iso)
        self.quadrants = QtWidgets.QGraphicsPathItem()
        self.quadrants.setBrush(pg.mkBrush(255, 255, 255, 90))
        self.quadrants.setPen(pg.mkPen(255, 255, 255, 200, width=2))
        self.plot.addItem(self.quadrants)
        self.trail = pg.PlotDataItem(pen=pg.mkPen("#FFFFFF", width=5))
        self.trail_core = pg.PlotDataItem(pen=pg.mkPen(colors.OKABE_ITO["vermillion"], width=2.5),
                                          symbol="o", symbolSize=7, symbolPen=None,
                                          symbolBrush=colors.OKABE_ITO["vermillion"])
        self.plot.addItem(self.trail)
        self.plot.addItem(self.trail_core)
        self.current = pg.ScatterPlotItem(size=18, pen=pg.mkPen("k", width=2),
                                          brush=pg.mkBrush(colors.OKABE_ITO["orange"]))
        self.plot.addItem(self.current)
        self.start = pg.TargetItem(pos=(0, 0), size=26, symbol="o", movable=True,
                                   pen=pg.mkPen("w", width=3), brush=pg.mkBrush(0, 0, 0, 0),
                                   hoverPen=pg.mkPen(colors.OKABE_ITO["yellow"], width=4),
                                   label="start", labelOpts={"color": "w", "offset": (14, -14)})
        self.target = pg.TargetItem(pos=(0, 0), size=30, symbol="x", movable=True,
                                    pen=pg.mkPen("w", width=2), brush=pg.mkBrush("w"),
                                    hoverPen=pg.mkPen(colors.OKABE_ITO["yellow"], width=3),
                                    label="minimum", labelOpts={"color": "w", "offset": (14, 10)})
        for item in (self.start, self.target):
            self.plot.addItem(item)
            item.label().setFont(_font(18, bold=True))
        self.start.sigPositionChangeFinished.connect(lambda it: self.sigStartMoved.emit(tuple(it.pos())))
        self.target.sigPositionChangeFinished.connect(lambda it: self.sigTargetMoved.emit(tuple(it.pos())))

        self.numbers = QtWidgets.QLabel()
        self.numbers.setFont(_font(30, bold=True))
        self.numbers.setAlignment(QtCore.Qt.AlignCenter)
        self.numbers.setWordWrap(True)
        self.numbers.setMinimumWidth(200)
        self.note = QtWidgets.QLabel()
        self.note.setFont(_font(17))
        self.note.setAlignment(QtCore.Qt.AlignCenter)
        self.note.setWordWrap(True)
        self.note.setMinimumWidth(200)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.inputs)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.numbers)
        lay.addWidget(self.note)

    # ------------------------------------------------------------------ data
    def set_problem(self, problem: S.NeuronProblem) -> None:
        self.problem = problem
        x0, x1, y0, y1 = EXTENT
        w1 = np.linspace(x0, x1, RESOLUTION)
        w2 = np.linspace(y0, y1, RESOLUTION)
        z = np.sqrt(problem.loss_grid(w1, w2)).T  # (w1, w2) = ImageItem's (x, y); sqrt: even rings
        self.image.setImage(z, autoLevels=False, levels=(0.0, float(z.max())))
        self.image.setRect(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))  # after setImage: needs its size
        top = float(np.quantile(z, 0.9))
        for iso, level in zip(self.contours, np.linspace(0, top, N_CONTOURS + 2)[1:-1]):
            iso.setData(z, level)
        self.path = problem.path()
        self.stats = S.path_stats(self.path, problem.target, problem.eps)
        for item, pos in ((self.start, problem.start), (self.target, problem.target)):
            with QtCore.QSignalBlocker(item):
                item.setPos(*pos)
        if problem.positive:
            self.note.setText("Every input x > 0: each update moves w1 and w2 the same way "
                              "(shaded quadrants). A minimum down-right needs a zig-zag.")
        else:
            self.note.setText("Zero-centred inputs: an update may point into any quadrant, "
                              "so the path can head straight for the minimum.")
        self.show_step(self.shown)

    def show_step(self, k: int) -> None:
        """Draw the path up to step ``k`` (clipped to the path's length)."""
        k = int(np.clip(k, 0, len(self.path) - 1))
        self.shown = k
        part = self.path[: k + 1]
        self.trail.setData(part[:, 0], part[:, 1])
        self.trail_core.setData(part[:, 0], part[:, 1])
        self.current.setData([part[-1, 0]], [part[-1, 1]])
        self._draw_quadrants(part[-1])
        self._update_numbers(k)

    def _draw_quadrants(self, at) -> None:
        qp = QtGui.QPainterPath()
        if self.problem is not None and self.problem.positive:
            r = 0.16 * (EXTENT[1] - EXTENT[0])
            for sx, sy in self.problem.allowed_quadrants(at):
                qp.addRect(QtCore.QRectF(at[0], at[1], sx * r, sy * r).normalized())
        self.quadrants.setPath(qp)

    def _update_numbers(self, k: int) -> None:
        st = self.stats
        if st is None:
            return
        # only what has happened by step k: the path so far, and "reached" once it is
        so_far = S.path_stats(self.path[: k + 1], self.problem.target, self.problem.eps)
        reached = st.steps_to_min
        if reached is not None and k >= reached:
            where = f"minimum reached at step {reached}"
        elif k >= len(self.path) - 1:
            where = f"minimum not reached in {len(self.path) - 1} steps"
        else:
            where = "not at the minimum yet"
        ratio = f"{so_far.path_ratio:.2f}×" if math.isfinite(so_far.path_ratio) else "–"
        self.numbers.setText(f"lr {self.problem.lr:.3g}  ·  path ÷ straight: {ratio}\nstep {k}  ·  {where}")

    @property
    def finished(self) -> bool:
        end = self.stats.steps_to_min if self.stats and self.stats.steps_to_min is not None else len(self.path) - 1
        return self.shown >= end

    def set_theme(self, palette: dict) -> None:
        self.plot.setBackground(palette["background"])
        for name in ("bottom", "left"):
            ax = self.plot.getAxis(name)
            ax.setPen(palette["muted"])
            ax.setTextPen(palette["foreground"])


class _FairSignal(QtCore.QObject):
    sigDone = QtCore.Signal(int, object)


def fairness_text(fc, panels: str = "shared") -> str:
    """The fair comparison in two lines: each side at its own best stable rate, then at the shared
    one; ``panels`` ("best" or "shared") says which of the two the panels below animate."""
    def steps(side):
        return f"{side.steps} steps" if side.steps is not None else "never"
    pb, cb = fc.positive_best, fc.centred_best
    ratio = fc.best_steps_ratio
    verdict = f" → positive inputs need {ratio:.1f}× the steps" if math.isfinite(ratio) else ""
    best_mark, shared_mark = (" (the panels below)", "") if panels == "best" else ("", " (the panels below)")
    return (f"At each side's best stable lr{best_mark}: positive {steps(pb)} (lr {pb.problem.lr:.2g}) vs "
            f"zero-centred {steps(cb)} (lr {cb.problem.lr:.2g}){verdict}.\n"
            f"At the shared lr {fc.shared_lr:.2g}{shared_mark}: positive {steps(fc.positive_shared)} vs "
            f"zero-centred {steps(fc.centred_shared)} — a shared rate hides the cost: positive inputs "
            f"only tolerate a {fc.best_lr_ratio:.1f}× smaller step.")


class NeuronSurfaceView(QtWidgets.QWidget):
    """Positive vs zero-centred inputs for the same neuron, start, target and optimiser."""

    sigProblemChanged = QtCore.Signal()

    def __init__(self, parent=None, interval_ms: int = 120):
        super().__init__(parent)
        base = S.NeuronProblem()
        self._start, self._target = base.start, base.target
        self.left = _NeuronPanel(S.POSITIVE_INPUTS)
        self.right = _NeuronPanel(S.CENTRED_INPUTS)
        self.right.inputs.setCurrentIndex(S.CENTRED_INPUTS.index("centred"))

        self.optimizer = QtWidgets.QComboBox()
        self.optimizer.addItems(S.NEURON_OPTIMIZERS)
        self.lr = QtWidgets.QDoubleSpinBox()
        self.lr.setDecimals(3)
        self.lr.setRange(0.001, 10.0)
        self.lr.setSingleStep(0.05)
        self.lr.setValue(DEFAULT_LR["sgd"])
        self.batch = QtWidgets.QComboBox()
        for text, value in BATCH_CHOICES:
            self.batch.addItem(text, value)
        self.play = QtWidgets.QPushButton("▶ Play")
        self.play.setCheckable(True)
        self.step_button = QtWidgets.QPushButton("Step")
        self.replay = QtWidgets.QPushButton("⟲ Replay")
        self.seed = QtWidgets.QSpinBox()
        self.seed.setRange(0, 9999)
        # which learning rates the panels animate: at one shared rate the zig-zag side can reach the
        # minimum first (it tolerates only a smaller step, which one shared rate hides), so the
        # default is each side at its own best stable rate, once the search has found them
        self.rates = QtWidgets.QComboBox()
        for text, value in RATE_CHOICES:
            self.rates.addItem(text, value)
        # two rows, so the view fits a dock beside the graph as well as a full screen
        bar = QtWidgets.QHBoxLayout()
        settings = settings_row((("optimiser", self.optimizer), ("lr", self.lr), ("rates", self.rates)),
                                18, min_chars=6, spacing=12)
        for b in (self.play, self.step_button, self.replay):
            b.setFont(_font(18, bold=True))
            bar.addWidget(b)
        bar.addSpacing(12)
        bar.addLayout(settings_row((("batch", self.batch), ("seed", self.seed)), 18, min_chars=6, spacing=12), 1)
        panels = QtWidgets.QHBoxLayout()
        panels.addWidget(self.left, 1)
        panels.addWidget(self.right, 1)
        self.fairness = QtWidgets.QLabel()
        self.fairness.setObjectName("zigzagFairness")
        self.fairness.setFont(_font(20, bold=True))
        self.fairness.setWordWrap(True)
        self.fairness.setMinimumWidth(200)
        self.fairness.setToolTip("Each side's best stable learning rate is searched now (48 rates from 0.02 to 8): "
                                 "the fewest steps to the minimum without diverging.")
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(settings)
        lay.addLayout(bar)
        lay.addWidget(self.fairness)
        lay.addLayout(panels, 1)
        self._fair_token = 0
        self.fair_result = None

        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_tick)
        self.optimizer.currentTextChanged.connect(self._on_optimizer)
        self.lr.valueChanged.connect(self._on_lr)
        self.rates.currentIndexChanged.connect(self._on_rates)
        self.batch.currentIndexChanged.connect(self._rebuild)
        self.seed.valueChanged.connect(self._rebuild)
        self.left.inputs.currentIndexChanged.connect(self._rebuild)
        self.right.inputs.currentIndexChanged.connect(self._rebuild)
        for panel in (self.left, self.right):
            panel.sigStartMoved.connect(self._on_start_moved)
            panel.sigTargetMoved.connect(self._on_target_moved)
        self.play.toggled.connect(self._on_play)
        self.step_button.clicked.connect(lambda: self._advance(1))
        self.replay.clicked.connect(self._on_replay)
        self.set_theme("dark")
        self._rebuild()

    # ------------------------------------------------------------------ model
    def problem(self, inputs: str) -> S.NeuronProblem:
        return S.NeuronProblem(inputs=inputs, start=self._start, target=self._target,
                               optimizer=self.optimizer.currentText(), lr=self.lr.value(),
                               batch_size=self.batch.currentData(), seed=self.seed.value(), steps=300)

    @property
    def rate_mode(self) -> str:
        """"best": each panel at its side's best stable rate (once found); "shared": both at the lr box's."""
        return self.rates.currentData()

    def _rebuild(self, *_):
        """New settings: while playing, animate from step 0; when paused, show the whole path."""
        self.fair_result = None
        for panel in (self.left, self.right):
            panel.set_problem(self.problem(panel.inputs.currentData()))
        self._fair_pending = True
        self.fairness.setText("Searching each side's best stable learning rate…")
        self._maybe_search()
        self._from_the_start()
        self.sigProblemChanged.emit()

    def _from_the_start(self) -> None:
        self.show_step(0 if self.play.isChecked() else self.final_step())

    def apply_rates(self) -> None:
        """Give the panels the rates ``rate_mode`` asks for: the best-rate problems of the finished
        search, or the shared rate (also while the search is still running)."""
        fc = self.fair_result
        best = {} if fc is None or self.rate_mode != "best" else {
            side.problem.inputs: side.problem for side in (fc.positive_best, fc.centred_best)}
        changed = False
        for panel in (self.left, self.right):
            shared = self.problem(panel.inputs.currentData())
            problem = best.get(shared.inputs, shared)
            if panel.problem != problem:
                panel.set_problem(problem)
                changed = True
        if fc is not None:
            self.fairness.setText(fairness_text(fc, self.rate_mode))
        if changed:
            self._from_the_start()

    def final_step(self) -> int:
        """Enough steps for both panels to reach the minimum (or their whole paths)."""
        ends = [p.stats.steps_to_min if p.stats.steps_to_min is not None else len(p.path) - 1
                for p in (self.left, self.right)]
        return max(ends)

    def show_step(self, k: int) -> None:
        self.left.show_step(k)
        self.right.show_step(k)

    # ------------------------------------------------------------------ fairness
    def _maybe_search(self) -> None:
        """Start the best-rate search if one is due and the view is on screen: behind another tab
        it would take a core from training for seconds at every start of the app, for a result
        nobody sees (it starts when the tab comes to the front)."""
        if self._fair_pending and is_shown(self):
            self._fair_pending = False
            self._start_fairness()

    def on_shown(self) -> None:
        """The tab came to the front (the window calls this)."""
        QtCore.QTimer.singleShot(0, self, self._maybe_search)     # after the dock's layout has settled

    def showEvent(self, event) -> None:
        super().showEvent(event)
        QtCore.QTimer.singleShot(0, self, self._maybe_search)

    def _start_fairness(self):
        """Search each side's best stable learning rate in the worker process (a few seconds)."""
        from engine.zigzag import fair_comparison
        self._fair_token += 1
        token = self._fair_token
        left, right = (self.problem(p.inputs.currentData()) for p in (self.left, self.right))
        self.fairness.setText("Searching each side's best stable learning rate…")
        emitter = _FairSignal(self)      # owned by the view, never deleted off the main thread (see gui/presenter.py)
        emitter.sigDone.connect(self._on_fair)

        def done(result):     # on the worker's reader thread: the result, or the exception
            try:
                emitter.sigDone.emit(token, result)
            except RuntimeError:  # the view was closed meanwhile
                pass

        # in the window's worker process (gui/offload.py): ~2.4 s of Python on a thread here held
        # the GUI's interpreter lock, and frames and input waited for it
        from gui import offload
        offload.shared().submit(fair_comparison, left, right, on_done=done)

    def _on_fair(self, token, result):
        sender = self.sender()
        if sender is not None:
            sender.deleteLater()       # its thread is done with it; deleted here, on the main thread
        if token != self._fair_token:
            return
        if isinstance(result, Exception):
            self.fairness.setText(f"Best-rate comparison unavailable: {result}")
            return
        self.fair_result = result
        self.apply_rates()

    def wait_for_rates(self) -> None:
        """Search the best rates here and now (for a recording, which cannot wait for the thread)."""
        from engine.zigzag import fair_comparison
        self._fair_pending = False
        self._fair_token += 1       # a search still running on its thread is now out of date
        left, right = (self.problem(p.inputs.currentData()) for p in (self.left, self.right))
        self.fair_result = fair_comparison(left, right)
        self.apply_rates()

    # ------------------------------------------------------------------ slots
    def _on_lr(self, _value):
        # a lecturer who types a learning rate wants to see that rate: the panels follow it
        if self.rate_mode != "shared":
            with QtCore.QSignalBlocker(self.rates):
                self.rates.setCurrentIndex(self.rates.findData("shared"))
        self._rebuild()

    def _on_rates(self, _index):
        self.apply_rates()

    def _on_optimizer(self, name: str):
        with QtCore.QSignalBlocker(self.lr):
            self.lr.setValue(DEFAULT_LR[name])
        self._rebuild()

    def _on_start_moved(self, pos):
        self._start = (float(pos[0]), float(pos[1]))
        self._restart()

    def _on_target_moved(self, pos):
        self._target = (float(pos[0]), float(pos[1]))
        self._restart()

    def _restart(self):
        self._rebuild()
        self.show_step(0)
        self.play.setChecked(True)

    def _on_play(self, on: bool):
        self.play.setText("⏸ Pause" if on else "▶ Play")
        if on:
            if self.left.finished and self.right.finished:
                self.show_step(0)
            self._timer.start()
        else:
            self._timer.stop()

    def _on_replay(self):
        self.show_step(0)
        self.play.setChecked(True)

    def _advance(self, n: int):
        self.show_step(self.left.shown + n)

    def _on_tick(self):
        self._advance(1)
        if self.left.shown >= self.final_step():
            self.play.setChecked(False)

    def set_theme(self, name: str) -> None:
        palette = colors.theme(name)
        for panel in (self.left, self.right):
            panel.set_theme(palette)
