"""Signal-driven backtests: which stretches of ticks a run needs, and reading only those.

The strategy service emits about 29 target sets a day; between them the rebalancer does
nothing, so a signal-driven run streams only the ``window_secs`` after each signal:

- **Windows**: ``[ts, ts + window)`` per scheduled target set, clipped to the run's period;
  windows that overlap or touch merge into one, so time stays monotonic and no tick is fed twice.
- **The last trade before each window** (per instrument, not before the run's start) is fed
  too: it is the price the decision at ``ts`` is made at, and the first part of a market order
  arriving before the next trade fills at it. Without it the decision would use the previous
  window's last price, hours old, and the orders would differ from a full-tick run's.
- **Between windows** the engine sees no tick: the equity recorder's timer keeps sampling on its
  grid, valued at the last price seen, so the curve is flat between windows and steps to the
  true mark at the next window's first tick (the decision mark is exact; the path between is
  not simulated, so drawdowns and volatility between windows are not seen).

Reading: each day file's footer is read once per run (not once per window, which at ~75 KB a
footer would cost more than the windows' ticks), the row groups every window of that file needs
are chosen from the footer statistics, and they are fetched in one batched call (pyarrow
coalesces adjacent column chunks), through the same counting, unbuffered file as
``core.data.ticks.TickReader``, so ``bytes_read`` are bytes fetched from storage. A row group shared
by two windows is fetched once. Row groups are the smallest unit a parquet reader can fetch, so
with the demo's 10-minute groups a 5-minute window costs 10 to 20 minutes of ticks.

The rows read are checked as ``TickReader`` checks them (schema, statistics, order within and
across groups and day files, nulls, a ``trade_id`` read twice).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

import numpy as np
import pyarrow as pa

from core.data.layout import TRADE_SCHEMA, days_between, trades_path
from core.data.ticks import (
    TS_COLUMN,
    CountingFile,
    TradeIdSet,
    check_day,
    check_order,
    check_rows,
    check_schema,
    conform,
    one_line,
    parquet_file,
    read_footer,
    read_groups,
    row_group_spans,
)
from core.errors import DataError
from core.storage.roots import resolve, to_url


def signal_windows(
    times_ns: Iterable[int], window_ns: int, start_ns: int, end_ns: int
) -> list[tuple[int, int]]:
    """Disjoint ``[start, end)`` windows after each time, clipped to ``[start_ns, end_ns)``.

    Windows that overlap or touch are merged, so consecutive windows never share a tick and a
    signal inside another's window is executed on that window's ticks.
    """
    if window_ns <= 0:
        raise ValueError(f"window_ns must be positive, got {window_ns}")
    windows: list[tuple[int, int]] = []
    for ts in sorted(set(times_ns)):
        low, high = max(ts, start_ns), min(ts + window_ns, end_ns)
        if low >= high:
            continue
        if windows and low <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], high))
        else:
            windows.append((low, high))
    return windows


@dataclass
class _DayFile:
    """One day file's footer facts and, once fetched, the rows of its selected row groups."""

    day: dt.date
    path: str
    url: str  # what errors name: the path a person can paste back (gs://... on GCS)
    size: int
    rows: int
    spans: list[tuple[int, int] | None]
    selected: list[int]
    # The raw footer, kept so fetching the row groups later need not read it again; raw, not
    # parsed (72 KB against 600 KB a demo file: 0.26 GB, not 2.2 GB, over 5 years of files),
    # and dropped once the file's rows are fetched.
    footer: bytes | None
    table: pa.Table | None = None


