"""Windowed reads of one instrument's trades: only the row groups and columns a window needs.

A backtest over a few hours of a liquid instrument must not pull whole day files (tens of MB
each) from GCS. Day files are sorted by ``ts_event`` and written in row groups whose footer
statistics give each group's time span, so the rows of a window are located from the footer
alone and only the column chunks of the overlapping row groups are fetched, as byte ranges.

How bytes are fetched: each day file is opened with ``fs.open(path, "rb", cache_type="none")``,
so every read is one ranged request of exactly the bytes asked for: the footer's 8-byte tail,
then the footer itself (read here, not by pyarrow, which fetches the last 64 KiB and then the
whole of a larger footer again), then the column chunks of the selected row groups, which
``pre_buffer`` coalesces into few requests. On the demo data behind the GCS emulator
(``bench/bench_gcs.py``: 7 MB day files, 144 row groups, 73-75 KB footers) 20 five-minute
windows of every column fetched exactly the minimum (footer plus column chunks), 2.79 MB in 4
requests a window counting ``fs.open``'s metadata request; letting pyarrow read the footer
fetched 1.47x that, fsspec's default read-ahead cache 23.8x. So the bytes counted here, at the
file object, are the bytes fetched from storage (the one metadata request made by ``fs.open``
on GCS carries no file bytes and is not counted).

What is checked (each failure is a one-line :class:`~core.errors.DataError` naming the file;
footer checks run when a file is opened, row checks on each row group before its rows are
yielded):

- the day file exists, is readable parquet and holds every column of ``TRADE_SCHEMA`` with its
  type (``string``, ``large_string``, ``string_view`` and dictionary-of-string are accepted for
  string columns; extra columns are ignored);
- every non-empty row group carries ``ts_event`` min/max statistics (without them the reader
  cannot prune, and it fails rather than silently reading everything);
- ``ts_event`` is sorted: within each row group read, between row groups (from the footer: a
  group may not start before the previous one ends) and between day files;
- no null in a column read, and no ``trade_id`` read twice in one window (when ``trade_id`` is
  among the columns read: the check covers what is read, so a projection without ``trade_id``
  skips it). Duplicated trades are an error, not silently dropped: a desk would rather fix the
  file than trust a backtest on it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.data.layout import TRADE_SCHEMA, days_between, missing_bucket_note, trades_path
from core.errors import ConfigError, DataError
from core.storage.roots import resolve, to_url

TS_COLUMN = "ts_event"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Compressed bytes of column chunks fetched per read: bounds memory while letting pyarrow merge
# a day's worth of chunks into a few requests (it merges ranges up to 32 MiB).
_BATCH_BYTES = 32 * 2**20
_MAGIC = b"PAR1"  # ends every parquet file, after the footer and its 4-byte length


@dataclass
class WindowStats:
    """What one window read cost, updated as its tables are yielded.

    The backtest summary reports these figures, and tests assert on them to prove that a
    window touched only the row groups and bytes it needed.
    """

    instrument_id: str
    start_ns: int
    end_ns: int
    files_opened: int = 0
    row_groups_read: int = 0
    row_groups_skipped: int = 0
    bytes_read: int = 0
    fetches: int = 0  # read calls on the storage file: ranged requests on a remote store
    rows: int = 0  # rows returned, after trimming to the window
    row_groups: list[tuple[str, int]] = field(default_factory=list)  # (path, index) read


class TickReader:
    """Reads windows of one instrument's trades from the day files under ``root``.

    Parameters
    ----------
    root
        Data root URL: a local folder or ``gs://bucket/prefix``.

    Attributes
    ----------
    bytes_read, fetches, row_groups_read, row_groups_skipped, files_opened
        Totals over every window this reader has served, so a run can report its I/O.
    last_window_stats
        The figures of the most recent call to :meth:`iter_window` / :meth:`read_window`.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self._fs, self._root_path = resolve(root)
        self.bytes_read = 0
        self.fetches = 0
        self.row_groups_read = 0
        self.row_groups_skipped = 0
        self.files_opened = 0
        self.last_window_stats: WindowStats | None = None

    def iter_window(
        self,
        instrument_id: str,
        start: dt.datetime,
        end: dt.datetime,
        columns: Sequence[str] | None = None,
    ) -> Iterator[pa.Table]:
        """Yield the trades of ``[start, end)``, one trimmed table per row group read.

        Day files are streamed in chronological order, so a backtest can feed a long window
        without holding it in memory. Within a file the selected row groups are fetched in
        batches of up to 32 MiB of column chunks, so a full day costs a few requests rather
        than one per column chunk. Row groups with no row left after trimming yield nothing.

        Parameters
        ----------
        instrument_id
            Nautilus form, e.g. ``BTCUSDT.BINANCE``: the day file's name.
        start, end
            Timezone-aware datetimes; the window is half-open so consecutive windows never
            return a trade twice.
        columns
            Columns of ``TRADE_SCHEMA`` to return; ``ts_event`` is always read (it trims the
            window) and returned. ``None`` means every column. Tables follow
            ``TRADE_SCHEMA``'s column order and types whatever order is asked.

        Raises
        ------
        DataError
            ``start`` is not before ``end`` (raised at the call), or a day file is missing,
            unreadable, of the wrong schema, unsorted or duplicated (raised while iterating).
        ConfigError
            A bound without a timezone, or a column ``TRADE_SCHEMA`` does not have.
        """
        start_ns, end_ns = window_ns(start, end)
        schema = output_schema(columns)
        stats = WindowStats(instrument_id, start_ns, end_ns)
        self.last_window_stats = stats
        days = days_between(start, end)
        return self._stream(instrument_id, days, start_ns, end_ns, schema, stats)

    def read_window(
        self,
        instrument_id: str,
        start: dt.datetime,
        end: dt.datetime,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """The trades of ``[start, end)`` as one table (see :meth:`iter_window`).

        An empty window is not an error here: it returns an empty table with the
        ``TRADE_SCHEMA`` types of the requested columns, and the caller decides.
        """
        schema = output_schema(columns)
        tables = list(self.iter_window(instrument_id, start, end, columns))
        if not tables:
            return schema.empty_table()
        return pa.concat_tables(tables)

    def _stream(
        self,
        instrument_id: str,
        days: list[dt.date],
        start_ns: int,
        end_ns: int,
        schema: pa.Schema,
        stats: WindowStats,
    ) -> Iterator[pa.Table]:
        seen_ids = TradeIdSet() if "trade_id" in schema.names else None
        previous: tuple[int, str] | None = None  # last ts_event of the previous day file, its path
        for day in days:
            path = trades_path(self._root_path, day, instrument_id)
            source = to_url(self._fs, path)  # errors name the URL a person can paste back
            with self._open(path, source, day, instrument_id, stats) as handle:
                parquet = parquet_file(handle, source)
                check_schema(parquet.schema_arrow, TRADE_SCHEMA, source)
                spans = row_group_spans(parquet.metadata, source=source)
                check_day(parquet, spans, day, source)
                previous = check_order(spans, previous, source)
                selected = _overlapping(spans, start_ns, end_ns)
                skipped = parquet.metadata.num_row_groups - len(selected)
                self._count(stats, "row_groups_skipped", skipped)
                for index, table in read_groups(parquet, selected, schema.names, source):
                    self._count(stats, "row_groups_read", 1)
                    stats.row_groups.append((path, index))
                    ts = check_rows(table, parquet.metadata, index, source)
                    if seen_ids is not None:
                        repeated = seen_ids.add(table.column("trade_id"))
                        if repeated is not None:
                            raise DataError(
                                f"trade_id {repeated!r} appears twice in the window"
                                f" (second time in row group {index})",
                                source,
                            )
                    low = int(np.searchsorted(ts, start_ns, side="left"))
                    high = int(np.searchsorted(ts, end_ns, side="left"))
                    if high > low:
                        stats.rows += high - low
                        yield conform(table.slice(low, high - low), schema)

    def _open(
        self, path: str, source: str, day: dt.date, instrument_id: str, stats: WindowStats
    ) -> CountingFile:
        try:
            raw = self._fs.open(path, "rb", cache_type="none")
        except FileNotFoundError:
            note = missing_bucket_note(self._fs, path)
            raise DataError(
                f"missing trades file for {instrument_id} on {day.isoformat()}{note}", source
            ) from None
        except OSError as exc:
            raise DataError(f"cannot open trades file: {one_line(exc)}", source) from None
        self._count(stats, "files_opened", 1)

        def on_read(size: int) -> None:
            self._count(stats, "bytes_read", size)
            self._count(stats, "fetches", 1)

        return CountingFile(raw, on_read)

    def _count(self, stats: WindowStats, name: str, amount: int) -> None:
        setattr(stats, name, getattr(stats, name) + amount)
        setattr(self, name, getattr(self, name) + amount)


def select_row_groups(metadata: pq.FileMetaData, start_ns: int, end_ns: int) -> list[int]:
    """Indices of the row groups whose ``ts_event`` span overlaps ``[start_ns, end_ns)``.

    Decided from the footer statistics alone, so a window costs one footer read plus the
    column chunks it needs. Empty row groups are never selected.

    Raises
    ------
    DataError
        The footer has no ``ts_event`` column, or a non-empty row group lacks its statistics
        (pruning would be guesswork: fail rather than read everything).
    """
    return _overlapping(row_group_spans(metadata), start_ns, end_ns)


def row_group_spans(
    metadata: pq.FileMetaData, source: str | None = None
) -> list[tuple[int, int] | None]:
    """``(min, max)`` of ``ts_event`` per row group from the footer, ``None`` for empty groups.

    ``source`` names the file in the error raised when a statistic is missing.
    """
    names = metadata.schema.names
    if TS_COLUMN not in names:
        raise DataError(f"missing column {TS_COLUMN!r}", source)
    column = names.index(TS_COLUMN)
    spans: list[tuple[int, int] | None] = []
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        if group.num_rows == 0:
            spans.append(None)
            continue
        statistics = group.column(column).statistics
        if statistics is None or not statistics.has_min_max:
            raise DataError(
                f"row group {index} has no {TS_COLUMN} min/max statistics: cannot select row"
                " groups by time (rewrite the file with statistics)",
                source,
            )
        spans.append((int(statistics.min), int(statistics.max)))
    return spans


def window_ns(start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """``[start, end)`` as integer nanoseconds since the epoch, checked to be non-empty."""
    start_ns, end_ns = to_ns(start, "start"), to_ns(end, "end")
    if start_ns >= end_ns:
        raise DataError(f"window start {start.isoformat()} is not before end {end.isoformat()}")
    return start_ns, end_ns


def to_ns(moment: dt.datetime, name: str = "time") -> int:
    """Exact nanoseconds since the epoch of a timezone-aware datetime (no float rounding)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ConfigError(f"window {name} {moment.isoformat()} has no timezone: pass UTC")
    return (moment - _EPOCH) // dt.timedelta(microseconds=1) * 1_000


def output_schema(columns: Sequence[str] | None) -> pa.Schema:
    """The ``TRADE_SCHEMA`` fields a read returns: ``ts_event`` plus ``columns``."""
    if columns is None:
        return TRADE_SCHEMA
    if isinstance(columns, str):
        columns = [columns]
    unknown = [name for name in columns if TRADE_SCHEMA.get_field_index(name) == -1]
    if unknown:
        raise ConfigError(
            f"columns: unknown trade column {unknown[0]!r} (known: {', '.join(TRADE_SCHEMA.names)})"
        )
    wanted = {TS_COLUMN, *columns}
    return pa.schema([fld for fld in TRADE_SCHEMA if fld.name in wanted])


def check_schema(actual: pa.Schema, expected: pa.Schema, source: str) -> None:
    """Fail unless ``actual`` has every column of ``expected`` with a compatible type.

    String columns may be stored as ``string``, ``large_string``, ``string_view`` or
    dictionary-encoded: parquet stores them alike and writers (pyarrow, polars) differ.
    """
    for expected_field in expected:
        indices = actual.get_all_field_indices(expected_field.name)
        if not indices:
            raise DataError(
                f"missing column {expected_field.name!r} (expected {expected_field.type})", source
            )
        if len(indices) > 1:
            raise DataError(f"column {expected_field.name!r} appears {len(indices)} times", source)
        got = actual.field(indices[0]).type
        if not _compatible(got, expected_field.type):
            raise DataError(
                f"column {expected_field.name!r} has type {got}, expected {expected_field.type}",
                source,
            )


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table``'s columns of ``schema``, cast to its exact types and nullability.

    Every table a reader returns then has one schema, so they concatenate without surprises.
    """
    columns = []
    for fld in schema:
        column = table.column(fld.name)
        if column.type != fld.type:
            column = column.cast(fld.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def one_line(exc: BaseException) -> str:
    """An exception's text folded onto one line, for a one-line DataError."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _compatible(got: pa.DataType, expected: pa.DataType) -> bool:
    if got == expected:
        return True
    return _is_text(expected) and _is_text(got)


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return (
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _overlapping(spans: list[tuple[int, int] | None], start_ns: int, end_ns: int) -> list[int]:
    return [
        index
        for index, span in enumerate(spans)
        if span is not None and span[0] < end_ns and span[1] >= start_ns
    ]


def check_order(
    spans: list[tuple[int, int] | None], previous: tuple[int, str] | None, path: str
) -> tuple[int, str] | None:
    """Footer-level order checks; returns the file's last ts_event (or ``previous`` if empty).

    A group may not start before the previous group ends, nor a day file before the previous
    day's last tick. Ties are allowed: several trades can share a nanosecond.
    """
    last: tuple[int, int] | None = None  # (index, max ts) of the previous non-empty group
    for index, span in enumerate(spans):
        if span is None:
            continue
        if last is None and previous is not None and span[0] < previous[0]:
            raise DataError(
                f"ts_event not sorted across days: file starts at {_ns_text(span[0])}, before"
                f" the previous day's last tick {_ns_text(previous[0])} in {previous[1]}",
                path,
            )
        if last is not None and span[0] < last[1]:
            raise DataError(
                f"ts_event not sorted: row group {index} starts at {_ns_text(span[0])}, before"
                f" row group {last[0]} ends at {_ns_text(last[1])}",
                path,
            )
        last = (index, span[1])
    return previous if last is None else (last[1], path)


def parquet_file(handle: CountingFile, path: str, footer: bytes | None = None) -> pq.ParquetFile:
    """A ``ParquetFile`` over ``handle`` whose footer was read with exact byte ranges
    (``footer``: the file's footer as ``read_footer`` returned it earlier, not read again)."""
    metadata = parse_footer(read_footer(handle, path) if footer is None else footer, path)
    try:
        # pre_buffer coalesces the column chunks of a read into few ranged requests; with
        # cache_type="none" it fetched no more bytes than one request per chunk (measured).
        return pq.ParquetFile(handle, metadata=metadata, pre_buffer=True)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"not a readable parquet file: {one_line(exc)}", path) from None


def read_footer(handle: CountingFile, path: str) -> bytes:
    """The file's footer, fetched as exactly its own bytes: the 8-byte tail, then the rest.

    pyarrow alone fetches the last 64 KiB and, when the footer is larger, the whole footer
    again: the demo day files' footers are 73-75 KB (144 row groups of statistics), so every
    file opened cost 64 KiB more than needed, more than a 5-minute window's column chunks.
    Read this way a footer over 64 KiB takes the same two requests and no byte twice; a small
    one takes one request more than pyarrow's single read, which on GCS costs a round trip
    (tens of ms) against at most 64 KiB not fetched.

    Returned as bytes (the footer and its 8-byte tail; ``parse_footer`` reads them): parsed,
    a demo footer takes about 600 KB of memory, raw 72 KB, which is what a run over years of
    day files can keep for each of them.
    """
    try:
        size = handle.seek(0, 2)
        if size < len(_MAGIC) * 2 + 4:
            raise DataError(f"not a readable parquet file: only {size} bytes", path)
        handle.seek(size - 8)
        tail = handle.read(8)
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != _MAGIC:
            raise DataError("not a readable parquet file: no PAR1 magic at its end", path)
        if length > size - 12:
            raise DataError(
                f"not a readable parquet file: footer of {length} bytes in a file of {size}",
                path,
            )
        handle.seek(size - 8 - length)
        return handle.read(length) + tail
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"not a readable parquet file: {one_line(exc)}", path) from None


def parse_footer(footer: bytes, path: str) -> pq.FileMetaData:
    """The metadata of a footer ``read_footer`` returned."""
    try:
        return pq.read_metadata(pa.BufferReader(footer))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"not a readable parquet file: {one_line(exc)}", path) from None


def read_groups(
    parquet: pq.ParquetFile, selected: list[int], columns: list[str], path: str
) -> Iterator[tuple[int, pa.Table]]:
    """``(index, table)`` of each selected row group, fetched in batches of up to 32 MiB.

    One ``read_row_groups`` call per batch lets pyarrow coalesce adjacent column chunks into
    one request: a full day came in 3 requests instead of 722 (one per column chunk), which on
    GCS is the difference between seconds of request latency and none.
    """
    metadata = parquet.metadata
    positions = [metadata.schema.names.index(name) for name in columns]
    for batch in _batches(metadata, selected, positions):
        try:
            table = parquet.read_row_groups(batch, columns=columns)
        except (pa.ArrowException, OSError, ValueError) as exc:
            groups = ", ".join(str(index) for index in batch)
            raise DataError(f"cannot read row groups {groups}: {one_line(exc)}", path) from None
        offset = 0
        for index in batch:
            rows = metadata.row_group(index).num_rows
            yield index, table.slice(offset, rows)
            offset += rows


def _batches(
    metadata: pq.FileMetaData, selected: list[int], positions: list[int]
) -> list[list[int]]:
    batches: list[list[int]] = []
    size = 0
    for index in selected:
        group = metadata.row_group(index)
        chunk = sum(group.column(position).total_compressed_size for position in positions)
        if not batches or size + chunk > _BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(index)
        size += chunk
    return batches


def check_day(
    parquet: pq.ParquetFile, spans: list[tuple[int, int] | None], day: dt.date, path: str
) -> None:
    """Refuse a day file holding trades stamped outside its UTC day.

    The desk's layout promises one day per file: a window is read from the files of the days
    it covers, so a trade filed under the wrong day is dropped from every window without a
    word (or read twice, once from each file). Decided from the footer's statistics; only a
    row group that reaches outside the day is read (its ``ts_event`` alone), to count.

    Raises
    ------
    DataError
        How many trades lie outside the day, and the first of them, naming the file.
    """
    day_ns = to_ns(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))
    next_ns = day_ns + 86_400_000_000_000
    outside = [
        index
        for index, span in enumerate(spans)
        if span is not None and (span[0] < day_ns or span[1] >= next_ns)
    ]
    if not outside:
        return
    ts = np.concatenate(
        [
            _numpy(table.column(TS_COLUMN))
            for _, table in read_groups(parquet, outside, [TS_COLUMN], path)
        ]
    )
    stray = ts[(ts < day_ns) | (ts >= next_ns)]
    raise DataError(
        f"{stray.size:,} trades stamped outside {day.isoformat()} (UTC), the first at "
        f"{_ns_text(int(stray[0]))}: a day file holds that day's trades only",
        path,
    )


