"""File → Save Session / Open Session, autosave while training, and restore after a crash.

A session (engine/session.py) is the engine process's full state — every member's config,
weights, optimiser state and random streams, from ``runner.get_state()`` — plus the view state.
Saving asks the engine process for its state and writes the file when the answer comes (atomic,
user's umask). While training, an autosave goes to the settings folder every few seconds; a clean
close removes it, so finding one at start-up means the last session ended in a crash, and the
window offers to restore it. A bad file gets a dialog and changes nothing.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

AUTOSAVE_S = 5
MAX_HISTORY = 200_000  # per-step points kept for the session; beyond that every other is dropped
AUTOSAVE_NAME = "autosave.gfsession"
FILTER = "Gradient Flow Lab session (*.gfsession)"


class SessionController(QtCore.QObject):
    sigSaved = QtCore.Signal(str)       # a session file was written (path)
    sigRestored = QtCore.Signal(str)    # a session was sent to the engine process (path)

    def __init__(self, window, autosave_dir: Path | None, parent=None):
        super().__init__(parent or window)
        self.window = window
        self.autosave_path = None if autosave_dir is None else Path(autosave_dir) / AUTOSAVE_NAME
        self._requests: list[tuple[str, Path]] = []   # answered in order by sigState
        self._running = False
        self._history = None            # (generation, steps, loss, grad_norms) of the run on screen
        self._restore_history = None    # (config, history, generation at opening) waiting for the restored run's first frame
        window.sigFrameShown.connect(self._record)
        window.runner.sigState.connect(self._on_state)
        window.runner.sigRunningChanged.connect(self._on_running)
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self._autosave)
        self.timer.start(int(AUTOSAVE_S * 1000))

    # ------------------------------------------------------------------ saving
    def save(self, path) -> None:
        """Ask the engine for its state; the file is written when it answers (``sigSaved``)."""
        self._requests.append(("save", Path(path)))
        self.window.runner.get_state()

    def _autosave(self) -> None:
        if self.autosave_path is None or not self._running or any(k == "auto" for k, _ in self._requests):
            return
        self._requests.append(("auto", self.autosave_path))
        self.window.runner.get_state()

    def _on_running(self, running: bool) -> None:
        self._running = bool(running)

    def _on_state(self, states) -> None:
        if not self._requests:
            return
        kind, path = self._requests.pop(0)
        from engine.session import save_session
        try:
            save_session(path, states, history=self.history(), view=self.view_state())
        except (OSError, ValueError, TypeError) as exc:
            message = f"could not save the session to {getattr(exc, 'filename', None) or path}: " \
                      f"{getattr(exc, 'strerror', None) or exc}"
            if kind == "save":
                self.window.show_error(message)
                self.window._file_error_dialog("Cannot save session", message)
            return
        if kind == "save":
            self.window.statusBar().showMessage(f"Saved session {path}", 5000)
        self.sigSaved.emit(str(path))

    # ------------------------------------------------------------------ history
    def _record(self, snapshot) -> None:
        """Keep the per-step history of the run on screen (bounded: halved beyond MAX_HISTORY)."""
        gen = self.window._generation
        if self._history is None or self._history[0] != gen:
            self._history = (gen, np.zeros(0, np.int64), np.zeros(0), np.zeros((0, snapshot.n_weight_layers)))
        if not len(snapshot.history_steps):
            return
        _, steps, loss, norms = self._history
        steps = np.concatenate([steps, snapshot.history_steps])
        loss = np.concatenate([loss, snapshot.history_loss])
        norms = np.concatenate([norms, np.asarray(snapshot.history_grad_norms).reshape(len(snapshot.history_steps), -1)])
        if len(steps) > MAX_HISTORY:
            steps, loss, norms = steps[::2], loss[::2], norms[::2]
        self._history = (gen, steps, loss, norms)

    def history(self) -> dict:
        if self._history is None:
            return {}
        _, steps, loss, norms = self._history
        return {"steps": steps, "loss": loss, "grad_norms": norms}

    def before_display(self, frame):
        """The restored run's first frame carries the saved history, so the charts show it."""
        pending = self._restore_history
        # only the restored run's own first frame: a newer generation than at opening, same config
        if pending is None or frame.generation <= pending[2] or frame.config != pending[0]:
            return frame
        self._restore_history = None
        config, history, _ = pending
        snap = frame.snapshot
        if not {"steps", "loss", "grad_norms"} <= history.keys() \
                or np.shape(history["grad_norms"])[1:] != (snap.n_weight_layers,):
            return frame
        keep = history["steps"] < (snap.history_steps[0] if len(snap.history_steps) else snap.step + 1)
        snap = dataclasses.replace(
            snap,
            history_steps=np.concatenate([history["steps"][keep], snap.history_steps]).astype(np.int64),
            history_loss=np.concatenate([history["loss"][keep], snap.history_loss]),
            history_grad_norms=np.concatenate([history["grad_norms"][keep],
                                               np.asarray(snap.history_grad_norms).reshape(-1, snap.n_weight_layers)]))
        return dataclasses.replace(frame, snapshots=(snap, *frame.snapshots[1:]))

    def view_state(self) -> dict:
        w = self.window
        return {"theme": w.theme_name, "steps_per_frame": int(w.transport.steps_per_frame)}

    # ------------------------------------------------------------------ opening
    def open(self, path) -> bool:
        """Check the file completely, then hand it to the engine; a bad file changes nothing."""
        from engine.session import SessionError, load_session
        try:
            session = load_session(path)
        except SessionError as exc:
            self.window.show_error(str(exc))
            self.window._file_error_dialog("Cannot open session", str(exc))
            return False
        w = self.window
        view = session.view
        if view.get("theme") in ("dark", "light"):
            w.set_theme(view["theme"])
        if isinstance(view.get("steps_per_frame"), int):
            w.transport.set_steps_per_frame(view["steps_per_frame"])
        w.controls.set_config(session.config)
        w.config = session.config
        self._restore_history = (session.config, session.history, w.runner.generation)
        w.runner.set_state(session.states)  # the engine rebuilds, restores, and reports "built"
        self.sigRestored.emit(str(path))
        return True

    def offer_restore(self) -> QtWidgets.QMessageBox | None:
        """After a crash (an autosave is still there) ask whether to restore it; non-modal."""
        if self.autosave_path is None or not self.autosave_path.is_file():
            return None
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Question, "Restore session?",
                                    "Gradient Flow Lab did not close normally last time. Restore the "
                                    "session it autosaved (network, weights and training state)?",
                                    QtWidgets.QMessageBox.StandardButton.Yes
                                    | QtWidgets.QMessageBox.StandardButton.No, self.window)
        box.setObjectName("restoreSessionDialog")
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(button):
            if box.standardButton(button) == QtWidgets.QMessageBox.StandardButton.Yes:
                self.open(self.autosave_path)

        box.buttonClicked.connect(answered)
        box.open()
        return box

    def closed_cleanly(self) -> None:
        """The window is closing normally: no crash to restore from next time."""
        self.timer.stop()
        if self.autosave_path is not None:
            self.autosave_path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ dialogs
    def save_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self.window, "Save session", "session.gfsession", FILTER)
        if path:
            self.save(path)

    def open_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Open session", "", FILTER)
        if path:
            self.open(path)
