"""The main window: network graph in the centre, controls on the left, view tabs on the right.

Construction is light (pure Qt, placeholders) so the window shows fast; ``finish_setup()`` then
imports the engine registries and pyqtgraph, builds the real views and starts the engine process
(gui/engine_process.py). A display timer takes its latest frame at ~30 Hz and hands the snapshot
to the visible views; the status bar shows the real rate (steps per wall-clock second).
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt

ERROR_MS = 12_000


class MainWindow(QtWidgets.QMainWindow):
    """Owns the engine process (SimulationRunner) and every view; talks to the engine only through Config."""

    sigFrameShown = QtCore.Signal(object)   # the snapshot just drawn (tests, benchmarks)
    sigClosing = QtCore.Signal()            # closeEvent began (the last frame has been shown)
    sigRunningChanged = QtCore.Signal(bool)  # the engine started or stopped playing (reports, tests)

    def __init__(self, settings: QtCore.QSettings | None = None, factory=None, theme_name: str | None = None,
                 parent=None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("Gradient Flow Lab")
        self.setDockOptions(QtWidgets.QMainWindow.AnimatedDocks | QtWidgets.QMainWindow.AllowTabbedDocks
                            | QtWidgets.QMainWindow.AllowNestedDocks)
        self.setTabPosition(Qt.AllDockWidgetAreas, QtWidgets.QTabWidget.North)
        self.settings = settings
        self._factory = factory
        self._theme = theme_name or (settings.value("ui/theme", "dark", type=str) if settings else "dark")
        self.runner = None
        self.sessions = None
        self.controls = None
        self.graph = None
        self.config = None
        self._generation = -1
        self._data = None
        self._diverged_at = None
        self._last_step = 0
        self._shown_snapshot = None
        self.frames_shown = 0
        self._closed = False
        from gui.honest import DivergenceKeeper
        self._honest = DivergenceKeeper()
        self._view_docks: dict[str, QtWidgets.QDockWidget] = {}
        self._extra_views: list[QtWidgets.QWidget] = []
        self._build_central()
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        self.restored_geometry = bool(settings is not None and settings.contains("ui/geometry"))
        if self.restored_geometry:
            self.restoreGeometry(settings.value("ui/geometry"))
        else:
            # first start: fill the screen (a projector is usually 1920x1080), never exceed it
            screen = QtGui.QGuiApplication.primaryScreen()
            area = screen.availableGeometry() if screen is not None else QtCore.QRect(0, 0, 1600, 960)
            self.setGeometry(area)
        from gui.pacing import FramePacer
        self._pacer = FramePacer()       # frames as often as the GUI's share of the machine allows
        self._timer = QtCore.QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)   # a coarse timer fires up to 5% late, every frame
        self._timer.setInterval(self._pacer.interval_ms())
        self._timer.timeout.connect(self._on_display_tick)

    # ------------------------------------------------------------------ light skeleton
    def _build_central(self):
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.banner = QtWidgets.QLabel()
        self.banner.setObjectName("divergedBanner")
        self.banner.setAlignment(Qt.AlignCenter)
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel#divergedBanner { background: #D55E00; color: white; font-size: 22pt;"
                                  " font-weight: bold; padding: 12px; }")
        self.banner.hide()
        layout.addWidget(self.banner)
        self.engine_banner = self._build_engine_banner()
        layout.addWidget(self.engine_banner)
        self.graph_placeholder = self._placeholder("Network graph loading…")
        layout.addWidget(self.graph_placeholder, 1)
        self._central_layout = layout
        self.setCentralWidget(central)

    def _build_engine_banner(self) -> QtWidgets.QFrame:
        """Shown when the engine process dies: what happened, and a Restart button."""
        box = QtWidgets.QFrame()
        box.setObjectName("engineBanner")
        box.setStyleSheet("QFrame#engineBanner { background: #CC79A7; } QFrame#engineBanner QLabel { color: black;"
                          " font-size: 20pt; font-weight: bold; } QFrame#engineBanner QPushButton {"
                          " font-size: 18pt; font-weight: bold; padding: 6px 18px; }")
        row = QtWidgets.QHBoxLayout(box)
        row.setContentsMargins(12, 8, 12, 8)
        self.engine_banner_label = QtWidgets.QLabel()
        self.engine_banner_label.setWordWrap(True)
        row.addWidget(self.engine_banner_label, 1)
        self.restart_button = QtWidgets.QPushButton("Restart")
        self.restart_button.setToolTip("Start the engine again with this config (from step 0)")
        self.restart_button.clicked.connect(self.restart_engine)
        row.addWidget(self.restart_button)
        box.hide()
        return box

    def add_top_widget(self, widget: QtWidgets.QWidget) -> None:
        """Put ``widget`` above the network graph (the claim line)."""
        self._central_layout.insertWidget(0, widget)

    @staticmethod
    def _placeholder(text: str) -> QtWidgets.QLabel:
        label = QtWidgets.QLabel(text)
        label.setAlignment(Qt.AlignCenter)
        font = label.font()
        font.setPointSize(18)
        label.setFont(font)
        return label

    def _build_docks(self):
        self.controls_dock = QtWidgets.QDockWidget("Controls", self)
        self.controls_dock.setObjectName("dock_controls")
        self.controls_dock.setWidget(self._placeholder("Loading…"))
        self.addDockWidget(Qt.LeftDockWidgetArea, self.controls_dock)
        for title in ("Gradients", "Training", "Activation"):
            self.add_view_tab(title, self._placeholder(f"{title} loading…"))
        self._view_docks["Gradients"].raise_()

    def add_view_tab(self, title: str, widget: QtWidgets.QWidget) -> QtWidgets.QDockWidget:
        """Put ``widget`` in a tab of the view area (right side; docks can be dragged out).

        If the widget has ``set_theme(name)``, ``set_config(config)`` or ``set_snapshot(snapshot)``,
        the window calls them on theme changes, new configs and displayed frames (while visible).
        """
        dock = self._view_docks.get(title)
        if dock is None:
            dock = QtWidgets.QDockWidget(title, self)
            dock.setObjectName("dock_" + "".join(c if c.isalnum() else "_" for c in title.lower()))
            dock.setFeatures(QtWidgets.QDockWidget.DockWidgetMovable | QtWidgets.QDockWidget.DockWidgetFloatable
                             | QtWidgets.QDockWidget.DockWidgetClosable)
            first = next(iter(self._view_docks.values()), None)
            self.addDockWidget(Qt.RightDockWidgetArea, dock)
            if first is not None:
                self.tabifyDockWidget(first, dock)
            self._view_docks[title] = dock
            dock.visibilityChanged.connect(lambda visible, d=dock: visible and self._view_shown(d.widget()))
            if hasattr(self, "view_menu"):
                self.view_menu.addAction(dock.toggleViewAction())
                self._add_export_action(title, dock)
        old = dock.widget()
        dock.setWidget(widget)
        if old is not None and old is not widget:
            old.deleteLater()
        if title not in ("Gradients", "Training", "Activation"):
            self._extra_views.append(widget)
            if hasattr(widget, "set_theme"):
                widget.set_theme(self._theme)
            if self.config is not None and hasattr(widget, "set_config"):
                widget.set_config(self.config)
        return dock

    def _view_shown(self, widget) -> None:
        """A view tab came to the front: it draws what it skipped while behind another tab."""
        from gui.widgets import is_shown
        if hasattr(widget, "on_shown"):
            widget.on_shown()
        elif (widget in self._extra_views and hasattr(widget, "set_snapshot")
              and self._shown_snapshot is not None and is_shown(widget)):
            widget.set_snapshot(self._shown_snapshot)

    def _build_status_bar(self):
        bar = self.statusBar()
        self.status_labels = {}
        font = QtGui.QFont(self.font())
        font.setPointSize(15)  # read from the back of a lecture hall
        font.setBold(True)
        from gui.widgets import SteadyLabel
        # sized for the longest text each shows, so numbers changing every frame lay nothing out again
        for key, template in (("step", "step 999,999,999"), ("loss", "loss -9.999e-99"),
                              ("speed", "9,999,999 steps/s"), ("backend", None)):
            label = SteadyLabel(template) if template else QtWidgets.QLabel()   # the backend: set once
            label.setFont(font)
            label.setText("–")
            bar.addPermanentWidget(label)
            self.status_labels[key] = label

    def _build_menus(self):
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction("&Open config…", self.open_config_dialog, QtGui.QKeySequence.Open)
        file_menu.addAction("&Save config as…", self.save_config_dialog, QtGui.QKeySequence.Save)
        file_menu.addAction("Open session…", lambda: self.sessions and self.sessions.open_dialog())
        file_menu.addAction("Save session as…", lambda: self.sessions and self.sessions.save_dialog())
        file_menu.addAction("Open &data…", self.open_data_dialog)
        self.export_menu = file_menu.addMenu("&Export PNG")
        self._add_export_action("Whole window", self)
        self._add_export_action("Network graph", None)
        for title, dock in self._view_docks.items():
            self._add_export_action(title, dock)
        file_menu.addSeparator()
        file_menu.addAction("&Quit", self.close, QtGui.QKeySequence.Quit)
        self.view_menu = self.menuBar().addMenu("&View")
        group = QtGui.QActionGroup(self)
        self.theme_actions = {}
        for name in ("dark", "light"):
            action = self.view_menu.addAction(f"{name.title()} theme")
            action.setCheckable(True)
            action.setChecked(name == self._theme)
            action.triggered.connect(lambda _c=False, n=name: self.set_theme(n))
            group.addAction(action)
            self.theme_actions[name] = action
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.controls_dock.toggleViewAction())
        for dock in self._view_docks.values():
            self.view_menu.addAction(dock.toggleViewAction())

    def _add_export_action(self, title: str, target):
        def export():
            widget = self._export_target(target)
            path, _ = QtWidgets.QFileDialog.getSaveFileName(
                self, f"Export {title} as PNG", f"{title.lower().replace(' ', '-')}.png", "PNG image (*.png)")
            if path:
                self.export_png(widget, path)
        self.export_menu.addAction(title + "…", export)

    def _export_target(self, target):
        if target is None:
            return self.graph or self.graph_placeholder
        return target.widget() if isinstance(target, QtWidgets.QDockWidget) else target

    def export_png(self, widget: QtWidgets.QWidget, path: str) -> bool:
        ok = widget.grab().save(str(path), "PNG")
        self.statusBar().showMessage(f"Saved {path}" if ok else f"Could not write {path}", ERROR_MS)
        return ok

    def raise_view(self, title: str) -> bool:
        """Bring the view tab called ``title`` (any case) to the front."""
        for name, dock in self._view_docks.items():
            if name.lower() == title.lower():
                dock.show()
                dock.raise_()
                return True
        return False

    def view_widget(self, title: str) -> QtWidgets.QWidget:
        return self._view_docks[title].widget()

    # ------------------------------------------------------------------ heavy part, after first show
    def finish_setup(self, config=None, preset: str | None = None):
        """Import the engine and pyqtgraph, build controls and views, start the worker."""
        from engine.config import Config
        from gui import settings as gs
        from gui.controls import ControlPanel, TransportBar
        from gui.views.activation_panel import ActivationPanel
        from gui.views.charts import GradientChartsView, TrainingView
        from gui.runner import RateMeter, SimulationRunner

        if config is None and self.settings is not None:
            config = gs.load_config(self.settings)
        config = config or Config()
        self.controls = ControlPanel(config)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(self.controls)
        scroll.setMinimumWidth(self.controls.sizeHint().width() + 24)
        self.controls_dock.setWidget(scroll)
        self.transport = TransportBar(self)
        self.addToolBar(Qt.TopToolBarArea, self.transport)
        self.gradients = GradientChartsView()
        self.training = TrainingView()
        self.activation = ActivationPanel()
        self.add_view_tab("Gradients", self.gradients)
        self.add_view_tab("Training", self.training)
        self.add_view_tab("Activation", self.activation)
        from gui.views.surface_live import LiveLandscapeView
        from gui.views.surface_neuron import NeuronSurfaceView
        self.zigzag = NeuronSurfaceView()
        self.landscape = LiveLandscapeView(config)
        self.add_view_tab("Zig-zag", self.zigzag)
        self.add_view_tab("Landscape", self.landscape)
        from gui.views.conv_panel import ConvPanel
        self.add_view_tab("Kernels", ConvPanel())
        self._comparison = None          # (preset, member configs) while a comparison preset runs
        self._view_docks["Gradients"].raise_()
        self._install_graph()
        from gui.views.compare import CompareView
        # a comparison preset's members side by side (lockstep): in the centre, in the graph's place
        self.compare = CompareView()
        self._central_layout.addWidget(self.compare, 1)
        self.compare.hide()
        from gui.record import install_record_menu
        self.recorder = install_record_menu(self)     # File -> Record, F9 stops

        self.rate = RateMeter()
        self.runner = SimulationRunner(self._factory, parent=self)
        self.landscape.set_runner(self.runner)      # slices the running network, in the engine process
        self.controls.sigConfigChanged.connect(self._on_config_chosen)
        self.controls.sigPresetChosen.connect(self._on_preset_chosen)
        self.transport.sigPlay.connect(lambda: self.runner.play())
        self.transport.sigPause.connect(lambda: self.runner.pause())
        self.transport.sigStep.connect(lambda: self.runner.step())
        self.transport.sigReset.connect(self._on_reset)
        self.transport.sigSpeed.connect(lambda n: self.runner.set_steps_per_frame(n))
        self._connect_runner()
        from gui.sessions import SessionController  # save/open/autosave sessions, restore after a crash
        self.sessions = SessionController(self, Path(self.settings.fileName()).parent if self.settings else None)
        if self.settings is not None:
            self.transport.set_steps_per_frame(self.settings.value("run/steps_per_frame", 0, type=int))
            if self.settings.contains("ui/state"):
                self.restoreState(self.settings.value("ui/state"))
        if self.settings is None or not self.settings.contains("ui/state"):
            # first start: the network graph is the picture people come for, so the centre gets
            # the most room; the view docks get about 40% (or their minimum)
            self.resizeDocks([self._view_docks["Gradients"]], [int(self.width() * 0.4)], Qt.Horizontal)
        self.runner.set_steps_per_frame(self.transport.steps_per_frame)
        from gui.presenter import install_presenter
        install_presenter(self)   # keys (gui/actions.py), the claim line, presenter mode
        self.set_theme(self._theme)
        if preset and not self.controls.choose_preset(preset):
            self.show_error(f"unknown preset '{preset}'")
        if self.config is None:
            self._on_config_chosen(self.controls.config)
        self._update_rate()
        self._timer.start()
        self.sessions.offer_restore()

    def _install_graph(self):
        try:
            from gui.views.network_graph import NetworkGraphView
        except ImportError as exc:
            self.graph_placeholder.setText(f"Network graph not available yet ({exc})")
            return
        self.graph = NetworkGraphView()
        self._central_layout.replaceWidget(self.graph_placeholder, self.graph)
        self.graph_placeholder.deleteLater()
        self.graph_placeholder = None

    # ------------------------------------------------------------------ config and engine events
    def _connect_runner(self):
        training = self._view_docks["Training"]       # the one view that draws the decision boundary
        training.visibilityChanged.connect(lambda visible: self.runner.want_boundary(visible))
        self.runner.want_boundary(training.isVisible())
        # a tab behind another stays isVisible(): once the layout has settled, ask where it is, so
        # the engine does not compute a boundary 10 times a second for a tab nobody sees
        QtCore.QTimer.singleShot(0, self, self._boundary_if_shown)
        self.runner.sigRunningChanged.connect(self._on_running_changed)
        self.runner.sigError.connect(self._on_worker_error)
        self.runner.sigConfigRejected.connect(self._on_config_rejected)
        self.runner.sigDied.connect(self._on_engine_died)

    def _boundary_if_shown(self) -> None:
        from gui.widgets import is_shown
        training = self._view_docks["Training"]
        if self.runner is not None and training.widget() is not None:
            self.runner.want_boundary(is_shown(training.widget()))

    def _on_running_changed(self, running: bool):
        self.transport.set_running(running)
        self.rate.reset()
        self._update_rate()
        self.sigRunningChanged.emit(running)

    def _on_engine_died(self, how: str):
        """The engine process ended: keep everything shown so far, offer Restart."""
        self.transport.set_running(False)
        frame = self.runner.take_latest()         # what it sent before dying is still shown
        if frame is not None:
            self._show_frame(frame)
        self.engine_banner_label.setText(
            f"The training engine stopped: {how}. The charts keep the history up to step {self._last_step:,}. "
            "Restart runs this config again from step 0.")
        self.engine_banner.show()
        self._update_rate()

    def restart_engine(self):
        """A fresh engine process with the current config (after it died)."""
        self.engine_banner.hide()
        self._hide_banner()
        self.runner.restart()

    @property
    def engine_banner_visible(self) -> bool:
        return self.engine_banner.isVisible()

    def _on_config_chosen(self, config):
        self.config = config
        self._hide_banner()
        self.activation.set_config(config)
        for view in self._extra_views:
            if hasattr(view, "set_config"):
                view.set_config(config)
        if self._comparison is not None and config == self._comparison[0].config:
            return            # the comparison preset's own base config: its members run instead
        self._comparison = None
        self._show_comparison(False)
        self.runner.set_config(config)

    def _on_preset_chosen(self, preset):
        """A comparison preset runs its members in lockstep in the engine process (member 0 is
        what the single-network views show); the centre shows them side by side."""
        if not preset.members:
            if self._comparison is not None:
                self._comparison = None
                self.runner.set_config(preset.config)
            self._show_comparison(False)
            return
        configs = [preset.member_config(m.label) for m in preset.members]
        self._comparison = (preset, configs)
        self.runner.set_configs(configs)
        self._show_comparison(True)

    def _show_comparison(self, on: bool) -> None:
        """The centre shows the comparison's small multiples instead of the single network graph."""
        self.compare.setVisible(on)
        if self.graph is not None:
            self.graph.setVisible(not on)
        if on:
            QtCore.QTimer.singleShot(0, self.fit_screen)   # once the layout has taken the new centre

    def fit_screen(self, limit: int | None = None) -> None:
        """Keep the window within its screen's width (``limit``: that width; tests): a wider centre
        (a comparison's small multiples) takes its room from the view docks, down to their minimum,
        instead of pushing the window past the screen's edge, where a projector cuts off the view
        docks and the status bar."""
        if limit is None:
            screen = self.screen()
            if screen is None or self.isFullScreen():
                return
            limit = screen.availableGeometry().width() - (self.frameGeometry().width() - self.width())
        layout = self.layout()
        if layout is not None:
            layout.activate()
        excess = self.width() - limit
        if excess <= 0:
            return
        side = [d for d in self._view_docks.values()
                if d.isVisible() and not d.isFloating() and self.dockWidgetArea(d) == Qt.RightDockWidgetArea]
        if side:
            dock = side[0]
            self.resizeDocks([dock], [max(dock.minimumSizeHint().width(), dock.width() - excess)], Qt.Horizontal)
        self.resize(max(limit, self.minimumSizeHint().width()), self.height())

    def _on_reset(self):
        self._hide_banner()
        self.runner.reset()

    def _on_config_rejected(self, config):
        if self._comparison is not None:   # the members could not be built (cmp-cpu-gpu without a GPU):
            self._comparison = None        # the previous run goes on, in the single-network views
            self._show_comparison(False)
        self.config = config
        self.controls.set_config(config)
        self.activation.set_config(config)

    def _on_worker_error(self, message: str):
        self.show_error(message)

    def show_error(self, message: str):
        self.statusBar().showMessage(message, ERROR_MS)
        if self.controls is not None:
            self.controls.show_error(message)

    def open_config_dialog(self):
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open config", "", "TOML config (*.toml)")
        if path:
            self.open_config(path)

    def open_config(self, path) -> bool:
        from engine.config import Config, ConfigError
        try:
            config = Config.load(path)
        except ConfigError as exc:
            self.show_error(str(exc))
            self._file_error_dialog("Cannot open config", str(exc))
            return False
        self.controls.set_config(config)
        from gui.data_open import changed_file_message
        self.controls.show_error(changed_file_message(config))
        self._on_config_chosen(config)
        return True

    def open_data_dialog(self):
        from gui.data_open import DATA_FILTER
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open data", "", DATA_FILTER)
        if path:
            self.open_data(path)

    def open_data(self, path) -> bool:
        """Train on a CSV/NPZ file (gui/data_open.py); a bad file changes nothing and says why."""
        from engine.config import ConfigError
        from gui.data_open import config_for_data_file
        try:
            config, table = config_for_data_file(self.controls.config, path)
        except ConfigError as exc:
            self.show_error(str(exc))
            self._file_error_dialog("Cannot open data", str(exc))
            return False
        self.controls.set_config(config)
        self.controls.show_error("")
        self._on_config_chosen(config)
        kind = f"{table.n_classes} classes" if table.n_classes else "regression"
        self.statusBar().showMessage(f"{path}: {len(table.x)} rows, {table.x.shape[1]} features, {kind}", ERROR_MS)
        return True

    def save_config_dialog(self):
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save config", "config.toml", "TOML config (*.toml)")
        if path:
            self.save_config(path)

    def _file_error_dialog(self, title: str, message: str) -> None:
        """A bad file gets a dialog, not only an inline label (non-modal: tests and scripts go on)."""
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, title, message,
                                    QtWidgets.QMessageBox.StandardButton.Ok, self)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setObjectName("fileErrorDialog")
        box.open()

    def save_config(self, path) -> bool:
        try:
            self.controls.config.save(path)
        except OSError as exc:
            self.show_error(f"could not save {path}: {exc.strerror or exc}")
            self._file_error_dialog("Cannot save config", f"could not save {path}: {exc.strerror or exc}")
            return False
        self.statusBar().showMessage(f"Saved {path}", ERROR_MS)
        return True

    # ------------------------------------------------------------------ display
    def _on_display_tick(self):
        frame = self.runner.take_latest() if self.runner is not None else None
        if frame is not None and self.sessions is not None:
            frame = self.sessions.before_display(frame)  # a restored session's history
        if frame is None:
            if self.runner is None or not self.runner.running:
                self._pacer.idle()       # paused: what the GUI does meanwhile is no frame's cost
            self._update_rate()
            return
        self._show_frame(frame)
        self._pacer.shown()              # the cost since the last frame: views, paints, helpers
        self._timer.setInterval(self._pacer.interval_ms())

    def _show_frame(self, frame):
        """Hand a frame to every view (they draw into their scenes; painting follows)."""
        # a diverged run keeps showing its last finite state (gui/honest.py)
        replayed = None
        if frame.snapshot.diverged and hasattr(self.runner, "last_finite_snapshot"):
            replayed = self.runner.last_finite_snapshot(frame.generation)
        snapshot, divergence = self._honest.filter(frame.generation, frame.snapshot, replayed)
        if snapshot is not frame.snapshot:
            frame = dataclasses.replace(frame, snapshots=(snapshot, *frame.snapshots[1:]))
        if frame.generation != self._generation:
            self._generation = frame.generation
            self._data = frame.data
            self._hide_banner()
            self.gradients.clear()
            self.training.clear()
            self.training.set_data(frame.data)
        self.gradients.set_snapshot(snapshot)
        self.training.set_snapshot(snapshot)
        if self.graph is not None:
            self.graph.set_snapshot(snapshot)
        from gui.widgets import is_shown
        self._shown_snapshot = snapshot
        for view in self._extra_views:
            if hasattr(view, "set_snapshot") and is_shown(view):   # not behind another tab
                view.set_snapshot(snapshot)
        if len(frame.snapshots) > 1:   # fed while hidden too: its charts keep every step
            preset = self._comparison[0] if self._comparison is not None else None
            bar = getattr(getattr(self, "presenter", None), "bar", None)
            titled = bar is not None and not bar.isHidden()   # the claim bar above says the title
            self.compare.set_frame(frame, labels=[m.label for m in preset.members] if preset else None,
                                   title=preset.title if preset and not titled else "")
        self._last_step = snapshot.step
        self.frames_shown += 1
        self.rate.add(snapshot.step)
        self._update_status(frame)
        if snapshot.diverged and self._diverged_at is None:
            self._show_banner(snapshot.diverged_at if snapshot.diverged_at >= 0 else snapshot.step, divergence)
        self.sigFrameShown.emit(snapshot)

    def _update_status(self, frame):
        s = frame.snapshot
        labels = self.status_labels
        labels["step"].setText(f"step {s.step:,}")
        loss = f"{s.loss:.4g}" if math.isfinite(s.loss) else "NaN/Inf"
        labels["loss"].setText(f"loss {loss}")
        self._update_rate()
        labels["backend"].setText(f"{s.backend} · {s.device}")
        if frame.data is not None and frame.data.backend_reason:
            labels["backend"].setToolTip(frame.data.backend_reason)

    def displayed_rate(self) -> float:
        """Steps per wall-clock second over the last second of shown frames; 0 unless playing."""
        return self.rate.rate() if self.runner is not None and self.runner.running else 0.0

    def _update_rate(self):
        self.status_labels["speed"].setText(f"{self.displayed_rate():,.0f} steps/s")

    def _show_banner(self, step: int, divergence=None):
        self._diverged_at = step
        self.banner.setText(divergence.banner() if divergence is not None else
                            f"Diverged at step {step:,}: loss became NaN/Inf — training paused. "
                            "Lower the learning rate or change the init, then Reset.")
        self.banner.show()
        self.transport.set_running(False)
        self.runner.pause()

    def _hide_banner(self):
        self._diverged_at = None
        self.banner.hide()

    @property
    def diverged_banner_visible(self) -> bool:
        return self.banner.isVisible()

    # ------------------------------------------------------------------ theme
    def set_theme(self, name: str):
        self._theme = name
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.setPalette(make_palette(name))
        if name in getattr(self, "theme_actions", {}):
            self.theme_actions[name].setChecked(True)
        for view in (getattr(self, "gradients", None), getattr(self, "training", None),
                     getattr(self, "activation", None), self.graph, *self._extra_views):
            if view is not None and hasattr(view, "set_theme"):
                view.set_theme(name)
        if self.settings is not None:
            self.settings.setValue("ui/theme", name)

    @property
    def theme_name(self) -> str:
        return self._theme

    # ------------------------------------------------------------------ shutdown
    def closeEvent(self, event):
        if self._closed:                 # closed twice (a signal after the window closed)
            return super().closeEvent(event)
        self._closed = True
        self.sigClosing.emit()
        self._timer.stop()
        if self.settings is not None:
            self.settings.setValue("ui/geometry", self.saveGeometry())
            self.settings.setValue("ui/state", self.saveState())
            if self.controls is not None:
                from gui.settings import save_config
                save_config(self.settings, self.config or self.controls.config)
                self.settings.setValue("run/steps_per_frame", self.transport.steps_per_frame)
            self.settings.sync()
        if self.sessions is not None:
            self.sessions.closed_cleanly()
        if self.runner is not None:
            self.runner.shutdown()
        if getattr(self, "presenter", None) is not None:
            self.presenter.stop_measuring()    # its headless claim runs end with the window
        from gui import offload
        offload.shared().shutdown()            # and the worker they (and the Zig-zag search) run in
        for view in (*self._extra_views, self.graph, getattr(self, "compare", None)):
            if view is not None and hasattr(view, "shutdown"):
                view.shutdown()  # surface computations run on threads of their own
        super().closeEvent(event)


