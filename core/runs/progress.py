"""``ProgressThrottle``: which of a run's progress reports are worth sending on.

A backtest reports progress on every equity sample (thousands a run); a run in another process
(a launched run, a Dask task) sends at most one report per interval, plus every change of
phase, so the receiver redraws at a steady pace whatever the engine's.
"""

from __future__ import annotations

import time


class ProgressThrottle:
    """Says yes to the first report, to a new phase, and once per ``interval_s`` otherwise."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._at = float("-inf")
        self._phase: str | None = None

    def due(self, phase: str) -> bool:
        """Whether a report in ``phase`` now is sent (and, if so, counts as the last sent)."""
        now = time.monotonic()
        if phase == self._phase and now - self._at < self.interval_s:
            return False
        self._at, self._phase = now, phase
        return True
