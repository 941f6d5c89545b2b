"""The windowed tick reader: what it reads, what it returns, and what it refuses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from core.data.layout import TRADE_SCHEMA, trades_path
from core.data.ticks import TickReader, select_row_groups, to_ns
from core.errors import ConfigError, DataError

INSTRUMENT = "BTCUSDT.BINANCE"
DAY1 = dt.date(2024, 3, 4)
DAY2 = dt.date(2024, 3, 5)
SECOND = 1_000_000_000
GROUP_ROWS = 600  # one trade a second: a row group spans exactly 10 minutes
REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


def at(day: dt.date, hour: int, minute: int = 0, second: float = 0.0) -> dt.datetime:
    moment = dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)
    return moment + dt.timedelta(seconds=second)


def trades(
    first: dt.datetime, count: int, step_ns: int = SECOND, id_prefix: str | None = None
) -> pa.Table:
    """``count`` trades every ``step_ns`` from ``first``, with ids unique to their timestamp."""
    ts = to_ns(first) + np.arange(count, dtype=np.int64) * step_ns
    prefix = id_prefix if id_prefix is not None else first.strftime("%Y%m%d-")
    return pa.table(
        {
            "ts_event": ts,
            "price": 40_000.0 + (np.arange(count) % 1_000) * 0.01,
            "size": np.full(count, 0.001),
            "side": np.where(np.arange(count) % 2 == 0, "BUY", "SELL"),
            "trade_id": [f"{prefix}{i:06d}" for i in range(count)],
        },
        schema=TRADE_SCHEMA,
    )


def write_trades(root: Path, day: dt.date, table: pa.Table, **options: object) -> str:
    path = trades_path(str(root), day, INSTRUMENT)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    options.setdefault("row_group_size", GROUP_ROWS)
    pq.write_table(table, path, **options)
    return path


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two full days, one trade a second, in 144 row groups of 10 minutes each per day."""
    root = tmp_path_factory.mktemp("desk")
    for day in (DAY1, DAY2):
        write_trades(root, day, trades(at(day, 0), 86_400))
    return root


def read_error(root: Path, start: dt.datetime, end: dt.datetime) -> str:
    with pytest.raises(DataError) as caught:
        TickReader(str(root)).read_window(INSTRUMENT, start, end)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_select_row_groups_keeps_only_groups_overlapping_the_window(desk: Path) -> None:
    metadata = pq.read_metadata(trades_path(str(desk), DAY1, INSTRUMENT))

    def select(start: dt.datetime, end: dt.datetime) -> list[int]:
        return select_row_groups(metadata, to_ns(start), to_ns(end))

    assert select(at(DAY1, 10, 12), at(DAY1, 10, 17)) == [61]
    assert select(at(DAY1, 10, 8), at(DAY1, 10, 13)) == [60, 61]
    # Half-open: group 62 starts exactly at the end, group 60 ends a second before the start.
    assert select(at(DAY1, 10, 10), at(DAY1, 10, 20)) == [61]
    assert select(at(DAY1, 10, 9, 59), at(DAY1, 10, 10)) == [60]
    assert select(at(DAY2, 1), at(DAY2, 2)) == []


def test_window_reads_only_overlapping_row_groups(desk: Path) -> None:
    reader = TickReader(str(desk))
    path = trades_path(str(desk), DAY1, INSTRUMENT)

    table = reader.read_window(INSTRUMENT, at(DAY1, 10, 12), at(DAY1, 10, 17))

    stats = reader.last_window_stats
    assert table.num_rows == 300
    assert stats.row_groups == [(path, 61)]
    assert (stats.row_groups_read, stats.row_groups_skipped, stats.files_opened) == (1, 143, 1)
    file_size = Path(path).stat().st_size
    assert 0 < stats.bytes_read < file_size / 10
    assert reader.bytes_read == stats.bytes_read


def test_column_projection_reads_fewer_bytes_than_all_columns(desk: Path) -> None:
    start, end = at(DAY1, 10, 12), at(DAY1, 10, 17)
    everything = TickReader(str(desk))
    projected = TickReader(str(desk))

    full = everything.read_window(INSTRUMENT, start, end)
    prices = projected.read_window(INSTRUMENT, start, end, columns=["price"])

    assert prices.column_names == ["ts_event", "price"]
    assert prices.equals(full.select(["ts_event", "price"]))
    assert projected.bytes_read < everything.bytes_read