def make_palette(name: str) -> QtGui.QPalette:
    """A Qt palette from the theme colours in gui.colors (dark or light)."""
    from gui.colors import theme
    t = theme(name)
    palette = QtGui.QPalette()
    base, text, panel = QtGui.QColor(t["background"]), QtGui.QColor(t["foreground"]), QtGui.QColor(t["panel"])
    accent = QtGui.QColor(t["accent"])
    P = QtGui.QPalette
    for role, color in ((P.Window, panel), (P.WindowText, text), (P.Base, base), (P.AlternateBase, panel),
                        (P.Text, text), (P.Button, panel), (P.ButtonText, text), (P.ToolTipBase, base),
                        (P.ToolTipText, text), (P.Highlight, accent),
                        (P.HighlightedText, QtGui.QColor("#000000" if name == "dark" else "#FFFFFF")),
                        (P.PlaceholderText, QtGui.QColor(t["muted"])), (P.Link, accent)):
        palette.setColor(role, color)
    # frames of check boxes, spin boxes and buttons: Fusion draws them from these roles
    for role, share in ((P.Light, 0.9), (P.Midlight, 0.75), (P.Mid, 0.6), (P.Dark, 0.5), (P.Shadow, 0.3)):
        palette.setColor(role, _mix(t["muted"], t["background"], share))
    palette.setColor(P.Disabled, P.WindowText, QtGui.QColor(t["muted"]))
    palette.setColor(P.Disabled, P.Text, QtGui.QColor(t["muted"]))
    palette.setColor(P.Disabled, P.ButtonText, QtGui.QColor(t["muted"]))
    return palette


def _mix(a: str, b: str, share: float) -> QtGui.QColor:
    """``share`` of colour ``a`` over ``b``."""
    ca, cb = QtGui.QColor(a), QtGui.QColor(b)
    return QtGui.QColor.fromRgbF(*(share * x + (1 - share) * y for x, y in
                                   ((ca.redF(), cb.redF()), (ca.greenF(), cb.greenF()), (ca.blueF(), cb.blueF()))))
