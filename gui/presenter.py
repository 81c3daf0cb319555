"""Presenter mode and the claim line: a preset's claims on screen, proved by live numbers.

The claim bar sits above the network graph whenever a preset is loaded: its first claim as one big
line with a ✓/✗ and the live value, judged by ``engine.claims.judge`` on the snapshot the window has
just shown (``sigFrameShown``), the same judge as ``python main.py check``. Measurements the window
is not running (another preset, a config variant, a comparison member, the neuron demo) are
computed headless on a background thread and said to be so. Staged presets advance with PgUp/PgDn
(a clicker); without stages those keys move through the presets.

Presenter mode (F5): fullscreen, the controls dock hidden, all text at least 20 px and the claim
line at least 40 px; Esc or F5 leaves it and restores the window as it was.
"""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Qt

from gui.textscale import TextScaler, font_px

PRESENTER_FLOOR_PX = 20
CLAIM_PX = 26            # the claim line in normal mode
PRESENTER_CLAIM_PX = 44  # in presenter mode (>= 40 px)
PRESENTER_DOCK_MIN_PX = 420
PRESENTER_DOCK_SHARE = 0.4
MARK_COLOURS = {True: "#009E73", False: "#D55E00", None: "#999999"}   # Okabe-Ito green / vermillion


def _label(px: int, bold: bool = False) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel()
    label.setWordWrap(True)
    f = label.font()
    f.setPixelSize(px)
    f.setBold(bold)
    label.setFont(f)
    label.setTextFormat(Qt.RichText)
    return label


