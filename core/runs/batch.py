"""Many backtests at once on Dask: one task per grid point, each ``run_backtest`` in a worker.

The task is the very call the console makes for one backtest
(``core.backtest.pipeline.run_backtest``), so a batch's run is a run like any other: its own
``BT-YYYYMMDD-NNN`` folder, claimed through ``core.data.run_id`` (an atomic ``makedirs`` on local
roots), which is what keeps ids apart when many workers start runs in the same millisecond.

- **Processes, spawned**: Nautilus hung when a process that had run a backtest forked, and its
  engine holds the GIL (threads give no speed-up). The default cluster is a ``LocalCluster``
  of ``workers`` processes started with the spawn method, one thread each, so a worker runs one
  backtest at a time. A running scheduler (``scheduler="tcp://host:8786"``) is used as it is:
  start its workers with ``--nthreads 1`` and the repository importable.
- **Failures stay in their run**: ``run_backtest`` turns every failure into a FAILED outcome,
  and a task that dies anyway (its worker lost) is caught here; either way the point is
  submitted again ``retries`` times (a fresh run id each attempt), then reported FAILED while
  the other points go on.
- **Progress**: workers publish each run's progress as Dask events (at most every
  ``PROGRESS_INTERVAL_S``); ``on_progress`` receives them on the client's event-loop thread.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dask
from distributed import Client, LocalCluster, as_completed, get_worker

from core.config import AppConfig
from core.errors import ConfigError
from core.runs.batch_grid import GridPoint
from core.runs.batch_order import longest_first
from core.runs.progress import ProgressThrottle

if TYPE_CHECKING:
    from core.backtest.pipeline import Progress

PROGRESS_TOPIC = "trade-console-batch-progress"
PROGRESS_INTERVAL_S = 0.5  # a run's progress events, at most this often (plus phase changes)
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RunProgress:
    """A running point's progress, as its worker reported it."""

    index: int
    attempt: int
    phase: str
    done: int
    total: int


@dataclass(frozen=True)
class RunResult:
    """One grid point's end: the last attempt's run, and every attempt's run id."""

    point: GridPoint
    status: str
    run_id: str | None
    folder: str | None
    error: str | None
    net_pnl: float | None
    wall_seconds: float
    attempts: int
    run_ids: tuple[str, ...] = field(default=())


ResultCallback = Callable[[RunResult, bool], None]  # (result, will be retried)
ProgressCallback = Callable[[RunProgress], None]


