"""The comparison view: one colour scale for every member, members labelled, charts fed, verdicts."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Config
from engine.comparisons import load_comparison, run_and_judge
from engine.lockstep import Lockstep, Member
from gui import colors
from gui.views.compare import CompareView, shared_range

BASE = Config(depth=3, width=8, dataset="spiral", n_samples=120, steps=40, backend="numpy")


@pytest.fixture
def view(qtbot):
    v = CompareView()
    qtbot.addWidget(v)
    v.resize(1600, 900)
    v.show()
    return v


def test_one_colour_scale_across_members(view):
    """Members whose gradients differ by decades still share one scale: the union of their ranges."""
    lock = Lockstep(BASE, [Member("sigmoid", {"activation": "sigmoid"}), Member("relu", {"activation": "relu"}),
                           Member("tiny", {"init": "normal", "init_sigma": 0.01})])
    view.set_members(lock.labels, title="test")
    snaps = lock.step(20)
    view.set_snapshots(snaps)
    ranges = {p.graph.color_range() for p in view.panels}
    assert len(ranges) == 1 and ranges == {view.color_range()}
    lo, hi = view.color_range()
    # each member alone would have chosen another scale; the shared one covers the largest of them
    alone = [colors.decade_range([np.asarray(g).ravel() for g in s.edge_grads]) for s in snaps]
    assert len(set(alone)) > 1
    assert hi == max(a[1] for a in alone)
    assert lo <= min(a[0] for a in alone) or np.log10(hi / lo) == view.max_decades
    # the same value gets the same colour bin in every graph
    for p in view.panels:
        assert p.graph.color_range() == (lo, hi)
    # the one colour bar shows that scale
    levels = view.color_bar.levels()
    assert levels == pytest.approx((np.log10(lo), np.log10(hi)))


def test_shared_range_is_not_any_single_member(view):
    lock = Lockstep(BASE, [Member("a", {"init": "normal", "init_sigma": 0.01}), Member("b", {"init": "he_normal"})])
    snaps = lock.step(5)
    lo, hi = shared_range(snaps, "gradient")
    lo_b, hi_b = shared_range(snaps[1:], "gradient")
    assert hi == hi_b and lo < lo_b      # member a's vanishing gradients widen the scale downwards


def test_members_labelled_and_charts_fed(view, qtbot):
    lock = Lockstep(BASE, [Member("ReLU", {"activation": "relu"}), Member("tanh", {"activation": "tanh"})])
    view.set_members(lock.labels, ["activation=relu", "activation=tanh"], "ReLU vs tanh")
    for _ in range(4):
        view.set_snapshots(lock.step(10))
    view.draw_now()
    assert "ReLU" in view.panels[0].header.text() and "activation=relu" in view.panels[0].header.text()
    assert "step 40 ·" in view.scale_note.text()          # once for all members (lockstep)
    assert "loss " in view.panels[1].numbers.text() and "step" not in view.panels[1].numbers.text()
    xs, ys = view.charts.loss_curves[0].getData()
    assert xs is not None and len(xs) > 0 and xs.max() <= 39
    acc_x, acc_y = view.charts.acc_curves[1].getData()
    assert list(acc_x) == [10, 20, 30, 40]
    assert acc_y[-1] == pytest.approx(lock.snapshots()[1].accuracy)
    nx, ny = view.charts.norm_curves[0].getData()
    assert len(nx) == BASE.depth + 1
    assert ny == pytest.approx(np.log10(lock.snapshots()[0].grad_norms))
    with pytest.raises(ValueError):
        view.set_snapshots(lock.snapshots()[:1])


def test_verdicts_and_four_members(view, qtbot):
    comp = load_comparison("cmp-dead-leaky")
    lock, verdicts = run_and_judge(comp)
    view.set_members(lock.labels, title=comp.title)
    view.set_snapshots(lock.snapshots())
    view.set_verdicts(verdicts)
    assert view.verdicts.isVisible() and view.verdicts.text().count("✓") == len(verdicts)
    four = Lockstep(BASE, [Member(str(i), {"lr": 0.05 * (i + 1)}) for i in range(4)])
    view.set_members(four.labels)
    view.set_snapshots(four.step(3))
    positions = [view.grid.getItemPosition(view.grid.indexOf(p))[:2] for p in view.panels]
    assert positions == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert not view.verdicts.isVisible()
    view.set_mode("weight")
    assert all(p.graph.mode() == "weight" for p in view.panels)


def test_frames_of_the_engine_process(view):
    """Frames as the engine process sends them (generation, configs, snapshots per member)."""
    from collections import namedtuple
    Frame = namedtuple("Frame", "generation configs snapshots")
    configs = [BASE.replace(init="xavier_normal"), BASE.replace(init="he_normal")]
    lock = Lockstep(BASE, [Member("a", {"init": "xavier_normal"}), Member("b", {"init": "he_normal"})])
    view.set_frame(Frame(1, configs, lock.step(5)))
    assert view.labels() == ["init=xavier_normal", "init=he_normal"]
    view.set_frame(Frame(1, configs, lock.step(5)))
    assert "step 10 ·" in view.scale_note.text()
    view.draw_now()
    xs, _ = view.charts.acc_curves[0].getData()
    assert list(xs) == [5, 10]
    fresh = Lockstep(BASE, [Member("a", {"init": "xavier_normal"}), Member("b", {"init": "he_normal"})])
    view.set_frame(Frame(2, configs, fresh.step(3)))            # a reset: the charts start over
    view.draw_now()
    xs, _ = view.charts.acc_curves[0].getData()
    assert list(xs) == [3]


def fitted_member_graph(qtbot, size, sizes):
    """A member panel of ``size`` showing a fake network of ``sizes``, its graph fitted (keep the
    panel: the graph goes with it)."""
    from PySide6 import QtWidgets
    from gui.views.compare import MemberPanel
    from tests.gui.fakes import fake_snapshot
    panel = MemberPanel(0, "Xavier")
    qtbot.addWidget(panel)
    panel.resize(*size)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_snapshot(fake_snapshot(sizes))
    QtWidgets.QApplication.processEvents()
    panel.graph._fit()
    QtWidgets.QApplication.processEvents()
    return panel


def test_a_short_member_graph_keeps_most_of_its_height_for_the_network(qtbot):
    """Four members under a claim bar: a member's graph ~120 px tall. Margins sized for the largest
    node and three rows of names took two thirds of it and left the network a strip."""
    panel = fitted_member_graph(qtbot, (400, 230), (2,) + (32,) * 8 + (2,))
    graph = panel.graph
    height = graph.vb.boundingRect().height()
    assert height < 160
    lo, hi = graph._geometry.y_extent
    _, px = graph.vb.viewPixelSize()
    assert (hi - lo) / px > 0.4 * height, ((hi - lo) / px, height)   # was ~5%


def test_a_deep_member_graph_keeps_its_height_for_the_nodes(qtbot):
    """30 layers in a small-multiple panel: the staggered name rows were sized for name + norm +
    stats lines the compact labels never show, and squeezed the network to a 1-px line."""
    panel = fitted_member_graph(qtbot, (560, 330), (2,) + (16,) * 30 + (1,))   # presenter mode at 1920x1080
    graph = panel.graph
    lo, hi = graph._geometry.y_extent
    _, px = graph.vb.viewPixelSize()
    nodes_px = (hi - lo) / px
    assert nodes_px > 0.25 * graph.vb.boundingRect().height(), nodes_px   # was ~1 px
    assert "σ" not in graph.column_labels[3].toPlainText()   # names only


def test_a_long_member_description_does_not_widen_the_window(qtbot):
    """cnn-vanishing's three headers ("activation=relu, init=he_normal, residual=True") set a
    minimum width wider than a 1920-px screen: the docks and half the claim line were pushed off."""
    from gui.views.compare import MemberPanel
    panel = MemberPanel(2, "relu-he-skips", "activation=relu, init=he_normal, residual=True, "
                        "conv_channels=8, conv_depth=8")
    qtbot.addWidget(panel)
    panel.show()
    assert panel.minimumSizeHint().width() < 300
    panel.resize(320, 300)
    assert panel.header.height() > panel.header.fontMetrics().height()   # wrapped, not cut


def test_the_comparison_fits_beside_the_controls_and_the_docks(view):
    """With the controls dock and the view docks shown, a comparison must leave them room on a
    1920-px screen: its one-line colour-scale note alone asked for ~1050 px."""
    comp = load_comparison("cmp-dead-leaky")
    lock = Lockstep(comp.base, comp.members)
    view.set_members(lock.labels, details=["activation=relu, leaky_slope=0.01",
                                           "activation=leaky_relu, leaky_slope=0.2"], title=comp.title)
    view.set_snapshots(lock.step(2))
    assert view.minimumSizeHint().width() <= 950, view.minimumSizeHint()
    # the charts' legend wraps: at presenter sizes its one line made a 30-layer comparison 2253 px wide
    assert view.key.minimumSizeHint().width() < 300


def test_step_ticks_never_run_together_on_a_narrow_chart(qtbot):
    """pyqtgraph spaces ticks by axis length alone: at 28 px on a 200 px chart, 0..1000 came out as
    "200400600800". fit_tick_labels keeps each major tick at least 1.33 label widths apart."""
    import pyqtgraph as pg
    from PySide6 import QtGui

    from gui.views.compare import _next_nice, fit_tick_labels
    assert [_next_nice(v) for v in (1, 2, 5, 200, 0.05)] == [2, 5, 10, 500, 0.1]
    pw = pg.PlotWidget()
    qtbot.addWidget(pw)
    axis = pw.getPlotItem().getAxis("bottom")
    big = QtGui.QFont()
    big.setPixelSize(28)
    axis.setStyle(tickFont=big)
    plain = axis.tickSpacing(0, 1000, 200)[0][0]
    fit_tick_labels(axis)
    fitted = axis.tickSpacing(0, 1000, 200)[0][0]
    label = QtGui.QFontMetrics(big).horizontalAdvance("1000")
    assert 200 * plain / 1000 < 1.33 * label          # the negative control: pyqtgraph's own spacing overlaps
    assert 200 * fitted / 1000 >= 1.33 * label
    wide = axis.tickSpacing(0, 1000, 2000)[0][0]
    assert 2000 * wide / 1000 >= 1.33 * label and wide <= plain    # a wide chart keeps its finer ticks
    # the loss chart of a comparison at 1920 px: 0..600 on ~100 px showed "200400"; one tick is
    # better than two that read as one number
    narrow = axis.tickSpacing(0, 600, 100)[0][0]
    assert 100 * narrow / 600 >= 1.33 * label or narrow > 600 / 2


@pytest.mark.parametrize("size", [(560, 330), (260, 300)], ids=["presenter", "window"])
def test_a_deep_member_graphs_column_names_do_not_overlap(qtbot, size):
    """30 layers in a small-multiple panel: the names shown (every stride-th column) alternate
    over the label rows; they were all put on one row ("input h3h6h9h12…" ran together)."""
    panel = fitted_member_graph(qtbot, size, (2,) + (32,) * 30 + (2,))
    graph = panel.graph
    from PySide6 import QtCore, QtGui
    from gui.views.network_graph import _font
    metrics = QtGui.QFontMetricsF(_font(graph._label_pt, bold=True))
    shown = [(c, item) for c, item in enumerate(graph.column_labels) if item.isVisible()]
    assert len(shown) >= 3
    inked = []       # each name's text in scene pixels (its box is as wide as the widest name)
    for c, item in shown:
        box = item.mapRectToScene(item.boundingRect())
        half = metrics.horizontalAdvance(graph._geometry.names[c]) / 2
        inked.append(QtCore.QRectF(box.center().x() - half, box.top() + 2, 2 * half, metrics.height()))
    for i, a in enumerate(inked):
        for b in inked[i + 1:]:
            assert not a.intersects(b), (a, b)


def test_a_short_member_panel_keeps_what_differs_in_its_tooltip(qtbot):
    """Four members under a claim bar: "init=normal, init_sigma=0.01" took a second header line
    from a graph that had none to spare. A short panel shows the label alone; the tooltip keeps it."""
    from PySide6 import QtWidgets
    from gui.views.compare import SHORT_PANEL_PX, MemberPanel
    panel = MemberPanel(0, "N(0, 0.01²)", "init=normal, init_sigma=0.01")
    qtbot.addWidget(panel)
    panel.resize(400, SHORT_PANEL_PX + 100)
    panel.show()
    qtbot.waitExposed(panel)
    assert "init_sigma=0.01" in panel.header.text()
    panel.resize(400, SHORT_PANEL_PX - 100)
    QtWidgets.QApplication.processEvents()
    assert "init_sigma=0.01" not in panel.header.text() and "N(0, 0.01²)" in panel.header.text()
    assert panel.header.toolTip() == "init=normal, init_sigma=0.01"
    panel.resize(400, SHORT_PANEL_PX + 100)
    QtWidgets.QApplication.processEvents()
    assert "init_sigma=0.01" in panel.header.text()


def test_a_short_member_graph_is_not_cut_off_at_its_panels_edge(qtbot):
    """The graph's drawing area kept the window graph's floor (150 px) inside a 77-px member graph,
    so its bottom rows were cut off; in a short panel it fits, and so do the nodes."""
    panel = fitted_member_graph(qtbot, (400, 165), (2,) + (32,) * 8 + (2,))
    graph = panel.graph
    assert graph.graphics.height() <= graph.height()
    (_, _), (y0, y1) = graph.vb.viewRange()
    lo, hi = graph._geometry.y_extent
    assert y0 < lo and hi < y1
    _, py = graph.vb.viewPixelSize()
    assert (hi - lo) / py > 0.4 * graph.vb.boundingRect().height()
