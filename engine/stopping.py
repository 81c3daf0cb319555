"""SIGINT, SIGTERM and SIGHUP as a polite request to stop: the first one sets a flag that the
training loop checks between chunks (so what was recorded is written and the run can resume); a
second one stops at once (KeyboardInterrupt) and leaves the last checkpoint for ``--resume``.
Exit status 128 + signal: 130 (Ctrl-C), 143 (``kill``, ``timeout``, a cluster's limit), 129 (hang-up).
"""
from __future__ import annotations

import signal
import threading

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
NAMES = {getattr(signal, n): n for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)}


class StopSignals:
    """``with StopSignals() as stop: ... if stop.requested: ...``; ``stop.exit_code``."""

    def __init__(self):
        self.signum = None
        self._old = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum) if self.signum is not None else 0

    @property
    def name(self) -> str:
        return NAMES.get(self.signum, str(self.signum))

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt  # second request: stop now
        self.signum = signum

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                try:
                    self._old[sig] = signal.signal(sig, self._handle)
                except (ValueError, OSError):  # pragma: no cover
                    pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
