"""Gradient and training charts, and the activation panel, fed with fake snapshots."""
import dataclasses
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Config
from engine.activations import ACTIVATIONS
from gui.views.activation_panel import ActivationPanel, fact_lines
from gui.views.chart_base import depth_colors
from gui.views.charts import GradientChartsView, TrainingView
from gui.views.history import bucket_means, log10_or_nan, log10_zero_low
from gui.frames import DataInfo


def with_history(snapshot, first: int, k: int, value=0.5):
    L = snapshot.n_weight_layers
    steps = np.arange(first, first + k)
    return dataclasses.replace(
        snapshot, step=first + k, history_steps=steps, history_loss=np.full(k, value),
        history_grad_norms=np.tile(snapshot.grad_norms, (k, 1)))


@pytest.fixture
def gradients(qtbot):
    view = GradientChartsView()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    view.set_theme("dark")
    return view


def drawn(qtbot, *charts):
    """Charts redraw in an event of their own (throttled): wait for it."""
    qtbot.waitUntil(lambda: not any(c._dirty for c in charts), timeout=5_000)


def test_log_helpers_never_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = log10_or_nan([0.0, -1.0, np.nan, np.inf, 100.0])
        steps, means = bucket_means(np.arange(1000.0), np.full((1000, 2), np.nan))
    assert np.isnan(out[:4]).all() and out[4] == 2.0
    assert len(steps) == 250 and np.isnan(means).all()     # buckets of 4 steps: 200-400 of them


def test_zeros_are_kept_apart_from_nan_and_buckets_of_zeros_stay_zero():
    out = log10_zero_low([0.0, -1.0, np.nan, np.inf, 100.0])
    assert np.isneginf(out[0]) and np.isnan(out[1:4]).all() and out[4] == 2.0
    values = np.log10(np.full((800, 3), 0.5))
    values[:, 1] = -np.inf                            # a dead layer: every gradient exactly 0
    values[::2, 2] = -np.inf                          # half its steps zero: the mean of the rest
    steps, means = bucket_means(np.arange(800.0), values)
    assert np.isneginf(means[:, 1]).all()
    assert np.allclose(means[:, 0], np.log10(0.5)) and np.allclose(means[:, 2], np.log10(0.5))


def _tick_strings(plot) -> list[str]:
    axis = plot.getPlotItem().getAxis("left")
    lo, hi = plot.viewRange()[1]
    return [t for _, values in axis.tickValues(lo, hi, axis.height()) for t in axis.tickStrings(values, 1, 1)]


def test_a_dead_layer_is_drawn_on_a_zero_line_not_left_out(qtbot, gradients, make_snapshot):
    """A log axis has no 0: a layer whose gradient is exactly 0 used to vanish from the history and
    the bars (the dead-relu preset showed an empty chart). It is drawn on a line labelled "0"."""
    snap = make_snapshot((2, 8, 8, 1))
    norms = snap.grad_norms.copy()
    norms[0] = 0.0
    snap = dataclasses.replace(snap, grad_norms=norms)
    gradients.set_snapshot(with_history(snap, 0, 40))
    drawn(qtbot, gradients.history, gradients.bars)
    axis = gradients.history.plot.getPlotItem().getAxis("left")
    lane = axis.gfl_zero
    assert lane is not None and lane < np.log10(norms[1:]).min() - 0.5
    y = gradients.history._raw[0].getData()[1]
    assert np.allclose(y, lane)                         # on the "0" line, every step
    assert np.allclose(gradients.history._raw[1].getData()[1], np.log10(norms[1]))
    assert "0" in _tick_strings(gradients.history.plot)
    bars = gradients.bars.grad_bars.opts
    bar_lane = gradients.bars.plot.getPlotItem().getAxis("left").gfl_zero   # below ‖∂L/∂a‖ too
    assert bar_lane is not None and bars["height"][0] > 0 and np.isclose(bars["height"][0] + bars["y0"], bar_lane)
    assert "0" in _tick_strings(gradients.bars.plot)
    # and back: once no layer is zero, no "0" line and no "0" tick
    gradients.set_snapshot(with_history(dataclasses.replace(snap, grad_norms=snap.grad_norms + 1e-3), 40, 40))
    drawn(qtbot, gradients.history, gradients.bars)
    assert gradients.bars.plot.getPlotItem().getAxis("left").gfl_zero is None
    assert "0" not in _tick_strings(gradients.bars.plot)


