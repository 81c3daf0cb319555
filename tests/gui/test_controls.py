"""The control panel: one widget per Config field, registries as menus, no signal loops."""
import pytest

from engine import Config
from engine.activations import ACTIVATIONS
from engine.config import FIELD_NAMES
from engine.datasets import DATASETS
from engine.optimizers import OPTIMIZERS
from gui.controls import ControlPanel, TransportBar


@pytest.fixture
def panel(qtbot):
    p = ControlPanel(Config())
    qtbot.addWidget(p)
    return p


def test_every_config_field_has_a_widget(panel):
    assert set(panel._widgets) == set(FIELD_NAMES)


@pytest.mark.parametrize("key, registry", [("activation", ACTIVATIONS), ("optimizer", OPTIMIZERS),
                                           ("dataset", DATASETS)])
def test_menus_come_from_the_registries(panel, key, registry):
    combo = panel.widget_for(key)
    assert [combo.itemData(i) for i in range(combo.count())] == list(registry)
    assert [combo.itemText(i) for i in range(combo.count())] == [e.title for e in registry.values()]


def test_changing_a_widget_emits_the_new_config(qtbot, panel):
    combo = panel.widget_for("activation")
    with qtbot.waitSignal(panel.sigConfigChanged) as sig:
        combo.setCurrentIndex(combo.findData("relu"))
    assert sig.args[0].activation == "relu"
    assert panel.config.activation == "relu"
    with qtbot.waitSignal(panel.sigConfigChanged) as sig:
        panel.widget_for("lr").setValue(0.05)
    assert sig.args[0].lr == pytest.approx(0.05)


def test_set_config_updates_widgets_without_emitting(qtbot, panel):
    new = Config(depth=7, activation="sigmoid", lr=0.5, center_inputs=True, layer_lr=(1.0,) * 8)
    with qtbot.assertNotEmitted(panel.sigConfigChanged):
        panel.set_config(new)
    assert panel.widget_for("depth").value() == 7
    assert panel.widget_for("activation").currentData() == "sigmoid"
    assert panel.widget_for("lr").value() == pytest.approx(0.5)
    assert panel.widget_for("center_inputs").isChecked()
    assert panel.widget_for("layer_lr").text() == ", ".join(["1"] * 8)
    assert panel.config == new


def test_invalid_value_shows_the_message_and_keeps_the_old_config(qtbot, panel):
    old = panel.config
    with qtbot.assertNotEmitted(panel.sigConfigChanged):
        panel.widget_for("lr").setValue(0.0)     # lr must be > 0
    assert panel.config == old
    assert panel.widget_for("lr").value() == pytest.approx(old.lr)
    assert not panel.error_label.isHidden()
    assert "invalid value for 'lr'" in panel.error_label.text()
    panel.widget_for("lr").setValue(0.2)
    assert panel.error_label.isHidden()


def test_list_fields_parse_and_follow_depth(qtbot, panel):
    edit = panel.widget_for("layer_lr")
    edit.setText("1, 1, 1, 1, 0.5")
    with qtbot.waitSignal(panel.sigConfigChanged):
        edit.editingFinished.emit()
    assert panel.config.layer_lr == (1.0, 1.0, 1.0, 1.0, 0.5)
    with qtbot.waitSignal(panel.sigConfigChanged) as sig:
        panel.widget_for("depth").setValue(2)       # per-layer list is cut to depth + 1
    assert sig.args[0].layer_lr == (1.0, 1.0, 1.0)
    width = panel.widget_for("width")
    width.setText("8, 4, 2")                          # 3 widths for depth 2: rejected
    width.editingFinished.emit()
    assert "invalid value for 'width'" in panel.error_label.text()
    assert width.text() == "16"
    width.setText("abc")
    width.editingFinished.emit()
    assert "width" in panel.error_label.text() and panel.config.width == 16


def test_presets_show_their_caption_and_set_the_config(qtbot, panel):
    from engine.presets import list_presets
    preset = list_presets()[0]
    with qtbot.waitSignal(panel.sigConfigChanged) as sig:
        assert panel.choose_preset(preset.name)
    assert sig.args[0] == preset.config
    assert preset.caption in panel.preset_caption.text() and preset.title in panel.preset_caption.text()
    panel.widget_for("seed").setValue(preset.config.seed + 1)   # an edit makes it custom again
    assert panel.preset_combo.currentIndex() == 0 and panel.preset_caption.text() == ""


def test_transport_signals_and_state(qtbot):
    bar = TransportBar()
    qtbot.addWidget(bar)
    with qtbot.waitSignal(bar.sigPlay):
        bar.play_action.trigger()
    assert bar.play_action.text() == "Pause"
    with qtbot.waitSignal(bar.sigPause):
        bar.play_action.trigger()
    with qtbot.assertNotEmitted(bar.sigPlay):
        bar.set_running(True)
    assert bar.play_action.isChecked() and bar.play_action.text() == "Pause"
    with qtbot.waitSignal(bar.sigSpeed) as speed:
        bar.set_steps_per_frame(5)
    assert speed.args == [5] and bar.steps_per_frame == 5
    with qtbot.waitSignal(bar.sigStep):
        bar.step_action.trigger()
    with qtbot.waitSignal(bar.sigReset):
        bar.reset_action.trigger()
