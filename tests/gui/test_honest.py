"""Honest numbers: divergence keeps the last finite state, zero reads "< 1e-38", legible themes."""
import dataclasses

import numpy as np
import pytest

from engine import Simulation
from engine.presets import load_preset
from gui import colors
from gui.honest import DivergenceKeeper, all_finite, first_nonfinite
from gui.views.chart_base import depth_colors
from gui.views.charts import headline, loss_accuracy_text, norm_ratio
from tests.gui.fakes import fake_snapshot


def test_nan_units_are_never_called_dead():
    config = load_preset("exploding").config.replace(backend="numpy")
    sim = Simulation(config)
    first = sim.snapshot()
    last = sim.step(20)
    assert last.diverged
    real_dead = sum(int(u.sum()) for u in first.unit_dead)
    assert sum(int(u.sum()) for u in last.unit_dead) <= real_dead   # not "every unit dead"
    assert sum(u.size for u in last.unit_dead) > 3 * real_dead


def test_keeper_shows_the_last_finite_state_and_names_the_layer():
    good = fake_snapshot((2, 4, 4, 1))
    bad = dataclasses.replace(good, step=7, loss=float("nan"), diverged=True, diverged_at=6,
                              act_std=np.array([1.0, np.inf]),
                              history_steps=np.array([5, 6]), history_loss=np.array([0.5, np.nan]),
                              history_grad_norms=np.ones((2, 3)))
    assert all_finite(good) and not all_finite(bad)
    assert first_nonfinite(bad) == "hidden layer h2 (forward: its activations)"
    back = dataclasses.replace(bad, act_std=np.ones(2), loss=1.0, signal_norms=np.array([np.inf, 1.0, 1.0]))
    assert first_nonfinite(back).startswith("weight layer W1 (backward")
    keeper = DivergenceKeeper()
    assert keeper.filter(0, good) == (good, None)
    shown, div = keeper.filter(0, bad)
    assert all_finite(shown) and shown.diverged and shown.diverged_at == 6
    assert list(shown.history_steps) == [5]         # the finite history stays, the NaN step goes
    assert "Diverged at step 6" in div.banner() and f"Showing step {good.step}" in div.banner()
    # a new run forgets it
    assert keeper.filter(1, bad)[0] is bad


def test_zero_and_underflow_never_read_nan():
    assert colors.magnitude_text(0.0) == "< 1e-38"
    assert colors.magnitude_text(float("nan")) == "not finite"
    assert colors.magnitude_text(float("inf")) == "overflow"
    assert colors.magnitude_text(2.5e-13) == "2.5e-13"
    assert norm_ratio(0.0, 1.0) == (0.0, "< 1e-38")
    assert norm_ratio(0.0, 0.0)[1] == "both layers < 1e-38"
    assert "nan" not in norm_ratio(1.0, 0.0)[1]


def test_headline_follows_the_back_propagated_signal():
    s = fake_snapshot((2, 4, 4, 1))
    s = dataclasses.replace(s, grad_norms=np.array([0.5, 0.5, 1.0]), signal_norms=np.array([1e3, 10.0, 1.0]))
    text = headline(s)
    assert "‖∂L/∂a‖: 1e3" in text and "exploding" in text        # the weight ratio (0.5) would say nothing
    s = dataclasses.replace(s, signal_norms=np.array([1e-9, 1e-3, 1.0]))
    assert "vanishing" in headline(s)


def test_accuracy_beside_the_loss():
    s = dataclasses.replace(fake_snapshot((2, 4, 1)), loss=0.3, test_loss=0.6, accuracy=0.95, test_accuracy=0.7)
    text = loss_accuracy_text(s)
    assert "train 0.3" in text and "test 0.6" in text and "train 95.0%" in text and "test 70.0%" in text


@pytest.mark.parametrize("name", ["dark", "light"])
def test_every_chart_line_and_text_is_legible(name):
    t = colors.theme(name)
    bg = t["background"]
    for c in depth_colors(12, name):
        assert colors.contrast(c, bg) >= 3.0
    for c in colors.SERIES[name]:
        assert colors.contrast(c, bg) >= 3.0, c
    for key in ("dead", "saturated"):
        assert colors.contrast(t[key], bg) >= 3.0, key
    assert colors.contrast(t["foreground"], bg) >= 4.5 and colors.contrast(t["muted"], bg) >= 4.5
    assert colors.contrast(t["foreground"], t["panel"]) >= 4.5


def test_markers_never_reuse_the_edge_maps_colours():
    for name in ("dark", "light"):
        t = colors.theme(name)
        table = colors.lut(colors.edge_colormap(name), 64)[:, :3].astype(float)
        for key in ("dead", "saturated"):
            c = np.array(colors.QtGui.QColor(t[key]).getRgb()[:3], float)
            assert np.abs(table - c).sum(axis=1).min() > 90, (name, key)


def test_the_same_colour_meaning_in_both_themes():
    dark, light = colors.lut(colors.edge_colormap("dark"), 8), colors.lut(colors.edge_colormap("light"), 8)
    np.testing.assert_array_equal(dark[0], light[0])            # weak: the same dark purple
    assert light[-1, 1] > light[-1, 0] and dark[-1, 1] > dark[-1, 2]   # strong: green-yellow in both


@pytest.mark.parametrize("name", ["dark", "light"])
def test_transport_icons_are_visible_on_the_theme(qtbot, name):
    from gui.icons import transport_icon
    t = colors.theme(name)
    for kind in ("play", "pause", "step", "reset"):
        img = transport_icon(kind, t["foreground"]).pixmap(32, 32).toImage()
        opaque = [img.pixelColor(x, y) for x in range(32) for y in range(32) if img.pixelColor(x, y).alpha() > 250]
        assert len(opaque) > 60, kind
        assert colors.contrast(opaque[0].name(), t["panel"]) >= 3.0


def test_underflow_text_survives_html_labels(qtbot):
    from gui.views.charts import GradientFlowBars
    bars = GradientFlowBars()
    qtbot.addWidget(bars)
    s = dataclasses.replace(fake_snapshot((2, 4, 4, 1)), grad_norms=np.zeros(3), signal_norms=np.zeros(3))
    bars.ingest(s)
    bars.redraw()
    label = bars.ratio_label
    assert "both layers &lt; 1e-38" in label.text()
    doc = colors.QtGui.QTextDocument()
    doc.setHtml(label.text())
    assert "<span" not in doc.toPlainText() and "< 1e-38" in doc.toPlainText()


@pytest.mark.parametrize("name", ["dark", "light"])
def test_check_boxes_stand_out_from_the_panel(name):
    from gui.icons import CHECK_BASE
    t = colors.theme(name)
    assert colors.contrast(CHECK_BASE[name], t["panel"]) >= 3.0
    assert colors.contrast(CHECK_BASE[name], "#FFFFFF" if name == "dark" else "#000000") >= 4.5


def test_test_metrics_from_an_earlier_step_say_so():
    s = dataclasses.replace(fake_snapshot((2, 4, 1)), step=1000, metrics_step=500, loss=0.3, test_loss=0.6,
                            accuracy=0.95, test_accuracy=0.7)
    assert "(from step 500)" in loss_accuracy_text(s)
    fresh = dataclasses.replace(s, metrics_step=990)           # within 10% of the run: not worth a word
    assert "from step" not in loss_accuracy_text(fresh)
