"""The strategy service's target weights, loaded and checked for a backtest window.

Each day's ``signals.parquet`` (``core.data.layout.SIGNAL_SCHEMA``) holds about 29 signals. The rows
sharing one ``signal_id`` form a *target set*: they share one ``ts_event`` and one
``strategy_id``, and map instrument ids to target weights (signed fractions of equity).

Semantics, which the rebalance strategy relies on:

- at ``ts_event`` the listed instruments' targets become the given weights;
- instruments not listed keep their previous target (a target set is a partial update, not a
  whole portfolio: to close a position the service lists it with weight 0.0);
- target sets are applied in ``ts_event`` order; two sets with the same ``ts_event`` are
  applied in the order the service wrote them, so the later one wins on shared instruments.

Every day file touched by the window is checked whole (schema, nulls, finite weights, order,
one ``ts_event`` and strategy per signal, no instrument twice in a signal, no signal id reused
across days), because a file with a bad row outside the window is still a bad file. The
universe check (every instrument is one the backtest knows) applies to the signals kept in the
window, since ``known_instruments`` describes the window's universe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from core.data.layout import SIGNAL_SCHEMA, days_between, missing_bucket_note, signals_path
from core.data.ticks import check_schema, conform, one_line, window_ns
from core.errors import DataError
from core.storage.roots import resolve, to_url


@dataclass(frozen=True)
class TargetSet:
    """One signal: the target weights it sets at ``ts_event`` (ns since epoch, UTC).

    ``weights`` is read-only and lists only the instruments this signal changes.
    """

    ts_event: int
    signal_id: str
    strategy_id: str
    weights: Mapping[str, float]


def load_signals(
    root: str, start: dt.datetime, end: dt.datetime, known_instruments: Collection[str]
) -> list[TargetSet]:
    """The target sets emitted in ``[start, end)``, in the order they apply.

    Parameters
    ----------
    root
        Data root URL: a local folder or ``gs://bucket/prefix``.
    start, end
        Timezone-aware window bounds; a signal at exactly ``end`` belongs to the next window.
    known_instruments
        Instrument ids the backtest can trade; a signal naming any other instrument is an
        error rather than a silently ignored weight, which would skew the rest of the book.

    Raises
    ------
    DataError
        A day file of the window is missing or invalid, or a signal in the window names an
        unknown instrument. An empty window is not an error: it returns ``[]``.
    """
    start_ns, end_ns = window_ns(start, end)
    fs, base = resolve(root)
    known = pa.array(sorted(set(known_instruments)), type=pa.string())
    seen: dict[str, str] = {}  # signal_id -> file it came from, to catch ids reused across days
    previous: tuple[int, str] | None = None  # last ts_event of the previous day file, its path
    target_sets: list[TargetSet] = []
    for day in days_between(start, end):
        path = signals_path(base, day)
        table = _read_day(fs, path, day)
        _check_day(table, path, previous)
        if table.num_rows:
            previous = (int(table["ts_event"][-1].as_py()), path)
        ts = table["ts_event"].to_numpy()
        low = int(np.searchsorted(ts, start_ns, side="left"))
        high = int(np.searchsorted(ts, end_ns, side="left"))
        window = table.slice(low, high - low)
        _check_known(window, known, path)
        for target_set in _target_sets(table):
            if target_set.signal_id in seen:
                raise DataError(
                    f"signal_id {target_set.signal_id!r} already appeared in"
                    f" {seen[target_set.signal_id]}",
                    path,
                )
            seen[target_set.signal_id] = path
            if start_ns <= target_set.ts_event < end_ns:
                target_sets.append(target_set)
    return target_sets


def _read_day(fs: AbstractFileSystem, path: str, day: dt.date) -> pa.Table:
    try:
        handle = fs.open(path, "rb")
    except FileNotFoundError:
        note = missing_bucket_note(fs, path)
        raise DataError(
            f"missing signals file for {day.isoformat()}{note}", to_url(fs, path)
        ) from None
    except OSError as exc:
        raise DataError(f"cannot open signals file: {one_line(exc)}", to_url(fs, path)) from None
    with handle:
        try:
            parquet = pq.ParquetFile(handle)
            check_schema(parquet.schema_arrow, SIGNAL_SCHEMA, path)
            table = parquet.read(columns=SIGNAL_SCHEMA.names)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DataError(f"not a readable parquet file: {one_line(exc)}", path) from None
    for name in table.column_names:
        nulls = table.column(name).null_count
        if nulls:
            raise DataError(f"column {name!r} has {nulls} null values", path)
    return conform(table, SIGNAL_SCHEMA).combine_chunks()


def _check_day(table: pa.Table, path: str, previous: tuple[int, str] | None) -> None:
    if table.num_rows == 0:
        return
    ts = table["ts_event"].to_numpy()
    signal_ids = table["signal_id"]
    instruments = table["instrument_id"]
    if previous is not None and ts[0] < previous[0]:
        raise DataError(
            f"ts_event not sorted across days: signal {signal_ids[0].as_py()!r} at {ts[0]} is"
            f" before the previous day's last signal at {previous[0]} in {previous[1]}",
            path,
        )
    backwards = np.flatnonzero(ts[1:] < ts[:-1])
    if backwards.size:
        row = int(backwards[0]) + 1
        raise DataError(
            f"ts_event not sorted: row {row} (signal {signal_ids[row].as_py()!r}) at {ts[row]}"
            f" is before the previous row at {ts[row - 1]}",
            path,
        )
    finite = pc.is_finite(table["target_weight"]).to_numpy(zero_copy_only=False)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise DataError(
            f"target_weight {table['target_weight'][row].as_py()} of signal"
            f" {signal_ids[row].as_py()!r} for {instruments[row].as_py()} is not finite",
            path,
        )
    per_signal = table.group_by("signal_id", use_threads=False).aggregate(
        [
            ("ts_event", "min"),
            ("ts_event", "max"),
            ("strategy_id", "count_distinct"),
        ]
    )
    mixed = per_signal.filter(pc.not_equal(per_signal["ts_event_min"], per_signal["ts_event_max"]))
    if mixed.num_rows:
        row = mixed.slice(0, 1).to_pylist()[0]
        raise DataError(
            f"signal {row['signal_id']!r} has rows at different ts_event"
            f" ({row['ts_event_min']} and {row['ts_event_max']})",
            path,
        )
    shared = per_signal.filter(pc.greater(per_signal["strategy_id_count_distinct"], 1))
    if shared.num_rows:
        raise DataError(
            f"signal {shared['signal_id'][0].as_py()!r} has rows from several strategy_id", path
        )
    pairs = table.group_by(["signal_id", "instrument_id"], use_threads=False).aggregate(
        [("target_weight", "count")]
    )
    repeated = pairs.filter(pc.greater(pairs["target_weight_count"], 1))
    if repeated.num_rows:
        raise DataError(
            f"signal {repeated['signal_id'][0].as_py()!r} lists instrument"
            f" {repeated['instrument_id'][0].as_py()} {repeated['target_weight_count'][0]} times",
            path,
        )


def _check_known(window: pa.Table, known: pa.Array, path: str) -> None:
    known_mask = pc.is_in(window["instrument_id"], value_set=known).to_numpy(zero_copy_only=False)
    if not known_mask.all():
        row = int(np.flatnonzero(~known_mask)[0])
        raise DataError(
            f"instrument {window['instrument_id'][row].as_py()} of signal"
            f" {window['signal_id'][row].as_py()!r} is not a known instrument",
            path,
        )


def _target_sets(table: pa.Table) -> list[TargetSet]:
    """Target sets of one checked day, in ``ts_event`` order then file order.

    About 29 signals a day: plain Python over the rows is clear and costs nothing here.
    """
    grouped: dict[str, tuple[int, str, dict[str, float]]] = {}
    for ts, signal_id, strategy_id, instrument_id, weight in zip(
        table["ts_event"].to_pylist(),
        table["signal_id"].to_pylist(),
        table["strategy_id"].to_pylist(),
        table["instrument_id"].to_pylist(),
        table["target_weight"].to_pylist(),
        strict=True,
    ):
        grouped.setdefault(signal_id, (ts, strategy_id, {}))[2][instrument_id] = weight
    # dicts keep first-appearance order and sorted() is stable: ties stay in file order.
    ordered = sorted(grouped.items(), key=lambda item: item[1][0])
    return [
        TargetSet(ts, signal_id, strategy_id, MappingProxyType(weights))
        for signal_id, (ts, strategy_id, weights) in ordered
    ]
