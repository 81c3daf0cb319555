"""Transport icons drawn in the theme's text colour, so Play/Pause/Step/Reset are visible on dark and
light backgrounds alike (the style's standard icons are dark grey: about 1.5:1 on the dark theme)."""
from __future__ import annotations

from PySide6 import QtCore, QtGui

SIZE = 64


def transport_icon(kind: str, color: str) -> QtGui.QIcon:
    """``kind``: play | pause | step | reset."""
    pix = QtGui.QPixmap(SIZE, SIZE)
    pix.fill(QtCore.Qt.transparent)
    p = QtGui.QPainter(pix)
    p.setRenderHint(QtGui.QPainter.Antialiasing)
    c = QtGui.QColor(color)
    p.setBrush(c)
    p.setPen(QtCore.Qt.NoPen)
    s = SIZE
    if kind == "play":
        p.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(s * .22, s * .12), QtCore.QPointF(s * .86, s * .5),
                                       QtCore.QPointF(s * .22, s * .88)]))
    elif kind == "pause":
        p.drawRect(QtCore.QRectF(s * .2, s * .14, s * .2, s * .72))
        p.drawRect(QtCore.QRectF(s * .6, s * .14, s * .2, s * .72))
    elif kind == "step":
        p.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(s * .14, s * .14), QtCore.QPointF(s * .68, s * .5),
                                       QtCore.QPointF(s * .14, s * .86)]))
        p.drawRect(QtCore.QRectF(s * .7, s * .14, s * .14, s * .72))
    elif kind == "reset":
        pen = QtGui.QPen(c, s * .12)
        pen.setCapStyle(QtCore.Qt.FlatCap)
        p.setPen(pen)
        p.setBrush(QtCore.Qt.NoBrush)
        p.drawArc(QtCore.QRectF(s * .18, s * .18, s * .64, s * .64), 60 * 16, 280 * 16)
        p.setPen(QtCore.Qt.NoPen)
        p.setBrush(c)
        p.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(s * .62, s * .02), QtCore.QPointF(s * .86, s * .24),
                                       QtCore.QPointF(s * .56, s * .34)]))
    p.end()
    return QtGui.QIcon(pix)


class TransportTheme:
    """Re-draws a TransportBar's icons in the theme's foreground (the window calls set_theme)."""

    def __init__(self, transport):
        self.transport = transport

    def set_theme(self, name: str) -> None:
        from gui.colors import theme
        fg = theme(name)["foreground"]
        t = self.transport
        t.icons = {k: transport_icon(k, fg) for k in ("play", "pause", "step", "reset")}
        t.step_action.setIcon(t.icons["step"])
        t.reset_action.setIcon(t.icons["reset"])
        t._label_play(t.play_action.isChecked())
        _style_check_boxes(t.window(), name)


CHECK_BASE = {"dark": "#6B7079", "light": "#7A7F86"}   # >= 3:1 on the panel; the tick keeps >= 4.5:1


def _style_check_boxes(window, name: str) -> None:
    """Check boxes whose box stands out from the panel (Fusion draws it from Base, its frame from
    Window: both near the panel colour on the dark theme). A palette, not a style sheet: a style sheet
    would stop QApplication.setFont reaching the widgets (text zoom)."""
    from PySide6 import QtGui, QtWidgets

    from gui.colors import theme
    t = theme(name)
    for box in window.findChildren(QtWidgets.QCheckBox):
        pal = box.palette()
        pal.setColor(QtGui.QPalette.Base, QtGui.QColor(CHECK_BASE[name]))
        pal.setColor(QtGui.QPalette.Text, QtGui.QColor("#FFFFFF" if name == "dark" else "#000000"))
        pal.setColor(QtGui.QPalette.WindowText, QtGui.QColor(t["foreground"]))
        box.setPalette(pal)