def test_depth_colors_are_ordered_and_theme_aware():
    dark, light = depth_colors(5, "dark"), depth_colors(5, "light")
    assert len(dark) == 5 and dark[0] != light[0]
    luminance = [0.2126 * c.redF() + 0.7152 * c.greenF() + 0.0722 * c.blueF() for c in dark]
    assert luminance == sorted(luminance)        # viridis: input side dark, output side light


def test_history_chart_keeps_every_step_across_frames(qtbot, gradients, make_snapshot):
    snap = make_snapshot((2, 8, 8, 1))
    gradients.set_snapshot(snap)                       # step 0: its current norms
    gradients.set_snapshot(with_history(snap, 0, 40))  # overlapping step 0 is not repeated
    gradients.set_snapshot(with_history(snap, 40, 60))
    drawn(qtbot, gradients.history)
    h = gradients.history._history
    assert h.n == 100 and h.steps[: h.n].tolist() == list(range(100))
    raw = gradients.history._raw[0]
    assert len(raw.getData()[0]) == 100
    assert np.allclose(raw.getData()[1], np.log10(snap.grad_norms[0]))
    assert len(gradients.history._curves) == 3


def test_flow_bars_and_histograms(qtbot, gradients, make_snapshot):
    snap = make_snapshot((2, 16, 16, 16, 1), fade=100)
    gradients.set_snapshot(snap)
    drawn(qtbot, *gradients.charts)
    bars = gradients.bars
    heights = bars.grad_bars.opts["height"] + bars.grad_bars.opts["y0"]
    assert np.allclose(heights, np.log10(snap.grad_norms))
    assert "vanishing" in bars.ratio_label.text()
    hist = gradients.histograms
    assert hist.layer_combo.count() == snap.n_weight_layers + 1
    assert len(hist._curves) == 3 + 4          # activations of 3 hidden layers + gradients of 4 layers
    hist.layer_combo.setCurrentIndex(2)
    assert len(hist._curves) == 2


def test_exactly_zero_gradients_are_counted_and_said(qtbot, gradients, make_snapshot):
    """The log10 histogram cannot bin an exact 0: zeros stay in each layer's 100% and the plot
    gives their share (a half-dead layer's bars add up to 50%, not to 100% of the living half)."""
    snap = make_snapshot((2, 8, 8, 1))
    grads = [g.copy() for g in snap.edge_grads]
    grads[1][:4] = 0.0                                  # half of layer 2's 8 x 8 weights
    gradients.set_snapshot(dataclasses.replace(snap, edge_grads=grads))
    gradients.histograms.layer_combo.setCurrentIndex(2)   # layer 2 alone
    drawn(qtbot, gradients.histograms)
    hist = gradients.histograms
    assert hist.zero_text.isVisible() and hist.zero_text.toPlainText() == "50% exactly 0"
    curve = [c for c in hist._items[hist.grad_plot] if c.isVisible()][0]
    assert curve.getData()[1].sum() == pytest.approx(50.0)
    gradients.set_snapshot(snap)                        # no zero: no words about zeros
    drawn(qtbot, gradients.histograms)
    assert not hist.zero_text.isVisible()


def test_hidden_charts_collect_but_draw_later(qtbot, make_snapshot):
    view = GradientChartsView()
    qtbot.addWidget(view)
    snap = make_snapshot((2, 4, 1))
    view.set_snapshot(with_history(snap, 0, 10))
    assert view.history._history.n == 10 and len(view.history._raw[0].getData()[0] or []) == 0
    view.show()
    drawn(qtbot, view.history)
    assert len(view.history._raw[0].getData()[0]) == 10


def test_new_run_clears_the_charts(gradients, make_snapshot):
    gradients.set_snapshot(with_history(make_snapshot((2, 8, 1)), 0, 10))
    gradients.clear()
    gradients.set_snapshot(make_snapshot((2, 8, 8, 8, 1)))
    assert gradients.history._history.columns == 4 and gradients.history._history.n == 1


