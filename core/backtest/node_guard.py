"""``NodeGuard``: keeps a backtest's trading out of an OMS that a node runs on.

A backtest with ``[oms] record_backtests`` writes its orders, fills and positions to the OMS so
that a console with no node shows them. The node's panes read the same tables and must show the
node's trading only: an operator must never read a backtest's fills as the node's. So:

- a backtest that starts while a node runs on the OMS (a fresh heartbeat) records only its
  ``runs`` row;
- one that started with no node checks the heartbeat again as it runs (at most every
  ``CHECK_INTERVAL_S`` of wall time). When a node has started, it stops recording its trading
  and clears what it wrote (``NodeStarted``: the node cleared the earlier rows as it started).

The run's own result files hold its trading either way, and its summary says what happened
(``execution_stats.oms_trading``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from core.oms.events import NodeStarted, Record
from core.oms.health import node_is_running
from core.oms.run_recorder import RunRecorder

_log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0
"""Wall seconds between two reads of the node's heartbeat during a run."""

NOT_RECORDED_BESIDE_NODE = "trading not recorded in the OMS: a node is running on it"
"""``execution_stats.oms_trading`` when a node ran on the OMS as the backtest started."""

STOPPED_WHEN_NODE_STARTED = "trading no longer recorded in the OMS: a node started on it"
"""``execution_stats.oms_trading`` when a node started on the OMS during the backtest."""


class NodeGuard:
    """Pass the backtest's trading records through ``submit``; call ``check`` as it runs.

    Parameters
    ----------
    recorder : RunRecorder
        The run's recorder: its OMS is where the heartbeat is read and the records go.
    wanted : bool
        ``[oms] record_backtests``: whether the run would record its trading at all.
    clock : Callable[[], int]
        Nanoseconds since the epoch, to judge the heartbeat's age (the node's is wall time).
    """

    def __init__(
        self,
        recorder: RunRecorder,
        wanted: bool,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._recorder = recorder
        self._clock = clock
        self.note: str | None = None
        """What the summary says when the run did not record its trading as asked; else None."""
        self.recording = wanted and recorder.recording
        """Whether the run's trading records reach the OMS (now)."""
        self._next_check = 0.0
        if self.recording and self._node_runs():
            self._stop(NOT_RECORDED_BESIDE_NODE)

    def submit(self, record: Record) -> None:
        """Pass ``record`` (an order, fill, position, alert...) to the OMS while recording."""
        if self.recording:
            self._recorder.submit(record)

    def check(self) -> None:
        """Read the heartbeat if ``CHECK_INTERVAL_S`` has passed; stop if a node has started."""
        if not self.recording:
            return
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + CHECK_INTERVAL_S
        if self._node_runs():
            self._stop(STOPPED_WHEN_NODE_STARTED)
            # Its rows written since the node cleared the earlier ones go as well.
            self._recorder.submit(NodeStarted(ts_event=self._clock()))

    def _node_runs(self) -> bool:
        return node_is_running(self._recorder.node_status(), self._clock())

    def _stop(self, note: str) -> None:
        self.recording = False
        self.note = note
        _log.info("backtest %s: %s", self._recorder.run_id, note)
