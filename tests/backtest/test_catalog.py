"""The vectorised catalog writer writes what Nautilus's own serializer writes, byte for byte."""

from __future__ import annotations

import datetime as dt
import math
import queue
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import (
    BacktestDataConfig,
    BacktestEngineConfig,
    BacktestRunConfig,
    BacktestVenueConfig,
    LoggingConfig,
)
from nautilus_trader.core.nautilus_pyo3 import DataBackendSession
from nautilus_trader.model.data import TradeTick, capsule_to_list
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from core.backtest.catalog import (
    open_catalog,
    to_fixed_binary,
    trade_tick_directory,
    trade_tick_file_name,
    write_trade_ticks,
)
from core.backtest.catalog_worker import SliceBatch, serve
from core.data.instrument_specs import InstrumentSpec, load_instrument_specs
from core.data.layout import TRADE_SCHEMA
from core.data.nautilus_instruments import to_nautilus_instrument
from core.data.ticks import TickReader, to_ns
from core.errors import DataError
from core.storage.roots import resolve

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
NS_PER_DAY = 86_400 * 1_000_000_000
DAY = int(dt.datetime(2021, 3, 15, tzinfo=dt.UTC).timestamp()) * 1_000_000_000

BTCUSDT = InstrumentSpec(
    instrument_id="BTCUSDT.BINANCE",
    venue="BINANCE",
    symbol="BTCUSDT",
    kind="spot",
    base="BTC",
    quote="USDT",
    settlement="USDT",
    tick_size=0.01,
    lot_size=0.000001,
    price_precision=2,
    size_precision=6,
    min_quantity=0.0,
    max_quantity=None,
    min_notional=0.0,
    maker_fee=0.001,
    taker_fee=0.001,
    multiplier=1.0,
    is_inverse=False,
)
# Precisions at both ends: 8-decimal prices, whole-contract sizes.
SHIBUSDT_PERP = msgspec.structs.replace(
    BTCUSDT,
    instrument_id="1000SHIBUSDT-PERP.BINANCE",
    symbol="1000SHIBUSDT-PERP",
    kind="perpetual",
    base="1000SHIB",
    tick_size=0.00000001,
    lot_size=1.0,
    price_precision=8,
    size_precision=0,
)


def _instrument(spec: InstrumentSpec = BTCUSDT) -> Instrument:
    return to_nautilus_instrument(spec)


