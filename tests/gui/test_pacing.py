"""The display pacing (gui/pacing.py) and the labels that repaint alone (gui/widgets.py)."""
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from gui.pacing import DISPLAY_HZ, MAX_INTERVAL_S, FramePacer, process_share
from gui.widgets import LabelSlot, SteadyLabel


class Machine:
    """A fake clock for the pacer: each frame costs ``per_frame`` CPU seconds in the GUI thread and
    ``helpers`` more in other threads, and helper threads burn ``fixed`` of a core whatever the rate."""

    def __init__(self, per_frame: float, helpers: float = 0.0, fixed: float = 0.0):
        self.per_frame, self.helpers, self.fixed = per_frame, helpers, fixed
        self.wall = self.thread = self.process = 0.0

    def clock(self):
        return self.wall, self.thread, self.process

    def run(self, pacer: FramePacer, frames: int = 400) -> tuple[float, float]:
        """Shows ``frames`` frames at the pacer's intervals; the process's and the thread's share at the end."""
        for _ in range(frames):
            interval = pacer.interval_s()
            self.wall += max(interval, self.per_frame)   # a frame cannot come faster than it is made
            self.thread += self.per_frame
            self.process += self.per_frame + self.helpers + self.fixed * max(interval, self.per_frame)
            pacer.shown()
        span = max(pacer.interval_s(), self.per_frame)
        return (self.per_frame + self.helpers + self.fixed * span) / span, self.per_frame / span


def test_cheap_frames_come_at_the_display_rate():
    m = Machine(per_frame=0.002)
    pacer = FramePacer(cores=2, clock=m.clock)
    m.run(pacer)
    assert pacer.interval_s() == pytest.approx(1 / DISPLAY_HZ)


@pytest.mark.parametrize("per_frame, helpers, fixed", [(0.012, 0.010, 0.2), (0.004, 0.030, 0.0), (0.020, 0.0, 0.3)])
def test_the_gui_process_keeps_to_its_share_of_a_core(per_frame, helpers, fixed):
    """Helper-thread work counts (an edge render, the pipe reader), including work at a fixed rate."""
    m = Machine(per_frame, helpers, fixed)
    pacer = FramePacer(cores=2, clock=m.clock)
    process, thread = m.run(pacer)
    assert process == pytest.approx(process_share(2), rel=0.05)
    assert thread <= 0.6 * 1.05
    assert pacer.interval_s() > 1 / DISPLAY_HZ


def test_only_the_gui_thread_counted_would_overrun_the_share():
    """Negative control: paced by the GUI thread alone, the same helpers take more than the share."""
    m = Machine(per_frame=0.004, helpers=0.030)
    pacer = FramePacer(cores=2, clock=lambda: (m.wall, m.thread, m.thread))
    process, _ = m.run(pacer)
    assert process > 1.5 * process_share(2)


def test_a_busy_gui_thread_slows_the_frames_to_keep_input_answering():
    m = Machine(per_frame=0.030)
    pacer = FramePacer(cores=8, clock=m.clock)
    _, thread = m.run(pacer)
    assert thread == pytest.approx(0.6, rel=0.05)


def test_one_core_leaves_the_engine_more_than_half():
    assert process_share(1) < 0.5 < process_share(2) < 1.0
    m = Machine(per_frame=0.010, helpers=0.010)
    process, _ = m.run(FramePacer(cores=1, clock=m.clock))
    assert process == pytest.approx(process_share(1), rel=0.05)


def test_a_huge_frame_is_capped_and_a_pause_is_no_frames_cost():
    m = Machine(per_frame=0.5)
    pacer = FramePacer(cores=2, clock=m.clock)
    m.run(pacer, frames=50)
    assert pacer.interval_s() == MAX_INTERVAL_S
    m = Machine(per_frame=0.002)
    pacer = FramePacer(cores=2, clock=m.clock)
    m.run(pacer)
    pacer.idle()                   # paused: hovering, a slice... 30 s of GUI work, no frames
    m.wall += 30.0
    m.process += 30.0
    m.run(pacer, frames=1)
    assert pacer.interval_s() == pytest.approx(1 / DISPLAY_HZ)


class PaintCounter(QtCore.QObject):
    def __init__(self):
        super().__init__()
        self.painted = []

    def eventFilter(self, obj, event):
        if event.type() == QtCore.QEvent.Type.Paint:
            self.painted.append(obj)
        return False


def _panel(qtbot, label, slot: bool):
    panel = QtWidgets.QWidget()
    layout = QtWidgets.QVBoxLayout(panel)
    layout.addWidget(LabelSlot(label) if slot else label)
    layout.addWidget(QtWidgets.QPushButton("below"))
    panel.resize(400, 200)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def _painted_after(qapp, change) -> list:
    counter = PaintCounter()
    qapp.processEvents()
    qapp.installEventFilter(counter)
    try:
        change()
        for _ in range(3):
            qapp.processEvents()
    finally:
        qapp.removeEventFilter(counter)
    return counter.painted


def test_new_text_in_a_slot_repaints_the_label_alone(qtbot, qapp):
    label = QtWidgets.QLabel("step 1")
    label.setWordWrap(True)
    panel = _panel(qtbot, label, slot=True)
    painted = _painted_after(qapp, lambda: label.setText("step 2"))
    assert painted and all(w is label for w in painted)
    assert panel not in painted


def test_a_plain_label_has_its_panel_painted(qtbot, qapp):
    """Negative control: the same label in the layout repaints the panel under it."""
    label = QtWidgets.QLabel("step 1")
    label.setWordWrap(True)
    panel = _panel(qtbot, label, slot=False)
    painted = _painted_after(qapp, lambda: label.setText("step 2"))
    assert panel in painted


def test_a_slot_grows_with_its_lines_and_shrinks_back(qtbot, qapp):
    label = QtWidgets.QLabel("one line")
    label.setWordWrap(True)
    panel = _panel(qtbot, label, slot=True)
    slot = panel.findChild(LabelSlot)
    one = slot.height()
    label.setText(" ".join(["many words that wrap"] * 12))
    qtbot.waitUntil(lambda: slot.height() > 2 * one, timeout=2000)
    assert label.geometry() == slot.rect()           # the label is never cut off
    label.setText("one line")
    qtbot.waitUntil(lambda: slot.height() == one, timeout=2000)


def test_a_steady_label_keeps_its_size_and_follows_its_font(qtbot, qapp):
    label = SteadyLabel("step 999,999,999")
    qtbot.addWidget(label)
    size = label.size()
    label.setText("step 1")
    assert label.size() == size
    font = QtGui.QFont(label.font())
    font.setPixelSize(2 * QtGui.QFontInfo(label.font()).pixelSize())   # the app font may be in pixels
    label.setFont(font)                        # presenter mode's bigger text
    assert label.width() > 1.5 * size.width()
