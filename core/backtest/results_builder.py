"""From what a finished run recorded to the five result files' contents.

Takes plain rows (orders, fills, equity samples) so that it needs no Nautilus object, and checks
that the books balance: the final portfolio value Nautilus's account reports must equal the
starting value plus the PnL our own fill replay computes. A run whose books do not balance
is a bug, and the summary says by how much.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from core.backtest.inputs import BacktestInputs
from core.backtest.metrics import (
    avg_slippage_bps,
    compute_metrics,
    compute_pnl,
    drawdown_pct,
    positions_timeline,
)
from core.data.results import STATUS_COMPLETED, Period, ResultTables, Summary, execution_stats

BOOKS_TOLERANCE = 1e-6
"""Relative difference allowed between the account's final value and start + PnL."""

_UTC_NS = pl.Datetime("ns", "UTC")


def _timestamps(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).cast(pl.Int64).cast(_UTC_NS) for c in columns)


def build_results(
    *,
    run_id: str,
    created_at: dt.datetime,
    config: dict[str, Any],
    inputs: BacktestInputs,
    starting_value: float,
    orders: list[dict],
    fills: list[dict],
    equity: Mapping[str, Sequence[float]],
    last_prices: Mapping[str, float],
    execution: Mapping[str, Any],
    interval_seconds: int,
) -> tuple[ResultTables, Summary]:
    """The four tables and the summary of a completed run."""
    orders_frame = _timestamps(
        pl.DataFrame(orders, schema=_ORDER_COLUMNS), "created_at", "updated_at"
    )
    fills_frame = pl.DataFrame(fills, schema=_FILL_COLUMNS)
    equity_frame = _equity_frame(equity, inputs.start_ns, starting_value)
    traded = {key: last_prices[key] for key in fills_frame["instrument_key"].unique()}
    positions = positions_timeline(fills_frame, marks=traded, marks_ts=inputs.end_ns)
    pnl = compute_pnl(fills_frame, last_prices)
    metrics = compute_metrics(equity_frame, fills_frame, interval_seconds=interval_seconds)
    final_value = float(equity_frame["portfolio_value"][-1])
    books_difference = final_value - (starting_value + pnl.net_pnl)
    tables = ResultTables(
        orders=orders_frame,
        fills=_timestamps(fills_frame, "ts_event"),
        positions=_timestamps(positions, "ts_event"),
        equity_curve=_timestamps(equity_frame, "ts_event"),
    )
    stats = execution_stats(
        tables,
        avg_slippage_bps=avg_slippage_bps(fills_frame),
        **execution,
        books_difference=books_difference,
        books_balance=abs(books_difference) <= BOOKS_TOLERANCE * max(abs(starting_value), 1.0),
    )
    summary = Summary(
        run_id=run_id,
        status=STATUS_COMPLETED,
        created_at=created_at,
        config=config,
        period=Period(start=inputs.start, end=inputs.end),
        pnl=pnl,
        metrics=metrics,
        execution_stats=stats,
        starting_value=starting_value,
        final_value=final_value,
    )
    return tables, summary


def _equity_frame(
    equity: Mapping[str, Sequence[float]], start_ns: int, starting_value: float
) -> pl.DataFrame:
    """The recorder's samples, opened by the starting value at the window's start."""
    first = {
        "ts_event": start_ns,
        "portfolio_value": starting_value,
        "cash_balance": starting_value,
        "margin_used": 0.0,
        "unrealized_pnl": 0.0,
    }
    # Through numpy, not Python lists: a 5-year run's columns hold millions of samples.
    frame = pl.DataFrame(
        {
            name: np.concatenate(
                ([value], np.asarray(equity[name], np.int64 if name == "ts_event" else float))
            )
            for name, value in first.items()
        },
        schema={
            "ts_event": pl.Int64,
            "portfolio_value": pl.Float64,
            "cash_balance": pl.Float64,
            "margin_used": pl.Float64,
            "unrealized_pnl": pl.Float64,
        },
    )
    frame = frame.unique("ts_event", keep="last", maintain_order=True).sort("ts_event")
    return frame.with_columns(drawdown_pct=pl.Series(drawdown_pct(frame["portfolio_value"])))


_ORDER_COLUMNS = {
    "order_id": pl.String,
    "operation_id": pl.String,
    "instrument_key": pl.String,
    "side": pl.String,
    "order_type": pl.String,
    "quantity": pl.Float64,
    "filled_quantity": pl.Float64,
    "price": pl.Float64,
    "status": pl.String,
    "created_at": pl.Int64,
    "updated_at": pl.Int64,
    "rejection_reason": pl.String,
}
_FILL_COLUMNS = {
    "fill_id": pl.String,
    "order_id": pl.String,
    "instrument_key": pl.String,
    "side": pl.String,
    "quantity": pl.Float64,
    "price": pl.Float64,
    "fee": pl.Float64,
    "fee_currency": pl.String,
    "ts_event": pl.Int64,
    "venue": pl.String,
    "decision_price": pl.Float64,
}
