"""The T+1 job: ``trade-console batch --grid FILE --schedule "daily HH:MM"``.

Every day at HH:MM UTC the grid runs again over *yesterday*: the period [D-1 00:00, D 00:00)
UTC, where D is the day of the run, replacing whatever periods the grid file lists (a grid
with several periods collapses to one point per other combination: they would all be the same
day). What happens around the runs, decided here because the issue leaves it open:

- **Started after today's time**: nothing runs until tomorrow's time (a restart at noon must
  not launch a second run of the night's job); ``--now`` runs one for yesterday at once, then
  keeps to the schedule, for an operator who wants to see the job work or to catch up.
- **A run still going at the next time**: that time is skipped with a log line (two runs of
  the job at once would share the workers and both run late); the next one is the first time
  after the long run ends. Runs never queue up behind each other.
- **A failed run**: a batch that raises (a scheduler that cannot be reached, a cluster that
  will not start) is logged and the schedule goes on; failed points are in its summary.
- **SIGTERM/SIGINT**: while waiting, the loop ends at once; while a batch runs, it ends when
  that batch has ended (its runs finish their folders), and a second signal stops at once.

The time logic is pure (every function takes ``now``), so tests drive it with a fake clock; the
loop only sleeps in steps of at most ``MAX_SLEEP_S``, re-reading the clock after each, so a
clock stepped by NTP or a suspended machine is caught up with rather than slept through.
"""

from __future__ import annotations

import datetime as dt
import re
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

import msgspec

from core.errors import ConfigError
from core.runs.batch_grid import GridPoint

if TYPE_CHECKING:
    from core.runs.batch import RunResult

MAX_SLEEP_S = 60.0
_DAILY = re.compile(r"^\s*daily\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*$")

Clock = Callable[[], dt.datetime]
Sleep = Callable[[float], bool]  # sleeps up to the seconds given; True when asked to stop
RunGrid = Callable[[list[GridPoint]], "list[RunResult]"]
Log = Callable[[str], None]


@dataclass(frozen=True)
class DailySchedule:
    """Once a day at ``hour:minute`` UTC."""

    hour: int
    minute: int

    def __str__(self) -> str:
        return f"daily {self.hour:02d}:{self.minute:02d} UTC"

    def next_after(self, now: dt.datetime) -> dt.datetime:
        """The first run time strictly after ``now`` (today's if still ahead, else tomorrow's)."""
        now = now.astimezone(dt.UTC)
        today = now.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        return today if today > now else today + dt.timedelta(days=1)


def parse_schedule(text: str) -> DailySchedule:
    """Read ``"daily HH:MM"`` (UTC, 24-hour clock).

    Raises
    ------
    ConfigError
        One line naming ``--schedule`` and what is wrong with the text.
    """
    match = _DAILY.match(text)
    if match is None:
        raise ConfigError(
            f"--schedule: {text!r} is not 'daily HH:MM' (UTC, 24-hour clock, e.g. 'daily 02:30')"
        )
    hour, minute = int(match["hour"]), int(match["minute"])
    if hour > 23 or minute > 59:
        raise ConfigError(f"--schedule: {text!r}: no such time of day (00:00 to 23:59)")
    return DailySchedule(hour, minute)


