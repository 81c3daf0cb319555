"""The control panel: one widget per Config field, menus from the engine's registries.

Widget -> config: each widget's change signal calls ``_on_field_edited(key, value)``, which builds a
new Config with ``Config.replace`` (validated there). Config -> widgets: ``set_config`` writes every
widget inside a QSignalBlocker, so nothing loops. A ConfigError keeps the old config, puts the old
value back in the widget and shows the message inline.
"""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Signal

from engine.config import (ARCHS, BACKENDS, DTYPES, FIELD_NAMES, MAX_DEPTH, NORMS, POOLS, TASKS, Config, ConfigError,
                           parse_value)

# Field order within sections; a field the engine adds later lands in "More" without changes here.
SECTIONS = {
    "Network": ("depth", "width", "activation", "leaky_slope", "prelu_init", "elu_alpha", "noise_std",
                "norm", "norm_momentum", "center_inputs"),
    "Architecture": ("arch", "channels", "kernel_size", "stride", "padding", "pool", "pool_every",
                     "residual", "residual_every"),
    "Initialisation": ("init", "init_gain", "init_sigma", "bias_init"),
    "Training": ("loss", "optimizer", "lr", "layer_lr", "momentum", "beta2", "eps", "weight_decay",
                 "clip_norm", "batch_size"),
    "Data": ("dataset", "n_samples", "noise", "test_fraction", "data_file", "target_column", "task",
             "standardize", "data_sha256"),
    "Run": ("seed", "backend", "dtype", "steps", "every"),
}

LABELS = {
    "lr": "learning rate", "layer_lr": "per-layer lr ×", "init": "initialiser", "init_sigma": "init σ (naive)",
    "init_gain": "init gain", "norm": "normalisation", "noise_std": "noisy ReLU σ", "elu_alpha": "ELU α",
    "leaky_slope": "leaky slope", "prelu_init": "PReLU initial slope", "beta2": "β2 / decay", "eps": "ε",
    "clip_norm": "clip grad norm", "n_samples": "samples", "noise": "data noise", "every": "record every",
    "steps": "headless steps", "center_inputs": "centre inputs", "norm_momentum": "norm momentum",
    "test_fraction": "test fraction", "batch_size": "batch size (0 = all)", "width": "width (or list)",
    "arch": "network type", "channels": "conv channels", "kernel_size": "kernel size", "pool": "2x2 pooling",
    "pool_every": "pool every n convs", "residual": "residual skips", "residual_every": "layers per skip",
    "data_file": "data file", "target_column": "target column", "standardize": "standardise features",
    "data_sha256": "file SHA-256",
}

SPEEDS = (("1 step/frame", 1), ("2 steps/frame", 2), ("5 steps/frame", 5), ("10 steps/frame", 10),
          ("50 steps/frame", 50), ("200 steps/frame", 200), ("max speed", 0))


def registry_choices(key: str) -> list[tuple[str, str, str]]:
    """(name, title, description) for a choice field, read from the engine's registry or tuple."""
    plain = {"norm": NORMS, "backend": BACKENDS, "dtype": DTYPES, "arch": ARCHS, "pool": POOLS, "task": TASKS}
    if key in plain:
        return [(n, n, "") for n in plain[key]]
    if key == "activation":
        from engine.activations import ACTIVATIONS as reg
    elif key == "init":
        from engine.initializers import INITIALIZERS as reg
    elif key == "loss":
        from engine.losses import LOSSES as reg
    elif key == "optimizer":
        from engine.optimizers import OPTIMIZERS as reg
    elif key == "dataset":
        from engine.datasets import DATASETS as reg
    else:
        raise KeyError(key)
    return [(e.name, e.title, e.description) for e in reg.values()]


CHOICE_FIELDS = ("activation", "init", "loss", "optimizer", "dataset", "norm", "backend", "dtype", "arch", "pool",
                 "task")
LIST_FIELDS = ("width", "layer_lr", "channels")
TEXT_FIELDS = ("data_file", "target_column", "data_sha256")   # edited as text (parse_value)


