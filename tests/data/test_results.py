"""The five result files, how they are written, and run ids."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from typing import ClassVar

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from core.data import results
from core.data.results import (
    EQUITY_SCHEMA,
    FILLS_SCHEMA,
    ORDERS_SCHEMA,
    POSITIONS_SCHEMA,
    Metrics,
    Period,
    Pnl,
    ResultTables,
    Summary,
    execution_stats,
    read_summary,
    write_failed_summary,
    write_results,
)
from core.data.run_id import RUN_ID_PATTERN, allocate_run_id
from core.errors import DataError

NOW = dt.datetime(2026, 11, 23, 17, 5, 0, 123456, tzinfo=dt.UTC)
RUN_ID = "BT-20261123-001"
T0 = 1_795_453_200 * 10**9  # 2026-11-23T17:00:00Z
PARQUET_FILES = ["orders.parquet", "fills.parquet", "positions.parquet", "equity_curve.parquet"]


class RecordingFileSystem(MemoryFileSystem):
    """An in-memory store that notes, at each move into place, which files were already there."""

    protocol = "recmem"
    moves: ClassVar[list[tuple[str, set[str]]]] = []

    @classmethod
    def _strip_protocol(cls, path):
        return super()._strip_protocol(path.removeprefix("recmem://"))

    def mv(self, path1, path2, **kwargs):
        folder, name = path2.rsplit("/", 1)
        present = {p.rsplit("/", 1)[-1] for p in self.find(folder)}
        RecordingFileSystem.moves.append((name, present))
        return super().mv(path1, path2, **kwargs)


fsspec.register_implementation("recmem", RecordingFileSystem, clobber=True)


def tables() -> ResultTables:
    """Tables as a runner builds them: polars, ns ints, columns out of order, an extra column."""
    orders = pl.DataFrame(
        {
            "status": ["FILLED", "REJECTED", "DENIED"],
            "order_id": ["O-1", "O-2", "O-3"],
            "operation_id": ["REB-1", "REB-1", "REB-2"],
            "instrument_key": ["BTCUSDT.BINANCE"] * 3,
            "side": ["BUY", "SELL", "BUY"],
            "order_type": ["MARKET", "LIMIT", "MARKET"],
            "quantity": [1, 2, 3],  # ints: cast to float64 without loss
            "filled_quantity": [1.0, 0.0, 0.0],
            "price": [None, 40_000.5, None],
            "created_at": [T0, T0 + 1, T0 + 2],
            "updated_at": [T0 + 10, T0 + 11, T0 + 12],
            "rejection_reason": [None, "post-only would cross", "notional over limit"],
        }
    )
    fills = pl.DataFrame(
        {
            "fill_id": ["F-1"],
            "order_id": ["O-1"],
            "instrument_key": ["BTCUSDT.BINANCE"],
            "side": ["BUY"],
            "quantity": [1.0],
            "price": [40_001.0],
            "fee": [40.001],
            "fee_currency": ["USDT"],
            "ts_event": [T0 + 10],
            "venue": ["BINANCE"],
            "decision_price": [40_000.0],  # a working column, not part of the file
        }
    )
    positions = pl.DataFrame(
        {
            # microseconds in Paris time: converted to ns UTC on write
            "ts_event": pl.Series([T0 + 10_000])
            .cast(pl.Datetime("ns", "UTC"))
            .dt.cast_time_unit("us")
            .dt.convert_time_zone("Europe/Paris"),
            "instrument_key": ["BTCUSDT.BINANCE"],
            "quantity": [1.0],
            "avg_entry_price": [40_001.0],
            "current_price": [40_001.0],
            "unrealized_pnl": [0.0],
            "realized_pnl": [0.0],
        }
    )
    equity = pl.DataFrame(
        {
            "ts_event": [T0, T0 + 60 * 10**9],
            "portfolio_value": [100_000.0, 99_950.0],
            "cash_balance": [100_000.0, 59_958.999],
            "margin_used": [0.0, 0.0],
            "unrealized_pnl": [0.0, -9.0],
            "drawdown_pct": [0.0, 0.05],
        }
    )
    return ResultTables(orders=orders, fills=fills, positions=positions, equity_curve=equity)


def summary(run_id: str = RUN_ID, **changes) -> Summary:
    fields = {
        "run_id": run_id,
        "status": "COMPLETED",
        "created_at": NOW,
        "config": {"strategy": {"id": "rebal"}, "data": {"root": "/data"}},
        "period": Period(NOW - dt.timedelta(days=1), NOW),
        "pnl": Pnl(gross_pnl=-9.0, net_pnl=-49.001, total_fees=40.001, funding_paid=0.0),
        "metrics": Metrics(
            sharpe_ratio=1.5,
            sortino_ratio=None,
            max_drawdown_pct=0.05,
            win_rate=None,
            profit_factor=None,
            total_trades=0,
        ),
        "execution_stats": execution_stats(
            tables(),
            avg_slippage_bps=2.5,
            ticks_processed=1000,
            bytes_read=2048,
            wall_seconds=2.0,
            row_groups_read=3,
        ),
        "starting_value": 100_000.0,
        "final_value": 99_950.0,
    }
    fields.update(changes)
    return Summary(**fields)


def test_each_file_holds_exactly_its_columns_in_order_with_the_right_types(tmp_path) -> None:
    folder = write_results(str(tmp_path), RUN_ID, tables(), summary())
    assert folder == str(tmp_path / "backtest_results" / RUN_ID)
    expected = {
        "orders.parquet": ORDERS_SCHEMA,
        "fills.parquet": FILLS_SCHEMA,
        "positions.parquet": POSITIONS_SCHEMA,
        "equity_curve.parquet": EQUITY_SCHEMA,
    }
    for name, schema in expected.items():
        written = pq.read_schema(tmp_path / "backtest_results" / RUN_ID / name)
        assert written.names == schema.names, name
        assert written.types == schema.types, name
    orders = pq.read_table(tmp_path / "backtest_results" / RUN_ID / "orders.parquet")
    assert orders.column("quantity").to_pylist() == [1.0, 2.0, 3.0]
    assert orders.column("created_at").type == pa.timestamp("ns", tz="UTC")
    positions = pq.read_table(tmp_path / "backtest_results" / RUN_ID / "positions.parquet")
    # an instant given in Paris time with us precision is the same instant in ns UTC
    assert positions.column("ts_event").cast(pa.int64()).to_pylist() == [T0 + 10_000]
    assert sorted(p.name for p in (tmp_path / "backtest_results" / RUN_ID).iterdir()) == sorted(
        [*PARQUET_FILES, "summary.json"]
    )


def test_summary_json_is_moved_into_place_after_all_four_parquet_files() -> None:
    root = f"recmem://results-{uuid.uuid4().hex}"
    RecordingFileSystem.moves.clear()
    folder = write_results(root, RUN_ID, tables(), summary())
    assert read_summary(folder).run_id == RUN_ID  # the returned URL names the folder
    names = [name for name, _ in RecordingFileSystem.moves]
    assert names == [*PARQUET_FILES, "summary.json"]
    for name, present in RecordingFileSystem.moves:
        assert "summary.json" not in present, f"summary.json existed before {name} was moved"
    _, present_at_summary = RecordingFileSystem.moves[-1]
    assert set(PARQUET_FILES) <= present_at_summary


def test_a_missing_column_names_the_file_and_column_and_writes_nothing(tmp_path) -> None:
    broken = tables()
    broken = ResultTables(
        orders=broken.orders,
        fills=broken.fills,
        positions=broken.positions,
        equity_curve=broken.equity_curve.drop("margin_used"),
    )
    with pytest.raises(ValueError, match=r"^equity_curve.parquet: missing column 'margin_used'$"):
        write_results(str(tmp_path), RUN_ID, broken, summary())
    assert not (tmp_path / "backtest_results").exists()


def test_a_cast_that_would_lose_or_change_meaning_is_refused(tmp_path) -> None:
    base = tables()
    as_text = base.fills.with_columns(pl.col("price").cast(pl.String))
    with pytest.raises(ValueError, match=r"fills.parquet: column 'price' is large_string"):
        write_results(
            str(tmp_path),
            RUN_ID,
            ResultTables(base.orders, as_text, base.positions, base.equity_curve),
            summary(),
        )
    huge = base.orders.with_columns(pl.Series("quantity", [1, 2, 2**60 + 1]))
    with pytest.raises(ValueError, match=r"orders.parquet: column 'quantity' cannot be cast"):
        write_results(
            str(tmp_path),
            RUN_ID,
            ResultTables(huge, base.fills, base.positions, base.equity_curve),
            summary(),
        )


def test_a_null_in_a_required_column_is_refused(tmp_path) -> None:
    base = tables()
    nulls = base.orders.with_columns(pl.Series("order_id", ["O-1", None, "O-3"]))
    with pytest.raises(ValueError, match=r"orders.parquet: column 'order_id' has 1 nulls"):
        write_results(
            str(tmp_path),
            RUN_ID,
            ResultTables(nulls, base.fills, base.positions, base.equity_curve),
            summary(),
        )


def test_failed_summary_removes_parquet_files_and_records_the_error(tmp_path) -> None:
    folder = tmp_path / "backtest_results" / RUN_ID
    write_results(str(tmp_path), RUN_ID, tables(), summary())
    (folder / ".orders.parquet.0123.tmp").write_bytes(b"half")  # a write cut short
    url = write_failed_summary(
        str(tmp_path), RUN_ID, "DataError: bad tick\n  in file x.parquet", {"a": 1}, NOW
    )
    assert url == str(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["summary.json"]
    failed = read_summary(url)
    assert failed.status == "FAILED"
    assert failed.error == "DataError: bad tick | in file x.parquet"
    assert failed.config == {"a": 1}
    assert failed.metrics is None and failed.pnl is None


def test_summary_json_writes_null_for_non_finite_numbers(tmp_path) -> None:
    nan = float("nan")
    stats = execution_stats(
        tables(), avg_slippage_bps=nan, ticks_processed=0, bytes_read=0, wall_seconds=0.0
    )
    stats["extra_ratio"] = float("inf")
    weird = summary(
        metrics=Metrics(
            sharpe_ratio=nan,
            sortino_ratio=float("inf"),
            max_drawdown_pct=None,
            win_rate=None,
            profit_factor=float("-inf"),
            total_trades=0,
        ),
        execution_stats=stats,
        config={"threshold": nan},
    )
    folder = write_results(str(tmp_path), RUN_ID, tables(), weird)
    text = (tmp_path / "backtest_results" / RUN_ID / "summary.json").read_text()

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in summary.json")

    data = json.loads(text, parse_constant=refuse)
    assert data["metrics"]["sharpe_ratio"] is None
    assert data["metrics"]["sortino_ratio"] is None
    assert data["metrics"]["profit_factor"] is None
    assert data["execution_stats"]["avg_slippage_bps"] is None
    assert data["execution_stats"]["ticks_per_second"] is None  # nothing timed
    assert data["execution_stats"]["extra_ratio"] is None
    assert data["config"]["threshold"] is None
    assert read_summary(folder).metrics == weird.metrics


def test_summary_json_has_the_documented_keys_in_order_and_reads_back(tmp_path) -> None:
    written = summary()
    folder = write_results(str(tmp_path), RUN_ID, tables(), written)
    data = json.loads((tmp_path / "backtest_results" / RUN_ID / "summary.json").read_text())
    assert list(data) == [
        "run_id",
        "status",
        "error",
        "created_at",
        "config",
        "period",
        "pnl",
        "metrics",
        "execution_stats",
        "starting_value",
        "final_value",
    ]
    assert data["created_at"] == "2026-11-23T17:05:00.123456Z"
    assert data["error"] is None
    assert data["execution_stats"]["rejected"] == 2  # REJECTED and DENIED
    assert data["execution_stats"]["ticks_per_second"] == 500.0
    assert data["execution_stats"]["row_groups_read"] == 3
    assert read_summary(folder) == written


def test_reading_a_folder_without_summary_is_a_data_error(tmp_path) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(DataError, match=r"summary.json: missing: the run is incomplete"):
        read_summary(str(tmp_path / "run"))
    (tmp_path / "run" / "summary.json").write_text('{"run_id": "nope"}')
    with pytest.raises(DataError, match=r"summary.json: not a valid summary"):
        read_summary(str(tmp_path / "run"))


def test_a_completed_summary_needs_its_results_and_a_failed_one_its_error() -> None:
    with pytest.raises(ValueError, match=r"summary.pnl: required"):
        summary(pnl=None)
    with pytest.raises(ValueError, match=r"summary.error: a FAILED summary needs the error"):
        Summary(run_id=RUN_ID, status="FAILED", created_at=NOW, config={})
    with pytest.raises(ValueError, match=r"summary.error: a CANCELLED summary needs the error"):
        Summary(run_id=RUN_ID, status="CANCELLED", created_at=NOW, config={})
    with pytest.raises(ValueError, match=r"is not BT-YYYYMMDD-NNN"):
        summary(run_id="run-1")
    with pytest.raises(ValueError, match=r"created_at: must be time zone-aware"):
        summary(created_at=NOW.replace(tzinfo=None))


def test_a_cancelled_run_leaves_a_cancelled_summary_and_no_parquet_file(tmp_path) -> None:
    folder = write_results(str(tmp_path), RUN_ID, tables(), summary())
    written = write_failed_summary(
        str(tmp_path), RUN_ID, "cancelled by the operator", {}, NOW, status="CANCELLED"
    )
    assert written == folder
    cancelled = read_summary(folder)
    assert (cancelled.status, cancelled.error) == ("CANCELLED", "cancelled by the operator")
    assert [p.name for p in (tmp_path / "backtest_results" / RUN_ID).iterdir()] == ["summary.json"]


def test_write_results_refuses_a_summary_of_another_run(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"run_id 'BT-20261123-002' is not 'BT-20261123-001'"):
        write_results(str(tmp_path), RUN_ID, tables(), summary(run_id="BT-20261123-002"))


def test_allocate_run_id_gives_001_then_002_in_the_format(tmp_path) -> None:
    first = allocate_run_id(str(tmp_path), NOW)
    second = allocate_run_id(str(tmp_path), NOW)
    assert (first, second) == ("BT-20261123-001", "BT-20261123-002")
    assert RUN_ID_PATTERN.match(first) is not None
    assert (tmp_path / "backtest_results" / first / "_claimed").exists()
    next_day = allocate_run_id(str(tmp_path), NOW + dt.timedelta(days=1))
    assert next_day == "BT-20261124-001"


def test_allocate_run_id_takes_the_utc_date() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    root = f"memory://ids-{uuid.uuid4().hex}"
    # 00:30 in Paris on the 24th is 23:30 UTC on the 23rd
    assert allocate_run_id(root, dt.datetime(2026, 11, 24, 0, 30, tzinfo=paris)) == RUN_ID


def test_allocate_run_id_never_repeats_between_racing_threads(tmp_path) -> None:
    ids: list[str] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        ids.append(allocate_run_id(str(tmp_path), NOW))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ids) == [f"BT-20261123-{n:03d}" for n in range(1, 9)]


def test_allocate_run_id_on_a_remote_root_skips_taken_folders() -> None:
    root = f"memory://ids-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    # a finished run without a marker still owns its id
    fs.pipe_file(f"{root.removeprefix('memory://')}/backtest_results/{RUN_ID}/summary.json", b"{}")
    assert allocate_run_id(root, NOW) == "BT-20261123-002"
    assert allocate_run_id(root, NOW) == "BT-20261123-003"


def test_allocate_run_id_past_999_uses_four_digits(tmp_path) -> None:
    (tmp_path / "backtest_results" / "BT-20261123-999").mkdir(parents=True)
    assert allocate_run_id(str(tmp_path), NOW) == "BT-20261123-1000"


def test_allocate_run_id_needs_an_aware_time(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"time zone-aware"):
        allocate_run_id(str(tmp_path), NOW.replace(tzinfo=None))


def test_failed_summary_is_written_even_for_an_unwritten_run_with_an_odd_config(tmp_path) -> None:
    odd = {"when": object()}
    with pytest.raises(ValueError, match=r"summary.json: cannot encode"):
        write_results(str(tmp_path), RUN_ID, tables(), summary(config=odd))
    url = write_failed_summary(str(tmp_path), "BT-20261123-007", "boom", odd, NOW)
    failed = read_summary(url)
    assert (failed.status, failed.error) == ("FAILED", "boom")
    assert failed.config["when"].startswith("<object object")


def test_a_bucket_error_after_gcsfs_retries_is_one_line_naming_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # gcsfs raises its own HttpError (not an OSError) once its retries are spent.
    from gcsfs.retry import HttpError

    class FailingBucket(fsspec.AbstractFileSystem):
        protocol = "gs"

        def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kw):
            raise HttpError({"code": 503, "message": "Backend Error"})

    monkeypatch.setattr(results, "resolve", lambda url: (FailingBucket(), "desk/BT-1"))
    with pytest.raises(DataError) as raised:
        results.read_summary("gs://desk/BT-1")
    assert str(raised.value) == "gs://desk/BT-1/summary.json: cannot read: Backend Error, 503"
