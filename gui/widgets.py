"""Small widget helpers shared by the views: projector-size fonts and rows of labelled settings."""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

SHRINK = QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon


def is_shown(widget: QtWidgets.QWidget) -> bool:
    """Visible and not hidden behind another tab: a tabbed dock that is not in front stays
    ``isVisible()`` (Qt only moves it outside its window), so views check where they are."""
    if not widget.isVisible():
        return False
    window = widget.window()
    if window is widget:
        return True
    return window.rect().intersects(QtCore.QRect(widget.mapTo(window, QtCore.QPoint(0, 0)), widget.size()))


def font(size: int, bold: bool = False, pixels: bool = False) -> QtGui.QFont:
    """A font of ``size`` points (or pixels), optionally bold."""
    f = QtGui.QFont()
    if pixels:
        f.setPixelSize(size)
    else:
        f.setPointSize(size)
    f.setBold(bold)
    return f


def settings_row(pairs, size: int, min_chars: int = 6, spacing: int = 10) -> QtWidgets.QHBoxLayout:
    """One row of ``label widget`` pairs in a big font; combo boxes may shrink to ``min_chars``,
    so a view built from such rows fits a dock as well as a full screen."""
    row = QtWidgets.QHBoxLayout()
    for label, widget in pairs:
        text = QtWidgets.QLabel(label)
        text.setFont(font(size, pixels=True))
        widget.setFont(font(size, pixels=True))
        if isinstance(widget, QtWidgets.QComboBox):
            widget.setSizeAdjustPolicy(SHRINK)
            widget.setMinimumContentsLength(min_chars)
        row.addWidget(text)
        row.addWidget(widget)
        row.addSpacing(spacing)
    row.addStretch(1)
    return row
