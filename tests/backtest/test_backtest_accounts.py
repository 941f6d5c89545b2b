"""Account types: the books balance on a margin account as they do on a cash account.

On a margin account the portfolio's value is cash plus the open positions' unrealized PnL.
With trade ticks only, Nautilus's own portfolio figure is refreshed by quotes and goes stale;
valued from it, a margin run's books were off by ~94 USDT on 100,000. Marking at the last
trade (core.portfolio.marks) makes them balance.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from core.backtest.pipeline import run_backtest
from core.config import load_config

pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")

ConfigWriter = Callable[..., Path]


def test_margin_account_books_balance_with_positions_marked_at_last_trade(
    config_writer: ConfigWriter, demo_root: str, tmp_path: Path
) -> None:
    config = config_writer(
        tmp_path / "config.toml",
        data_root=demo_root,
        results_root=str(tmp_path / "results"),
        backtest={"start": "2026-01-05T00:00:00Z", "end": "2026-01-06T00:00:00Z"},
        venues=[
            {"name": "BINANCE", "account_type": "margin", "starting_balances": ["100000 USDT"]}
        ],
    )
    outcome = run_backtest(load_config(config))
    assert outcome.status == "COMPLETED", outcome.error
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
