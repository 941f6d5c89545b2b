"""Account types: the books balance on a margin account as they do on a cash account, and its
``margin_used`` is the initial margin of its open positions.

On a margin account the portfolio's value is cash plus the open positions' unrealized PnL.
With trade ticks only, Nautilus's own portfolio figure is refreshed by quotes and goes stale;
valued from it, a margin run's books were off by ~94 USDT on 100,000. Marking at the last
trade (core.portfolio.marks) makes them balance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from core.backtest.pipeline import BacktestOutcome, run_backtest
from core.config import load_config
from core.data.layout import trades_path

pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")

ConfigWriter = Callable[..., Path]
NS = 1_000_000_000


@pytest.fixture(scope="module")
def margin_run(
    config_writer: ConfigWriter, demo_root: str, tmp_path_factory: pytest.TempPathFactory
) -> BacktestOutcome:
    """The first demo day on a margin account (100,000 USDT, Nautilus's leverage 1)."""
    folder = tmp_path_factory.mktemp("margin")
    config = config_writer(
        folder / "config.toml",
        data_root=demo_root,
        results_root=str(folder / "results"),
        backtest={"start": "2026-01-05T00:00:00Z", "end": "2026-01-06T00:00:00Z"},
        venues=[
            {"name": "BINANCE", "account_type": "margin", "starting_balances": ["100000 USDT"]}
        ],
    )
    outcome = run_backtest(load_config(config))
    assert outcome.status == "COMPLETED", outcome.error
    return outcome


def test_margin_account_books_balance_with_positions_marked_at_last_trade(
    margin_run: BacktestOutcome,
) -> None:
    outcome = margin_run
    stats = outcome.summary["execution_stats"]
    assert stats["fills"] > 0
    positions = pl.read_parquet(Path(outcome.folder) / "positions.parquet")
    assert (positions["quantity"].abs() > 0).any()
    assert abs(stats["books_difference"]) < 1e-6 * outcome.summary["starting_value"]
    assert stats["books_balance"] is True
    equity = pl.read_parquet(Path(outcome.folder) / "equity_curve.parquet")
    assert equity["portfolio_value"][-1] == pytest.approx(outcome.summary["final_value"])
    # cash never counts the coins on a margin account: value = cash + unrealized PnL
    last = equity.row(-1, named=True)
    assert last["portfolio_value"] == pytest.approx(last["cash_balance"] + last["unrealized_pnl"])


def test_margin_used_is_the_initial_margin_of_the_open_positions_at_their_last_prices(
    margin_run: BacktestOutcome, demo_root: str
) -> None:
    # Spot pairs on a margin account at leverage 1 (Nautilus's default): each open position
    # holds its whole notional, |quantity| x the last trade at or before the sample.
    day = dt.date(2026, 1, 5)
    folder = Path(margin_run.folder)
    equity = pl.read_parquet(folder / "equity_curve.parquet").with_columns(
        pl.col("ts_event").cast(pl.Int64)
    )
    positions = pl.read_parquet(folder / "positions.parquet").with_columns(
        pl.col("ts_event").cast(pl.Int64)
    )
    # On the minute grid only: an account event sample shares its instant with the fill.
    grid = equity.filter(pl.col("ts_event") % (60 * NS) == 0).select("ts_event")
    expected = pl.Series([0.0] * grid.height)
    for instrument in ("BTCUSDT.BINANCE", "ETHUSDT.BINANCE"):
        trades = pl.read_parquet(trades_path(demo_root, day, instrument)).select(
            "ts_event", "price"
        )
        held = positions.filter(pl.col("instrument_key") == instrument).select(
            "ts_event", "quantity"
        )
        asof = grid.join_asof(trades.sort("ts_event"), on="ts_event").join_asof(
            held.sort("ts_event"), on="ts_event"
        )
        expected += asof["quantity"].fill_null(0.0).abs() * asof["price"].fill_null(0.0)
    margin = equity.filter(pl.col("ts_event") % (60 * NS) == 0)["margin_used"]
    assert expected.max() > 10_000  # the premise: the account carries positions
    assert margin.to_list() == pytest.approx(expected.to_list(), rel=1e-9, abs=1e-6)
