"""The T+1 job (``batch --schedule "daily HH:MM"``): the time rules on a fake clock, one real
scheduled run of a tiny grid on a local Dask cluster, and the command stopped by SIGTERM."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from console.cli import EXIT_BAD_INPUT, main
from core.data.layout import RESULTS_DIR
from core.errors import ConfigError
from core.runs.batch import RunResult, run_batch
from core.runs.batch_grid import GridPoint, load_grid
from core.runs.batch_schedule import (
    DailySchedule,
    over_period,
    parse_schedule,
    run_schedule,
    yesterday,
)

ConfigWriter = Callable[..., Path]
ROOT = Path(__file__).resolve().parents[2]
BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
TWO_PERIODS = (
    'periods = [{start = "2026-01-05T01:00:00Z", end = "2026-01-05T04:00:00Z"}, '
    '{start = "2026-01-06T01:00:00Z", end = "2026-01-06T04:00:00Z"}]\n'
)

pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)  # type: ignore[misc]


class FakeClock:
    """A clock that moves only when slept on (or when a fake run says so)."""

    def __init__(self, at: dt.datetime, stop_when: Callable[[], bool]) -> None:
        self.at = at
        self.stop_when = stop_when
        self.slept = 0.0

    def now(self) -> dt.datetime:
        return self.at

    def sleep(self, seconds: float) -> bool:
        if self.stop_when():
            return True
        self.at += dt.timedelta(seconds=seconds)
        self.slept += seconds
        return False


def result(point: GridPoint, status: str = "COMPLETED", error: str | None = None) -> RunResult:
    return RunResult(point, status, f"BT-{point.index}", None, error, 1.0, 0.5, 1)


@pytest.fixture
def grid(tmp_path: Path) -> list[GridPoint]:
    """Two instrument sets x two periods on the default config (the fake runs read no data)."""
    path = tmp_path / "grid.toml"
    path.write_text(f'instruments = [["{BTC}"], ["{ETH}"]]\n{TWO_PERIODS}')
    return load_grid(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("daily 02:30", (2, 30)), ("daily 0:05", (0, 5)), ("  daily 23:59 ", (23, 59))],
)
def test_daily_hh_mm_is_read_as_hour_and_minute(text: str, expected: tuple[int, int]) -> None:
    schedule = parse_schedule(text)
    assert (schedule.hour, schedule.minute) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("02:30", "is not 'daily HH:MM'"),
        ("daily 2.30", "is not 'daily HH:MM'"),
        ("weekly 02:30", "is not 'daily HH:MM'"),
        ("daily 24:00", "no such time of day"),
        ("daily 12:60", "no such time of day"),
        ("", "is not 'daily HH:MM'"),
    ],
)
def test_bad_schedule_text_is_one_line_naming_the_option(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_schedule(text)
    message = str(raised.value)
    assert message.startswith("--schedule: ") and words in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 1, 6, 1, 0), utc(2026, 1, 6, 2, 30)),  # before today's time: today
        (utc(2026, 1, 6, 2, 30), utc(2026, 1, 7, 2, 30)),  # at it: the next day's
        (utc(2026, 1, 6, 2, 30, 1), utc(2026, 1, 7, 2, 30)),  # just past it: tomorrow
        (utc(2026, 12, 31, 23, 0), utc(2027, 1, 1, 2, 30)),  # across the year
    ],
)
def test_next_run_is_the_first_time_of_day_strictly_after_now(
    now: dt.datetime, expected: dt.datetime
) -> None:
    assert DailySchedule(2, 30).next_after(now) == expected


def test_next_run_is_computed_in_utc_whatever_the_clock_zone() -> None:
    new_york = dt.timezone(dt.timedelta(hours=-5))
    now = dt.datetime(2026, 1, 5, 22, 0, tzinfo=new_york)  # 03:00 UTC on the 6th
    assert DailySchedule(2, 30).next_after(now) == utc(2026, 1, 7, 2, 30)


@pytest.mark.parametrize(
    "at", [utc(2026, 3, 1, 0, 0), utc(2026, 3, 1, 2, 30), utc(2026, 3, 1, 23, 59, 59)]
)
def test_yesterday_is_the_whole_previous_utc_day(at: dt.datetime) -> None:
    assert yesterday(at) == (utc(2026, 2, 28), utc(2026, 3, 1))


def test_the_grids_periods_are_replaced_by_the_day_and_duplicates_dropped(
    grid: list[GridPoint],
) -> None:
    assert len(grid) == 4
    day = over_period(grid, utc(2026, 1, 5), utc(2026, 1, 6))
    assert [p.index for p in day] == [0, 1]
    assert [p.config.backtest.instruments for p in day] == [(BTC,), (ETH,)]
    for point in day:
        assert point.config.backtest.start == "2026-01-05T00:00:00Z"
        assert point.config.backtest.end == "2026-01-06T00:00:00Z"
        assert point.values["periods"] == {
            "start": "2026-01-05T00:00:00Z",
            "end": "2026-01-06T00:00:00Z",
        }
        assert point.config.oms.record_backtests is False  # still the batch's config


def test_started_after_todays_time_the_first_run_is_tomorrow_over_today(
    grid: list[GridPoint],
) -> None:
    runs: list[tuple[dt.datetime, list[GridPoint]]] = []
    clock = FakeClock(utc(2026, 1, 6, 9, 0), lambda: len(runs) == 1)
    lines: list[str] = []

    def run(points: list[GridPoint]) -> list[RunResult]:
        runs.append((clock.now(), points))
        return [result(p) for p in points]

    count = run_schedule(
        DailySchedule(2, 30), grid, run, lines.append, now=clock.now, sleep=clock.sleep
    )

    assert count == 1
    [(at, points)] = runs
    assert at == utc(2026, 1, 7, 2, 30)
    assert {p.config.backtest.start for p in points} == {"2026-01-06T00:00:00Z"}
    assert lines[0] == "schedule: daily 02:30 UTC; 2 point(s) a run, each over yesterday (UTC)"
    assert "next run at 2026-01-07T02:30:00Z" in lines
    assert "batch for 2026-01-06: 2/2 completed in 0.0 s" in lines
    assert lines[-1] == "stopped (signal) after the run ended"


def test_runs_follow_day_after_day_each_over_its_own_yesterday(grid: list[GridPoint]) -> None:
    days: list[str | None] = []
    clock = FakeClock(utc(2026, 1, 6, 0, 0), lambda: len(days) == 3)

    def run(points: list[GridPoint]) -> list[RunResult]:
        clock.at += dt.timedelta(minutes=40)  # a run takes time: the next is still tomorrow
        days.append(points[0].config.backtest.start)
        return [result(p) for p in points]

    run_schedule(DailySchedule(2, 30), grid, run, lambda _: None, now=clock.now, sleep=clock.sleep)

    assert days == ["2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z"]


def test_a_run_still_going_at_the_next_time_makes_it_skipped_with_a_line(
    grid: list[GridPoint],
) -> None:
    starts: list[dt.datetime] = []
    clock = FakeClock(utc(2026, 1, 6, 2, 0), lambda: len(starts) == 2)

    def run(points: list[GridPoint]) -> list[RunResult]:
        starts.append(clock.now())
        if len(starts) == 1:
            clock.at += dt.timedelta(hours=25)  # past the next day's 02:30
        return [result(p) for p in points]

    lines: list[str] = []
    run_schedule(DailySchedule(2, 30), grid, run, lines.append, now=clock.now, sleep=clock.sleep)

    assert starts == [utc(2026, 1, 6, 2, 30), utc(2026, 1, 8, 2, 30)]
    skipped = [line for line in lines if line.startswith("skipped")]
    assert skipped == [
        "skipped the run due at 2026-01-07T02:30:00Z (for 2026-01-06): the run started at "
        "2026-01-06T02:30:00Z was still going"
    ]


def test_a_batch_that_fails_whole_is_logged_and_the_schedule_goes_on(
    grid: list[GridPoint],
) -> None:
    calls: list[int] = []
    clock = FakeClock(utc(2026, 1, 6, 3, 0), lambda: len(calls) == 2)

    def run(points: list[GridPoint]) -> list[RunResult]:
        calls.append(len(points))
        if len(calls) == 1:
            raise ConfigError("--scheduler tcp://10.0.0.9:8786: cannot connect (timed out)")
        return [result(points[0]), result(points[1], "FAILED", "no trade data for 2026-01-07")]

    lines: list[str] = []
    count = run_schedule(
        DailySchedule(2, 30), grid, run, lines.append, now=clock.now, sleep=clock.sleep
    )

    assert count == 2
    assert (
        "batch for 2026-01-06 FAILED: ConfigError: --scheduler tcp://10.0.0.9:8786: cannot "
        "connect (timed out)"
    ) in lines
    assert "batch for 2026-01-07: 1/2 completed, 1 FAILED in 0.0 s" in lines
    assert "  FAILED #1 BT-1: no trade data for 2026-01-07" in lines


def test_a_stop_while_waiting_ends_at_once_without_a_run(grid: list[GridPoint]) -> None:
    clock = FakeClock(utc(2026, 1, 6, 9, 0), lambda: clock.slept >= 3600)
    lines: list[str] = []

    def run(points: list[GridPoint]) -> list[RunResult]:
        raise AssertionError("no run was due")

    count = run_schedule(
        DailySchedule(2, 30), grid, run, lines.append, now=clock.now, sleep=clock.sleep
    )

    assert count == 0
    assert clock.now() == utc(2026, 1, 6, 10, 0)  # slept in steps, and stopped in the wait
    assert lines[-1] == "stopped (signal) while waiting; no run was going"


def test_run_now_runs_yesterday_at_once_then_keeps_to_the_schedule(
    grid: list[GridPoint],
) -> None:
    starts: list[dt.datetime] = []
    clock = FakeClock(utc(2026, 1, 6, 15, 20), lambda: len(starts) == 2)

    def run(points: list[GridPoint]) -> list[RunResult]:
        starts.append(clock.now())
        return [result(p) for p in points]

    lines: list[str] = []
    run_schedule(
        DailySchedule(2, 30),
        grid,
        run,
        lines.append,
        now=clock.now,
        sleep=clock.sleep,
        run_now=True,
    )

    assert starts == [utc(2026, 1, 6, 15, 20), utc(2026, 1, 7, 2, 30)]
    assert "run started for 2026-01-05 (2026-01-05T00:00:00Z to 2026-01-06T00:00:00Z)" in lines


def test_a_real_scheduled_run_backtests_yesterdays_data_on_a_local_cluster(
    config_writer: ConfigWriter, demo_root: str, tmp_path: Path
) -> None:
    results_root = tmp_path / "results"
    config_writer(tmp_path / "base.toml", data_root=demo_root, results_root=str(results_root))
    path = tmp_path / "grid.toml"
    path.write_text(f'config = "base.toml"\ninstruments = [["{BTC}"]]\n{TWO_PERIODS}')
    points = load_grid(path)
    finished: list[list[RunResult]] = []
    # One second before 00:05 on the 6th: the run is due at once and backtests the 5th.
    clock = FakeClock(utc(2026, 1, 6, 0, 4, 59), lambda: len(finished) == 1)

    def run(day: list[GridPoint]) -> list[RunResult]:
        finished.append(run_batch(day, workers=1, retries=0))
        return finished[-1]

    lines: list[str] = []
    count = run_schedule(
        parse_schedule("daily 00:05"), points, run, lines.append, now=clock.now, sleep=clock.sleep
    )

    assert count == 1
    [[outcome]] = finished
    assert outcome.status == "COMPLETED", outcome.error
    summary = json.loads((results_root / RESULTS_DIR / outcome.run_id / "summary.json").read_text())
    assert summary["status"] == "COMPLETED"
    backtest = summary["config"]["backtest"]
    assert backtest["start"].startswith("2026-01-05T00:00:00")
    assert backtest["end"].startswith("2026-01-06T00:00:00")
    assert backtest["instruments"] == [BTC]
    assert "batch for 2026-01-05: 1/1 completed in 0.0 s" in lines  # the fake clock's wall


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--schedule", "nightly"], "--schedule: 'nightly' is not 'daily HH:MM'"),
        (["--now"], "--now: only with --schedule"),
        (["--schedule", "daily 02:30", "--yesterday"], "--yesterday: not with --schedule"),
        (["--schedule", "daily 02:30", "--workers", "0"], "--workers: must be at least 1"),
    ],
)
def test_cli_refuses_a_bad_schedule_in_one_line_before_any_run(
    capfd: pytest.CaptureFixture[str], tmp_path: Path, options: list[str], words: str
) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text(f'instruments = [["{BTC}"]]\n')
    code = main(["batch", "--grid", str(grid), *options])
    out, err = capfd.readouterr()
    assert code == EXIT_BAD_INPUT and out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"trade-console: {words}")


def test_cli_yesterday_runs_the_grid_once_over_yesterday_and_exits_with_its_status(
    capfd: pytest.CaptureFixture[str],
    config_writer: ConfigWriter,
    demo_root: str,
    tmp_path: Path,
) -> None:
    # The real clock's yesterday has no demo data: the point fails, and its summary says which
    # day it was asked for.
    results_root = tmp_path / "results"
    config = config_writer(
        tmp_path / "base.toml", data_root=demo_root, results_root=str(results_root)
    )
    grid = tmp_path / "grid.toml"
    grid.write_text(f'instruments = [["{BTC}"]]\n{TWO_PERIODS}')
    start, end = yesterday(dt.datetime.now(dt.UTC))
    code = main(["--config", str(config), "batch", "--grid", str(grid), "--yesterday"])
    out, _ = capfd.readouterr()
    assert code == 1, out
    folders = list((results_root / RESULTS_DIR).iterdir())
    assert len(folders) == 2  # one point (the two periods are one day now), tried twice
    for folder in folders:
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["status"] == "FAILED"
        assert summary["config"]["backtest"]["start"].startswith(f"{start:%Y-%m-%dT00:00:00}")
        assert summary["config"]["backtest"]["end"].startswith(f"{end:%Y-%m-%dT00:00:00}")
    assert "batch: 0/1 completed" in out


def test_cli_schedule_now_survives_a_failed_day_then_stops_cleanly_on_sigterm(
    config_writer: ConfigWriter, demo_root: str, tmp_path: Path
) -> None:
    # Yesterday by the real clock has no demo data: the run at once fails (retried once) and
    # the job must log it, name the next time, and then end with 0 on SIGTERM.
    config = config_writer(
        tmp_path / "base.toml", data_root=demo_root, results_root=str(tmp_path / "results")
    )
    grid = tmp_path / "grid.toml"
    grid.write_text(f'instruments = [["{BTC}"]]\n')
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    command = [
        sys.executable,
        "-m",
        "console.cli",
        "--config",
        str(config),
        "batch",
        "--grid",
        str(grid),
        "--workers",
        "1",
        "--schedule",
        f"daily {later:%H:%M}",
        "--now",
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while not any(" next run at " in line for line in lines):
        line = process.stdout.readline()
        assert line and time.monotonic() < deadline, "".join(lines) + process.stderr.read()
        lines.append(line)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    lines += out.splitlines(keepends=True)
    text = "".join(lines)
    assert process.returncode == 0, text + err
    assert err == ""
    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    assert f"batch for {day}: 0/1 completed, 1 FAILED" in text
    assert f"next run at {later:%Y-%m-%dT%H:%M}:00Z" in text
    assert "stopped (signal) while waiting" in lines[-1]
    assert "Traceback" not in text and "[INFO]" not in text
