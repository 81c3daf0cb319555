"""Every command once: id, title, keys, menu place and key-map text (napari app-model style).

The menus, the shortcuts and the ``?`` key map are all built from :data:`COMMANDS`, so a key can
never be bound in one place and missing from the help. A focused text or number field claims
printable keys (``QEvent.ShortcutOverride``) before any shortcut; :class:`KeyFilter`, installed on
the application, takes the command keys back from such fields: it commits the field's value first
(so "24" is applied, never "24 "), then lets the shortcut act. Digits and the arrow keys stay with a
focused field (they edit it); everywhere else they are commands too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt


@dataclass(frozen=True)
class Command:
    id: str
    title: str
    keys: tuple[str, ...]       # QKeySequence portable text, first one shown in menus
    menu: str | None            # "Run", "View", "Presets" ... (None: key only)
    help: str                   # one line for the key map
    checkable: bool = False


COMMANDS: tuple[Command, ...] = (
    Command("play", "Play / pause", ("Space",), "Run", "start or pause training", checkable=True),
    Command("step", "Step", ("S", "Right"), "Run", "train one step (→ too, outside a text field)"),
    Command("reset", "Reset", ("R",), "Run", "re-initialise the network with the same config"),
    Command("run_to_claim", "Run to the claim's step", ("C",), "Run",
            "train to the step the preset's claim is stated for, then pause"),
    *(Command(f"preset_{i}", f"Preset {i}", (str(i),), "Presets", f"load preset {i} of the list")
      for i in range(1, 10)),
    Command("stage_prev", "Previous stage", ("PgUp",), "View", "previous stage of a staged preset (clicker ◀)"),
    Command("stage_next", "Next stage", ("PgDown",), "View", "next stage of a staged preset (clicker ▶)"),
    Command("presenter", "Presenter mode", ("F5",), "View",
            "fullscreen, large type, controls hidden, the claim line on top", checkable=True),
    Command("fullscreen", "Fullscreen", ("F11",), "View", "toggle fullscreen", checkable=True),
    Command("zoom_in", "Larger text", ("Ctrl++", "Ctrl+="), "View", "scale all text up"),
    Command("zoom_out", "Smaller text", ("Ctrl+-",), "View", "scale all text down"),
    Command("zoom_reset", "Normal text size", ("Ctrl+0",), "View", "text at its normal size"),
    Command("keymap", "Key map", ("?", "F1"), "Help", "show or hide this key map"),
    Command("escape", "Leave field / overlay / fullscreen", ("Esc",), None,
            "leave a text field, close the key map, leave presenter mode or fullscreen"),
)
COMMAND_IDS = tuple(c.id for c in COMMANDS)

# Keys a focused editable field keeps (they edit it); every other command key always acts.
FIELD_KEYS = {Qt.Key_Right, Qt.Key_Left, *range(Qt.Key_0, Qt.Key_9 + 1)}


def command(cid: str) -> Command:
    return next(c for c in COMMANDS if c.id == cid)


def _is_field(widget) -> bool:
    if isinstance(widget, (QtWidgets.QLineEdit, QtWidgets.QAbstractSpinBox, QtWidgets.QTextEdit,
                           QtWidgets.QPlainTextEdit)):
        return True
    return isinstance(widget, QtWidgets.QComboBox) and widget.isEditable()


def commit_field(widget) -> None:
    """Apply what the user typed into ``widget`` (as Enter or leaving the field would)."""
    if isinstance(widget, QtWidgets.QAbstractSpinBox):
        widget.interpretText()
        widget.editingFinished.emit()
    elif isinstance(widget, QtWidgets.QLineEdit):
        owner = widget.parent()
        if isinstance(owner, QtWidgets.QAbstractSpinBox):  # the spin box's own line edit
            commit_field(owner)
        else:
            widget.editingFinished.emit()
    elif isinstance(widget, QtWidgets.QComboBox) and widget.lineEdit() is not None:
        widget.lineEdit().editingFinished.emit()


def _sequences(cmd: Command) -> list[QtGui.QKeySequence]:
    return [QtGui.QKeySequence(k, QtGui.QKeySequence.PortableText) for k in cmd.keys]


def key_of(event: QtGui.QKeyEvent) -> QtGui.QKeySequence:
    mods = event.modifiers() & ~Qt.KeypadModifier
    key = event.key()
    if key in (Qt.Key_Plus, Qt.Key_Question, Qt.Key_Equal):  # shifted on most layouts
        mods &= ~Qt.ShiftModifier
    return QtGui.QKeySequence(QtCore.QKeyCombination(mods, Qt.Key(key)))


class KeyFilter(QtCore.QObject):
    """Application-level filter: a command key acts whatever has focus in ``window``."""

    def __init__(self, window: QtWidgets.QWidget, hub: "ActionHub"):
        super().__init__(window)
        self._window = window
        self._hub = hub

    def _ours(self, widget) -> bool:
        if widget is None or not isinstance(widget, QtWidgets.QWidget):
            return False
        top = widget.window()
        if top is self._window:
            return True
        return isinstance(top, QtWidgets.QDockWidget) and top.parent() is self._window  # a floating dock

    def eventFilter(self, obj, event):
        etype = event.type()
        if etype not in (QtCore.QEvent.ShortcutOverride, QtCore.QEvent.KeyPress):
            return False
        if not isinstance(obj, QtWidgets.QWidget) or not self._ours(obj) \
                or QtWidgets.QApplication.activeModalWidget() is not None:
            return False
        cmd = self._hub.command_for(key_of(event))
        if cmd is None or not self._hub.actions[cmd.id].isEnabled():
            return False
        focus = QtWidgets.QApplication.focusWidget()
        target = focus if focus is not None and (focus is obj or focus.isAncestorOf(obj)) else obj
        field = _is_field(target)
        if field and event.key() in FIELD_KEYS and not (event.modifiers() & Qt.ControlModifier):
            return False  # digits and arrows edit the field
        if etype == QtCore.QEvent.ShortcutOverride:
            event.accept()   # the key is ours: no widget types it, no second shortcut fires
            return True
        if field:
            commit_field(target)   # "24" is applied before Space plays
        self._hub.trigger(cmd.id)
        return True


class ActionHub(QtCore.QObject):
    """The QActions for :data:`COMMANDS`, their menus, and the key-map overlay."""

    def __init__(self, window: QtWidgets.QMainWindow, handlers: dict[str, Callable],
                 existing: dict[str, QtGui.QAction] | None = None):
        super().__init__(window)
        self.window = window
        self.actions: dict[str, QtGui.QAction] = {}
        self._by_key: dict[str, Command] = {}
        existing = existing or {}
        for cmd in COMMANDS:
            action = existing.get(cmd.id) or QtGui.QAction(cmd.title, window)
            action.setShortcuts(_sequences(cmd))
            action.setShortcutContext(Qt.ApplicationShortcut)   # floating docks too; modal dialogs block it
            if cmd.checkable:
                action.setCheckable(True)
            keys = " or ".join(QtGui.QKeySequence(k).toString(QtGui.QKeySequence.NativeText) for k in cmd.keys)
            action.setToolTip(f"{cmd.title} ({keys})")
            if cmd.id not in existing:
                handler = handlers.get(cmd.id)
                if handler is not None:
                    action.triggered.connect(lambda _checked=False, h=handler: h())
            window.addAction(action)
            self.actions[cmd.id] = action
            for seq in _sequences(cmd):
                self._by_key[seq.toString(QtGui.QKeySequence.PortableText)] = cmd
        self.filter = KeyFilter(window, self)
        QtWidgets.QApplication.instance().installEventFilter(self.filter)
        self.overlay = KeyMapOverlay(window)

    def command_for(self, seq: QtGui.QKeySequence) -> Command | None:
        return self._by_key.get(seq.toString(QtGui.QKeySequence.PortableText))

    def trigger(self, cid: str) -> None:
        self.actions[cid].trigger()

    def build_menus(self, menus: dict[str, QtWidgets.QMenu]) -> None:
        """Add each command to its menu place (menus are created on the window's menu bar if missing)."""
        bar = self.window.menuBar()
        for cmd in COMMANDS:
            if cmd.menu is None:
                continue
            menu = menus.get(cmd.menu)
            if menu is None:
                menu = menus[cmd.menu] = bar.addMenu("&" + cmd.menu)
            if cmd.id == "stage_prev" or cmd.id == "presenter":
                menu.addSeparator()
            menu.addAction(self.actions[cmd.id])

    def toggle_keymap(self) -> None:
        self.overlay.setVisible(not self.overlay.isVisible())
        if self.overlay.isVisible():
            self.overlay.show_over(self.window)

    def detach(self) -> None:
        QtWidgets.QApplication.instance().removeEventFilter(self.filter)


def keymap_rows() -> list[tuple[str, str]]:
    """(keys, what they do) for the key map, from COMMANDS (presets 1-9 folded into one row)."""
    rows = []
    for cmd in COMMANDS:
        if cmd.id.startswith("preset_"):
            if cmd.id == "preset_1":
                rows.append(("1 … 9", "load preset 1 … 9 of the list (outside a text field)"))
            continue
        keys = "  or  ".join(QtGui.QKeySequence(k).toString(QtGui.QKeySequence.NativeText) for k in cmd.keys)
        rows.append((keys, f"{cmd.title}: {cmd.help}"))
    return rows


class KeyMapOverlay(QtWidgets.QFrame):
    """The ``?`` overlay: every key and what it does, large, over the window."""

    def __init__(self, window: QtWidgets.QWidget):
        super().__init__(window)
        self.setObjectName("keyMap")
        self.setFrameShape(QtWidgets.QFrame.StyledPanel)
        self.setAutoFillBackground(True)
        self.setStyleSheet("QFrame#keyMap { background: rgba(20, 20, 24, 235); border: 2px solid #E69F00;"
                           " border-radius: 10px; } QLabel { color: #FFFFFF; background: transparent; }")
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(28, 20, 28, 20)
        grid.setHorizontalSpacing(28)      # "Ctrl++ or Ctrl+=" ran into its description
        title = QtWidgets.QLabel("Keys (they work whatever has focus; Esc closes this)")
        f = title.font()
        f.setPixelSize(30)
        f.setBold(True)
        title.setFont(f)
        grid.addWidget(title, 0, 0, 1, 2)
        for i, (keys, text) in enumerate(keymap_rows(), 1):
            k, t = QtWidgets.QLabel(keys), QtWidgets.QLabel(text)
            fk, ft = k.font(), t.font()
            fk.setPixelSize(24)
            fk.setBold(True)
            ft.setPixelSize(24)
            k.setFont(fk)
            t.setFont(ft)
            k.setStyleSheet("color: #E69F00;")
            grid.addWidget(k, i, 0)
            grid.addWidget(t, i, 1)
        self.hide()

    def show_over(self, window: QtWidgets.QWidget) -> None:
        self._fit(window)
        self.raise_()
        self.show()
        # the app's text scale (zoom, presenter floor) restyles the labels once shown: fit again
        QtCore.QTimer.singleShot(0, self, lambda: self.isVisible() and self._fit(window))  # dropped with self

    def _fit(self, window: QtWidgets.QWidget) -> None:
        self.layout().invalidate()
        self.layout().activate()
        size = self.layout().totalMinimumSize().expandedTo(self.sizeHint())
        self.setGeometry(max(0, (window.width() - size.width()) // 2), max(0, (window.height() - size.height()) // 2),
                         min(size.width(), window.width()), min(size.height(), window.height()))
