"""``LoopLag``: how late the event loop runs its callbacks, measured on the loop itself.

A task sleeps ``interval`` seconds again and again and notes how much later than asked it
woke: a loop busy with a long callback (a slow read, a big batch) wakes it late by that much.
That lateness is what every order and kill on the same loop waits, so it is the figure
``/metrics`` exports (the latest, and the worst of the last minute).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

INTERVAL_SECS = 0.25
WINDOW_SECS = 60.0


class LoopLag:
    """Run ``measure()`` as a task on the loop to watch; read ``latest_s`` / ``worst_s``
    from any thread."""

    def __init__(self, interval: float = INTERVAL_SECS, window: float = WINDOW_SECS) -> None:
        self._interval = interval
        self._samples: deque[tuple[float, float]] = deque()
        self._window = window
        self.latest_s = 0.0

    async def measure(self) -> None:
        """Sample forever (cancel the task to stop)."""
        while True:
            asked = time.monotonic()
            await asyncio.sleep(self._interval)
            now = time.monotonic()
            lag = max(now - asked - self._interval, 0.0)
            self.latest_s = lag
            self._samples.append((now, lag))
            while self._samples and self._samples[0][0] < now - self._window:
                self._samples.popleft()

    @property
    def worst_s(self) -> float:
        """The largest lag of the last ``window`` seconds."""
        return max((lag for _, lag in list(self._samples)), default=0.0)