def check_rows(table: pa.Table, metadata: pq.FileMetaData, index: int, path: str) -> np.ndarray:
    """Null and order checks of one row group read; returns its ``ts_event`` as int64."""
    for name in table.column_names:
        nulls = table.column(name).null_count
        if nulls:
            raise DataError(f"column {name!r} has {nulls} null values in row group {index}", path)
    ts = _numpy(table.column(TS_COLUMN))
    backwards = np.flatnonzero(ts[1:] < ts[:-1])
    if backwards.size:
        row = int(backwards[0]) + 1
        first_row = sum(metadata.row_group(i).num_rows for i in range(index))
        raise DataError(
            f"ts_event not sorted: row {first_row + row} (row group {index}) at"
            f" {_ns_text(int(ts[row]))} is before the previous row at {_ns_text(int(ts[row - 1]))}",
            path,
        )
    return ts


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    # ChunkedArray.to_numpy imports pandas (a second on first use); a single Array does not.
    array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return array.to_numpy(zero_copy_only=False)


def _ns_text(ns: int) -> str:
    return f"{ns} ({np.datetime64(ns, 'ns')}Z)"


class TradeIdSet:
    """Trade ids already read in one window, kept as sorted 64-bit hashes.

    A window can hold millions of ids: a Python set of strings costs ~100 bytes an id, a
    sorted ``uint64`` array 8. Levels that at least double in size (a log-structured merge)
    keep membership tests and insertions O(n log n) over the window instead of re-sorting
    everything seen for every row group. Repeats inside one row group are confirmed on the
    strings; a repeat across row groups is a hash match, and two distinct ids collide with
    probability about n**2 / 2**65 (under 1e-6 for a 5M-trade window).
    """

    def __init__(self) -> None:
        self._levels: list[np.ndarray] = []

    def add(self, ids: pa.ChunkedArray) -> str | None:
        """Record ``ids``; return the first one seen before (here or earlier), or ``None``."""
        if len(ids) == 0:
            return None
        hashes = pl.Series(ids).hash(seed=0).to_numpy()
        ordered = np.sort(hashes)
        first: int | None = None
        if np.any(ordered[1:] == ordered[:-1]):
            first = _first_repeat(ids, hashes)
        for level in self._levels:
            # Sorted needles make the search cache-friendly; positions are only needed on a hit.
            at = np.minimum(np.searchsorted(level, ordered), len(level) - 1)
            if not np.any(level[at] == ordered):
                continue
            at = np.minimum(np.searchsorted(level, hashes), len(level) - 1)
            hit = int(np.flatnonzero(level[at] == hashes)[0])
            first = hit if first is None else min(first, hit)
        if first is not None:
            return str(ids[first])
        self._levels.append(ordered)
        while len(self._levels) > 1 and len(self._levels[-2]) < 2 * len(self._levels[-1]):
            newer = self._levels.pop()
            older = self._levels.pop()
            self._levels.append(np.sort(np.concatenate([older, newer]), kind="stable"))
        return None


def _first_repeat(ids: pa.ChunkedArray, hashes: np.ndarray) -> int | None:
    """Position of the earliest second occurrence of an id within one batch, by string."""
    order = np.argsort(hashes, kind="stable")
    same = np.flatnonzero(hashes[order][1:] == hashes[order][:-1])
    earlier, later = order[same], order[same + 1]
    equal = _numpy(pc.equal(ids.take(earlier), ids.take(later)))
    if not equal.any():
        return None
    return int(later[equal].min())


class CountingFile:
    """A read-only file that counts what pyarrow reads through it.

    Deliberately exposes no ``__fspath__`` or ``read_buffer``: pyarrow would use them to
    bypass the Python reads (and the counting) on a local file.
    """

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_read = on_read
        self.mode = "rb"

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._on_read(len(data))
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return self._raw.closed

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> CountingFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