class WindowTrades:
    """One instrument's trades of a run's windows, read from only the row groups they need.

    Parameters
    ----------
    root
        Data root URL (local folder or ``gs://bucket/prefix``).
    instrument_id
        The day files' name, e.g. ``BTCUSDT.BINANCE``.
    start_ns, end_ns
        The run's period; nothing outside it is returned.
    windows
        Disjoint windows in time order (``signal_windows``).

    Attributes
    ----------
    bytes_read, fetches, row_groups_read, row_groups_skipped
        Totals so far (footers included in the bytes), for the run's ``execution_stats``.
    bytes_in_files, rows_in_files
        Size and row count of the day files of the period, from their metadata (nothing
        fetched): what a full-tick run of the same period would read, for comparison.
    """

    def __init__(
        self,
        root: str,
        instrument_id: str,
        start_ns: int,
        end_ns: int,
        windows: list[tuple[int, int]],
    ) -> None:
        self.instrument_id = instrument_id
        self._fs, base = resolve(root)
        self._start_ns, self._end_ns = start_ns, end_ns
        # The windows, then an empty one at the end: its "last trade before" is the period's
        # last trade, so the final marks (and final value) are a full run's.
        self._windows = [*windows, (end_ns, end_ns)]
        self.bytes_read = 0
        self.fetches = 0
        self.row_groups_read = 0
        self.row_groups_skipped = 0
        self._seen_ids = TradeIdSet()
        self._fed_until = start_ns  # ticks before this were handed out already
        self._cursor = 0  # files before this one hold nothing still to hand out
        start = _datetime(start_ns)
        end = _datetime(end_ns)
        self._files = [self._footer(base, day) for day in days_between(start, end)]
        self.bytes_in_files = sum(f.size for f in self._files)
        self.rows_in_files = sum(f.rows for f in self._files)
        self._select()

    def take(self, window: tuple[int, int]) -> pa.Table:
        """The trades of ``window`` (one of ``windows``, in order), led by the last trade before
        it when that one was not handed out with the previous window.

        ``(end_ns, end_ns)`` after the last window gives the period's last trade alone (if not
        handed out yet): the final mark.
        """
        low, high = window
        files = self._files
        # Files in time order: those wholly before what is still to hand out are passed for
        # good, and the scan stops at the first file starting after the window, so a take
        # costs the same on a 5-year period as on a day.
        while self._cursor < len(files) and (
            not files[self._cursor].selected or _last_ts(files[self._cursor]) < self._fed_until
        ):
            passed = files[self._cursor]
            if passed.table is not None:  # rows never needed again: empty, never refetched
                passed.table = TRADE_SCHEMA.empty_table()
            self._cursor += 1
        needed = []
        stop = self._cursor
        for stop in range(self._cursor, len(files)):
            day_file = files[stop]
            if day_file.selected and _first_ts(day_file) >= high:
                break
            if day_file.selected and _touches(day_file, self._fed_until, high):
                needed.append(day_file)
        for day_file in needed:
            if day_file.table is None:
                self._fetch(day_file)
        tables = [f.table for f in needed if f.table is not None and f.table.num_rows]
        if not tables:
            return TRADE_SCHEMA.empty_table()
        table = pa.concat_tables(tables)
        ts = table.column(TS_COLUMN).to_numpy()
        first = int(np.searchsorted(ts, low, side="left"))
        last = int(np.searchsorted(ts, high, side="left"))
        before = first - 1
        if before >= 0 and ts[before] >= self._fed_until:
            first = before
        self._fed_until = high
        for day_file in files[self._cursor : stop + 1]:  # rows wholly before this window
            if day_file.table is not None and _last_ts(day_file) < low:
                day_file.table = TRADE_SCHEMA.empty_table()  # empty, not None: never refetched
        return table.slice(first, last - first)

    def _footer(self, base: str, day: dt.date) -> _DayFile:
        path = trades_path(base, day, self.instrument_id)
        url = to_url(self._fs, path)
        with self._open(path, url, day) as handle:
            footer = read_footer(handle, url)
            parquet = parquet_file(handle, url, footer)
            check_schema(parquet.schema_arrow, TRADE_SCHEMA, url)
            metadata = parquet.metadata
            spans = row_group_spans(metadata, source=url)
            check_day(parquet, spans, day, url)  # what no window would read from this file
        return _DayFile(day, path, url, handle.size, metadata.num_rows, spans, [], footer)

    def _select(self) -> None:
        """Each file's row groups overlapping a window, plus the one holding the last trade
        before each window (in the same file or an earlier one), never before the period."""
        groups = [
            (file_index, index, span)
            for file_index, day_file in enumerate(self._files)
            for index, span in enumerate(day_file.spans)
            if span is not None and span[1] >= self._start_ns and span[0] < self._end_ns
        ]
        previous: tuple[int, str] | None = None
        for day_file in self._files:
            previous = check_order(day_file.spans, previous, day_file.url)
        chosen: set[int] = set()  # indices into groups
        lows = np.array([span[0] for _, _, span in groups], dtype=np.int64)
        highs = np.array([span[1] for _, _, span in groups], dtype=np.int64)
        for low, high in self._windows:
            # Groups are in time order (checked above): those overlapping the window are a run.
            chosen.update(
                range(
                    int(np.searchsorted(highs, low, side="left")),
                    int(np.searchsorted(lows, high, side="left")),
                )
            )
            before = int(np.searchsorted(lows, low, side="left")) - 1
            if before >= 0:
                chosen.add(before)
        by_file: dict[int, list[int]] = {}
        for i in sorted(chosen):
            by_file.setdefault(groups[i][0], []).append(groups[i][1])
        for file_index, day_file in enumerate(self._files):
            day_file.selected = by_file.get(file_index, [])
            self.row_groups_skipped += sum(1 for s in day_file.spans if s is not None) - len(
                day_file.selected
            )

    def _fetch(self, day_file: _DayFile) -> None:
        tables = []
        url = day_file.url
        with self._open(day_file.path, url, day_file.day) as handle:
            assert day_file.footer is not None, "a day file's rows are fetched once"
            parquet = parquet_file(handle, url, day_file.footer)
            for index, table in read_groups(parquet, day_file.selected, TRADE_SCHEMA.names, url):
                self.row_groups_read += 1
                ts = check_rows(table, parquet.metadata, index, url)
                repeated = self._seen_ids.add(table.column("trade_id"))
                if repeated is not None:
                    raise DataError(
                        f"trade_id {repeated!r} appears twice in the windows read"
                        f" (second time in row group {index})",
                        url,
                    )
                low = int(np.searchsorted(ts, self._start_ns, side="left"))
                high = int(np.searchsorted(ts, self._end_ns, side="left"))
                if high > low:
                    tables.append(conform(table.slice(low, high - low), TRADE_SCHEMA))
        day_file.table = pa.concat_tables(tables) if tables else TRADE_SCHEMA.empty_table()
        day_file.footer = None

    def _open(self, path: str, url: str, day: dt.date) -> _SizedFile:
        try:
            raw = self._fs.open(path, "rb", cache_type="none")
        except FileNotFoundError:
            raise DataError(
                f"missing trades file for {self.instrument_id} on {day.isoformat()}", url
            ) from None
        except OSError as exc:
            raise DataError(f"cannot open trades file: {one_line(exc)}", url) from None

        def on_read(size: int) -> None:
            self.bytes_read += size
            self.fetches += 1

        return _SizedFile(raw, on_read)