def test_window_across_midnight_streams_both_days_in_order(desk: Path) -> None:
    reader = TickReader(str(desk))

    tables = list(reader.iter_window(INSTRUMENT, at(DAY1, 23, 55), at(DAY2, 0, 5)))

    assert reader.last_window_stats.row_groups == [
        (trades_path(str(desk), DAY1, INSTRUMENT), 143),
        (trades_path(str(desk), DAY2, INSTRUMENT), 0),
    ]
    assert [table.num_rows for table in tables] == [300, 300]
    ts = pa.concat_tables(tables)["ts_event"].to_numpy()
    assert ts[0] == to_ns(at(DAY1, 23, 55))
    assert ts[-1] == to_ns(at(DAY2, 0, 4, 59))
    assert np.all(np.diff(ts) == SECOND)


def test_window_edges_are_half_open(desk: Path) -> None:
    reader = TickReader(str(desk))
    start = at(DAY1, 10)

    on_ticks = reader.read_window(INSTRUMENT, start, start + dt.timedelta(seconds=5))
    between = reader.read_window(
        INSTRUMENT, start + dt.timedelta(seconds=0.5), start + dt.timedelta(seconds=5.5)
    )

    first = to_ns(start)
    assert on_ticks["ts_event"].to_pylist() == [first + i * SECOND for i in range(5)]
    assert between["ts_event"].to_pylist() == [first + i * SECOND for i in range(1, 6)]


def test_window_stops_exactly_at_a_row_group_boundary(desk: Path) -> None:
    reader = TickReader(str(desk))

    table = reader.read_window(INSTRUMENT, at(DAY1, 10, 5), at(DAY1, 10, 10))

    assert table["ts_event"][-1].as_py() == to_ns(at(DAY1, 10, 9, 59))
    assert reader.last_window_stats.row_groups_read == 1


def test_empty_window_returns_empty_table_with_trade_schema(desk: Path) -> None:
    reader = TickReader(str(desk))
    start = at(DAY1, 10, second=0.1)
    end = at(DAY1, 10, second=0.9)

    everything = reader.read_window(INSTRUMENT, start, end)
    prices = reader.read_window(INSTRUMENT, start, end, columns=["price", "side"])

    assert everything.num_rows == 0
    assert everything.schema == TRADE_SCHEMA
    assert prices.num_rows == 0
    assert prices.schema == pa.schema(
        [TRADE_SCHEMA.field(n) for n in ("ts_event", "price", "side")]
    )


def test_tables_follow_trade_schema_types(tmp_path: Path) -> None:
    # A writer that stores strings as large_string (or dictionaries) still reads as the desk's
    # string columns, so downstream code sees one schema.
    table = trades(at(DAY1, 10), 30)
    stored = table.set_column(4, "trade_id", table["trade_id"].cast(pa.large_string()))
    stored = stored.set_column(3, "side", stored["side"].dictionary_encode())
    write_trades(tmp_path, DAY1, stored, row_group_size=10)

    read = TickReader(str(tmp_path)).read_window(INSTRUMENT, at(DAY1, 10), at(DAY1, 11))

    assert read.schema == TRADE_SCHEMA
    assert read.equals(table)


def test_reader_totals_add_up_over_windows(desk: Path) -> None:
    reader = TickReader(str(desk))

    reader.read_window(INSTRUMENT, at(DAY1, 10), at(DAY1, 10, 5))
    first = reader.last_window_stats
    reader.read_window(INSTRUMENT, at(DAY1, 23, 55), at(DAY2, 0, 5))
    second = reader.last_window_stats

    assert reader.bytes_read == first.bytes_read + second.bytes_read
    assert reader.files_opened == 3
    assert reader.row_groups_read == 3
    assert reader.row_groups_skipped == 143 + 143 + 143


def test_start_not_before_end_is_a_data_error(desk: Path) -> None:
    start = at(DAY1, 10)

    with pytest.raises(DataError) as caught:
        TickReader(str(desk)).iter_window(INSTRUMENT, start, start)

    message = str(caught.value)
    assert "not before" in message
    assert message.count(start.isoformat()) == 2
    assert "\n" not in message


def test_naive_datetimes_and_unknown_columns_are_config_errors(desk: Path) -> None:
    reader = TickReader(str(desk))

    with pytest.raises(ConfigError, match="no timezone"):
        reader.read_window(INSTRUMENT, dt.datetime(2024, 3, 4, 10), at(DAY1, 11))
    with pytest.raises(ConfigError, match="'volume'"):
        reader.read_window(INSTRUMENT, at(DAY1, 10), at(DAY1, 11), columns=["volume"])


