"""``RunRecorder``: one backtest's life in the OMS ``runs`` table, QUEUED to COMPLETED, FAILED
or CANCELLED.

A backtest must never fail because of its bookkeeping: an OMS that cannot be opened or written
only costs the dashboard its view of the run. So the recorder never raises; the first problem it
meets is kept, one line, in ``problem`` (the backtest puts it in its summary), and logged.

Progress comes at the engine's pace (every equity sample); it is written at most every
``min_interval_s`` seconds of wall time, and at every change of phase, so a long run does not
fill the writer's queue with states nobody will see.

Records reach the store in hand-overs, not one by one: ``submit`` appends to a list, handed to
the store when ``handover_s`` of wall time has passed since the last hand-over, with every
state of the run (``running``, at most every ``min_interval_s``) and at ``flush`` and
``finish``. A backtest makes thousands of records a second in bursts; handed one
by one, each burst woke the store's thread and its SQLite thread many times a second, and
every wake took the interpreter lock from the engine's thread for a few small transactions.
The order of the records is kept; the dashboard sees them at most ``handover_s`` later.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Self

from core.errors import one_line
from core.oms.background import BackgroundStore
from core.oms.errors import OmsError
from core.oms.events import NodeStatus, Record, RunState

_log = logging.getLogger(__name__)

HANDOVER_S = 0.2
"""Wall seconds between two hand-overs of the records submitted to the store."""


class RunRecorder:
    """Open with ``RunRecorder.open(database, run_id)``; end with ``finish``.

    Call it from one thread (the backtest's); only ``submit`` may also come from others.
    """

    def __init__(
        self,
        run_id: str,
        store: BackgroundStore | None,
        problem: str | None,
        min_interval_s: float = 0.25,
        handover_s: float = HANDOVER_S,
    ) -> None:
        self.run_id = run_id
        self.problem = problem
        """The first problem met with the OMS (one line), or None."""
        self._store = store
        self._min_interval_s = min_interval_s
        self._last_ns = 0
        self._last_written = 0.0
        self._phase: str | None = None
        self._progress = 0.0
        self._started_at: int | None = None
        self._handover_s = handover_s
        self._pending: list[Record] = []
        self._pending_lock = threading.Lock()  # submit may come from another thread
        self._next_handover = time.monotonic() + handover_s

    @classmethod
    def open(
        cls, database: str | Path, run_id: str, *, min_interval_s: float = 0.25, **options: Any
    ) -> Self:
        """Open the OMS at ``database`` and record ``run_id`` as QUEUED.

        ``options`` go to ``OmsStore.open``. When the OMS cannot be opened the recorder still
        works, recording nothing, with ``problem`` saying why.
        """
        try:
            store = BackgroundStore.open(database, **options)
        except OmsError as error:
            recorder = cls(run_id, None, None, min_interval_s)
            recorder._note(f"OMS not recorded: {one_line(error)}")
            return recorder
        recorder = cls(run_id, store, None, min_interval_s)
        recorder.submit(RunState(run_id=run_id, state="QUEUED", updated_at=recorder._now()))
        recorder._hand_over()
        return recorder

    @property
    def recording(self) -> bool:
        """Whether records reach the OMS (it opened, and nothing has failed for good)."""
        return self._store is not None

    def node_status(self) -> NodeStatus | None:
        """The node's latest heartbeat in this OMS; None without one or when it cannot be read."""
        if self._store is None:
            return None
        try:
            return self._store.call(self._store.store.node_status())
        except OmsError as error:
            self._note(f"OMS heartbeat not read: {one_line(error)}")
            return None

    def submit(self, record: Record) -> None:
        """Queue ``record`` for the OMS; never raises (pass it to ``OmsFeed``)."""
        if self._store is None:
            return
        with self._pending_lock:
            self._pending.append(record)
        if time.monotonic() >= self._next_handover:
            self._hand_over()

    def _hand_over(self) -> None:
        """Give the store every record submitted so far, in order."""
        self._next_handover = time.monotonic() + self._handover_s
        with self._pending_lock:
            records, self._pending = self._pending, []
        if self._store is None or not records:
            return
        try:
            self._store.submit_many(records)
        except Exception as error:  # into the engine, it would stop the backtest
            self._note(f"OMS record lost: {one_line(error)}")

    def running(self, phase: str, fraction: float) -> None:
        """The run is in ``phase`` (reading, running, writing), ``fraction`` of it done."""
        if self._store is None:
            return
        fraction = min(max(fraction, 0.0), 1.0)
        wall = time.monotonic()
        if (
            phase == self._phase
            and fraction < 1.0
            and wall - self._last_written < self._min_interval_s
        ):
            return
        self._phase = phase
        self._progress = fraction
        self._last_written = wall
        now = self._now()
        if self._started_at is None:
            self._started_at = now
        self.submit(
            RunState(
                run_id=self.run_id,
                state="RUNNING",
                updated_at=now,
                progress=fraction,
                phase=phase,
                started_at=self._started_at,
            )
        )
        self._hand_over()  # the run's state at once, and the records before it

    def flush(self) -> None:
        """Wait until every record so far is in the OMS (a failure goes to ``problem``)."""
        if self._store is None:
            return
        self._hand_over()
        try:
            self._store.flush()
        except OmsError as error:
            self._note(f"OMS not fully recorded: {one_line(error)}")

    def finish(self, state: str, folder: str | None, error: str | None) -> None:
        """Record the run as ``state`` (COMPLETED, FAILED or CANCELLED) and close the OMS."""
        if self._store is None:
            return
        self._hand_over()
        store, self._store = self._store, None
        try:
            store.submit(
                RunState(
                    run_id=self.run_id,
                    state=state,
                    updated_at=self._now(),
                    progress=1.0 if state == "COMPLETED" else self._progress,
                    phase=None,
                    result_folder=folder,
                    error=error,
                    started_at=self._started_at,
                )
            )
            store.close()
        except OmsError as failure:
            self._note(f"OMS not fully recorded: {one_line(failure)}")

    def _now(self) -> int:
        # Strictly increasing: the runs table keeps a state only over an older one, and two
        # states within one clock tick must not tie.
        self._last_ns = max(self._last_ns + 1, time.time_ns())
        return self._last_ns

    def _note(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem
            _log.warning("backtest %s: %s", self.run_id, problem)