class _SizedFile(CountingFile):
    """``core.data.ticks``' counting file, which also knows the object's size.

    The size comes from the open file (gcsfs learnt it when opening; locally a seek to the end),
    so knowing it costs no request and no byte.
    """

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None]) -> None:
        super().__init__(raw, on_read)
        size = getattr(raw, "size", None)
        if size is None:
            size = raw.seek(0, 2)
            raw.seek(0)
        self.size = int(size)


def orders_filled_after_their_window(
    created: dict[str, int],
    fills: Iterable[tuple[str, int]],
    windows: list[tuple[int, int]],
) -> list[str]:
    """The orders (by id, sorted) with a fill after the window they were created in.

    With an honest fill model a large order fills over the trades after it; in signal-driven
    mode the trades between windows are never fed, so such an order goes on filling in a later
    window, hours on, where a full run would have filled it at once: the run says so rather than
    pass it off. ``created`` maps order ids to their creation time, ``fills`` gives each fill's
    order id and time, ``windows`` are the disjoint windows streamed.
    """
    starts = np.array([start for start, _ in windows], dtype=np.int64)
    late: set[str] = set()
    for order_id, ts in fills:
        made = created.get(order_id)
        if made is None or not windows:
            continue
        index = int(np.searchsorted(starts, made, side="right")) - 1
        if index < 0 or ts >= windows[index][1]:
            late.add(order_id)
    return sorted(late)


def _touches(day_file: _DayFile, low: int, high: int) -> bool:
    """Whether a selected row group of ``day_file`` holds ticks of ``[low, high)``."""
    spans = [day_file.spans[i] for i in day_file.selected]
    return any(span is not None and span[0] < high and span[1] >= low for span in spans)


def _first_ts(day_file: _DayFile) -> int:
    spans = [day_file.spans[i] for i in day_file.selected]
    return min(span[0] for span in spans if span is not None)


def _last_ts(day_file: _DayFile) -> int:
    spans = [day_file.spans[i] for i in day_file.selected]
    return max(span[1] for span in spans if span is not None)


def _datetime(ns: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=ns // 1_000)