def test_missing_day_file_names_path_day_and_instrument(tmp_path: Path) -> None:
    write_trades(tmp_path, DAY1, trades(at(DAY1, 23, 59), 60))

    message = read_error(tmp_path, at(DAY1, 23, 59), at(DAY2, 0, 1))

    assert trades_path(str(tmp_path), DAY2, INSTRUMENT) in message
    assert "2024-03-05" in message
    assert INSTRUMENT in message


def test_corrupt_parquet_names_the_file(tmp_path: Path) -> None:
    path = trades_path(str(tmp_path), DAY1, INSTRUMENT)
    Path(path).parent.mkdir(parents=True)
    Path(path).write_bytes(b"PAR1 this is not a parquet file PAR1")

    message = read_error(tmp_path, at(DAY1, 10), at(DAY1, 11))

    assert path in message
    assert "parquet" in message


def test_missing_column_names_the_column(tmp_path: Path) -> None:
    path = write_trades(tmp_path, DAY1, trades(at(DAY1, 10), 30).drop_columns(["side"]))

    message = read_error(tmp_path, at(DAY1, 10), at(DAY1, 11))

    assert path in message
    assert "missing column 'side'" in message


def test_wrong_column_type_names_column_and_both_types(tmp_path: Path) -> None:
    table = trades(at(DAY1, 10), 30)
    table = table.set_column(1, "price", table["price"].cast(pa.string()))
    path = write_trades(tmp_path, DAY1, table)

    message = read_error(tmp_path, at(DAY1, 10), at(DAY1, 11))

    assert path in message
    assert "column 'price' has type string, expected double" in message


def test_missing_statistics_fails_instead_of_reading_everything(tmp_path: Path) -> None:
    path = write_trades(
        tmp_path, DAY1, trades(at(DAY1, 10), 30), row_group_size=10, write_statistics=False
    )

    message = read_error(tmp_path, at(DAY1, 10), at(DAY1, 11))

    assert path in message
    assert "row group 0 has no ts_event min/max statistics" in message


def test_unsorted_rows_within_a_row_group_name_the_first_offending_row(tmp_path: Path) -> None:
    table = trades(at(DAY1, 10), 30)
    ts = table["ts_event"].to_numpy().copy()
    ts[13], ts[14] = ts[14], ts[13]
    path = write_trades(
        tmp_path, DAY1, table.set_column(0, "ts_event", pa.array(ts)), row_group_size=10
    )

    message = read_error(tmp_path, at(DAY1, 10), at(DAY1, 11))

    assert path in message
    assert f"row 14 (row group 1) at {ts[14]}" in message


def test_row_group_starting_before_the_previous_one_ends_is_unsorted(tmp_path: Path) -> None:
    early = trades(at(DAY1, 10), 10, id_prefix="a")
    overlapping = trades(at(DAY1, 10, second=5), 10, id_prefix="b")
    path = write_trades(tmp_path, DAY1, pa.concat_tables([early, overlapping]), row_group_size=10)

    message = read_error(tmp_path, at(DAY1, 10, 30), at(DAY1, 11))

    assert path in message
    assert f"row group 1 starts at {to_ns(at(DAY1, 10, second=5))}" in message


def test_day_file_holding_the_previous_days_trades_is_refused_with_their_count(
    tmp_path: Path,
) -> None:
    # Once "unsorted across days"; every file must hold its own UTC day only, which also
    # keeps the days in order.
    write_trades(tmp_path, DAY1, trades(at(DAY1, 23, 59, 50), 10, id_prefix="a"))
    path = write_trades(tmp_path, DAY2, trades(at(DAY1, 23, 59, 55), 20, id_prefix="b"))

    message = read_error(tmp_path, at(DAY1, 23), at(DAY2, 1))

    assert path in message
    assert f"trades stamped outside {DAY2.isoformat()} (UTC)" in message


def test_duplicated_trade_in_a_row_group_names_file_and_trade_id(tmp_path: Path) -> None:
    table = trades(at(DAY1, 10), 30, id_prefix="t")
    ids = table["trade_id"].to_pylist()
    ids[7] = ids[3]
    path = write_trades(
        tmp_path, DAY1, table.set_column(4, "trade_id", pa.array(ids)), row_group_size=10
    )

    message = read_error(tmp_path, at(DAY1, 10), at(DAY1, 11))

    assert path in message
    assert "trade_id 't000003' appears twice" in message