def test_training_view_loss_and_boundary(qtbot, make_snapshot):
    view = TrainingView()
    qtbot.addWidget(view)
    view.resize(1000, 500)
    view.show()
    for theme in ("light", "dark"):
        view.set_theme(theme)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2))
    data = DataInfo(x, (x[:, 0] > 0).astype(int), "binary", True, (-3, 3, -3, 3), "numpy", "CPU", "")
    view.set_data(data)
    grid = np.linspace(0, 1, 16 * 16).reshape(16, 16)
    snap = dataclasses.replace(with_history(make_snapshot(), 0, 30, value=0.3), boundary=grid,
                               boundary_extent=(-3.0, 3.0, -3.0, 3.0))
    view.set_snapshot(snap)
    drawn(qtbot, *view.charts)
    xs, ys = view.loss.train_raw.getData()
    assert len(xs) == 30 and np.allclose(ys, math.log10(0.3))
    assert len(view.loss.test_curve.getData()[0]) == 1
    assert view.boundary.image.image.shape == (16, 16)
    assert len(view.boundary.points.data) == 50
    view.set_data(dataclasses.replace(data, is_2d=False, extent=None))
    assert "2D datasets only" in view.boundary.message.textItem.toPlainText()


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_panel_plots_curve_and_facts(qtbot, name):
    panel = ActivationPanel()
    qtbot.addWidget(panel)
    panel.set_config(Config(activation=name))
    z, h = panel.h_curve.getData()
    _, dh = panel.dh_curve.getData()
    assert len(z) == len(h) == len(dh) > 100
    entry = ACTIVATIONS[name]
    assert np.nanmax(dh) <= entry.facts.max_derivative + 1e-6
    assert panel.caption.text() == entry.facts.caption
    assert entry.title in panel.facts.text()


def test_fact_lines_say_what_the_lecture_needs():
    lines = fact_lines(ACTIVATIONS["sigmoid"])
    assert lines[0] == "Sigmoid: derivative never exceeds 0.25"
    assert "not zero-centred" in lines[1]
    assert "jumps at 0" in fact_lines(ACTIVATIONS["relu"])[2]
    assert "no jump" in fact_lines(ACTIVATIONS["elu"])[2]


def test_log_axis_ticks_never_stack():
    from gui.views.chart_base import log_ticks
    assert log_ticks(float("nan"), 1.0, 200) == [] and log_ticks(0.0, 0.0, 200) == []
    (spacing, values), = log_ticks(-12.0, 1.0, 200)
    assert len(values) <= 200 / (2.2 * 20) + 1 and all(v == int(v) for v in values)
    (_, values), = log_ticks(-1.4, -0.2, 200)              # inside one decade: 1-2-5 steps
    assert len(values) <= 5 and len(set(values)) == len(values)
    gaps = np.diff(sorted(values))
    assert (gaps > 0.15).all()                               # no two labels on top of each other


def test_nice_bounds_move_in_notches_and_contain_the_data():
    from gui.views.chart_base import nice_bounds
    assert nice_bounds(0.0, 16_014.0) == (0.0, 18_000.0)
    lo, hi = nice_bounds(-3.7, -0.2)
    assert lo <= -3.7 and hi >= -0.2 and hi - lo <= 1.3 * 3.5
    # a growing history keeps its range for many frames, and the range always holds the data
    ranges = {nice_bounds(0.0, float(n)) for n in range(10_001, 12_000, 7)}
    assert len(ranges) <= 2 and all(r[1] >= 10_001 for r in ranges)
    assert nice_bounds(1.0, 1.0) == (1.0, 1.0) and nice_bounds(0.0, math.inf) == (0.0, math.inf)


def test_history_range_follows_the_data_and_a_zoom_snaps_back(qtbot, gradients, make_snapshot):
    snap = make_snapshot((2, 8, 8, 1))
    gradients.set_snapshot(with_history(snap, 0, 40))
    drawn(qtbot, gradients.history)
    plot = gradients.history.plot
    (x0, x1), _ = plot.viewRange()
    assert x0 <= 0 and x1 >= 39
    gradients.set_snapshot(with_history(snap, 40, 2000))      # far beyond the notch: the range grows
    drawn(qtbot, gradients.history)
    assert plot.viewRange()[0][1] >= 2039
    plot.setXRange(10, 20, padding=0)                          # a zoom by hand...
    gradients.set_snapshot(with_history(snap, 2040, 5))        # ...is undone by the next frame, as before
    drawn(qtbot, gradients.history)
    assert plot.viewRange()[0][1] >= 2044
    # every step is still in the drawn line, as log10 of the real value
    xs, ys = gradients.history._raw[0].getData()
    assert len(xs) == 2045 and np.allclose(ys, np.log10(snap.grad_norms[0]))


