"""Scale every piece of text in the app (Ctrl +/−/0) and, in presenter mode, keep it above a floor.

Views set their own fonts (widgets, pyqtgraph axes, titles, legends, text items), so one switch
cannot reach them all. :class:`TextScaler` walks them instead: it remembers each font's own size
(its *base*, recorded the first time it is seen or whenever a view sets a new one) and sets
``max(base * scale, floor)`` pixels. Views that lay out their own text (the network graph) read
:func:`policy_px` when they build a font, and get ``set_text_policy()`` called on every change.
"""
from __future__ import annotations

import re

from PySide6 import QtCore, QtGui, QtWidgets

BASE_KEY, SET_KEY = 0x6F10, 0x6F11      # QGraphicsItem.data keys
SCALES = (0.7, 0.8, 0.9, 1.0, 1.15, 1.3, 1.5, 1.75, 2.0, 2.5)

_policy = {"scale": 1.0, "floor_px": 0}


def policy_px(base_px: float) -> int:
    """The pixel size a font of ``base_px`` gets under the current scale and floor."""
    return int(max(round(base_px * _policy["scale"]), _policy["floor_px"]))


def policy_pt(base_pt: float) -> float:
    """The same for a size in points (for HTML spans): points at 96 dpi."""
    return policy_px(base_pt * 96 / 72) * 72 / 96


def current_policy() -> tuple[float, int]:
    return _policy["scale"], _policy["floor_px"]


def font_px(font: QtGui.QFont) -> int:
    """The pixel height a font is drawn at."""
    if font.pixelSize() > 0:
        return font.pixelSize()
    return QtGui.QFontInfo(font).pixelSize()


_SIZE = re.compile(r"^\s*([\d.]+)\s*(pt|px)\s*$")


def _css_px(size) -> float | None:
    m = _SIZE.match(str(size)) if size is not None else None
    if not m:
        return None
    v = float(m.group(1))
    return v if m.group(2) == "px" else v * 96 / 72


