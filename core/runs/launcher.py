"""Backtests started from the console: each in its own spawned process, progress on a queue.

A backtest never runs in the console's process: Nautilus holds the GIL for the whole run (the
screen would freeze), writes to fds 1 and 2 (the screen would be written over), and logs once
per process. So each launch is a **spawned** process (a forked copy of a process that ran
Nautilus hung) calling ``core.backtest.pipeline.run_backtest``, the very call ``trade-console
backtest`` and every Dask task of the batch make: same folder, summary and OMS ``runs`` row.

- **No output on the terminal**: before it imports Nautilus the child points fds 1 and 2 at
  ``{logging.directory}/trade-console-launched.log``.
- **Progress** comes back on one ``multiprocessing`` queue shared by every launch, read by a
  thread that hands each event to ``on_event`` (at most every ``PROGRESS_INTERVAL_S`` per run,
  plus every change of phase).
- **Cancel** sends SIGTERM; the child only notes it, and its next progress report raises
  ``RunCancelled`` inside the run, so ``run_backtest`` ends it the way it ends a failure, as
  CANCELLED: a CANCELLED summary (no parquet file) and ``runs`` row whose error is ``cancelled
  by the operator``, the one state the launch line, the run list, the detail view and
  ``compare`` show. A child still alive ``CANCEL_GRACE_S`` later is killed outright (its
  folder then keeps no summary).
- **Below the console in CPU priority**: a child lowers its own priority by ``LAUNCH_NICE``
  before it imports anything heavy. On the trading box the console and its node share the
  cores with the runs; a run taking a little longer costs nothing, a console (or node) starved
  of CPU costs keys and fills (bench_console_backtest: with two runs on 2 cores the console got
  29% of a core at equal priority).
- The children are daemonic: they die with the console, and a daemonic process converts the
  ticks on a thread instead of starting a grandchild, so a cancelled run leaves no process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import AppConfig
from core.errors import RunCancelled
from core.fd_capture import point_std_fds
from core.runs.progress import ProgressThrottle

if TYPE_CHECKING:
    from core.backtest.pipeline import Progress

CANCELLED = "cancelled by the operator"
"""The error a cancelled run's summary and ``runs`` row carry."""
LOG_FILE = "trade-console-launched.log"
PROGRESS_INTERVAL_S = 0.2
"""A run's progress events, at most this often (phase changes always): the screen redraws
its bar at this pace whatever the engine's."""
CANCEL_GRACE_S = 10.0
"""How long a cancelled run has to write its CANCELLED summary before it is killed."""
LAUNCH_NICE = 10
"""How much lower a launched run's CPU priority is than the console's (``os.nice``)."""
_POLL_S = 0.1


@dataclass(frozen=True)
class LaunchProgress:
    """Where launched run ``key`` is (``core.backtest.pipeline.Progress``), ``elapsed`` s in."""

    key: int
    phase: str
    done: int
    total: int
    ticks: int
    elapsed: float


@dataclass(frozen=True)
class LaunchEnded:
    """Launched run ``key`` is over: its status, run id, folder and error (None if unknown)."""

    key: int
    status: str
    run_id: str | None
    folder: str | None
    error: str | None
    cancelled: bool


LaunchEvent = LaunchProgress | LaunchEnded
EventCallback = Callable[[LaunchEvent], None]