def test_histogram_range_is_held_while_the_data_fit_and_follows_when_they_do_not(qtbot, gradients, make_snapshot):
    snap = make_snapshot((2, 16, 16, 1))
    hist = gradients.histograms
    gradients.set_snapshot(snap)
    drawn(qtbot, hist)
    first = hist.act_plot.viewRange()
    shifted = dataclasses.replace(snap, activation_samples=[np.asarray(a) * 0.98 + 0.01 * np.ptp(a)
                                                            for a in snap.activation_samples])
    gradients.set_snapshot(shifted)
    drawn(qtbot, hist)
    assert hist.act_plot.viewRange() == first                 # small wander: same axes
    wide = dataclasses.replace(snap, activation_samples=[np.asarray(a) * 10 + 5 for a in snap.activation_samples])
    gradients.set_snapshot(wide)
    drawn(qtbot, hist)
    (x0, x1), _ = hist.act_plot.viewRange()
    allv = np.concatenate([np.asarray(a).ravel() for a in wide.activation_samples])
    assert x0 <= allv.min() and x1 >= allv.max()


def test_depth_colors_are_cached_but_callers_get_their_own():
    a, b = depth_colors(4, "dark"), depth_colors(4, "dark")
    assert a == b and a[0] is not b[0]
    a[0].setAlpha(10)
    assert depth_colors(4, "dark")[0].alpha() == 255


def test_envelope_keeps_every_steps_extremes_and_gaps():
    from gui.views.history import envelope
    rng = np.random.default_rng(1)
    n = 10_003
    steps = np.arange(n, dtype=float)
    values = rng.normal(size=(n, 3))
    values[100:140, 1] = np.nan            # a bucket-sized NaN run (b = 8 here) stays a gap
    values[5000, 2] = 40.0                 # a one-step spike survives
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xs, vs = envelope(steps, values, buckets=1024)
    assert len(xs) < 2_100 + 8 and vs.shape[1] == 3
    assert np.nanmax(vs[:, 2]) == 40.0 and np.nanmin(vs[:, 0]) == values[:, 0].min()
    b = 16                                  # 2 ** ceil(log2(10_003 / 1024))
    for k in (0, 7, 312, 624):              # every step lies inside its bucket's min..max
        chunk = values[k * b:(k + 1) * b]
        assert np.array_equal(vs[2 * k], np.fmin.reduce(chunk), equal_nan=True)
        assert np.array_equal(vs[2 * k + 1], np.fmax.reduce(chunk), equal_nan=True)
        assert xs[2 * k] == k * b and xs[2 * k + 1] == (k + 1) * b - 1
    assert np.isnan(vs[2 * 7:2 * 8, 1]).all()            # steps 112..127: all NaN in column 1, a gap
    assert np.isfinite(vs[2 * 8:2 * 9, 1]).all()         # 128..143 has finite steps (140..143): drawn
    assert np.array_equal(xs[-(n % b):], steps[-(n % b):])   # the newest steps as they are
    small_x, small_v = envelope(steps[:2000], values[:2000], buckets=1024)
    assert small_x is not None and len(small_x) == 2000 and np.array_equal(small_v, values[:2000], equal_nan=True)


def test_a_long_history_is_drawn_with_its_real_extremes(qtbot, gradients, make_snapshot):
    snap = make_snapshot((2, 8, 1))
    n = 20_000
    norms = np.tile(snap.grad_norms, (n, 1))
    norms[12_345, 0] = 1e3                                       # one step's spike
    gradients.set_snapshot(dataclasses.replace(snap, step=n, history_steps=np.arange(n),
                                               history_loss=np.full(n, 0.5), history_grad_norms=norms))
    drawn(qtbot, gradients.history)
    assert gradients.history._history.n == n                     # every step kept
    xs, ys = gradients.history._raw[0].getData()
    assert len(xs) < 5_000 and np.nanmax(ys) == 3.0 and xs[0] == 0 and xs[-1] == n - 1
    assert gradients.history.plot.viewRange()[1][1] >= 3.0       # the spike is inside the plot


