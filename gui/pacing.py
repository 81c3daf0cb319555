"""How often the window shows a frame: as often as the display wants, as long as the GUI keeps to
its share of the machine.

A frame costs CPU in the GUI thread (handing the snapshot to the views, then painting them) and in
the GUI's helper threads (the engine-pipe reader, the edge renders). The engine process trains on a
core of its own, so the window may use what is left but no more, or the window's steps/s falls
behind the headless engine's:

- the GUI thread stays at most ``THREAD_SHARE`` busy, so input and timers keep answering;
- the whole GUI process (all its threads) keeps to ``process_share(cores)`` of a core: 85% of one
  on two cores or more (the engine has the other), 45% on a single core (it shares it with the
  engine).

Both are measured as shares of wall-clock time (``time.thread_time``, ``time.process_time``),
smoothed over about ``WINDOW_S``. Part of the GUI's CPU does not scale with the frame rate (the edge
renders and chart redraws keep to budgets of their own), so rather than dividing a cost per frame,
the interval is steered: it grows while either share is over its limit and shrinks back while both
are under, by at most ``GAIN`` of the excess per frame, between one display refresh
(``DISPLAY_HZ``) and ``MAX_INTERVAL_S``. Qt-free, so it is tested alone.
"""
from __future__ import annotations

import math
import os
import time

DISPLAY_HZ = 60           # frames are asked for at most this often
THREAD_SHARE = 0.6        # the GUI thread at most this busy
MAX_INTERVAL_S = 0.25     # a very big net still shows 4 frames a second
WINDOW_S = 0.5            # the shares are smoothed over about this long
GAIN = 0.3                # the interval moves by at most this power of the excess per frame


def process_share(cores: int | None) -> float:
    """The share of one core the GUI process may use while the engine process trains."""
    return 0.85 if (cores or 1) >= 2 else 0.45


class FramePacer:
    """``shown()`` after each frame shown; ``interval_ms()`` is the display timer's next interval."""

    def __init__(self, cores: int | None = None, clock=None):
        self.min_interval_s = 1.0 / DISPLAY_HZ
        self.share = process_share(os.cpu_count() if cores is None else cores)
        self._clock = clock or (lambda: (time.perf_counter(), time.thread_time(), time.process_time()))
        self._last = None            # (wall, thread, process) seconds at the last shown frame
        self.thread_share = 0.0      # smoothed shares of a core: GUI thread, whole GUI process
        self.process_share = 0.0
        self._interval = self.min_interval_s

    def shown(self) -> None:
        now = self._clock()
        if self._last is not None and now[0] > self._last[0]:
            wall = now[0] - self._last[0]
            weight = 1.0 - math.exp(-wall / WINDOW_S)
            self.thread_share += weight * ((now[1] - self._last[1]) / wall - self.thread_share)
            self.process_share += weight * ((now[2] - self._last[2]) / wall - self.process_share)
            excess = max(self.thread_share / THREAD_SHARE, self.process_share / self.share, 1e-3)
            self._interval *= excess ** GAIN
            self._interval = min(max(self._interval, self.min_interval_s), MAX_INTERVAL_S)
        self._last = now

    def idle(self) -> None:
        """No frame this tick (paused): the time until the next frame is not a frame's."""
        self._last = None

    def interval_s(self) -> float:
        return self._interval

    def interval_ms(self) -> int:
        return max(1, int(round(1000 * self._interval)))
