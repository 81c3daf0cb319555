"""The chosen activation h(z) and its derivative, with the engine's facts as big captions."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from gui.colors import OKABE_ITO, theme
from gui.views.chart_base import FONT_PT, LINE_W, ChartBase, _font

Z_RANGE = 5.0


def _fmt(v: float) -> str:
    return "∞" if v == math.inf else "−∞" if v == -math.inf else f"{v:.3g}"


def fact_lines(entry) -> list[str]:
    """Short captions from an activation's facts: derivative bound, zero-centred, smooth at 0, range."""
    f = entry.facts
    lo, hi = f.output_range
    return [
        f"{entry.title}: derivative never exceeds {f.max_derivative:.3g}",
        "zero-centred outputs" if f.zero_centred else "not zero-centred (outputs lean one way)",
        "smooth at 0: the derivative has no jump" if f.smooth_at_zero else "the derivative jumps at 0",
        f"output range ({_fmt(lo)}, {_fmt(hi)})",
    ]


class ActivationPanel(ChartBase):
    """Plots ACTIVATIONS[name].curve(z, config) and shows the facts; follows the config."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        self.title = QtWidgets.QLabel()
        self.title.setFont(_font(FONT_PT + 8, bold=True))
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self.plot = self.make_plot("", "z (pre-activation)", "")
        self.add_legend(self.plot, offset=(10, 10))
        self.h_curve = self.plot.plot(name="h(z)")
        self.dh_curve = self.plot.plot(name="h′(z)")
        # A legend sample of an InfiniteLine segfaults when painted (pyqtgraph 0.14): label it in place.
        self.sat_line = pg.InfiniteLine(angle=0, movable=False, label="saturated below (5% of max h′)",
                                        labelOpts={"position": 0.2, "anchors": [(0, 1), (0, 1)]})
        self.sat_line.label.setFont(_font())
        self.plot.addItem(self.sat_line)
        layout.addWidget(self.plot, 1)
        self.facts = QtWidgets.QLabel()
        self.facts.setFont(_font(FONT_PT + 4))
        self.facts.setWordWrap(True)
        layout.addWidget(self.facts)
        self.caption = QtWidgets.QLabel()
        self.caption.setFont(_font(FONT_PT + 2))
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        self._config = None
        self.restyle()

    def restyle(self):
        self.h_curve.setPen(pg.mkPen(OKABE_ITO["sky_blue"], width=LINE_W + 1))
        self.dh_curve.setPen(pg.mkPen(OKABE_ITO["orange"], width=LINE_W + 1, style=QtCore.Qt.DashLine))
        palette = theme(self._theme)
        self.sat_line.setPen(pg.mkPen(palette["muted"], width=2, style=QtCore.Qt.DotLine))
        self.sat_line.label.setColor(palette["foreground"])

    def set_config(self, config) -> None:
        """Show the activation of ``config`` (with its slope/alpha)."""
        if self._config is not None and (self._config.activation, self._activation_param(self._config)) == (
                config.activation, self._activation_param(config)):
            self._config = config
            return
        self._config = config
        self.redraw()

    @staticmethod
    def _activation_param(config):
        from engine.activations import ACTIVATIONS
        entry = ACTIVATIONS[config.activation]
        return entry.param_value(config)

    def redraw(self):
        super().redraw()
        if self._config is None:
            return
        from engine.activations import ACTIVATIONS
        entry = ACTIVATIONS[self._config.activation]
        z = np.linspace(-Z_RANGE, Z_RANGE, 801)
        h, dh = entry.curve(z, self._config)
        self.h_curve.setData(z, h)
        self.dh_curve.setData(z, dh)
        self.sat_line.setValue(entry.saturation_threshold())
        lo = min(-1.2, float(np.nanmin(np.concatenate([h, dh]))))
        hi = max(1.2, min(float(np.nanmax(np.concatenate([h, dh]))), 2 * Z_RANGE))
        self.plot.setYRange(lo, hi, padding=0.05)
        self.plot.setXRange(-Z_RANGE, Z_RANGE, padding=0.02)
        self.title.setText(f"{entry.title} — {entry.description}")
        self.facts.setText("<br>".join(f"• {line}" for line in fact_lines(entry)))
        self.caption.setText(entry.facts.caption)