def run_batch(
    points: Sequence[GridPoint],
    *,
    scheduler: str | None = None,
    workers: int = 2,
    retries: int = 1,
    on_result: ResultCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[RunResult]:
    """Run every point as a backtest on Dask; return their results in grid order.

    Parameters
    ----------
    points
        The grid (``core.runs.batch_grid.load_grid``).
    scheduler
        Address of a running Dask scheduler; None starts a ``LocalCluster`` of ``workers``
        spawned processes for the batch and stops it after.
    retries
        How many more times a FAILED point is run before it is reported FAILED.
    on_result
        Called after every attempt with its result and whether the point will be run again.
    on_progress
        Called with each running point's progress (from the client's event-loop thread).

    Raises
    ------
    ConfigError
        ``workers`` below 1, or the scheduler cannot be reached (one line naming it).
    """
    if workers < 1:
        raise ConfigError(f"--workers: must be at least 1, got {workers}")
    batch = uuid.uuid4().hex[:8]
    by_index = {point.index: point for point in points}
    with _client(scheduler, workers) as client:
        if on_progress is not None:
            client.subscribe_topic(PROGRESS_TOPIC, lambda event: on_progress(_progress(event)))
        queue = as_completed()
        attempts: dict[int, list[dict[str, Any]]] = {point.index: [] for point in points}
        owner: dict[str, int] = {}  # task key -> point index

        def submit(point: GridPoint, attempt: int) -> None:
            future = client.submit(
                run_point,
                point.config,
                point.index,
                attempt,
                key=f"backtest-{batch}-{point.index}-try{attempt}",
                pure=False,
            )
            owner[future.key] = point.index
            queue.add(future)

        for point in longest_first(points):  # the tail is then a short run (batch_order)
            submit(point, 1)
        results: dict[int, RunResult] = {}
        for future in queue:
            index = owner.pop(future.key)
            try:
                attempt = future.result()
            except Exception as error:  # the task itself died: a lost worker, a pickling error
                attempt = _lost(error)
            tries = attempts[index]
            tries.append(attempt)
            result = _result(by_index[index], tries)
            again = result.status != "COMPLETED" and len(tries) <= retries
            if on_result is not None:
                on_result(result, again)
            if again:
                submit(by_index[index], len(tries) + 1)
            else:
                results[index] = result
        if on_progress is not None:
            client.unsubscribe_topic(PROGRESS_TOPIC)
    return [results[point.index] for point in points]


def run_point(config: AppConfig, index: int, attempt: int) -> dict[str, Any]:
    """The Dask task: one backtest in this worker process; a small picklable dict back."""
    from core.backtest.pipeline import (
        run_backtest,  # imports Nautilus: in the worker, not the client
    )

    worker = _worker()
    throttle = ProgressThrottle(PROGRESS_INTERVAL_S)

    def report(update: Progress) -> None:
        if worker is None or not throttle.due(update.phase):
            return
        message = {"index": index, "attempt": attempt, "phase": update.phase}
        worker.log_event(PROGRESS_TOPIC, message | {"done": update.done, "total": update.total})

    started = time.perf_counter()
    outcome = run_backtest(config, progress=report)
    pnl = outcome.summary.get("pnl") or {}
    return {
        "status": outcome.status,
        "run_id": outcome.run_id,
        "folder": outcome.folder,
        "error": outcome.error,
        "net_pnl": pnl.get("net_pnl"),
        "wall_seconds": time.perf_counter() - started,
    }


@contextmanager
def _client(scheduler: str | None, workers: int) -> Iterator[Client]:
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as error:
            text = " ".join(str(error).split()) or type(error).__name__
            raise ConfigError(f"--scheduler {scheduler}: cannot connect ({text})") from None
        with client:
            yield client
        return
    with local_cluster(workers) as cluster, Client(cluster) as client:
        yield client


@contextmanager
def local_cluster(workers: int) -> Iterator[LocalCluster]:
    """The batch's default cluster: ``workers`` spawned processes of one thread each.

    Spawn, never fork: a forked copy of a process that ran Nautilus hung. memory_limit=0: the
    nanny would otherwise kill a worker past its share of memory mid-run (a 3-day full run
    peaks near 1 GB); dashboard off: no port to collide with another batch. The workers' scratch
    space is a folder of this cluster's own, removed with it (Dask's default,
    ``$TMPDIR/dask-scratch-space``, outlives every batch).
    """
    with (
        tempfile.TemporaryDirectory(prefix="trade-console-dask-") as scratch,
        dask.config.set(
            {"distributed.worker.multiprocessing-method": "spawn", "temporary-directory": scratch}
        ),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=0,
            dashboard_address=None,
        ) as cluster,
    ):
        yield cluster


def _worker() -> Any:
    try:
        return get_worker()
    except ValueError:  # not in a Dask worker (called directly): no events to publish
        return None


def _progress(event: tuple[float, dict[str, Any]]) -> RunProgress:
    _, message = event
    return RunProgress(
        message["index"], message["attempt"], message["phase"], message["done"], message["total"]
    )


def _lost(error: BaseException) -> dict[str, Any]:
    text = " ".join(str(error).split()) or "no message"
    return {
        "status": "FAILED",
        "run_id": None,
        "folder": None,
        "error": f"task lost: {type(error).__name__}: {text}",
        "net_pnl": None,
        "wall_seconds": 0.0,
    }


def _result(point: GridPoint, tries: list[dict[str, Any]]) -> RunResult:
    last = tries[-1]
    return RunResult(
        point=point,
        status=last["status"],
        run_id=last["run_id"],
        folder=last["folder"],
        error=last["error"],
        net_pnl=last["net_pnl"],
        wall_seconds=last["wall_seconds"],
        attempts=len(tries),
        run_ids=tuple(t["run_id"] for t in tries if t["run_id"] is not None),
    )