def _desk_table(
    ts: list[int] | np.ndarray,
    price: list[float] | np.ndarray,
    size: list[float] | np.ndarray,
    side: list[str] | None = None,
    trade_id: list[str] | None = None,
) -> pa.Table:
    n = len(ts)
    return pa.table(
        {
            "ts_event": np.asarray(ts, dtype=np.int64),
            "price": np.asarray(price, dtype=np.float64),
            "size": np.asarray(size, dtype=np.float64),
            "side": side if side is not None else ["BUY", "SELL"] * (n // 2) + ["BUY"] * (n % 2),
            "trade_id": trade_id if trade_id is not None else [f"T{i}" for i in range(n)],
        },
        schema=TRADE_SCHEMA,
    )


def _official_ticks(instrument: Instrument, table: pa.Table) -> list[TradeTick]:
    """The reference path: one TradeTick per row, as a Nautilus user would build them."""
    sides = {"BUY": AggressorSide.BUYER, "SELL": AggressorSide.SELLER}
    rows = zip(*(table.column(name).to_pylist() for name in TRADE_SCHEMA.names), strict=True)
    return [
        TradeTick(
            instrument.id,
            Price(price, instrument.price_precision),
            Quantity(size, instrument.size_precision),
            sides[side],
            TradeId(trade_id),
            ts,
            ts,
        )
        for ts, price, size, side, trade_id in rows
    ]


def _tick_rows(ticks: list[TradeTick]) -> list[tuple]:
    return [
        (
            tick.instrument_id.value,
            tick.price.raw,
            tick.price.precision,
            tick.size.raw,
            tick.size.precision,
            tick.aggressor_side,
            tick.trade_id.value,
            tick.ts_event,
            tick.ts_init,
        )
        for tick in ticks
    ]


def _catalog_files(catalog: ParquetDataCatalog) -> dict[str, bytes]:
    root = catalog.path.rstrip("/")
    return {
        path.removeprefix(root): catalog.fs.cat_file(path)
        for path in catalog.fs.find(root)
        if path.endswith(".parquet")
    }


def _assert_written_as_nautilus_writes(
    tmp_path: Path, instrument: Instrument, table: pa.Table
) -> None:
    official = ParquetDataCatalog(str(tmp_path / "official"))
    ours = ParquetDataCatalog(str(tmp_path / "ours"))
    official.write_data(_official_ticks(instrument, table))

    assert write_trade_ticks(ours, instrument, table) == table.num_rows

    official_files, our_files = _catalog_files(official), _catalog_files(ours)
    assert list(our_files) == list(official_files)  # same folder and file name
    name = next(iter(official_files))
    assert pq.read_table(ours.fs.open(ours.path + name)).equals(
        pq.read_table(official.fs.open(official.path + name)), check_metadata=True
    )
    assert our_files[name] == official_files[name]  # byte for byte
    ids = [instrument.id.value]
    read_back = _tick_rows(ours.query(TradeTick, identifiers=ids))
    assert read_back == _tick_rows(official.query(TradeTick, identifiers=ids))
    assert len(read_back) == table.num_rows


def _real_binance_trades() -> pa.Table:
    path = REAL / "binance_btcusdt_trades_2021-01-08.parquet"
    if not path.exists():
        pytest.skip(f"real exchange data absent: {path}")
    real = pq.read_table(path)
    # buyer_maker "True": the buyer rested on the book, so the aggressor sold.
    side = pc.if_else(pc.equal(real.column("buyer_maker"), "True"), "SELL", "BUY")
    return pa.table(
        {
            "ts_event": pc.multiply(real.column("timestamp").cast(pa.int64()), 1_000_000),
            "price": real.column("price"),
            "size": real.column("quantity"),
            "side": side,
            "trade_id": real.column("trade_id").cast(pa.string()),
        },
        schema=TRADE_SCHEMA,
    )


def test_real_binance_trades_are_written_byte_for_byte_as_nautilus_writes(
    tmp_path: Path,
) -> None:
    table = _real_binance_trades()
    assert table.num_rows == 2001
    assert set(table.column("side").to_pylist()) == {"BUY", "SELL"}

    _assert_written_as_nautilus_writes(tmp_path, _instrument(), table)


def test_tricky_floats_round_exactly_as_nautilus_prices_and_quantities(tmp_path: Path) -> None:
    prices = [
        94123.45,
        0.1 + 0.2,  # 0.30000000000000004
        0.125,  # exactly half a tick: Nautilus rounds away from zero (0.13)
        2.675,  # 2.67499999... in binary, but x*100 is 267.5 in f64 (-> 2.68)
        1.005,  # 1.00499999... and x*100 is 100.49999999999999 (-> 1.00)
        94123.456,  # off the tick grid: rounded
        39430.3,
        17_000_000.0,
        0.01,
    ]
    sizes = [0.00001, 0.1 + 0.2, 0.0000005, 0.0000025, 123456.789012, 1.0, 0.000001, 2.5, 7e-6]
    ts = [DAY, DAY, DAY + 1, DAY + 1, DAY + 2, DAY + 10**9, DAY + 10**9, DAY + 2 * 10**9, DAY + 3]
    ts.sort()
    ids = ["a", "b" * 36, "553287559", "x-1", "Y", "z z", "7", "8", "9"]

    _assert_written_as_nautilus_writes(
        tmp_path, _instrument(), _desk_table(ts, prices, sizes, None, ids)
    )


def test_eight_decimal_prices_and_whole_sizes_match_nautilus(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 12_000  # more than one row group of the catalog's 5,000
    prices = rng.uniform(0.000005, 0.1, n)
    sizes = np.ceil(rng.uniform(0.5, 1e7, n))
    sizes[:3] = [0.5, 1.5, 2.5]  # halves round away from zero: 1, 2, 3
    ts = DAY + np.cumsum(rng.integers(0, 50_000_000, n))

    _assert_written_as_nautilus_writes(
        tmp_path, _instrument(SHIBUSDT_PERP), _desk_table(ts, prices, sizes)
    )


def test_fixed_point_values_equal_nautilus_raw_for_every_precision() -> None:
    rng = np.random.default_rng(11)
    for precision in range(17):
        values = rng.uniform(0, 1, 400) * 10.0 ** rng.integers(-7, 7, 400)
        halves = (np.floor(rng.uniform(0, 1e4, 100)) + 0.5) / 10**precision
        values = np.concatenate([values, halves, [0.1 + 0.2, 0.49999999999999994]])
        values = values[(values > 0) & (values * 10.0**precision < 2.0**63)]

        raw = [int.from_bytes(b, "little") for b in to_fixed_binary(values, precision).to_pylist()]

        assert raw == [Price(float(v), precision).raw for v in values]
        assert raw == [Quantity(float(v), precision).raw for v in values]


def test_each_call_writes_one_file_named_for_its_first_and_last_tick(tmp_path: Path) -> None:
    catalog = ParquetDataCatalog(str(tmp_path))
    instrument = _instrument()
    day1 = _desk_table([DAY + 5, DAY + 6, DAY + 9], [1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    day2 = _desk_table([DAY + NS_PER_DAY, DAY + NS_PER_DAY + 1], [4.0, 5.0], [1.0, 1.0])

    assert write_trade_ticks(catalog, instrument, day1) == 3
    assert write_trade_ticks(catalog, instrument, day2) == 2

    directory = trade_tick_directory(catalog, "BTCUSDT.BINANCE")
    assert directory == f"{tmp_path}/data/trade_tick/BTCUSDT.BINANCE"
    assert sorted(catalog.fs.ls(directory, detail=False)) == [
        f"{directory}/{trade_tick_file_name(DAY + 5, DAY + 9)}",
        f"{directory}/{trade_tick_file_name(DAY + NS_PER_DAY, DAY + NS_PER_DAY + 1)}",
    ]
    assert trade_tick_file_name(DAY + 5, DAY + 9) == (
        "2021-03-15T00-00-00-000000005Z_2021-03-15T00-00-00-000000009Z.parquet"
    )
    assert catalog.get_intervals(TradeTick, "BTCUSDT.BINANCE") == [
        (DAY + 5, DAY + 9),
        (DAY + NS_PER_DAY, DAY + NS_PER_DAY + 1),
    ]
    ticks = catalog.query(TradeTick, identifiers=["BTCUSDT.BINANCE"])
    assert [tick.price.as_double() for tick in ticks] == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_overlapping_chunk_is_refused_rather_than_silently_skipped(tmp_path: Path) -> None:
    catalog = ParquetDataCatalog(str(tmp_path))
    instrument = _instrument()
    write_trade_ticks(catalog, instrument, _desk_table([DAY, DAY + 10], [1.0, 1.0], [1.0, 1.0]))

    for ts in ([DAY, DAY + 10], [DAY + 10, DAY + 20]):
        with pytest.raises(DataError, match="overlap"):
            write_trade_ticks(catalog, instrument, _desk_table(ts, [1.0, 1.0], [1.0, 1.0]))
    assert len(catalog.query(TradeTick)) == 2


def test_empty_table_writes_nothing(tmp_path: Path) -> None:
    catalog = ParquetDataCatalog(str(tmp_path))

    assert write_trade_ticks(catalog, _instrument(), TRADE_SCHEMA.empty_table()) == 0
    assert not catalog.fs.exists(f"{tmp_path}/data")


@pytest.mark.parametrize(
    ("column", "bad", "problem"),
    [
        ("price", math.nan, "price nan"),
        ("price", math.inf, "price inf"),
        ("price", 0.0, "price 0.0"),
        ("price", -5.0, "price -5.0"),
        ("price", 0.004, "rounds to 0 at precision 2"),
        ("size", 0.0, "size 0.0"),
        ("size", -math.inf, "size -inf"),
        ("size", 0.0000004, "rounds to 0 at precision 6"),
        ("price", 2e13, "too large"),
    ],
)
def test_bad_price_or_size_raises_naming_instrument_and_ts_event(
    tmp_path: Path, column: str, bad: float, problem: str
) -> None:
    values = {"price": [100.0, 101.0, 102.0], "size": [1.0, 1.0, 1.0]}
    values[column][1] = bad
    table = _desk_table([DAY, DAY + 7, DAY + 9], values["price"], values["size"])
    catalog = ParquetDataCatalog(str(tmp_path))

    with pytest.raises(DataError) as caught:
        write_trade_ticks(catalog, _instrument(), table)

    message = str(caught.value)
    assert problem in message
    assert "BTCUSDT.BINANCE" in message
    assert f"ts_event {DAY + 7}" in message
    assert "\n" not in message
    assert not catalog.fs.exists(f"{tmp_path}/data")


@pytest.mark.parametrize(
    ("side", "trade_id", "ts", "problem"),
    [
        ("HOLD", "2", DAY + 7, "side 'HOLD' at ts_event"),
        ("BUY", "", DAY + 7, "trade_id '' at ts_event"),
        ("BUY", "   ", DAY + 7, "trade_id '   ' at ts_event"),
        ("BUY", "x" * 37, DAY + 7, "1 to 36 ASCII"),
        ("BUY", "tradé", DAY + 7, "1 to 36 ASCII"),  # would abort the process when read back
        ("BUY", "2", DAY - 1, "not sorted"),
    ],
)
def test_bad_side_trade_id_or_order_raises_data_error(
    tmp_path: Path, side: str, trade_id: str, ts: int, problem: str
) -> None:
    table = _desk_table(
        [DAY, ts, DAY + 9],
        [1.0, 1.0, 1.0],
        [1.0, 1.0, 1.0],
        ["BUY", side, "SELL"],
        ["1", trade_id, "3"],
    )

    with pytest.raises(DataError, match=problem):
        write_trade_ticks(ParquetDataCatalog(str(tmp_path)), _instrument(), table)


def test_wrong_schema_or_nulls_raise_data_error(tmp_path: Path) -> None:
    catalog = ParquetDataCatalog(str(tmp_path))
    table = _desk_table([DAY], [1.0], [1.0])

    with pytest.raises(DataError, match="missing column 'trade_id'"):
        write_trade_ticks(catalog, _instrument(), table.drop_columns(["trade_id"]))
    with pytest.raises(DataError, match="column 'price' is float, expected double"):
        write_trade_ticks(
            catalog, _instrument(), table.set_column(1, "price", pa.array([1.0], pa.float32()))
        )
    nulls = table.set_column(2, "size", pa.array([None], pa.float64()))
    with pytest.raises(DataError, match="column 'size' has nulls"):
        write_trade_ticks(catalog, _instrument(), nulls)


def test_catalog_opened_from_a_remote_url_is_written_through_fsspec() -> None:
    catalog = open_catalog("memory://desk-test/catalog")
    instrument = _instrument()
    try:
        write_trade_ticks(catalog, instrument, _desk_table([DAY, DAY + 1], [1.0, 2.0], [1.0, 1.0]))

        assert catalog.path == "/desk-test/catalog"
        assert list(_catalog_files(catalog)) == [
            f"/data/trade_tick/BTCUSDT.BINANCE/{trade_tick_file_name(DAY, DAY + 1)}"
        ]
    finally:
        catalog.fs.rm("/desk-test", recursive=True)


def test_worker_slices_are_written_byte_for_byte_as_nautilus_writes(
    demo_root: str, tmp_path: Path
) -> None:
    # The worker writes without Nautilus and keeps its own intervals: its files must still be
    # the ones Nautilus writes for the same ticks, where a catalog looks for them.
    specs = load_instrument_specs(demo_root, dt.date(2026, 1, 5))
    start = dt.datetime(2026, 1, 5, 18, tzinfo=dt.UTC)
    end = start + dt.timedelta(hours=12)
    slice_ends = [to_ns(start + dt.timedelta(hours=6)), to_ns(end)]
    ours = ParquetDataCatalog(str(tmp_path / "ours"))
    jobs: queue.Queue = queue.Queue()
    out: queue.Queue = queue.Queue()
    jobs.put((demo_root, str(tmp_path / "ours"), list(specs.values()), start, end, slice_ends))

    serve(jobs, out, own_process=False)

    batches = [out.get_nowait() for _ in slice_ends]
    assert out.empty()
    assert all(isinstance(batch, SliceBatch) for batch in batches)
    root = resolve(str(tmp_path / "ours"))[1]
    files = [path for batch in batches for path in batch.files]
    assert sorted(path.removeprefix(root) for path in files) == sorted(_catalog_files(ours))
    official = ParquetDataCatalog(str(tmp_path / "official"))
    reader = TickReader(demo_root)
    for key, spec in specs.items():
        desk = reader.read_window(key, start, end)
        ts = desk.column("ts_event")
        paths = [path for path in files if path.split("/")[-2] == key]
        assert len(paths) == len(slice_ends)
        for path in paths:
            written = pq.read_table(path, columns=["ts_init"]).column("ts_init")
            first, last = written[0].as_py(), written[-1].as_py()
            part = desk.filter(pc.and_(pc.greater_equal(ts, first), pc.less_equal(ts, last)))
            official.write_data(_official_ticks(_instrument(spec), part))
        assert sum(batch.ticks[key] for batch in batches) == desk.num_rows > 0
    assert _catalog_files(ours) == _catalog_files(official)


class _TickRecorder(Actor):
    """Records every trade tick the engine delivers, in delivery order."""

    def __init__(self, instrument: Instrument) -> None:
        super().__init__()
        self.instrument = instrument
        self.seen: list[tuple[int, int]] = []

    def on_start(self) -> None:
        self.subscribe_trade_ticks(self.instrument.id)

    def on_trade_tick(self, tick: TradeTick) -> None:
        self.seen.append((tick.ts_event, tick.price.raw))


def test_backtest_node_streams_our_files_in_chunks(tmp_path: Path) -> None:
    instrument = _instrument()
    catalog = ParquetDataCatalog(str(tmp_path))
    catalog.write_data([instrument])
    n = 1_000
    for day in (DAY, DAY + NS_PER_DAY):
        ts = day + np.arange(n, dtype=np.int64) * 1_000_000_000
        write_trade_ticks(
            catalog, instrument, _desk_table(ts, 100 + np.arange(n) * 0.01, [0.5] * n)
        )
    start, end = DAY + 500 * 10**9, DAY + NS_PER_DAY + 499 * 10**9
    chunk_size = 300

    # What BacktestNode does with chunk_size: one session yielding chunks of that many ticks.
    session = catalog.backend_session(
        TradeTick,
        identifiers=["BTCUSDT.BINANCE"],
        session=DataBackendSession(chunk_size=chunk_size),
    )
    chunks = [len(capsule_to_list(chunk)) for chunk in session.to_query_result()]
    assert chunks == [300] * 6 + [200]

    recorder = _TickRecorder(instrument)
    node = BacktestNode(
        [
            BacktestRunConfig(
                engine=BacktestEngineConfig(
                    logging=LoggingConfig(bypass_logging=True), run_analysis=False
                ),
                venues=[
                    BacktestVenueConfig(
                        name="BINANCE",
                        oms_type="NETTING",
                        account_type="CASH",
                        starting_balances=["1000 USDT"],
                    )
                ],
                data=[
                    BacktestDataConfig(
                        catalog_path=str(tmp_path),
                        data_cls=TradeTick,
                        instrument_id=instrument.id,
                        start_time=start,
                        end_time=end,
                    )
                ],
                chunk_size=chunk_size,
                dispose_on_completion=False,
                raise_exception=True,
            )
        ]
    )
    try:
        node.build()
        node.get_engines()[0].add_actor(recorder)
        node.run()
    finally:
        node.dispose()

    expected = [
        (tick.ts_event, tick.price.raw) for tick in catalog.query(TradeTick, start=start, end=end)
    ]
    assert len(expected) == n
    assert recorder.seen == expected