class FloatSpin(QtWidgets.QDoubleSpinBox):
    """A spin box that shows numbers compactly (0.1, 1e-08) and steps adaptively (lr 0.1 -> 0.11)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(-1e12, 1e12)
        self.setStepType(QtWidgets.QAbstractSpinBox.AdaptiveDecimalStepType)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text, pos):
        try:
            float(text)
            return QtGui.QValidator.Acceptable, text, pos
        except ValueError:
            ok = all(c in "0123456789.eE+-" for c in text)
            return (QtGui.QValidator.Intermediate if ok else QtGui.QValidator.Invalid), text, pos


def _list_text(value) -> str:
    if isinstance(value, tuple):
        return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


class ControlPanel(QtWidgets.QWidget):
    """Every Config field as a widget, plus the preset picker and an inline error line."""

    sigConfigChanged = Signal(object)   # a new, valid Config chosen by the user
    sigPresetChosen = Signal(object)    # the Preset (its config has already been emitted)

    def __init__(self, config: Config | None = None, parent=None):
        super().__init__(parent)
        self._config = config or Config()
        self._widgets: dict[str, QtWidgets.QWidget] = {}
        self._rows: dict[str, QtWidgets.QLabel] = {}
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self._build_presets())
        self.error_label = QtWidgets.QLabel()
        self.error_label.setObjectName("configError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("QLabel#configError { color: #ffffff; background: #b00020;"
                                       " padding: 6px; border-radius: 4px; font-weight: bold; }")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        placed = set()
        for title, keys in SECTIONS.items():
            layout.addWidget(self._build_section(title, [k for k in keys if k in FIELD_NAMES]))
            placed.update(keys)
        extra = [k for k in FIELD_NAMES if k not in placed]
        if extra:
            layout.addWidget(self._build_section("More", extra))
        layout.addStretch(1)
        self.set_config(self._config)

    # ------------------------------------------------------------------ public
    @property
    def config(self) -> Config:
        return self._config

    def widget_for(self, key: str) -> QtWidgets.QWidget:
        return self._widgets[key]

    def set_config(self, config: Config) -> None:
        """Show ``config`` in every widget (no signals are emitted)."""
        self._config = config
        for key, widget in self._widgets.items():
            with QtCore.QSignalBlocker(widget):
                self._write(widget, key, getattr(config, key))
        self._update_relevance()

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def apply(self, **changes) -> bool:
        """Change fields as if the user had edited them; False (and the message shown) on ConfigError."""
        try:
            new = self._config.replace(**changes)
        except ConfigError as exc:
            self.show_error(str(exc))
            self.set_config(self._config)
            return False
        self.show_error("")
        self.set_config(new)
        self._mark_custom()
        self.sigConfigChanged.emit(new)
        return True

    # ------------------------------------------------------------------ building
    def _build_presets(self) -> QtWidgets.QWidget:
        box = QtWidgets.QGroupBox("Preset")
        lay = QtWidgets.QVBoxLayout(box)
        self.preset_combo = QtWidgets.QComboBox()
        self.preset_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.preset_combo.setMinimumContentsLength(16)
        self.preset_combo.addItem("(custom)", None)
        self.preset_caption = QtWidgets.QLabel()
        self.preset_caption.setWordWrap(True)
        self.preset_caption.setObjectName("presetCaption")
        try:
            from engine.presets import list_presets
            broken = []
            presets = list_presets(broken)  # a broken file is skipped, the others still load
            if broken:
                self.preset_caption.setText("Skipped broken preset(s): " + "; ".join(m for _, m in broken))
        except Exception as exc:  # presets missing or broken: the panel still works
            presets = []
            self.preset_caption.setText(f"No presets ({type(exc).__name__}: {exc})")
        for preset in presets:
            self.preset_combo.addItem(preset.title, preset)
            self.preset_combo.setItemData(self.preset_combo.count() - 1, preset.caption, QtCore.Qt.ToolTipRole)
        self.preset_combo.currentIndexChanged.connect(self._on_preset_index)
        # the list shows every title whole, however narrow the panel (the box itself may elide)
        view = self.preset_combo.view()
        view.setTextElideMode(QtCore.Qt.ElideNone)
        metrics = QtGui.QFontMetrics(view.font())
        widest = max((metrics.horizontalAdvance(self.preset_combo.itemText(i))
                      for i in range(self.preset_combo.count())), default=0)
        view.setMinimumWidth(widest + 48)
        lay.addWidget(self.preset_combo)
        lay.addWidget(self.preset_caption)
        return box

    def choose_preset(self, name: str) -> bool:
        for i in range(self.preset_combo.count()):
            preset = self.preset_combo.itemData(i)
            if preset is not None and preset.name == name:
                self.preset_combo.setCurrentIndex(i)
                return True
        return False

    def _on_preset_index(self, index: int):
        preset = self.preset_combo.itemData(index)
        if preset is None:
            self.preset_caption.setText("")
            return
        self.preset_caption.setText(f"<b>{preset.title}</b><br>{preset.caption}")   # the whole title
        self.preset_combo.setToolTip(preset.title)
        self.show_error("")
        self.set_config(preset.config)
        self.sigConfigChanged.emit(preset.config)
        self.sigPresetChosen.emit(preset)

    def _mark_custom(self):
        if self.preset_combo.currentIndex() != 0:
            with QtCore.QSignalBlocker(self.preset_combo):
                self.preset_combo.setCurrentIndex(0)
            self.preset_caption.setText("")

    def _build_section(self, title: str, keys: list[str]) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox(title)
        form = QtWidgets.QFormLayout(box)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.AllNonFixedFieldsGrow)
        for key in keys:
            widget = self._make_widget(key)
            widget.setObjectName(f"field_{key}")
            label = QtWidgets.QLabel(LABELS.get(key, key.replace("_", " ")))
            label.setToolTip(key)
            widget.setToolTip(widget.toolTip() or key)
            form.addRow(label, widget)
            self._widgets[key] = widget
            self._rows[key] = label
        return box

    def _make_widget(self, key: str) -> QtWidgets.QWidget:
        default = Config.__dataclass_fields__[key].default
        if key in CHOICE_FIELDS:
            w = QtWidgets.QComboBox()
            w.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
            w.setMinimumContentsLength(12)
            for name, title, desc in registry_choices(key):
                w.addItem(title, name)
                if desc:
                    w.setItemData(w.count() - 1, desc, QtCore.Qt.ToolTipRole)
            w.currentIndexChanged.connect(lambda _i, k=key, w=w: self._on_field_edited(k, w.currentData()))
        elif key in LIST_FIELDS:
            w = QtWidgets.QLineEdit()
            w.setPlaceholderText("all 1" if key == "layer_lr" else "16  or  32, 16, 8")
            if key == "layer_lr":
                w.setToolTip("One multiplier per weight layer, input side first (depth + 1 numbers); empty = all 1")
            w.editingFinished.connect(lambda k=key, w=w: self._on_list_edited(k, w))
        elif key in TEXT_FIELDS:
            w = QtWidgets.QLineEdit()
            w.setPlaceholderText({"data_file": "File > Open Data…", "target_column": "-1 (last), index or name",
                                  "data_sha256": "recorded when saved"}[key])
            w.setReadOnly(key == "data_sha256")
            w.editingFinished.connect(lambda k=key, w=w: self._on_list_edited(k, w))
        elif isinstance(default, bool):
            w = QtWidgets.QCheckBox()
            w.toggled.connect(lambda v, k=key: self._on_field_edited(k, bool(v)))
        elif isinstance(default, int):
            w = QtWidgets.QSpinBox()
            w.setKeyboardTracking(False)
            w.setRange(*{"depth": (1, MAX_DEPTH)}.get(key, (0, 2**31 - 1)))
            if key == "batch_size":
                w.setSpecialValueText("full batch")
            w.valueChanged.connect(lambda v, k=key: self._on_field_edited(k, int(v)))
        elif isinstance(default, float):
            w = FloatSpin()
            w.valueChanged.connect(lambda v, k=key: self._on_field_edited(k, float(v)))
        else:  # a future field of another type: edit its TOML/CLI text form
            w = QtWidgets.QLineEdit()
            w.editingFinished.connect(lambda k=key, w=w: self._on_list_edited(k, w))
        return w

    # ------------------------------------------------------------------ widget <-> config
    def _write(self, widget, key, value):
        if isinstance(widget, QtWidgets.QComboBox):
            widget.setCurrentIndex(max(widget.findData(value), 0))
        elif isinstance(widget, QtWidgets.QLineEdit):
            widget.setText(_list_text(value))
        elif isinstance(widget, QtWidgets.QCheckBox):
            widget.setChecked(bool(value))
        else:
            widget.setValue(value)

    def _on_list_edited(self, key: str, widget: QtWidgets.QLineEdit):
        text = widget.text().strip()
        if text == _list_text(getattr(self._config, key)):
            return
        try:
            value = () if (key == "layer_lr" and not text) else parse_value(key, text)
        except ConfigError as exc:
            self.show_error(str(exc))
            self.set_config(self._config)
            return
        self._on_field_edited(key, value)

    def _on_field_edited(self, key: str, value):
        if getattr(self._config, key) == value:
            return
        changes = {key: value}
        if key == "data_file":
            changes["data_sha256"] = ""      # another file: its digest is recorded when saved
        if key == "depth":
            changes.update(_fit_to_depth(self._config, value))
        self.apply(**changes)

    def _update_relevance(self):
        """Grey out parameters the current choices do not use (they stay editable)."""
        from engine.activations import ACTIVATIONS
        act = ACTIVATIONS.get(self._config.activation)
        used = {
            "leaky_slope": act is not None and act.param == "leaky_slope",
            "prelu_init": act is not None and act.param == "prelu_init",
            "elu_alpha": act is not None and act.param == "elu_alpha",
            "noise_std": act is not None and act.param == "noise_std",
            "norm_momentum": self._config.norm == "batch",
            "init_sigma": self._config.init == "normal",
            "momentum": self._config.optimizer != "sgd",
            "beta2": self._config.optimizer in ("rmsprop", "adam"),
            "eps": self._config.optimizer in ("rmsprop", "adam"),
            **{k: self._config.arch == "cnn" for k in ("channels", "kernel_size", "stride", "padding", "pool")},
            "pool_every": self._config.arch == "cnn" and self._config.pool != "none",
            "residual_every": self._config.residual,
            **{k: self._config.dataset == "file" for k in ("data_file", "target_column", "task", "standardize")},
            **{k: self._config.dataset != "file" for k in ("n_samples", "noise")},
        }
        for key, on in used.items():
            if key in self._rows:
                self._rows[key].setEnabled(on)


def _fit_to_depth(config: Config, depth: int) -> dict:
    """Keep per-layer lists valid when the depth changes: cut, or pad (last width / multiplier 1)."""
    changes = {}
    if isinstance(config.width, tuple):
        w = config.width
        changes["width"] = (w + (w[-1],) * depth)[:depth] if depth > 1 else w[0]
    if config.layer_lr:
        n = config.conv_layers + depth + 1
        changes["layer_lr"] = (config.layer_lr + (1.0,) * n)[:n]
    return changes


class TransportBar(QtWidgets.QToolBar):
    """Play/pause, single step, reset and speed (steps per frame), with lecture-friendly shortcuts."""

    sigPlay = Signal()
    sigPause = Signal()
    sigStep = Signal()
    sigReset = Signal()
    sigSpeed = Signal(int)   # steps per display frame; 0 = as fast as possible

    def __init__(self, parent=None):
        super().__init__("Transport", parent)
        self.setObjectName("transport")
        self.setMovable(False)
        self.setToolButtonStyle(QtCore.Qt.ToolButtonTextBesideIcon)
        style = self.style()
        self.play_action = self.addAction(style.standardIcon(QtWidgets.QStyle.SP_MediaPlay), "Play")
        self.play_action.setCheckable(True)
        self.play_action.setShortcut(QtGui.QKeySequence(QtCore.Qt.Key_Space))
        self.play_action.setToolTip("Play / pause (Space)")
        self.play_action.toggled.connect(self._on_play_toggled)
        self.step_action = self.addAction(style.standardIcon(QtWidgets.QStyle.SP_MediaSkipForward), "Step")
        self.step_action.setShortcut(QtGui.QKeySequence("S"))
        self.step_action.setToolTip("Train one step (S)")
        self.step_action.triggered.connect(self.sigStep)
        self.reset_action = self.addAction(style.standardIcon(QtWidgets.QStyle.SP_BrowserReload), "Reset")
        self.reset_action.setShortcut(QtGui.QKeySequence("R"))
        self.reset_action.setToolTip("Re-initialise the network with the same config (R)")
        self.reset_action.triggered.connect(self.sigReset)
        self.addSeparator()
        self.addWidget(QtWidgets.QLabel(" Speed "))
        self.speed_combo = QtWidgets.QComboBox()
        for text, n in SPEEDS:
            self.speed_combo.addItem(text, n)
        self.speed_combo.setCurrentIndex(len(SPEEDS) - 1)
        self.speed_combo.currentIndexChanged.connect(lambda _i: self.sigSpeed.emit(self.speed_combo.currentData()))
        self.addWidget(self.speed_combo)

    @property
    def steps_per_frame(self) -> int:
        return int(self.speed_combo.currentData())

    def set_steps_per_frame(self, n: int):
        index = self.speed_combo.findData(int(n))
        if index >= 0:
            self.speed_combo.setCurrentIndex(index)

    def set_running(self, running: bool):
        """Reflect the worker's state without sending play/pause back."""
        with QtCore.QSignalBlocker(self.play_action):
            self.play_action.setChecked(running)
        self._label_play(running)

    def _label_play(self, running: bool):
        icons = getattr(self, "icons", None)   # themed icons (gui/icons.py) once the window sets them
        if icons:
            self.play_action.setIcon(icons["pause" if running else "play"])
        else:
            icon = QtWidgets.QStyle.SP_MediaPause if running else QtWidgets.QStyle.SP_MediaPlay
            self.play_action.setIcon(self.style().standardIcon(icon))
        self.play_action.setText("Pause" if running else "Play")

    def _on_play_toggled(self, on: bool):
        self._label_play(on)
        (self.sigPlay if on else self.sigPause).emit()