def _growing_history(chunks, columns, seed, special):
    """A _History fed in ``chunks`` (sizes) of log10 values with NaN (non-positive, non-finite
    inputs) sprinkled in; after each chunk yields it."""
    from gui.views.history import _History
    rng = np.random.default_rng(seed)
    h = _History(columns)
    step = 0
    for k in chunks:
        raw = 10.0 ** rng.normal(-3, 2, (k, columns))
        if special and k:
            picks = rng.integers(0, raw.size, max(1, raw.size // 7))
            raw.flat[picks] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -1.0], len(picks))
        h.append(np.arange(step, step + k), log10_or_nan(raw))
        step += k
        yield h


@settings(max_examples=25, deadline=None)
@given(chunks=st.lists(st.integers(0, 3000), min_size=1, max_size=12), columns=st.integers(1, 4),
       seed=st.integers(0, 1000), special=st.booleans())
def test_incremental_smoothing_and_envelope_equal_the_full_recompute(chunks, columns, seed, special):
    """What a redraw draws from the per-bucket caches equals computing it over the whole history
    (NaN, inf and non-positive values included: they are NaN in log10 and ignored)."""
    from gui.views.history import envelope
    for h in _growing_history(chunks, columns, seed, special):
        steps, values = h.steps[: h.n], h.values[: h.n]
        for got, want in ((h.means(), bucket_means(steps, values)), (h.envelope(buckets=256), envelope(steps, values, 256))):
            np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=0)
            np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-12, equal_nan=True)


def test_incremental_smoothing_survives_thinning(monkeypatch):
    """Beyond MAX_POINTS the history halves its resolution: the caches start again, still equal."""
    from gui.views import history
    monkeypatch.setattr(history, "MAX_POINTS", 5000)
    for h in _growing_history([1500] * 8, 2, 3, True):
        steps, values = h.steps[: h.n], h.values[: h.n]
        np.testing.assert_allclose(h.means()[1], bucket_means(steps, values)[1], rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(h.envelope(1024)[1], history.envelope(steps, values, 1024)[1], equal_nan=True)
    assert h.stride > 1


def test_incremental_smoothing_reduces_only_new_buckets(monkeypatch):
    """A redraw after a few new steps reduces those steps, not the whole history."""
    from gui.views import history
    seen = []
    real = history._means_of
    monkeypatch.setattr(history, "_means_of", lambda s, v, b: seen.append(len(s)) or real(s, v, b))
    history = _growing_history([40_000, 64, 64], 3, 0, False)
    h = next(history)
    h.means()
    assert seen == [40_000 // 128 * 128]            # buckets of 128 steps
    next(history)
    h.means()
    next(history)
    h.means()
    assert seen[1:] == [128]                        # nothing new completed, then one bucket


def test_a_costly_chart_redraws_less_often_instead_of_falling_behind(gradients, qtbot, make_snapshot):
    """Each chart bills itself its redraws and paints (CPU time) and spaces its redraws so that they
    take at most CHART_SHARE of a core; a cheap chart keeps its min_interval_s."""
    from gui.views import chart_base
    chart = gradients.history
    snap = with_history(make_snapshot((2, 4, 4, 1)), 0, 50)
    chart.set_snapshot(snap)
    drawn(qtbot, chart)
    chart.plot.viewport().repaint()
    assert chart.paint_cpu() > 0                         # its paints are billed to it
    assert chart.interval_s() == pytest.approx(max(chart.min_interval_s, chart._cycle_cpu / chart_base.CHART_SHARE))
    chart._cycle_cpu = 0.05                              # 50 ms a redraw: 1 s apart at 5%
    assert chart.interval_s() == pytest.approx(0.05 / chart_base.CHART_SHARE)
    chart._cycle_cpu = 1e-4
    assert chart.interval_s() == chart.min_interval_s
    chart._cycle_cpu = 10.0
    assert chart.interval_s() == 2.0                     # never slower than every 2 s
    # and the newest data still arrive: a dirty chart redraws after the longer wait
    chart._cycle_cpu = 0.02
    chart.set_snapshot(with_history(snap, 50, 10))
    assert chart._dirty
    drawn(qtbot, chart)
    assert chart._history.n == 60