def test_duplicated_trade_across_distant_row_groups_is_found(tmp_path: Path) -> None:
    # 60 groups: the first id is merged into a larger level of seen ids before it comes back.
    table = trades(at(DAY1, 10), 600, id_prefix="t")
    ids = table["trade_id"].to_pylist()
    ids[555] = ids[4]
    path = write_trades(
        tmp_path, DAY1, table.set_column(4, "trade_id", pa.array(ids)), row_group_size=10
    )

    message = read_error(tmp_path, at(DAY1, 10), at(DAY1, 11))

    assert path in message
    assert "trade_id 't000004' appears twice in the window (second time in row group 55)" in message


def test_duplicated_trade_across_days_names_the_second_file(tmp_path: Path) -> None:
    write_trades(tmp_path, DAY1, trades(at(DAY1, 23, 59), 60, id_prefix="t"))
    path = write_trades(tmp_path, DAY2, trades(at(DAY2, 0), 60, id_prefix="t"))

    message = read_error(tmp_path, at(DAY1, 23, 59), at(DAY2, 0, 1))

    assert path in message
    assert "trade_id 't000000' appears twice" in message


def test_distinct_trade_ids_read_without_error_over_many_row_groups(desk: Path) -> None:
    # The duplicate check must not cry wolf on a clean two-day window of 172,800 trades.
    table = TickReader(str(desk)).read_window(INSTRUMENT, at(DAY1, 0), at(DAY2, 23, 59, 59))

    assert table.num_rows == 2 * 86_400 - 1
    assert pc.count_distinct(table["trade_id"]).as_py() == table.num_rows


def test_null_values_name_the_column(tmp_path: Path) -> None:
    table = trades(at(DAY1, 10), 30)
    sizes = table["size"].to_pylist()
    sizes[4] = None
    path = write_trades(tmp_path, DAY1, table.set_column(2, "size", pa.array(sizes)))

    message = read_error(tmp_path, at(DAY1, 10), at(DAY1, 11))

    assert path in message
    assert "column 'size' has 1 null values" in message


def binance_to_desk(source: pa.Table) -> pa.Table:
    """Binance's public trade dump in the desk's trade schema."""
    ms = source["timestamp"].cast(pa.int64())
    # buyer_maker "True": the buyer rested on the book, so the aggressor sold.
    side = pc.if_else(pc.equal(source["buyer_maker"], "True"), "SELL", "BUY")
    return pa.table(
        [
            pc.multiply(ms, 1_000_000),
            source["price"],
            source["quantity"],
            side,
            source["trade_id"].cast(pa.string()),
        ],
        schema=TRADE_SCHEMA,
    )


def test_real_binance_trades_of_a_ten_second_window(tmp_path: Path) -> None:
    source_path = REAL_DATA / "binance_btcusdt_trades_2021-01-08.parquet"
    if not source_path.exists():
        pytest.skip(f"real exchange data not found at {REAL_DATA}")
    source = pq.read_table(source_path)
    day = dt.date(2021, 1, 8)
    write_trades(tmp_path, day, binance_to_desk(source), row_group_size=250)
    start = dt.datetime(2021, 1, 8, 0, 0, 10, tzinfo=dt.UTC)
    end = start + dt.timedelta(seconds=10)

    reader = TickReader(str(tmp_path))
    table = reader.read_window(INSTRUMENT, start, end)

    in_window = pc.and_(
        pc.greater_equal(source["timestamp"], pa.scalar(start, pa.timestamp("ms", "UTC"))),
        pc.less(source["timestamp"], pa.scalar(end, pa.timestamp("ms", "UTC"))),
    )
    expected = source.filter(in_window)
    assert table.num_rows == expected.num_rows > 0
    assert table["trade_id"].to_pylist() == [str(i) for i in expected["trade_id"].to_pylist()]
    assert table["price"].equals(expected["price"])
    assert table["size"].equals(expected["quantity"])
    sold = [flag == "True" for flag in expected["buyer_maker"].to_pylist()]
    assert table["side"].to_pylist() == ["SELL" if s else "BUY" for s in sold]
    groups = pq.read_metadata(trades_path(str(tmp_path), day, INSTRUMENT)).num_row_groups
    assert reader.last_window_stats.row_groups_read < groups
