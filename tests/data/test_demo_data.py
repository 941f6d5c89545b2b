"""The demo data set: written in the desk's layout, deterministic, and shaped like real trades."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import fsspec
import numpy as np
import pyarrow.parquet as pq
import pytest

from core.data.demo_data import generate_demo_data
from core.data.layout import (
    INSTRUMENT_SCHEMA,
    SIGNAL_SCHEMA,
    TRADE_SCHEMA,
    instruments_path,
    signals_path,
    trades_path,
)
from core.errors import ConfigError, DataError

FIRST_DAY = dt.date(2026, 1, 5)
DAYS = [FIRST_DAY, FIRST_DAY + dt.timedelta(days=1)]
INSTRUMENTS = ["BTCUSDT.BINANCE", "ETHUSDT.BINANCE"]
SMALL = {"BTCUSDT.BINANCE": 20_000, "ETHUSDT.BINANCE": 15_000}
NS_PER_DAY = 86_400 * 1_000_000_000
NS_PER_MINUTE = 60 * 1_000_000_000


def _generate(root: Path, seed: int = 7) -> None:
    generate_demo_data(str(root), days=2, seed=seed, first_day=FIRST_DAY, trades_per_day=SMALL)


def _day_start(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 10**9


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("demo")
    _generate(path)
    return str(path)


def _trades(root: str, day: dt.date, instrument_id: str):
    return pq.read_table(trades_path(root, day, instrument_id))


def _instruments(root: str, day: dt.date) -> dict[str, dict]:
    rows = pq.read_table(instruments_path(root, day)).to_pylist()
    return {row["instrument_id"]: row for row in rows}


def test_every_file_is_at_its_layout_path_with_the_layout_schema(root: str) -> None:
    for day in DAYS:
        assert pq.read_schema(instruments_path(root, day)) == INSTRUMENT_SCHEMA
        assert pq.read_schema(signals_path(root, day)) == SIGNAL_SCHEMA
        for instrument_id in INSTRUMENTS:
            assert pq.read_schema(trades_path(root, day, instrument_id)) == TRADE_SCHEMA


def test_report_lists_files_rows_and_progress(tmp_path: Path) -> None:
    notes: list[str] = []
    report = generate_demo_data(
        str(tmp_path), days=1, trades_per_day={"BTCUSDT.BINANCE": 500}, progress=notes.append
    )
    assert report.rows_per_instrument == {"BTCUSDT.BINANCE": 500, "ETHUSDT.BINANCE": 350_000}
    assert report.total_trades == 350_500
    assert len(report.files) == 4 == len(notes)
    assert all(Path(f).is_file() for f in report.files)
    assert (
        pq.read_metadata(trades_path(str(tmp_path), FIRST_DAY, "BTCUSDT.BINANCE")).num_rows == 500
    )


def test_instruments_have_binance_spot_specs(root: str) -> None:
    for day in DAYS:
        specs = _instruments(root, day)
        assert sorted(specs) == INSTRUMENTS
        btc = specs["BTCUSDT.BINANCE"]
        assert (btc["kind"], btc["venue"], btc["base"], btc["quote"]) == (
            "spot",
            "BINANCE",
            "BTC",
            "USDT",
        )
        assert (btc["tick_size"], btc["lot_size"], btc["min_notional"]) == (0.01, 0.00001, 5.0)
        assert (btc["maker_fee"], btc["taker_fee"], btc["multiplier"]) == (0.001, 0.001, 1.0)
        assert specs["ETHUSDT.BINANCE"]["lot_size"] == 0.0001


def test_same_seed_gives_identical_tables_and_another_seed_differs(
    root: str, tmp_path: Path
) -> None:
    _generate(tmp_path / "same")
    _generate(tmp_path / "other", seed=8)
    for day in DAYS:
        for instrument_id in INSTRUMENTS:
            again = _trades(str(tmp_path / "same"), day, instrument_id)
            assert again.equals(_trades(root, day, instrument_id))
            assert not _trades(str(tmp_path / "other"), day, instrument_id).equals(again)
        signals = pq.read_table(signals_path(root, day))
        assert pq.read_table(signals_path(str(tmp_path / "same"), day)).equals(signals)
        assert not pq.read_table(signals_path(str(tmp_path / "other"), day)).equals(signals)


def test_trade_times_are_sorted_and_inside_their_day(root: str) -> None:
    for day in DAYS:
        start = _day_start(day)
        for instrument_id in INSTRUMENTS:
            ts = _trades(root, day, instrument_id).column("ts_event").to_numpy()
            assert np.all(np.diff(ts) >= 0)
            assert ts[0] > start and ts[-1] < start + NS_PER_DAY


def test_prices_and_sizes_sit_on_the_instrument_grid(root: str) -> None:
    for day in DAYS:
        specs = _instruments(root, day)
        for instrument_id in INSTRUMENTS:
            spec = specs[instrument_id]
            table = _trades(root, day, instrument_id)
            ticks = table.column("price").to_numpy() / spec["tick_size"]
            lots = table.column("size").to_numpy() / spec["lot_size"]
            assert np.abs(ticks - np.rint(ticks)).max() < 1e-6
            assert np.abs(lots - np.rint(lots)).max() < 1e-6
            assert table.column("size").to_numpy().min() >= spec["min_quantity"]
            assert set(table.column("side").to_pylist()) == {"BUY", "SELL"}


def test_prices_start_near_reference_and_continue_across_days(root: str) -> None:
    for instrument_id, start in (("BTCUSDT.BINANCE", 94_000.0), ("ETHUSDT.BINANCE", 3_300.0)):
        first = _trades(root, DAYS[0], instrument_id).column("price").to_numpy()
        second = _trades(root, DAYS[1], instrument_id).column("price").to_numpy()
        assert abs(first[0] / start - 1) < 0.001
        assert abs(second[0] / first[-1] - 1) < 0.001


def test_trade_ids_are_continuous_across_days(root: str) -> None:
    for instrument_id in INSTRUMENTS:
        ids = np.concatenate(
            [_trades(root, day, instrument_id).column("trade_id").to_numpy() for day in DAYS]
        ).astype(np.int64)
        assert np.array_equal(np.diff(ids), np.ones(ids.size - 1, dtype=np.int64))


def test_each_trades_row_group_spans_one_ten_minute_bucket(root: str) -> None:
    for day in DAYS:
        start = _day_start(day)
        for instrument_id in INSTRUMENTS:
            meta = pq.read_metadata(trades_path(root, day, instrument_id))
            assert meta.num_row_groups > 100  # a busy day fills most of its 144 buckets
            for i in range(meta.num_row_groups):
                stats = meta.row_group(i).column(0).statistics
                assert stats.has_min_max
                assert (stats.min - start) // (10 * NS_PER_MINUTE) == (stats.max - start) // (
                    10 * NS_PER_MINUTE
                )


def test_absolute_minute_returns_cluster(root: str) -> None:
    # Averaged over series: the intraday profile alone gives about 0.05, clustering about 0.25.
    correlations = []
    for day in DAYS:
        start = _day_start(day)
        for instrument_id in INSTRUMENTS:
            table = _trades(root, day, instrument_id)
            minute = (table.column("ts_event").to_numpy() - start) // NS_PER_MINUTE
            last = np.searchsorted(minute, np.arange(1, 1441), side="left") - 1
            returns = np.abs(np.diff(np.log(table.column("price").to_numpy()[last])))
            correlations.append(np.corrcoef(returns[:-1], returns[1:])[0, 1])
    assert np.mean(correlations) > 0.15


def test_trade_sizes_look_lognormal_and_sides_balance(root: str) -> None:
    for day in DAYS:
        for instrument_id in INSTRUMENTS:
            table = _trades(root, day, instrument_id)
            logs = np.log(table.column("size").to_numpy())
            skew = np.mean((logs - logs.mean()) ** 3) / logs.std() ** 3
            assert abs(skew) < 1
            buys = np.mean(table.column("side").to_numpy(zero_copy_only=False) == "BUY")
            assert 0.45 < buys < 0.55


def test_signals_are_bounded_target_sets_of_listed_instruments(root: str) -> None:
    for day in DAYS:
        signals = pq.read_table(signals_path(root, day)).to_pylist()
        listed = set(_instruments(root, day))
        ts = [row["ts_event"] for row in signals]
        assert ts == sorted(ts)
        by_id: dict[str, list[dict]] = {}
        for row in signals:
            by_id.setdefault(row["signal_id"], []).append(row)
        assert 15 <= len(by_id) <= 45
        for signal_id, rows in by_id.items():
            assert re.fullmatch(rf"SIG-{day:%Y%m%d}-\d{{3}}", signal_id)
            assert {row["instrument_id"] for row in rows} <= listed
            assert len({row["ts_event"] for row in rows}) == 1
            assert {row["strategy_id"] for row in rows} == {"demo-rebalance"}
            weights = [row["target_weight"] for row in rows]
            assert all(0.0 <= w <= 0.45 for w in weights)
            assert sum(weights) <= 0.9


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"days": 0}, "days"),
        ({"seed": -1}, "seed"),
        ({"first_day": dt.datetime(2026, 1, 5)}, "first_day"),
        ({"trades_per_day": {"SOLUSDT.BINANCE": 10}}, "SOLUSDT.BINANCE"),
        ({"trades_per_day": {"BTCUSDT.BINANCE": -5}}, "BTCUSDT.BINANCE"),
    ],
)
def test_bad_arguments_raise_one_line_config_error(
    tmp_path: Path, kwargs: dict, field: str
) -> None:
    with pytest.raises(ConfigError) as error:
        generate_demo_data(str(tmp_path), **kwargs)
    assert field in str(error.value) and "\n" not in str(error.value)


def test_unwritable_root_raises_one_line_data_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the root should be")
    with pytest.raises(DataError) as error:
        generate_demo_data(str(blocker), days=1, trades_per_day={"BTCUSDT.BINANCE": 10})
    assert "not-a-folder" in str(error.value) and "\n" not in str(error.value)


def test_writes_through_fsspec_to_a_non_local_root() -> None:
    fs = fsspec.filesystem("memory")
    try:
        report = generate_demo_data(
            "memory://demo-data-test", days=1, trades_per_day={k: 300 for k in INSTRUMENTS}
        )
        assert all(f.startswith("memory://") for f in report.files)
        with fs.open(trades_path("/demo-data-test", FIRST_DAY, INSTRUMENTS[0]), "rb") as f:
            assert pq.read_table(f).num_rows == 300
    finally:
        fs.rm("/demo-data-test", recursive=True)
