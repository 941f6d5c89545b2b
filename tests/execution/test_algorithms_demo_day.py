"""Each execution algorithm over a whole demo day with the default config (issue 17).

One backtest per algorithm (``[execution] algorithm``, every order worked: the default
``algorithm_above_notional`` is 0) over the second demo day, whose signals come as close as a
minute apart. What is checked comes from the run's own ``orders.parquet`` and ``fills.parquet``:
no child is denied, parents of one instrument never work side by side (a new rebalance
replaces what is left of the old parent), and every parent ends filled, replaced, or still
working when the period ends.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from core.backtest.pipeline import BacktestOutcome, run_backtest
from core.config import load_config
from core.data.results import FILLS_FILE, ORDERS_FILE, SUMMARY_FILE
from core.data.ticks import TickReader

ConfigWriter = Callable[..., Path]  # conftest's config_writer

DAY = ("2026-01-06T00:00:00+00:00", "2026-01-07T00:00:00+00:00")  # the VWAP's history: day 1
CHILD = re.compile(r"-E\d+$")
HORIZON_SECS = 600  # [execution]'s default TWAP and VWAP horizon
HALF_LOT = 0.5e-5  # BTC's lot is 1e-5, ETH's 1e-4
LATENCY_NS = 20_000_000  # [[venues]]'s default latency_ms


@dataclass(frozen=True)
class DayRun:
    """A finished demo-day run: its orders (with each one's ``parent``), fills, summary."""

    algorithm: str
    orders: pl.DataFrame
    fills: pl.DataFrame
    working_at_end: list[str]


# Nautilus's BacktestNode calls a pandas API deprecated in pandas 3 on every run.
pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")


@pytest.fixture(scope="module", params=["twap", "vwap", "iceberg"])
def day_run(
    request: pytest.FixtureRequest,
    config_writer: ConfigWriter,
    demo_root: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> DayRun:
    folder = tmp_path_factory.mktemp(f"day-{request.param}")
    path = config_writer(
        folder / "config.toml",
        data_root=demo_root,
        results_root=str(folder / "results"),
        backtest={"start": DAY[0], "end": DAY[1]},
        extra=f'\n[execution]\nalgorithm = "{request.param}"\n',
    )
    outcome: BacktestOutcome = run_backtest(load_config(path))
    assert outcome.status == "COMPLETED", outcome.error
    orders = pl.read_parquet(Path(outcome.folder) / ORDERS_FILE)
    fills = pl.read_parquet(Path(outcome.folder) / FILLS_FILE)
    summary = json.loads((Path(outcome.folder) / SUMMARY_FILE).read_text())
    return DayRun(
        request.param,
        orders.with_columns(parent=pl.col("order_id").str.replace(CHILD.pattern, "")),
        fills,
        summary["execution_stats"]["parents_working_at_end"],
    )


def _in_ns(frame: pl.DataFrame) -> pl.DataFrame:
    """Timestamps as ns integers, as the input trades carry them."""
    return frame.with_columns(
        pl.col(name).dt.epoch("ns")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime)
    )


def _parents(orders: pl.DataFrame) -> pl.DataFrame:
    """Parent rows in time order per instrument, with when the next parent of the instrument
    came and when the parent's last order (itself or a child) was sent."""
    last_sent = orders.group_by("parent").agg(last_sent=pl.col("created_at").max())
    return (
        orders.filter(pl.col("order_id") == pl.col("parent"))
        .join(last_sent, on="parent")
        .sort("instrument_key", "created_at")
        .with_columns(next_parent=pl.col("created_at").shift(-1).over("instrument_key"))
    )


def test_no_child_of_any_algorithm_is_denied_over_a_demo_day(day_run) -> None:
    orders = day_run.orders
    assert orders.filter(pl.col("order_id") != pl.col("parent")).height > 50
    denied = orders.filter(pl.col("status") == "DENIED")
    assert denied.height == 0, denied.select("order_id", "rejection_reason").to_dicts()


def test_a_new_rebalance_replaces_the_old_parent_so_parents_never_stack(day_run) -> None:
    orders = day_run.orders
    parents = _parents(orders)
    followed = parents.filter(pl.col("next_parent").is_not_null())
    # The premise: some signals come while the previous parent is still being worked.
    close = followed.filter((pl.col("next_parent") - pl.col("created_at")).dt.total_seconds() < 600)
    assert close.height >= 2
    # No order of a parent is sent after the next parent of its instrument arrived.
    stacked = followed.filter(pl.col("last_sent") > pl.col("next_parent"))
    assert stacked.height == 0, stacked.select("order_id", "last_sent", "next_parent").to_dicts()


def test_parent_rows_keep_the_original_quantity_with_what_filled_and_the_status(
    day_run,
) -> None:
    orders, fills = day_run.orders, day_run.fills
    filled = (
        fills.join(orders.select("order_id", "parent"), on="order_id")
        .group_by("parent")
        .agg(from_fills=pl.col("quantity").sum())
    )
    parents = _parents(orders).join(filled, on="parent", how="left")
    assert parents.height > 40
    for row in parents.iter_rows(named=True):
        assert row["filled_quantity"] == pytest.approx(row["from_fills"] or 0.0, abs=1e-9), row
        complete = row["filled_quantity"] >= row["quantity"] - HALF_LOT
        assert (row["status"] == "FILLED") == complete, row
    # Complete parents read FILLED at their original size (Nautilus resized a primary sent as
    # the last slice, and closed one its children filled as CANCELED).
    done = parents.filter(pl.col("status") == "FILLED")
    assert done.height > 30
    assert (done["filled_quantity"] - done["quantity"]).abs().max() < HALF_LOT
    biggest_child = (
        orders.filter(pl.col("order_id") != pl.col("parent"))
        .group_by("parent")
        .agg(biggest=pl.col("quantity").max())
    )
    split = done.join(biggest_child, on="parent").filter(pl.col("biggest") < pl.col("quantity"))
    assert split.height == done.height  # every parent was split, its row is the whole


def test_every_parent_fills_or_is_replaced_or_is_still_worked_when_the_period_ends(
    day_run,
) -> None:
    parents = _parents(day_run.orders)
    end = parents["created_at"].max().replace(hour=0, minute=0, second=0) + dt.timedelta(days=1)
    short = parents.filter(pl.col("status") != "FILLED")
    replaced = short.filter(pl.col("next_parent").is_not_null())
    at_end = short.filter(pl.col("next_parent").is_null())
    # Replaced: a newer rebalance came while it was worked (within its horizon; an iceberg
    # has none: at its fixed price it works until the market trades there, or it is replaced).
    for row in replaced.iter_rows(named=True):
        if day_run.algorithm != "iceberg":
            assert row["next_parent"] - row["created_at"] < dt.timedelta(seconds=HORIZON_SECS)
        assert row["status"] == "CANCELED", row
    # Still worked at the end: reported in the summary, and within a horizon of the end.
    assert sorted(at_end["order_id"]) == day_run.working_at_end
    for row in at_end.iter_rows(named=True):
        if day_run.algorithm != "iceberg":
            assert end - row["created_at"] < dt.timedelta(seconds=HORIZON_SECS), row


def test_every_fill_of_the_day_is_a_trade_printed_after_its_order_arrived(
    day_run, demo_root: str, fill_rule
) -> None:
    # The audit's check over a whole day of children (market, limit: taker and maker fills).
    start, end = (dt.datetime.fromisoformat(moment) for moment in DAY)
    reader = TickReader(demo_root)
    instruments = day_run.orders["instrument_key"].unique().to_list()
    trades = {key: pl.from_arrow(reader.read_window(key, start, end)) for key in instruments}
    orders = _in_ns(day_run.orders).with_columns(
        # A parent row is the whole parent; its own fills are those of its last slice only.
        status=pl.when(pl.col("order_id") == pl.col("parent")).then(pl.lit("")).otherwise("status")
    )
    fills = _in_ns(day_run.fills)
    assert fills.height > 100
    assert fill_rule(orders, fills, trades, LATENCY_NS) == []