def yesterday(at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The whole UTC day before ``at``'s day: [D-1 00:00, D 00:00)."""
    day = at.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - dt.timedelta(days=1), day


def over_period(
    points: Sequence[GridPoint], start: dt.datetime, end: dt.datetime
) -> list[GridPoint]:
    """The grid's points with their period replaced by [start, end), duplicates dropped.

    Points that differed only by their period are the same backtest now: the first is kept.
    Indexes are renumbered from 0 (the batch reports progress by index).
    """
    period = {"start": _iso(start), "end": _iso(end)}
    seen: list[dict[str, object]] = []
    out: list[GridPoint] = []
    for point in points:
        others = {k: v for k, v in point.values.items() if k != "periods"}
        if others in seen:
            continue
        seen.append(others)
        values = others | {"periods": period} if "periods" in point.values else dict(others)
        backtest = msgspec.structs.replace(
            point.config.backtest, start=period["start"], end=period["end"]
        )
        config = msgspec.structs.replace(point.config, backtest=backtest)
        out.append(GridPoint(len(out), values, config))
    return out


def summary_line(day: dt.datetime, results: Sequence[RunResult], wall_seconds: float) -> str:
    """One line for the log: the day run, how many points completed, the wall time."""
    done = sum(r.status == "COMPLETED" for r in results)
    failed = len(results) - done
    tail = f", {failed} FAILED" if failed else ""
    return (
        f"batch for {day:%Y-%m-%d}: {done}/{len(results)} completed{tail} in {wall_seconds:.1f} s"
    )


def run_schedule(
    schedule: DailySchedule,
    points: Sequence[GridPoint],
    run: RunGrid,
    log: Log,
    *,
    now: Clock,
    sleep: Sleep,
    run_now: bool = False,
) -> int:
    """Run ``points`` over yesterday at every scheduled time until ``sleep`` says stop.

    ``run`` runs one day's grid (``core.runs.batch.run_batch`` with the command's options); ``log``
    receives one line per event (next time, run summary, failed points, skips, stop). ``now``
    and ``sleep`` are the clock (injected: tests use a fake one). Returns how many runs ran.
    """
    per_run = len(over_period(points, *yesterday(now())))  # a grid's periods collapse
    log(f"schedule: {schedule}; {per_run} point(s) a run, each over yesterday (UTC)")
    runs = 0
    due = now() if run_now else schedule.next_after(now())
    while True:
        if not run_now or runs > 0:
            log(f"next run at {_iso(due)}")
        if not _sleep_until(due, now, sleep):
            log("stopped (signal) while waiting; no run was going")
            return runs
        started = now()
        _run_day(points, run, log, started, now)
        runs += 1
        finished = now()
        due = schedule.next_after(max(finished, due))
        for missed in _missed(schedule, started, finished):
            start, _ = yesterday(missed)
            log(
                f"skipped the run due at {_iso(missed)} (for {start:%Y-%m-%d}): the run started "
                f"at {_iso(started)} was still going"
            )
        if sleep(0):  # a signal during the run: stop now that it has ended
            log("stopped (signal) after the run ended")
            return runs


def _run_day(
    points: Sequence[GridPoint], run: RunGrid, log: Log, started: dt.datetime, now: Clock
) -> None:
    start, end = yesterday(started)
    day_points = over_period(points, start, end)
    log(f"run started for {start:%Y-%m-%d} ({_iso(start)} to {_iso(end)})")
    try:
        results = run(day_points)
    except Exception as error:  # a whole batch failing must not end the schedule
        text = " ".join(str(error).split()) or type(error).__name__
        log(f"batch for {start:%Y-%m-%d} FAILED: {type(error).__name__}: {text}")
        return
    wall = (now() - started).total_seconds()
    log(summary_line(start, results, wall))
    for result in results:
        if result.status != "COMPLETED":
            log(f"  FAILED #{result.point.index} {result.run_id or '-'}: {result.error}")


def _missed(
    schedule: DailySchedule, started: dt.datetime, finished: dt.datetime
) -> list[dt.datetime]:
    """Scheduled times that passed while a run went on (started, finished]."""
    missed = []
    at = schedule.next_after(started)
    while at <= finished:
        missed.append(at)
        at = schedule.next_after(at)
    return missed


def _sleep_until(due: dt.datetime, now: Clock, sleep: Sleep) -> bool:
    """Sleep until ``due`` in steps; False when asked to stop first."""
    while True:
        left = (due - now()).total_seconds()
        if left <= 0:
            return True
        if sleep(min(left, MAX_SLEEP_S)):
            return False


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now() -> dt.datetime:
    """The wall clock, in UTC (the schedule's real clock)."""
    return dt.datetime.now(dt.UTC)


@contextmanager
def stop_on_signals() -> Iterator[Sleep]:
    """SIGTERM/SIGINT ask the loop to stop; yields its ``sleep`` (True once asked).

    The first signal only asks (a running batch ends first); a second one raises
    ``KeyboardInterrupt`` at once, which unwinds the running batch and its local cluster.
    """
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield lambda seconds: stop.wait(seconds) if seconds > 0 else stop.is_set()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
