"""Each execution algorithm over a whole demo day with the default config (issue 17).

One backtest per algorithm (``[execution] algorithm``, every order worked: the default
``algorithm_above_notional`` is 0) over the second demo day, whose signals come as close as a
minute apart. What is checked comes from the run's own ``orders.parquet`` and ``fills.parquet``:
no child is denied, parents of one instrument never work side by side (a new rebalance
replaces what is left of the old parent), and every parent ends filled, replaced, or still
working when the period ends.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from core.backtest.pipeline import BacktestOutcome, run_backtest
from core.config import load_config
from core.data.results import FILLS_FILE, ORDERS_FILE

ConfigWriter = Callable[..., Path]  # conftest's config_writer

DAY = ("2026-01-06T00:00:00+00:00", "2026-01-07T00:00:00+00:00")  # the VWAP's history: day 1
CHILD = re.compile(r"-E\d+$")

# Nautilus's BacktestNode calls a pandas API deprecated in pandas 3 on every run.
pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")


@pytest.fixture(scope="module", params=["twap", "vwap", "iceberg"])
def day_run(
    request: pytest.FixtureRequest,
    config_writer: ConfigWriter,
    demo_root: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[pl.DataFrame, pl.DataFrame]:
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
    return orders.with_columns(parent=pl.col("order_id").str.replace(CHILD.pattern, "")), fills


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
    orders, _ = day_run
    assert orders.filter(pl.col("order_id") != pl.col("parent")).height > 50
    denied = orders.filter(pl.col("status") == "DENIED")
    assert denied.height == 0, denied.select("order_id", "rejection_reason").to_dicts()


def test_a_new_rebalance_replaces_the_old_parent_so_parents_never_stack(day_run) -> None:
    orders, _ = day_run
    parents = _parents(orders)
    followed = parents.filter(pl.col("next_parent").is_not_null())
    # The premise: some signals come while the previous parent is still being worked.
    close = followed.filter((pl.col("next_parent") - pl.col("created_at")).dt.total_seconds() < 600)
    assert close.height >= 2
    # No order of a parent is sent after the next parent of its instrument arrived.
    stacked = followed.filter(pl.col("last_sent") > pl.col("next_parent"))
    assert stacked.height == 0, stacked.select("order_id", "last_sent", "next_parent").to_dicts()
