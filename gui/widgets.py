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


class SteadyLabel(QtWidgets.QLabel):
    """A one-line label sized by its font and a template text, never by the text it shows, and
    painting its own background: a number that changes every frame repaints this label alone (a
    plain QLabel asks its layout again and has the window under it painted first)."""

    def __init__(self, template: str, parent=None):
        super().__init__(parent)
        self._template = template
        self.setAutoFillBackground(True)
        self._fit()

    def _fit(self) -> None:
        metrics = QtGui.QFontMetrics(self.font())
        margins = self.contentsMargins()
        self.setFixedSize(metrics.horizontalAdvance(self._template) + margins.left() + margins.right() + 2,
                          metrics.height() + margins.top() + margins.bottom() + 2)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QtCore.QEvent.Type.FontChange:   # presenter text scale, theme
            self._fit()


class LabelSlot(QtWidgets.QWidget):
    """Holds one label that changes its text often, outside any layout: the label paints its own
    background, and the slot's height follows the label's line count. New text then repaints the
    label alone. A QLabel in a layout asks the layout again on every new text (Qt's updateGeometry),
    and the relayout had the whole view under it painted again, about once a frame."""

    def __init__(self, label: QtWidgets.QLabel, parent=None):
        super().__init__(parent)
        self.label = label
        label.setParent(self)
        label.setAutoFillBackground(True)     # opaque to Qt: nothing under it is painted first
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed)
        self._fit()

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(self.label.sizeHint().width(), self.height())

    def minimumSizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(self.label.minimumWidth(), self.height())

    def _fit(self) -> None:
        label = self.label
        if label.isHidden():
            height = 0
        elif label.minimumHeight() == label.maximumHeight():      # a fixed-height label
            height = label.minimumHeight()
        elif label.hasHeightForWidth():
            height = label.heightForWidth(max(self.width(), 1))
        else:
            height = label.sizeHint().height()
        if height != self.minimumHeight() or height != self.maximumHeight():
            self.setFixedHeight(height)          # a new line count: the one relayout that is needed
        label.setGeometry(self.rect())

    def event(self, event) -> bool:
        if event.type() in (QtCore.QEvent.Type.LayoutRequest, QtCore.QEvent.Type.ChildAdded,
                            QtCore.QEvent.Type.ChildRemoved):
            self._fit()   # the label's new text or font (Qt posts its geometry request to its parent)
        return super().event(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()


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
