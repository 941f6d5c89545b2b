"""The signal loader: target sets in time order, and the signal files it refuses."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.data.layout import SIGNAL_SCHEMA, signals_path
from core.data.signals import TargetSet, load_signals
from core.data.ticks import to_ns
from core.errors import DataError

DAY1 = dt.date(2024, 3, 4)
DAY2 = dt.date(2024, 3, 5)
KNOWN = {"BTCUSDT.BINANCE", "ETHUSDT.BINANCE", "SOLUSDT.BINANCE"}

Row = tuple[dt.datetime, str, str, str, float]


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)


def write_signals(
    root: Path, day: dt.date, rows: list[Row], schema: pa.Schema = SIGNAL_SCHEMA
) -> str:
    table = pa.table(
        {
            "ts_event": [to_ns(row[0]) for row in rows],
            "signal_id": [row[1] for row in rows],
            "strategy_id": [row[2] for row in rows],
            "instrument_id": [row[3] for row in rows],
            "target_weight": [row[4] for row in rows],
        },
        schema=SIGNAL_SCHEMA,
    )
    path = signals_path(str(root), day)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.cast(schema), path)
    return path


def write_table(root: Path, day: dt.date, table: pa.Table) -> str:
    path = signals_path(str(root), day)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


@pytest.fixture
def two_days(tmp_path: Path) -> Path:
    write_signals(
        tmp_path,
        DAY1,
        [
            (at(DAY1, 9), "s1", "mom", "BTCUSDT.BINANCE", 0.5),
            (at(DAY1, 9), "s1", "mom", "ETHUSDT.BINANCE", -0.25),
            (at(DAY1, 12), "s2", "mom", "BTCUSDT.BINANCE", 0.0),
            (at(DAY1, 23, 45), "s3", "mom", "SOLUSDT.BINANCE", 0.1),
        ],
    )
    write_signals(
        tmp_path,
        DAY2,
        [
            (at(DAY2, 0), "s4", "mom", "ETHUSDT.BINANCE", 0.3),
            (at(DAY2, 6), "s5", "mom", "BTCUSDT.BINANCE", 0.2),
        ],
    )
    return tmp_path


def load_error(root: Path, start: dt.datetime, end: dt.datetime, known: set[str] = KNOWN) -> str:
    with pytest.raises(DataError) as caught:
        load_signals(str(root), start, end, known)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_rows_of_a_signal_form_one_target_set_in_time_order(two_days: Path) -> None:
    target_sets = load_signals(str(two_days), at(DAY1, 0), at(DAY2, 12), KNOWN)

    assert [t.signal_id for t in target_sets] == ["s1", "s2", "s3", "s4", "s5"]
    assert target_sets[0] == TargetSet(
        ts_event=to_ns(at(DAY1, 9)),
        signal_id="s1",
        strategy_id="mom",
        weights={"BTCUSDT.BINANCE": 0.5, "ETHUSDT.BINANCE": -0.25},
    )
    assert dict(target_sets[1].weights) == {"BTCUSDT.BINANCE": 0.0}


def test_window_is_half_open_across_midnight(two_days: Path) -> None:
    target_sets = load_signals(str(two_days), at(DAY1, 12), at(DAY2, 6), KNOWN)

    assert [t.signal_id for t in target_sets] == ["s2", "s3", "s4"]


def test_window_without_signals_returns_no_target_sets(two_days: Path) -> None:
    assert load_signals(str(two_days), at(DAY1, 13), at(DAY1, 14), KNOWN) == []


def test_target_sets_are_read_only(two_days: Path) -> None:
    target_set = load_signals(str(two_days), at(DAY1, 0), at(DAY1, 10), KNOWN)[0]

    with pytest.raises(TypeError):
        target_set.weights["BTCUSDT.BINANCE"] = 1.0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        target_set.ts_event = 0  # type: ignore[misc]


def test_signals_at_the_same_time_keep_file_order(tmp_path: Path) -> None:
    # The later set wins on shared instruments, so the order the service wrote them matters.
    write_signals(
        tmp_path,
        DAY1,
        [
            (at(DAY1, 9), "zz", "mom", "BTCUSDT.BINANCE", 0.5),
            (at(DAY1, 9), "aa", "carry", "BTCUSDT.BINANCE", 0.1),
        ],
    )

    target_sets = load_signals(str(tmp_path), at(DAY1, 0), at(DAY1, 10), KNOWN)

    assert [t.signal_id for t in target_sets] == ["zz", "aa"]


def test_unknown_instrument_outside_the_window_is_not_checked(two_days: Path) -> None:
    # The known universe describes the window; SOL is signalled only at 23:45.
    target_sets = load_signals(
        str(two_days), at(DAY1, 0), at(DAY1, 13), {"BTCUSDT.BINANCE", "ETHUSDT.BINANCE"}
    )

    assert [t.signal_id for t in target_sets] == ["s1", "s2"]


def test_missing_signals_file_names_the_path(two_days: Path) -> None:
    message = load_error(two_days, at(DAY2, 12), at(DAY2 + dt.timedelta(days=1), 1))

    assert signals_path(str(two_days), DAY2 + dt.timedelta(days=1)) in message
    assert "missing signals file for 2024-03-06" in message


def test_missing_column_names_the_file_and_column(tmp_path: Path) -> None:
    table = pa.table({"ts_event": [to_ns(at(DAY1, 9))], "signal_id": ["s1"]})
    path = write_table(tmp_path, DAY1, table)

    message = load_error(tmp_path, at(DAY1, 0), at(DAY1, 10))

    assert path in message
    assert "missing column 'strategy_id'" in message


def test_wrong_column_type_names_the_file_and_column(tmp_path: Path) -> None:
    wrong = SIGNAL_SCHEMA.set(4, pa.field("target_weight", pa.float32(), nullable=False))
    path = write_signals(
        tmp_path, DAY1, [(at(DAY1, 9), "s1", "mom", "BTCUSDT.BINANCE", 0.5)], schema=wrong
    )

    message = load_error(tmp_path, at(DAY1, 0), at(DAY1, 10))

    assert path in message
    assert "column 'target_weight' has type float, expected double" in message


@pytest.mark.parametrize("weight", [math.nan, math.inf, -math.inf])
def test_non_finite_weight_names_signal_and_instrument(tmp_path: Path, weight: float) -> None:
    path = write_signals(
        tmp_path,
        DAY1,
        [
            (at(DAY1, 9), "s1", "mom", "BTCUSDT.BINANCE", 0.5),
            (at(DAY1, 9), "s1", "mom", "ETHUSDT.BINANCE", weight),
        ],
    )

    message = load_error(tmp_path, at(DAY1, 0), at(DAY1, 10))

    assert path in message
    assert "signal 's1' for ETHUSDT.BINANCE is not finite" in message


def test_unknown_instrument_names_instrument_signal_and_file(two_days: Path) -> None:
    message = load_error(two_days, at(DAY1, 0), at(DAY1, 10), known={"BTCUSDT.BINANCE"})

    assert signals_path(str(two_days), DAY1) in message
    assert "instrument ETHUSDT.BINANCE of signal 's1' is not a known instrument" in message


def test_rows_of_one_signal_at_different_times_are_refused(tmp_path: Path) -> None:
    path = write_signals(
        tmp_path,
        DAY1,
        [
            (at(DAY1, 9), "s1", "mom", "BTCUSDT.BINANCE", 0.5),
            (at(DAY1, 9, 1), "s1", "mom", "ETHUSDT.BINANCE", 0.5),
        ],
    )

    message = load_error(tmp_path, at(DAY1, 0), at(DAY1, 10))

    assert path in message
    assert "signal 's1' has rows at different ts_event" in message


def test_unsorted_signals_name_the_first_offending_row(tmp_path: Path) -> None:
    path = write_signals(
        tmp_path,
        DAY1,
        [
            (at(DAY1, 9), "s1", "mom", "BTCUSDT.BINANCE", 0.5),
            (at(DAY1, 11), "s2", "mom", "BTCUSDT.BINANCE", 0.4),
            (at(DAY1, 10), "s3", "mom", "BTCUSDT.BINANCE", 0.3),
        ],
    )

    message = load_error(tmp_path, at(DAY1, 0), at(DAY1, 12))

    assert path in message
    assert f"row 2 (signal 's3') at {to_ns(at(DAY1, 10))}" in message


def test_day_file_starting_before_the_previous_day_ends_is_refused(tmp_path: Path) -> None:
    write_signals(tmp_path, DAY1, [(at(DAY1, 23), "s1", "mom", "BTCUSDT.BINANCE", 0.5)])
    path = write_signals(tmp_path, DAY2, [(at(DAY1, 22), "s2", "mom", "BTCUSDT.BINANCE", 0.4)])

    message = load_error(tmp_path, at(DAY1, 0), at(DAY2, 12))

    assert path in message
    assert "before the previous day's last signal" in message


def test_instrument_listed_twice_in_a_signal_is_refused(tmp_path: Path) -> None:
    path = write_signals(
        tmp_path,
        DAY1,
        [
            (at(DAY1, 9), "s1", "mom", "BTCUSDT.BINANCE", 0.5),
            (at(DAY1, 9), "s1", "mom", "BTCUSDT.BINANCE", 0.4),
        ],
    )

    message = load_error(tmp_path, at(DAY1, 0), at(DAY1, 10))

    assert path in message
    assert "signal 's1' lists instrument BTCUSDT.BINANCE 2 times" in message


def test_signal_id_reused_on_another_day_is_refused(tmp_path: Path) -> None:
    first = write_signals(tmp_path, DAY1, [(at(DAY1, 9), "s1", "mom", "BTCUSDT.BINANCE", 0.5)])
    second = write_signals(tmp_path, DAY2, [(at(DAY2, 9), "s1", "mom", "BTCUSDT.BINANCE", 0.4)])

    message = load_error(tmp_path, at(DAY1, 0), at(DAY2, 10))

    assert second in message
    assert f"signal_id 's1' already appeared in {first}" in message


def test_null_weight_names_the_column(tmp_path: Path) -> None:
    schema = SIGNAL_SCHEMA.set(4, pa.field("target_weight", pa.float64()))
    table = pa.table(
        {
            "ts_event": [to_ns(at(DAY1, 9))],
            "signal_id": ["s1"],
            "strategy_id": ["mom"],
            "instrument_id": ["BTCUSDT.BINANCE"],
            "target_weight": [None],
        },
        schema=schema,
    )
    path = write_table(tmp_path, DAY1, table)

    message = load_error(tmp_path, at(DAY1, 0), at(DAY1, 10))

    assert path in message
    assert "column 'target_weight' has 1 null values" in message


def test_corrupt_signals_file_names_the_file(tmp_path: Path) -> None:
    path = signals_path(str(tmp_path), DAY1)
    Path(path).parent.mkdir(parents=True)
    Path(path).write_bytes(b"not parquet at all")

    message = load_error(tmp_path, at(DAY1, 0), at(DAY1, 10))

    assert path in message
    assert "parquet" in message
