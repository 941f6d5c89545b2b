"""The desk's metrics against figures worked out by hand."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from core.backtest.metrics import (
    avg_slippage_bps,
    compute_metrics,
    compute_pnl,
    drawdown_pct,
    interval_returns,
    max_drawdown_pct,
    periods_per_year,
    positions_timeline,
    profit_factor,
    replay_fills,
    round_trips,
    sharpe_ratio,
    sortino_ratio,
    win_rate,
)
from core.errors import DataError

T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z, a whole minute
MINUTE = 60 * 10**9


def equity(values: list[float], step_ns: int = MINUTE, start: int = T0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts_event": [start + i * step_ns for i in range(len(values))],
            "portfolio_value": values,
        }
    )


def fills(rows: list[tuple]) -> pl.DataFrame:
    """Rows of (instrument_key, side, quantity, price, fee), one second apart."""
    return pl.DataFrame(
        {
            "instrument_key": [r[0] for r in rows],
            "side": [r[1] for r in rows],
            "quantity": [float(r[2]) for r in rows],
            "price": [float(r[3]) for r in rows],
            "fee": [float(r[4]) for r in rows],
            "fee_currency": ["USDT"] * len(rows),
            "ts_event": [T0 + i * 10**9 for i in range(len(rows))],
        },
        schema_overrides={"ts_event": pl.Int64},
    )


NO_FILLS = fills([])

# Partial close, flip and fees on one instrument (BTC), and an open position on ETH.
HAND_FILLS = [
    ("BTCUSDT.BINANCE", "BUY", 2, 100, 0.40),  # long 2 @ 100, entry fees 0.40
    ("BTCUSDT.BINANCE", "BUY", 2, 110, 0.44),  # long 4 @ 105, entry fees 0.84
    ("BTCUSDT.BINANCE", "SELL", 1, 120, 0.12),  # partial close 1: trade A
    ("BTCUSDT.BINANCE", "SELL", 5, 90, 0.45),  # closes 3 (trade B), flips to short 2 @ 90
    ("BTCUSDT.BINANCE", "BUY", 2, 80, 0.16),  # closes the short: trade C
    ("ETHUSDT.BINANCE", "BUY", 10, 5, 0.05),  # stays open
]
# Trade A: gross = (120 - 105) * 1 = 15; fees = 0.84 * 1/4 + 0.12 = 0.33; pnl = 14.67
# Trade B: gross = (90 - 105) * 3 = -45; fees = 0.63 (all remaining entry fees)
#          + 0.45 * 3/5 (exit share) = 0.63 + 0.27 = 0.90; pnl = -45.90
#          the short 2 @ 90 carries 0.45 * 2/5 = 0.18 of entry fees
# Trade C: gross = (80 - 90) * 2 * (-1) = 20; fees = 0.18 + 0.16 = 0.34; pnl = 19.66
HAND_TRADE_PNLS = [14.67, -45.90, 19.66]


def test_five_point_curve_sharpe_sortino_and_drawdown_match_hand_arithmetic() -> None:
    curve = equity([100.0, 120.0, 108.0, 97.2, 116.64])
    # returns: 120/100-1 = 0.2, 108/120-1 = -0.1, 97.2/108-1 = -0.1, 116.64/97.2-1 = 0.2
    # mean = (0.2 - 0.1 - 0.1 + 0.2) / 4 = 0.05
    # deviations 0.15, -0.15, -0.15, 0.15 -> squares sum 4 * 0.0225 = 0.09
    # std (ddof=1) = sqrt(0.09 / 3) = sqrt(0.03) = 0.1 * sqrt(3)
    # periods per year at 1 min = 365 * 24 * 60 = 525600
    # sharpe = 0.05 / (0.1 * sqrt(3)) * sqrt(525600) = 0.5 * sqrt(525600 / 3)
    #        = 0.5 * sqrt(175200) = 0.5 * 418.5689 = 209.2845
    # downside: min(r, 0) = 0, -0.1, -0.1, 0 -> mean of squares = 0.02 / 4 = 0.005
    # sortino = 0.05 / sqrt(0.005) * sqrt(525600) = sqrt(0.0025 / 0.005 * 525600)
    #         = sqrt(262800) = 512.6402
    # drawdown: peak 120 from the 2nd point; trough 97.2 -> (120 - 97.2) / 120 = 19 %
    metrics = compute_metrics(curve, NO_FILLS, interval_seconds=60)
    assert metrics.sharpe_ratio == pytest.approx(209.2845, abs=1e-4)
    assert metrics.sortino_ratio == pytest.approx(512.6402, abs=1e-4)
    assert metrics.max_drawdown_pct == pytest.approx(19.0)
    assert metrics.total_trades == 0


def test_periods_per_year_counts_a_365_day_year_around_the_clock() -> None:
    assert periods_per_year(60) == 525_600
    assert periods_per_year(3600) == 8_760


def test_returns_take_the_last_value_of_each_interval_and_forward_fill_gaps() -> None:
    ts = np.array([T0, T0 + 30 * 10**9, T0 + MINUTE, T0 + 3 * MINUTE])
    # 100 at 0 s, 105 after a fill at 30 s (not a grid point), 110 at 60 s, nothing at 120 s,
    # 121 at 180 s -> grid values 100, 110, 110 (filled), 121
    returns = interval_returns(ts, np.array([100.0, 105.0, 110.0, 121.0]), 60)
    np.testing.assert_allclose(returns, [0.1, 0.0, 0.1])


def test_returns_grid_is_aligned_to_whole_intervals_and_starts_at_the_first_value() -> None:
    # First sample 20 s after a whole minute: the grid starts at that minute with the first
    # value (100); 112 at +50 s is the last value of the interval ending at +60 s; the final
    # sample at +70 s lands on the grid point at +120 s.
    ts = np.array([T0 + 20 * 10**9, T0 + 50 * 10**9, T0 + 70 * 10**9])
    returns = interval_returns(ts, np.array([100.0, 112.0, 140.0]), 60)
    np.testing.assert_allclose(returns, [0.12, 140.0 / 112.0 - 1.0])


def test_a_flat_curve_has_null_sharpe_and_sortino_and_zero_drawdown() -> None:
    metrics = compute_metrics(equity([1000.0] * 5), NO_FILLS)
    assert metrics.sharpe_ratio is None  # std of returns is 0
    assert metrics.sortino_ratio is None  # no period lost money
    assert metrics.max_drawdown_pct == 0.0


def test_sharpe_needs_two_returns_and_sortino_needs_a_losing_period() -> None:
    assert sharpe_ratio(np.array([0.01]), 525_600) is None
    assert sortino_ratio(np.array([]), 525_600) is None
    assert sortino_ratio(np.array([0.01, 0.02]), 525_600) is None
    # one losing period is enough for Sortino: mean -0.01 / sqrt(0.0001) = -1 per period
    assert sortino_ratio(np.array([-0.01]), 100) == pytest.approx(-10.0)


def test_a_zero_portfolio_value_makes_ratios_null_not_infinite() -> None:
    metrics = compute_metrics(equity([100.0, 0.0, 50.0, 60.0]), NO_FILLS)
    assert metrics.sharpe_ratio is None
    assert metrics.sortino_ratio is None
    assert metrics.max_drawdown_pct == pytest.approx(100.0)


def test_empty_and_single_point_curves_have_null_ratios() -> None:
    single = compute_metrics(equity([100.0]), NO_FILLS)
    assert (single.sharpe_ratio, single.sortino_ratio, single.max_drawdown_pct) == (None, None, 0)
    empty = compute_metrics(equity([]), NO_FILLS)
    assert (empty.sharpe_ratio, empty.sortino_ratio, empty.max_drawdown_pct) == (None, None, None)


def test_drawdown_pct_column_is_percent_below_the_running_peak() -> None:
    np.testing.assert_allclose(
        drawdown_pct([100.0, 120.0, 108.0, 97.2, 116.64]), [0.0, 0.0, 10.0, 19.0, 2.8]
    )
    assert max_drawdown_pct([]) is None
    assert np.isnan(drawdown_pct([-5.0, -1.0])).all()  # a non-positive peak has no percent


def test_round_trips_with_partial_close_flip_and_fees_match_hand_pnl() -> None:
    trades = round_trips(fills(HAND_FILLS))
    assert [t.quantity for t in trades] == [1.0, 3.0, 2.0]
    assert [t.direction for t in trades] == [1, 1, -1]
    assert [t.entry_price for t in trades] == [105.0, 105.0, 90.0]
    assert [t.gross_pnl for t in trades] == pytest.approx([15.0, -45.0, 20.0])
    assert [t.fees for t in trades] == pytest.approx([0.33, 0.90, 0.34])
    assert [t.pnl for t in trades] == pytest.approx(HAND_TRADE_PNLS)


def test_win_rate_and_profit_factor_of_the_hand_trades() -> None:
    metrics = compute_metrics(equity([100.0, 101.0]), fills(HAND_FILLS))
    assert metrics.total_trades == 3
    assert metrics.win_rate == pytest.approx(2 / 3)
    # (14.67 + 19.66) / 45.90 = 34.33 / 45.90 = 0.747930...
    assert metrics.profit_factor == pytest.approx(34.33 / 45.90)


def test_profit_factor_is_null_without_losses_and_zero_without_wins() -> None:
    assert profit_factor([5.0, 1.0]) is None
    assert profit_factor([]) is None
    assert profit_factor([-5.0, -1.0]) == 0.0
    assert win_rate([]) is None
    assert win_rate([0.0, 2.0]) == 0.5  # a zero-PnL trade counts but does not win


def test_no_fills_means_no_trades_and_null_rates() -> None:
    metrics = compute_metrics(equity([100.0, 101.0, 102.0]), NO_FILLS)
    assert (metrics.total_trades, metrics.win_rate, metrics.profit_factor) == (0, None, None)


def test_pnl_adds_realized_and_unrealized_before_fees_and_nets_fees_and_funding() -> None:
    pnl = compute_pnl(fills(HAND_FILLS), {"ETHUSDT.BINANCE": 6.0}, funding_paid=0.5)
    # realized (gross) 15 - 45 + 20 = -10; unrealized ETH 10 * (6 - 5) = 10 -> gross 0
    # fees 0.40 + 0.44 + 0.12 + 0.45 + 0.16 + 0.05 = 1.62; net = 0 - 1.62 - 0.5 = -2.12
    assert pnl.gross_pnl == pytest.approx(0.0)
    assert pnl.total_fees == pytest.approx(1.62)
    assert pnl.funding_paid == 0.5
    assert pnl.net_pnl == pytest.approx(-2.12)


def test_an_open_position_without_a_last_price_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"no last price for the open position in ETHUSDT"):
        compute_pnl(fills(HAND_FILLS), {"BTCUSDT.BINANCE": 1.0})


@pytest.mark.parametrize("allow_short", [False, True], ids=["cash_account", "with_flips"])
def test_books_balance_for_a_seeded_random_fill_sequence(allow_short: bool) -> None:
    rng = np.random.default_rng(20261123)
    keys = ["BTCUSDT.BINANCE", "ETHUSDT.BINANCE", "SOLUSDT.BINANCE"]
    price = {"BTCUSDT.BINANCE": 40_000.0, "ETHUSDT.BINANCE": 2_500.0, "SOLUSDT.BINANCE": 100.0}
    held = dict.fromkeys(keys, 0.0)
    starting_cash = 1_000_000.0
    cash = starting_cash
    rows = []
    for _ in range(400):
        key = keys[int(rng.integers(3))]
        price[key] *= float(np.exp(rng.normal(0.0, 0.01)))
        quantity = round(float(rng.uniform(0.001, 3.0)), 6)
        side = "BUY" if rng.random() < 0.5 else "SELL"
        if side == "SELL" and not allow_short:
            if held[key] <= 0:
                continue
            quantity = min(quantity, held[key])  # a cash account sells only what it holds
        fee = 0.001 * quantity * price[key]
        signed = quantity if side == "BUY" else -quantity
        held[key] += signed
        cash += -signed * price[key] - fee
        rows.append((key, side, quantity, price[key], fee))
    last = {key: value * 1.02 for key, value in price.items()}
    table = fills(rows)

    ledger = replay_fills(table)
    pnl = compute_pnl(table, last)
    unrealized = sum(p.unrealized_pnl(last[k]) for k, p in ledger.positions.items())
    buys = sum(q * p for _, side, q, p, _ in rows if side == "BUY")
    sells = sum(q * p for _, side, q, p, _ in rows if side == "SELL")
    fees = sum(r[4] for r in rows)
    marked = sum(held[k] * last[k] for k in keys)
    books = starting_cash + sells - buys - fees + marked
    assert books == pytest.approx(cash + marked, abs=1e-6)
    assert books == pytest.approx(
        starting_cash + ledger.realized_pnl + unrealized - ledger.total_fees, abs=1e-6
    )
    assert books == pytest.approx(starting_cash + pnl.net_pnl, abs=1e-6)
    # every fee is either in a closed trade or still attached to an open position
    closed_fees = sum(t.fees for t in ledger.trades)
    open_fees = sum(p.open_fees for p in ledger.positions.values())
    assert closed_fees + open_fees == pytest.approx(fees, abs=1e-6)
    for key in keys:
        assert ledger.positions[key].quantity == pytest.approx(held[key], abs=1e-9)
    if allow_short:
        assert any(p.quantity < 0 for p in ledger.positions.values()) or any(
            t.direction == -1 for t in ledger.trades
        )


def test_float_dust_does_not_leave_a_position_or_a_flip() -> None:
    ledger = replay_fills(
        fills(
            [
                ("BTCUSDT.BINANCE", "BUY", 0.1, 100, 0),
                ("BTCUSDT.BINANCE", "BUY", 0.2, 100, 0),  # 0.1 + 0.2 = 0.30000000000000004
                ("BTCUSDT.BINANCE", "SELL", 0.3, 110, 0),
            ]
        )
    )
    position = ledger.positions["BTCUSDT.BINANCE"]
    assert (position.quantity, position.avg_entry_price) == (0.0, None)
    assert len(ledger.trades) == 1
    assert ledger.trades[0].gross_pnl == pytest.approx(3.0)


def test_fills_are_replayed_in_time_order_whatever_the_row_order() -> None:
    ordered = fills(HAND_FILLS)
    shuffled = ordered.reverse()
    assert [t.pnl for t in round_trips(shuffled)] == pytest.approx(HAND_TRADE_PNLS)


def test_positions_timeline_has_a_row_per_fill_with_signed_quantity_and_cumulative_pnl() -> None:
    timeline = positions_timeline(fills(HAND_FILLS))
    assert timeline.columns == [
        "ts_event",
        "instrument_key",
        "quantity",
        "avg_entry_price",
        "current_price",
        "unrealized_pnl",
        "realized_pnl",
    ]
    assert timeline.schema["ts_event"] == pl.Datetime("ns", "UTC")
    btc = timeline.filter(pl.col("instrument_key") == "BTCUSDT.BINANCE")
    assert btc["quantity"].to_list() == [2.0, 4.0, 3.0, -2.0, 0.0]
    assert btc["avg_entry_price"].to_list() == [100.0, 105.0, 105.0, 90.0, None]
    # unrealized at each fill price: 0, 4 * (110 - 105) = 20, 3 * (120 - 105) = 45,
    # -2 * (90 - 90) = 0, flat 0
    assert btc["unrealized_pnl"].to_list() == pytest.approx([0.0, 20.0, 45.0, 0.0, 0.0])
    assert btc["realized_pnl"].to_list() == pytest.approx([0.0, 0.0, 15.0, -30.0, -10.0])


def test_positions_timeline_marks_add_a_closing_row_per_instrument() -> None:
    end = dt.datetime(2024, 1, 1, 1, tzinfo=dt.UTC)
    timeline = positions_timeline(fills(HAND_FILLS), marks={"ETHUSDT.BINANCE": 6.0}, marks_ts=end)
    last = timeline.row(-1, named=True)
    assert last["ts_event"] == end
    assert (last["instrument_key"], last["quantity"], last["current_price"]) == (
        "ETHUSDT.BINANCE",
        10.0,
        6.0,
    )
    assert last["unrealized_pnl"] == pytest.approx(10.0)
    assert timeline.height == len(HAND_FILLS) + 1


def test_avg_slippage_is_quantity_weighted_and_positive_when_paying_worse() -> None:
    table = pl.DataFrame(
        {
            "side": ["BUY", "SELL", "BUY", "SELL"],
            "quantity": [1.0, 3.0, 1.0, 5.0],
            "price": [101.0, 99.0, 99.0, 50.0],
            "decision_price": [100.0, 100.0, 100.0, None],
        }
    )
    # BUY 1 @ 101 vs 100: +1 * (101 - 100) / 100 * 1e4 = +100 bps (paid more)
    # SELL 3 @ 99 vs 100: -1 * (99 - 100) / 100 * 1e4 = +100 bps (received less)
    # BUY 1 @ 99 vs 100: -100 bps (better than decided); the 4th fill has no decision price
    # weighted: (1 * 100 + 3 * 100 + 1 * (-100)) / 5 = 60 (unweighted would be 33.3)
    assert avg_slippage_bps(table) == pytest.approx(60.0)


def test_avg_slippage_is_null_when_no_fill_has_a_decision_price() -> None:
    table = pl.DataFrame(
        {"side": ["BUY"], "quantity": [1.0], "price": [1.0], "decision_price": [None]},
        schema_overrides={"decision_price": pl.Float64},
    )
    assert avg_slippage_bps(table) is None


def test_an_unknown_side_is_a_one_line_data_error_naming_fills() -> None:
    bad = fills([("BTCUSDT.BINANCE", "LONG", 1, 100, 0)])
    with pytest.raises(DataError, match=r"^fills: side 'LONG' is not BUY or SELL$"):
        replay_fills(bad)


def test_fees_in_two_currencies_are_refused_rather_than_added() -> None:
    table = fills(HAND_FILLS[:2]).with_columns(fee_currency=pl.Series(["USDT", "BTC"]))
    with pytest.raises(DataError, match=r"fees in several currencies \(BTC, USDT\)"):
        compute_pnl(table, {"BTCUSDT.BINANCE": 100.0})


def test_a_missing_fill_column_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"fills: missing column 'fee'"):
        replay_fills(fills(HAND_FILLS).drop("fee"))


def test_metrics_accept_pyarrow_tables_with_utc_timestamps() -> None:
    curve = pa.table(
        {
            "ts_event": pa.array([T0 + i * MINUTE for i in range(5)], pa.timestamp("ns", tz="UTC")),
            "portfolio_value": [100.0, 120.0, 108.0, 97.2, 116.64],
        }
    )
    metrics = compute_metrics(curve, fills(HAND_FILLS).to_arrow())
    assert metrics.sharpe_ratio == pytest.approx(0.5 * math.sqrt(175_200))
    assert metrics.total_trades == 3