class TextScaler(QtCore.QObject):
    """Applies the text policy to every widget and graphics item of the application."""

    sigChanged = QtCore.Signal(float, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        app = QtWidgets.QApplication.instance()
        self._app_base = font_px(app.font())
        self._refresh = QtCore.QTimer(self)
        self._refresh.setInterval(700)   # views build new labels as they go: catch them
        self._refresh.timeout.connect(self.apply)

    @property
    def scale(self) -> float:
        return _policy["scale"]

    @property
    def floor_px(self) -> int:
        return _policy["floor_px"]

    def set_policy(self, scale: float | None = None, floor_px: int | None = None) -> None:
        if scale is not None:
            _policy["scale"] = float(scale)
        if floor_px is not None:
            _policy["floor_px"] = int(floor_px)
        self.apply()
        if self.scale != 1.0 or self.floor_px:
            self._refresh.start()
        else:
            self._refresh.stop()
        self.sigChanged.emit(self.scale, self.floor_px)

    def zoom(self, direction: int) -> None:
        """One step larger (+1), smaller (-1), or back to normal (0)."""
        if direction == 0:
            self.set_policy(scale=1.0)
            return
        i = min(range(len(SCALES)), key=lambda k: abs(SCALES[k] - self.scale))
        self.set_policy(scale=SCALES[max(0, min(len(SCALES) - 1, i + direction))])

    # ------------------------------------------------------------------ the walk
    def apply(self) -> None:
        app = QtWidgets.QApplication.instance()
        f = QtGui.QFont(app.font())
        f.setPixelSize(policy_px(self._app_base))
        if font_px(app.font()) != f.pixelSize():
            app.setFont(f)
        widgets = app.allWidgets()
        for w in widgets:
            if w.testAttribute(QtCore.Qt.WA_SetFont):
                self._widget(w)
        for w in widgets:
            if isinstance(w, QtWidgets.QGraphicsView) and w.scene() is not None:
                for item in w.scene().items():
                    self._item(item)
        for w in widgets:
            hook = getattr(w, "set_text_policy", None)
            if callable(hook):
                hook(self.scale, self.floor_px)

    def _widget(self, w: QtWidgets.QWidget) -> None:
        now = font_px(w.font())
        base, last = w.property("gflBasePx"), w.property("gflSetPx")
        if base is None or last is None or now != last:   # first seen, or the view set a new font
            base = now
            w.setProperty("gflBasePx", base)
        px = policy_px(base)
        if px != now:
            f = QtGui.QFont(w.font())
            f.setPixelSize(px)
            w.setFont(f)
            lines = getattr(w, "gfl_lines", None)   # a fixed-height label keeps its lines whole
            if lines:
                w.setFixedHeight(QtGui.QFontMetrics(f).lineSpacing() * lines + 4)
        w.setProperty("gflSetPx", px)

    @staticmethod
    def _remember(item, now: float) -> float:
        base, last = item.data(BASE_KEY), item.data(SET_KEY)
        if base is None or last is None or abs(now - float(last)) > 0.5:
            base = now
            item.setData(BASE_KEY, base)
        return float(base)

    def _item(self, item) -> None:
        import pyqtgraph as pg
        if isinstance(item, pg.AxisItem):
            tick = item.style.get("tickFont") or QtGui.QFont()
            base = self._remember(item, font_px(tick))
            px = policy_px(base)
            if px != font_px(tick):
                f = QtGui.QFont(tick)
                f.setPixelSize(px)
                item.setStyle(tickFont=f)
                ratio = px / max(base, 1)
                if item.fixedWidth is not None:
                    key = "gflBaseWidth"
                    if getattr(item, key, None) is None:
                        setattr(item, key, item.fixedWidth)
                    item.setWidth(int(getattr(item, key) * ratio))
            item.setData(SET_KEY, px)
            style = dict(item.labelStyle or {})
            label_base = getattr(item, "gflLabelBase", None)
            css = _css_px(style.get("font-size"))
            if label_base is None or (css is not None and abs(css - getattr(item, "gflLabelSet", -1)) > 0.5):
                label_base = css if css is not None else font_px(item.label.font())
                item.gflLabelBase = label_base
            lpx = policy_px(label_base)
            if _css_px(style.get("font-size")) != lpx:
                style["font-size"] = f"{lpx}px"
                item.gflLabelSet = lpx
                f = QtGui.QFont(item.label.font())
                f.setPixelSize(lpx)
                item.label.setFont(f)
                item.setLabel(item.labelText, item.labelUnits, item.labelUnitPrefix, **style)
            return
        if isinstance(item, pg.LabelItem):
            css = _css_px(item.opts.get("size")) or font_px(item.item.font())
            base = self._remember(item, css)
            px = policy_px(base)
            if abs(px - css) > 0.5:
                item.setText(item.text, size=f"{px}px")
                parent = item.parentItem()
                if isinstance(parent, pg.LegendItem):
                    parent.updateSize()
            item.setData(SET_KEY, px)
            return
        if isinstance(item, QtWidgets.QGraphicsTextItem) and not getattr(item, "gfl_self_scaled", False):
            parent = item.parentItem()
            if isinstance(parent, (pg.LabelItem, pg.AxisItem)):
                return
            if isinstance(parent, pg.TextItem) and getattr(parent, "gfl_self_scaled", False):
                return
            now = font_px(item.font())
            base = self._remember(item, now)
            px = policy_px(base)
            if px != now:
                f = QtGui.QFont(item.font())
                f.setPixelSize(px)
                item.setFont(f)
            item.setData(SET_KEY, px)


def text_sizes(root: QtWidgets.QWidget) -> list[tuple[str, int]]:
    """(description, pixel size) of every visible piece of text under ``root`` (tests measure these)."""
    import pyqtgraph as pg
    out: list[tuple[str, int]] = []
    for w in [root, *root.findChildren(QtWidgets.QWidget)]:
        if not w.isVisible() or w.width() < 2 or w.height() < 2:
            continue
        text = ""
        if isinstance(w, QtWidgets.QLabel):
            text = w.text()
        elif isinstance(w, (QtWidgets.QAbstractButton,)):
            text = w.text()
        elif isinstance(w, QtWidgets.QComboBox):
            text = w.currentText()
        elif isinstance(w, QtWidgets.QTabBar):
            text = " ".join(w.tabText(i) for i in range(w.count()))
        elif isinstance(w, (QtWidgets.QLineEdit, QtWidgets.QAbstractSpinBox, QtWidgets.QMenuBar,
                            QtWidgets.QDockWidget)):
            text = w.objectName() or type(w).__name__
        if text.strip():
            out.append((f"{type(w).__name__} {text[:40]!r}", font_px(w.font())))
        if isinstance(w, QtWidgets.QGraphicsView) and w.scene() is not None:
            for item in w.scene().items():
                if not item.isVisible():
                    continue
                if isinstance(item, pg.AxisItem):
                    if item.style.get("showValues", True):
                        out.append((f"axis ticks {item.orientation}", font_px(item.style.get("tickFont") or QtGui.QFont())))
                    if item.label.isVisible() and item.labelText:
                        css = _css_px((item.labelStyle or {}).get("font-size"))
                        out.append((f"axis label {item.labelText!r}", int(css or font_px(item.label.font()))))
                elif isinstance(item, pg.LabelItem) and item.text:
                    css = _css_px(item.opts.get("size"))
                    out.append((f"label {item.text[:40]!r}", int(css or font_px(item.item.font()))))
                elif isinstance(item, QtWidgets.QGraphicsTextItem) and item.toPlainText().strip():
                    if isinstance(item.parentItem(), (pg.LabelItem, pg.AxisItem)):
                        continue
                    sizes = _html_px(item.toHtml()) or [font_px(item.font())]
                    out.append((f"text {item.toPlainText()[:40]!r}", int(min(sizes))))
    return out


def _html_px(html: str) -> list[float]:
    """font-size values of the spans in a QGraphicsTextItem's HTML that carry text."""
    sizes = []
    for m in re.finditer(r"font-size:\s*([\d.]+)(pt|px)[^>]*>([^<]*)<", html):
        if m.group(3).strip():
            v = float(m.group(1))
            sizes.append(v if m.group(2) == "px" else v * 96 / 72)
    return sizes