class ClaimBar(QtWidgets.QFrame):
    """Stage, claim with live value and mark, and the other claims of the preset (smaller)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("claimBar")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(14, 8, 14, 8)
        layout.setSpacing(2)
        self.stage_label = _label(22, bold=True)
        self.stage_label.setObjectName("claimStage")
        self.claim_label = _label(CLAIM_PX, bold=True)
        self.claim_label.setObjectName("claimLine")
        self.claim_label.gfl_claim = True
        self.value_label = _label(22)
        self.value_label.setObjectName("claimValue")
        self.others_label = _label(20)
        self.others_label.setObjectName("claimOthers")
        for w in (self.stage_label, self.claim_label, self.value_label, self.others_label):
            layout.addWidget(w)
        self.set_claim_px(CLAIM_PX)
        self.hide()

    def set_claim_px(self, px: int) -> None:
        f = self.claim_label.font()
        f.setPixelSize(px)
        self.claim_label.setFont(f)
        self.claim_label.setProperty("gflBasePx", px)
        self.claim_label.setProperty("gflSetPx", px)

    def set_theme(self, name: str) -> None:
        from gui.colors import theme
        t = theme(name)
        self.setStyleSheet(f"QFrame#claimBar {{ background: {t['panel']}; border-bottom: 2px solid {t['muted']}; }}"
                           f" QLabel {{ color: {t['foreground']}; background: transparent; }}")


def verdict_html(verdict, stated=None, live: bool = True) -> tuple[str, str]:
    """(claim line, value line) as HTML.

    ``verdict``: measured now; ``stated``: measured at the claim's step (live when the run passed
    it, else the headless check). Past the claim's step the mark is the one at that step, and the
    value now is shown beside it.
    """
    from engine.claims import format_value

    def cmp(v):
        text = f"{v.metric} = <b>{format_value(v.value)}</b> {_esc(v.op)} {format_value(v.threshold)}"
        if v.reference is not None:
            text += f" (reference run: {format_value(v.reference)})"
        return text

    def mark(v):
        return f'<span style="color:{MARK_COLOURS[v.holds]}">{v.mark}</span>'

    shown = verdict
    at, step = verdict.at_step, verdict.step
    if not live and verdict.holds is None and verdict.value != verdict.value:   # nothing measured yet
        return f"{mark(verdict)}&nbsp;{_esc(verdict.text)}", _esc(verdict.detail)
    if not live:
        value = f"computed headless: {cmp(verdict)}" + (f" at step {step:,}" if step is not None else "")
    elif at is None or step is None:
        value = f"live: {cmp(verdict)}"
    elif step < at:
        value = f"live: {cmp(verdict)} at step {step:,} — the claim is stated for step {at:,}"
        if stated is not None:
            value += f" (headless check: {mark(stated)} {format_value(stated.value)})"
    elif step == at or stated is None:
        value = f"live at the claim's step {at:,}: {cmp(verdict)}" if step == at else \
            f"live: {cmp(verdict)} at step {step:,}, past the claim's step {at:,}"
    else:
        shown = stated
        value = (f"at the claim's step {at:,}: {cmp(stated)} {mark(stated)} — now, at step {step:,}: "
                 f"{format_value(verdict.value)} {mark(verdict)}")
    if shown.detail:
        value += f" — {_esc(shown.detail)}"
    head = f"{mark(shown)}&nbsp;{_esc(shown.text)}"
    return head, value


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


PENDING_TEXT = "being measured headless on a background thread…"


class _Measured(QtCore.QObject):
    sigDone = QtCore.Signal(object, object)   # token, {claim index: (sources dict, final verdict)}


class Presenter(QtCore.QObject):
    """Claim line, stages, presenter mode, fullscreen and text zoom for a MainWindow."""

    sigStageChanged = QtCore.Signal(int)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.scaler = TextScaler(self)
        self.bar = ClaimBar()
        window.add_top_widget(self.bar)
        self.preset = None
        self.stage = 0
        self.active = False
        self._saved = None
        self._snapshot = None
        self._refs: dict[int, tuple[dict, object]] = {}
        self._at_step: dict[int, object] = {}      # claim index -> live verdict at its step
        self._token = 0
        self._measuring: int | None = None   # the claim run's job in gui.offload (cancel stops it)
        window.sigFrameShown.connect(self._on_frame)

    # ------------------------------------------------------------------ presets and stages
    def set_preset(self, preset) -> None:
        """The preset now loaded (None: a custom config, no claim)."""
        self.preset = preset
        self.stage = 0
        self._snapshot = None
        docks = getattr(self.window, "_view_docks", {})
        if preset is not None and "neuron" in preset.extra and "Zig-zag" in docks:
            docks["Zig-zag"].raise_()   # the zig-zag preset's lesson is in that tab
            QtCore.QTimer.singleShot(0, docks["Zig-zag"].raise_)   # after the window's own first layout
        if preset is not None and preset.stages:
            self._apply_stage()
            return
        self._start_measuring()
        self._render()

    def _on_config_changed(self, config) -> None:
        """A field was edited: the config is no longer the preset's, so neither is its claim."""
        if self.preset is not None and config != self.current_config():
            self.set_preset(None)

    def claims(self) -> list:
        if self.preset is None:
            return []
        claims = list(self.preset.claims)
        if self.preset.stages:
            claims += list(self.preset.stages[self.stage].claims)
        return claims

    def claim_step(self) -> int | None:
        """The step the shown claims are stated for (the largest), None when there is none."""
        steps = []
        config = self.current_config()
        comparison = self.preset is not None and bool(self.preset.members)   # members run in lockstep
        for c in self.claims():
            if c.needs == "snapshot" and not c.changes and (c.member is None or comparison):
                steps.append(c.at_step if c.at_step is not None else config.steps)
        return max(steps) if steps else None

    def current_config(self):
        if self.preset is None:
            return None
        return self.preset.stage_config(self.stage) if self.preset.stages else self.preset.config

    def next_stage(self, delta: int = 1) -> None:
        """PgDn/PgUp: the next/previous stage; a preset without stages moves to the next/previous preset."""
        if self.preset is not None and self.preset.stages:
            new = max(0, min(len(self.preset.stages) - 1, self.stage + delta))
            if new != self.stage:
                self.stage = new
                self._apply_stage()
            return
        combo = self.window.controls.preset_combo
        n = combo.count() - 1
        if n <= 0:
            return
        index = combo.currentIndex()
        combo.setCurrentIndex(1 + ((index - 1 + delta) % n if index > 0 else (0 if delta > 0 else n - 1)))

    def _apply_stage(self) -> None:
        config = self.current_config()
        controls = self.window.controls
        controls.set_config(config)
        controls.sigConfigChanged.emit(config)
        caption = self.preset.stages[self.stage].caption
        controls.preset_caption.setText(caption)
        self.sigStageChanged.emit(self.stage)
        self._snapshot = None
        self._start_measuring()
        self._render()

    def choose_preset_number(self, i: int) -> None:
        """Keys 1-9: the i-th preset of the list."""
        combo = self.window.controls.preset_combo
        if 1 <= i < combo.count():
            combo.setCurrentIndex(i)

    def run_to_claim(self) -> None:
        """Train to the step the claim is stated for and pause there."""
        step = self.claim_step()
        if step is None:
            return
        self.window.runner.set_stop_at(step)
        self.window.transport.play_action.setChecked(True)

    def _arm_stop(self) -> None:
        runner = getattr(self.window, "runner", None)
        if runner is not None and hasattr(runner, "set_stop_at"):
            runner.set_stop_at(self.claim_step())

    # ------------------------------------------------------------------ measuring
    def _start_measuring(self) -> None:
        """Headless runs for what the window does not show, and each claim's verdict at its step."""
        self._arm_stop()
        self.stop_measuring()               # a run for the previous preset is no longer wanted
        self._measuring = None
        self._token += 1
        self._refs = {}
        self._at_step = {}
        preset, claims, token = self.preset, self.claims(), self._token
        if preset is None or not claims:
            return
        backend = "numpy"
        # the emitter belongs to the presenter (C++ side), so the thread dropping its reference never
        # deletes a Qt object off the main thread (PySide6 then defers the deletion into a later paint,
        # where it deadlocked); a closed window makes emit raise RuntimeError, caught below
        emitter = _Measured(self)
        emitter.sigDone.connect(self._on_measured)

        def done(out):       # on the worker's reader thread
            if isinstance(out, Exception):          # the worker died: every claim says so
                out = {i: ({}, out) for i in range(len(claims))}
            try:
                emitter.sigDone.emit(token, out)
            except RuntimeError:                    # the window is gone
                pass

        # in a worker process (gui/offload.py): on a thread here it held the GUI's interpreter lock
        # for the whole run (cnn-vanishing: ~13 s at 1.2-1.5 frames/s, stalls of up to 2 s)
        from engine.comparisons import measure_claims
        from gui import offload
        self._measuring = offload.shared().submit(measure_claims, preset, claims, backend,
                                                  on_done=done, stoppable=True)

    def stop_measuring(self) -> None:
        """Cancel the background claim run, if one is going (a new preset, or the window closes)."""
        if self._measuring is not None:
            from gui import offload
            offload.shared().cancel(self._measuring)

    def _on_measured(self, token, out) -> None:
        sender = self.sender()
        if sender is not None:
            sender.deleteLater()       # its thread is done with it; deleted here, on the main thread
        if token == self._token:
            self._refs = out
            self._render()

    def _on_frame(self, snapshot) -> None:
        self._snapshot = snapshot
        if self.bar.isVisible():
            self._render()

    def live_verdicts(self) -> list[tuple[object, object, bool]]:
        """(verdict now, verdict at the claim's step or None, whether 'now' is the live run)."""
        import dataclasses

        from engine.claims import judge
        rows = []
        config = self.current_config()
        for i, claim in enumerate(self.claims()):
            if claim.at_step is None and claim.needs == "snapshot":
                claim = dataclasses.replace(claim, at_step=config.steps)
            sources, final = self._refs.get(i, ({}, None))
            failed = final if isinstance(final, Exception) else None
            if failed is not None:
                final = None
            live = (claim.needs == "snapshot" and claim.member is None and not claim.changes
                    and self._snapshot is not None)
            if live:
                snaps = dict(sources)
                snaps[claim.key] = self._snapshot
                if final is not None and final.at_step is None:
                    final = dataclasses.replace(final, at_step=claim.at_step)
                now = judge(claim, snaps)
                if now.step is not None and now.step == claim.at_step:
                    self._at_step[i] = now            # the live run at the claim's own step
                elif now.step is not None and now.step < (claim.at_step or 0):
                    self._at_step.pop(i, None)        # a reset: that measurement is gone
                rows.append((now, self._at_step.get(i, final), True))
            elif final is not None:
                rows.append((final, final, False))
            else:
                pending = judge(claim, {})
                if failed is not None:   # e.g. "cmp-cpu-gpu needs a GPU: ...", not "no run measured"
                    pending = dataclasses.replace(pending, detail=str(failed) or type(failed).__name__)
                else:
                    pending = dataclasses.replace(pending, detail=PENDING_TEXT)
                rows.append((pending, None, False))
        return rows

    def _render(self) -> None:
        claims = self.claims()
        self.bar.setVisible(bool(claims))
        if not claims:
            return
        stage = ""
        if self.preset.stages:
            st = self.preset.stages[self.stage]
            stage = f"{st.title}  ·  stage {self.stage + 1} of {len(self.preset.stages)}  (PgUp / PgDn)"
        else:
            stage = self.preset.title
        self.bar.stage_label.setText(_esc(stage))
        rows = self.live_verdicts()
        head, value = verdict_html(*rows[0])
        self.bar.claim_label.setText(head)
        self.bar.value_label.setText(value)
        others = []
        for verdict, stated, live in rows[1:]:
            h, v = verdict_html(verdict, stated, live)
            others.append(f"{h} <span style='font-weight:normal'>— {v}</span>")
        self.bar.others_label.setText("<br>".join(others))
        self.bar.others_label.setVisible(bool(others))

    # ------------------------------------------------------------------ modes
    def toggle_presenter(self) -> None:
        self.set_presenter(not self.active)

    def set_presenter(self, on: bool) -> None:
        w = self.window
        if on == self.active:
            return
        self.active = on
        if on:
            self._saved = (w.windowState(), w.controls_dock.isVisible())
            w.controls_dock.hide()
            w.showFullScreen()
            self.bar.set_claim_px(PRESENTER_CLAIM_PX)
            self.scaler.set_policy(floor_px=PRESENTER_FLOOR_PX)
            # large type widens the view docks' rows; the network graph keeps the most room
            docks = list(w._view_docks.values())
            self._saved_min = [(d.widget(), d.widget().minimumWidth()) for d in docks]
            for d in docks:
                d.widget().setMinimumWidth(PRESENTER_DOCK_MIN_PX)
            QtCore.QTimer.singleShot(0, self.fit_docks)
        else:
            state, controls = self._saved or (Qt.WindowMaximized, True)
            self.scaler.set_policy(floor_px=0)
            self.bar.set_claim_px(CLAIM_PX)
            for widget, width in getattr(self, "_saved_min", []):
                widget.setMinimumWidth(width)
            w.controls_dock.setVisible(controls)
            if state & Qt.WindowFullScreen:
                w.showFullScreen()
            elif state & Qt.WindowMaximized:
                w.showMaximized()
            else:
                w.showNormal()
        action = getattr(w, "actions_hub", None)
        if action is not None:
            with QtCore.QSignalBlocker(action.actions["presenter"]):
                action.actions["presenter"].setChecked(on)
        self._render()
        self.scaler.apply()

    def fit_docks(self) -> None:
        """The view docks take PRESENTER_DOCK_SHARE of the width; the graph the rest."""
        w = self.window
        docks = list(w._view_docks.values())
        if docks:
            w.resizeDocks(docks[:1], [int(w.width() * PRESENTER_DOCK_SHARE)], Qt.Horizontal)

    def toggle_fullscreen(self) -> None:
        w = self.window
        if w.isFullScreen():
            w.showMaximized()
        else:
            w.showFullScreen()
        hub = getattr(w, "actions_hub", None)
        if hub is not None:
            with QtCore.QSignalBlocker(hub.actions["fullscreen"]):
                hub.actions["fullscreen"].setChecked(w.isFullScreen())

    def escape(self) -> None:
        """Esc: leave a field, else close the key map, else leave presenter mode, else fullscreen."""
        w = self.window
        focus = QtWidgets.QApplication.focusWidget()
        hub = getattr(w, "actions_hub", None)
        from gui.actions import _is_field, commit_field
        if focus is not None and _is_field(focus):
            commit_field(focus)
            focus.clearFocus()
            w.setFocus()
        elif hub is not None and hub.overlay.isVisible():
            hub.overlay.hide()
        elif self.active:
            self.set_presenter(False)
        elif w.isFullScreen():
            self.toggle_fullscreen()

    def claim_px(self) -> int:
        return font_px(self.bar.claim_label.font())


