"""A comparison preset in the window: its members train in lockstep in the engine process and the
centre of the window shows them side by side; choosing an ordinary preset goes back to one network."""
from __future__ import annotations

import pytest

from engine.presets import load_preset
from tests.gui.test_app import play


def test_a_comparison_preset_runs_its_members_side_by_side(qtbot, make_window):
    preset = load_preset("cmp-sigmoid-relu")
    window = make_window()
    frames = []
    window.sigFrameShown.connect(lambda s: frames.append(s))
    with qtbot.waitSignal(window.runner.sigMembersBuilt, timeout=20_000,
                          check_params_cb=lambda configs: len(configs) == len(preset.members)):
        assert window.controls.choose_preset(preset.name)
    members = [preset.member_config(m.label) for m in preset.members]
    assert window.runner.configs == members
    assert window.compare.isVisible() and not window.graph.isVisible()   # the centre shows the members
    play(qtbot, window)
    qtbot.waitUntil(lambda: len(window.compare.panels) == len(members)
                    and all(p.graph._snapshot is not None for p in window.compare.panels)
                    and window.compare._snapshots[0].step > 5, timeout=30_000)
    steps = [s.step for s in window.compare._snapshots]
    assert len(set(steps)) == 1                         # lockstep: every member at the same step
    assert window.compare.labels() == [m.label for m in preset.members]
    # the single-network views show member 0
    assert window.config == preset.config and frames[-1].n_weight_layers == members[0].n_weight_layers

    # an ordinary preset: back to one network
    with qtbot.waitSignal(window.runner.sigMembersBuilt, timeout=20_000, check_params_cb=lambda c: len(c) == 1):
        assert window.controls.choose_preset("relu-fix")
    assert window.runner.configs == [load_preset("relu-fix").config]
    assert window.graph.isVisible() and not window.compare.isVisible()


def test_a_comparison_whose_members_cannot_be_built_leaves_no_empty_centre(qtbot, make_window):
    """cmp-cpu-gpu without CuPy: the GPU member's build is rejected; the centre showed an empty
    comparison (no members, no graph) while the old run went on unseen."""
    from engine import Config
    from engine.backend import _try_cupy
    if _try_cupy()[0] is not None:
        pytest.skip("CuPy runs here: the GPU member builds")
    window = make_window()
    qtbot.waitUntil(lambda: window.frames_shown > 0, timeout=20_000)
    with qtbot.waitSignal(window.runner.sigConfigRejected, timeout=20_000):
        window.controls.choose_preset("cmp-cpu-gpu")
    assert window._comparison is None
    assert window.graph.isVisible() and not window.compare.isVisible()
    assert window.runner.configs and all(isinstance(c, Config) for c in window.runner.configs)


def test_a_comparison_keeps_the_window_within_its_screen(qtbot, make_window):
    """A 30-layer comparison's centre needs ~820 px: the window grew to 2091 px on a 1920-px
    screen, and the view docks and the status bar ran off its edge. The docks give the room up."""
    from PySide6 import QtWidgets
    window = make_window()
    window.resize(1920, 1080)
    with qtbot.waitSignal(window.runner.sigMembersBuilt, timeout=20_000, check_params_cb=lambda c: len(c) == 2):
        assert window.controls.choose_preset("cmp-he-2015")
    QtWidgets.QApplication.processEvents()
    screen = window.screen().availableGeometry().width()         # 800 offscreen
    qtbot.waitUntil(lambda: window.width() <= max(screen, window.minimumSizeHint().width()), timeout=5_000)
    # a wider screen, given as the limit: the window stays within it and nothing is below its minimum
    window.resize(2100, 1080)
    QtWidgets.QApplication.processEvents()
    window.fit_screen(1920)
    QtWidgets.QApplication.processEvents()
    assert window.width() <= 1920
    dock = window._view_docks["Gradients"]
    assert dock.width() >= dock.minimumSizeHint().width()
    assert window.centralWidget().width() >= window.compare.minimumSizeHint().width()
    window.fit_screen(2400)                                       # room enough: nothing changes
    assert window.width() <= 1920