class RunLauncher:
    """Starts backtests in spawned processes; ``on_event`` gets their progress and ends.

    ``on_event`` is called from the launcher's reader thread: hand the event on (Textual's
    ``post_message`` is thread-safe), do no work in it. Call ``close`` when done.
    """

    def __init__(self, on_event: EventCallback) -> None:
        self._on_event = on_event
        _start_resource_tracker()
        self._context = multiprocessing.get_context("spawn")
        self._events = self._context.Queue()
        self._processes: dict[int, BaseProcess] = {}
        self._cancelled: set[int] = set()
        self._next_key = 1
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._reader: threading.Thread | None = None

    def launch(self, config: AppConfig) -> int:
        """Start a backtest of ``config`` in a new process; return its key."""
        with self._lock:
            key = self._next_key
            self._next_key += 1
            log_path = str(Path(config.logging.directory) / LOG_FILE)
            process = self._context.Process(
                target=_child,
                args=(config, key, self._events, log_path),
                name=f"backtest-{key}",
                daemon=True,
            )
            process.start()
            self._processes[key] = process
            if self._reader is None:
                self._reader = threading.Thread(target=self._read, name="run-launcher", daemon=True)
                self._reader.start()
        return key

    @property
    def running(self) -> list[int]:
        """The keys of the launched runs not over yet."""
        with self._lock:
            return list(self._processes)

    def cancel(self, key: int) -> bool:
        """Stop run ``key`` (False if it is not running): SIGTERM, then a kill after the grace."""
        with self._lock:
            process = self._processes.get(key)
            if process is None or key in self._cancelled:
                return False
            self._cancelled.add(key)
        process.terminate()
        killer = threading.Timer(CANCEL_GRACE_S, _kill_if_alive, (process,))
        killer.daemon = True  # must not hold the console's exit for the grace period
        killer.start()
        return True

    def close(self, timeout: float = CANCEL_GRACE_S) -> None:
        """Cancel every run still going, wait for them (kill past ``timeout``), stop reading."""
        for key in self.running:
            self.cancel(key)
        deadline = time.monotonic() + timeout
        with self._lock:
            processes = list(self._processes.values())
        for process in processes:
            process.join(max(deadline - time.monotonic(), 0.0))
            _kill_if_alive(process)
        self._closing.set()
        if self._reader is not None:
            self._reader.join()
        self._events.close()

    def _read(self) -> None:
        dead_seen: set[int] = set()
        while not self._closing.is_set():
            try:
                event = self._events.get(timeout=_POLL_S)
            except queue.Empty:
                event = None
            if event is not None:
                if isinstance(event, LaunchEnded):
                    self._reap(event.key)
                self._on_event(event)
                continue
            # A child that died without its end (killed, crashed) is reported on the next
            # empty read: whatever it put before dying has been read by then.
            with self._lock:
                dead = {k for k, p in self._processes.items() if p.exitcode is not None}
            for key in dead & dead_seen:
                cancelled = self._reap(key)
                error = CANCELLED if cancelled else "the run's process ended without a result"
                status = "CANCELLED" if cancelled else "FAILED"
                self._on_event(LaunchEnded(key, status, None, None, error, cancelled))
            dead_seen = dead

    def _reap(self, key: int) -> bool:
        with self._lock:
            process = self._processes.pop(key, None)
            cancelled = key in self._cancelled
            self._cancelled.discard(key)
        if process is not None:
            process.join(CANCEL_GRACE_S)
            _kill_if_alive(process)
        return cancelled


class _Fd2:
    """A stand-in ``sys.stderr`` whose file descriptor is 2 (what fd 2 is is up to the process)."""

    def fileno(self) -> int:
        return 2

    def flush(self) -> None:
        pass


def _start_resource_tracker() -> None:
    # The queue's locks start multiprocessing's resource tracker, which hands it
    # ``sys.stderr.fileno()``; under Textual that is a capture object answering -1, and the
    # tracker's start fails ("bad value(s) in fds_to_keep"). Fd 2 is the log in the console.
    saved = sys.stderr
    sys.stderr = _Fd2()  # type: ignore[assignment]
    try:
        resource_tracker.ensure_running()
    finally:
        sys.stderr = saved


def _kill_if_alive(process: BaseProcess) -> None:
    if process.is_alive():
        process.kill()
        process.join()


def _child(config: AppConfig, key: int, events: multiprocessing.Queue, log_path: str) -> None:
    """A launched run's process: fds to the log, then ``run_backtest`` with progress reports."""
    cancelled = threading.Event()
    # The handler only notes the request: an exception raised at an arbitrary point (inside a
    # write, inside Nautilus) could leave the folder or the OMS half-written. The run raises
    # it itself, at its next progress report, where run_backtest turns it into CANCELLED.
    signal.signal(signal.SIGTERM, lambda signum, frame: cancelled.set())
    started = time.monotonic()
    throttle = ProgressThrottle(PROGRESS_INTERVAL_S)

    def report(update: Progress) -> None:
        if cancelled.is_set():
            raise RunCancelled(CANCELLED)
        if not throttle.due(update.phase):
            return
        elapsed = time.monotonic() - started
        progress = LaunchProgress(
            key, update.phase, update.done, update.total, update.ticks, elapsed
        )
        events.put(progress)

    point_std_fds(Path(log_path))  # for good: Nautilus may write while the process exits
    with contextlib.suppress(OSError):  # not permitted: the run goes on at equal priority
        os.nice(LAUNCH_NICE)
    from core.backtest.pipeline import run_backtest  # Nautilus: only once fds 1 and 2 are the log's

    if cancelled.is_set():  # cancelled while importing: no run was started
        events.put(LaunchEnded(key, "CANCELLED", None, None, CANCELLED, True))
        return
    outcome = run_backtest(config, progress=report)
    ended = LaunchEnded(
        key, outcome.status, outcome.run_id, outcome.folder, outcome.error, cancelled.is_set()
    )
    events.put(ended)
