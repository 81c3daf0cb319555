"""Keys that always work (gui/actions.py): a focused field commits first and never gets the space."""
import pytest
from PySide6 import QtWidgets
from PySide6.QtCore import Qt

from engine import Config
from gui.actions import COMMANDS, keymap_rows
from gui.main_window import MainWindow
from gui.settings import open_settings
from tests.gui.fakes_window import fake_factory

SMALL = Config(depth=3, width=8, n_samples=200)


@pytest.fixture
def window(qtbot):
    w = MainWindow(settings=open_settings(), factory=fake_factory(), theme_name="dark")
    qtbot.addWidget(w)
    w.resize(1600, 900)
    w.show()
    w.finish_setup(config=SMALL)
    qtbot.waitExposed(w)
    w.activateWindow()
    yield w
    w.actions_hub.detach()
    w.presenter.scaler.set_policy(scale=1.0, floor_px=0)   # the text policy is app-wide: leave it clean


def focus_field(qtbot, window, key):
    field = window.controls.widget_for(key)
    window.controls_dock.show()
    field.setFocus()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.focusWidget() in (field, getattr(field, "lineEdit", lambda: None)()))
    return field


def test_every_command_is_declared_once_with_a_key_and_help():
    ids = [c.id for c in COMMANDS]
    assert len(ids) == len(set(ids))
    keys = [k for c in COMMANDS for k in c.keys]
    assert len(keys) == len(set(keys)), "a key bound twice"
    for c in COMMANDS:
        assert c.keys and c.title and c.help
    text = " ".join(k + " " + t for k, t in keymap_rows())
    for needed in ("Space", "S", "R", "1 … 9", "PgUp", "PgDown", "F5", "F11", "?", "Esc", "Ctrl++"):
        assert needed in text, needed


def test_space_in_a_focused_number_field_commits_it_and_plays(qtbot, window):
    field = focus_field(qtbot, window, "width")  # a line edit (width may be a list)
    field.selectAll()
    qtbot.keyClicks(field, "24")
    qtbot.keyClick(field, Qt.Key_Space)
    assert field.text() == "24"                          # no space typed
    qtbot.waitUntil(lambda: window.controls.config.width == 24)   # committed before the key acted
    qtbot.waitUntil(lambda: window.transport.play_action.isChecked())
    qtbot.waitUntil(lambda: window.runner.running, timeout=10_000)
    qtbot.keyClick(field, Qt.Key_Space)
    qtbot.waitUntil(lambda: not window.transport.play_action.isChecked())


def test_space_in_a_spin_box_and_s_and_r(qtbot, window):
    spin = focus_field(qtbot, window, "depth")
    editor = QtWidgets.QApplication.focusWidget()   # where a real key press goes
    spin.selectAll()
    qtbot.keyClicks(editor, "4")
    qtbot.keyClick(editor, Qt.Key_Space)
    assert spin.text().strip() == "4" and " " not in spin.text()
    qtbot.waitUntil(lambda: window.controls.config.depth == 4)
    qtbot.keyClick(editor, Qt.Key_Space)   # pause again
    qtbot.waitUntil(lambda: not window.transport.play_action.isChecked())
    steps = []
    window.sigFrameShown.connect(lambda s: steps.append(s.step))
    qtbot.keyClick(editor, Qt.Key_S)
    qtbot.waitUntil(lambda: bool(steps) and max(steps) >= 1, timeout=10_000)
    assert "s" not in spin.text().lower()
    qtbot.keyClick(editor, Qt.Key_R)
    qtbot.waitUntil(lambda: bool(steps) and steps[-1] == 0, timeout=10_000)


def test_digits_edit_a_field_but_load_presets_elsewhere(qtbot, window):
    field = focus_field(qtbot, window, "width")
    field.selectAll()
    qtbot.keyClicks(field, "3")
    assert field.text() == "3" and window.controls.preset_combo.currentIndex() == 0
    qtbot.keyClick(field, Qt.Key_Escape)          # Esc leaves the field (and commits it)
    qtbot.waitUntil(lambda: window.controls.config.width == 3)
    assert not field.hasFocus()
    window.graph.setFocus()
    qtbot.keyClick(window.graph, Qt.Key_2)
    combo = window.controls.preset_combo
    assert combo.currentIndex() == 2 and window.presenter.preset is combo.itemData(2)


def test_keymap_overlay_and_fullscreen_and_presenter_keys(qtbot, window):
    window.graph.setFocus()
    qtbot.keyClick(window.graph, Qt.Key_Question)
    assert window.actions_hub.overlay.isVisible()
    qtbot.keyClick(window.graph, Qt.Key_Escape)
    assert not window.actions_hub.overlay.isVisible()
    qtbot.keyClick(window.graph, Qt.Key_F11)
    qtbot.waitUntil(window.isFullScreen)
    qtbot.keyClick(window.graph, Qt.Key_F11)
    qtbot.waitUntil(lambda: not window.isFullScreen())
    focus_field(qtbot, window, "lr")
    qtbot.keyClick(QtWidgets.QApplication.focusWidget(), Qt.Key_F5)
    assert window.presenter.active and not window.controls_dock.isVisible()
    qtbot.keyClick(QtWidgets.QApplication.focusWidget() or window, Qt.Key_Escape)
    qtbot.keyClick(QtWidgets.QApplication.focusWidget() or window, Qt.Key_Escape)
    qtbot.waitUntil(lambda: not window.presenter.active)
    assert window.controls_dock.isVisible()


def test_zoom_scales_text_everywhere(qtbot, window):
    from gui.textscale import font_px
    label = window.status_labels["step"]
    axis = window.gradients.charts[0]._plots[0].getPlotItem().getAxis("bottom") if hasattr(
        window.gradients.charts[0], "_plots") else None
    before = font_px(label.font())
    window.graph.setFocus()
    qtbot.keyClick(window.graph, Qt.Key_Plus, Qt.ControlModifier)
    qtbot.keyClick(window.graph, Qt.Key_Plus, Qt.ControlModifier)
    assert font_px(label.font()) > before
    if axis is not None:
        assert font_px(axis.style["tickFont"]) > 18
    qtbot.keyClick(window.graph, Qt.Key_0, Qt.ControlModifier)
    assert font_px(label.font()) == before


@pytest.mark.parametrize("zoom", [0, 2])
def test_the_key_map_keys_never_run_into_their_descriptions(qtbot, window, zoom):
    """At 1920x1080 "Ctrl++ or Ctrl+=" overlapped "Larger text", worse after Ctrl+Plus."""
    window.resize(1920, 1080)
    for _ in range(zoom):
        window.presenter.scaler.zoom(+1)
    overlay = window.actions_hub.overlay
    window.actions_hub.toggle_keymap()
    qtbot.wait(50)
    grid = overlay.layout()
    rows = 0
    for r in range(1, grid.rowCount()):
        key, text = grid.itemAtPosition(r, 0), grid.itemAtPosition(r, 1)
        if key is None or text is None:
            continue
        k, t = key.widget(), text.widget()
        needed = k.fontMetrics().horizontalAdvance(k.text())
        assert k.width() >= needed and t.geometry().left() - k.geometry().right() >= 16, k.text()   # a clear gap
        rows += 1
    assert rows >= 10