def install_presenter(window) -> Presenter:
    """Keys, menus, claim line and presenter mode for ``window`` (a MainWindow after finish_setup)."""
    from gui.actions import ActionHub

    presenter = Presenter(window)
    window.presenter = presenter
    # quitting in presenter mode must not save its hidden controls dock as the next start's layout
    window.sigClosing.connect(lambda: presenter.set_presenter(False))
    t = window.transport
    handlers = {
        "run_to_claim": presenter.run_to_claim,
        "stage_prev": lambda: presenter.next_stage(-1),
        "stage_next": lambda: presenter.next_stage(+1),
        "presenter": presenter.toggle_presenter,
        "fullscreen": presenter.toggle_fullscreen,
        "zoom_in": lambda: presenter.scaler.zoom(+1),
        "zoom_out": lambda: presenter.scaler.zoom(-1),
        "zoom_reset": lambda: presenter.scaler.zoom(0),
        "escape": presenter.escape,
        **{f"preset_{i}": (lambda i=i: presenter.choose_preset_number(i)) for i in range(1, 10)},
    }
    hub = ActionHub(window, handlers, existing={"play": t.play_action, "step": t.step_action,
                                                "reset": t.reset_action})
    hub.actions["keymap"].triggered.connect(hub.toggle_keymap)
    window.actions_hub = hub
    hub.build_menus({"View": window.view_menu})
    window._extra_views.append(presenter.bar)   # themed with the rest
    from gui.icons import TransportTheme
    window._extra_views.append(TransportTheme(window.transport))   # icons in the theme's text colour
    window.controls.sigPresetChosen.connect(presenter.set_preset)
    window.controls.sigConfigChanged.connect(presenter._on_config_changed)
    if window.graph is not None:   # the graph's markers say "inactive" for ReLU-like units
        window.controls.sigConfigChanged.connect(lambda c: window.graph.set_activation(c.activation))
        window.graph.set_activation(window.controls.config.activation)
    return presenter
