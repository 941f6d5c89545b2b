"""The desk's performance figures, computed from a run's own equity curve and fills.

Nautilus' built-in statistics use daily returns and are empty or meaningless for short runs on
cash accounts, so the desk defines its own. All money is in the quote currency of the fills.

**Returns.** The portfolio value is put on a fixed grid of ``interval_seconds`` (the equity
sampling interval, default 60 s), aligned to whole multiples of the interval since the epoch
like the equity recorder's timer: grid points run from the first sample's time rounded down
to the last sample's time rounded up. The value at a grid point is the last sample at or
before it, i.e. the last value of the interval that ends there, forward-filled over gaps (so
extra samples taken at fill times do not create uneven periods); the first grid point, which
may precede the first sample, takes the first sample (the starting value). Returns are simple
returns between consecutive grid values, ``r_k = v_k / v_(k-1) - 1``. The market trades 24/7,
so ``periods_per_year = 365 * 24 * 3600 / interval_seconds``; risk-free rate 0.

**sharpe_ratio** = ``mean(r) / std(r, ddof=1) * sqrt(periods_per_year)``.
  null when there are fewer than 2 returns, when ``std(r) == 0`` (a flat curve), or when a
  return is undefined (a portfolio value of zero or below).

**sortino_ratio** = ``mean(r) / dd * sqrt(periods_per_year)`` with the downside deviation
``dd = sqrt(mean(min(r, 0) ** 2))`` over ALL periods (target return 0).
  null when there are no returns, when ``dd == 0`` (no period lost money), or when a return is
  undefined.

**drawdown_pct** (the equity curve's column) = ``(peak_t - value_t) / peak_t * 100`` with
``peak_t`` the running maximum of the value up to and including ``t``: a positive percent,
0 at a new high. **max_drawdown_pct** is its maximum over every sample of the curve (not the
resampled grid, so a dip between grid points counts).
  null for an empty curve, or when the peak never rose above 0 (a percent of a non-positive
  peak has no meaning; such rows get NaN in the column).

**Round trips** (what counts as a trade). Fills are replayed per instrument in time order
(ties keep their input order) with average-cost accounting:

- a fill that opens or increases ``|position|`` adds to it at the average price
  ``avg = (|q_old| * avg_old + q * p) / |q_new|``; its fee joins the position's entry fees;
- a fill that reduces or closes the position closes ``c = min(q, |position|)``: ONE trade per
  such fill, with ``gross = (p - avg) * c * direction`` (direction +1 long, -1 short),
  ``fees = entry_fees * c / |position| + fee * c / q`` (the closed share of the entry fees plus
  the exit fee; the exit fee is pro-rated only when the fill also flips the position), and
  ``pnl = gross - fees``;
- a flip (a fill larger than the position) closes the whole old position as one trade and
  opens the remainder ``q - c`` at ``p``, carrying ``fee * (q - c) / q`` as its entry fees.

Quantities within a relative 1e-12 of each other are treated as equal, so float dust does not
leave a phantom position or a phantom flip.

**win_rate** = trades with ``pnl > 0`` / all trades; null when there are no trades.
**profit_factor** = ``sum(pnl > 0) / |sum(pnl < 0)|``; null when no trade lost (including no
trades at all: the ratio would be infinite or undefined), 0 when trades lost and none won.
A trade with pnl exactly 0 counts in total_trades and neither wins nor loses.
**total_trades** = the number of closed trades (reducing fills) as above.

**PnL** (the same replay):

- realized PnL = the sum of the trades' ``gross`` (before fees);
- unrealized PnL = ``sum(position * (last_price - avg))`` over open positions;
- ``gross_pnl = realized + unrealized`` (before fees);
- ``total_fees`` = the sum of every fill's fee, in the quote currency (fees must all be in
  one currency; a mix is refused rather than added up); a negative fee (maker rebate) counts;
- ``funding_paid`` is positive when the account paid funding (0 for spot);
- ``net_pnl = gross_pnl - total_fees - funding_paid`` (i.e. plus funding received).

For a spot cash account the books balance exactly:
``starting_value + net_pnl == cash + sum(position * last_price)`` at the end.

**avg_slippage_bps** = ``sum(q_i * s_i * (p_i - d_i) / d_i) / sum(q_i) * 1e4`` over fills
with a decision price ``d_i`` (the price when the strategy decided), ``s_i`` = +1 for BUY, -1
for SELL: quantity-weighted, positive = paid worse than the decision price. Fills without a
decision price are left out; null when none has one.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from core.data.results import Metrics, Pnl, finite_or_none
from core.errors import DataError

SECONDS_PER_YEAR = 365 * 24 * 3600
DEFAULT_INTERVAL_SECONDS = 60.0
SIDE_SIGN = {"BUY": 1.0, "SELL": -1.0}
# Relative tolerance for "the same quantity": float sums of lot sizes leave ~1e-16 residues.
QUANTITY_TOLERANCE = 1e-12

Frame = pl.DataFrame | pa.Table


@dataclass(frozen=True)
class RoundTrip:
    """One closed trade: the quantity a reducing fill took off a position."""

    instrument_key: str
    ts_event: int  # ns since epoch of the reducing fill
    quantity: float  # closed quantity, positive
    direction: int  # +1 closed a long, -1 closed a short
    entry_price: float  # average entry price of the position at the close
    exit_price: float
    gross_pnl: float  # before fees
    fees: float  # closed share of entry fees + (share of) the exit fee

    @property
    def pnl(self) -> float:
        return self.gross_pnl - self.fees


@dataclass(frozen=True)
class Position:
    """An instrument's position after the last fill."""

    quantity: float  # signed
    avg_entry_price: float | None  # None while flat
    realized_pnl: float  # cumulative, before fees
    open_fees: float  # entry fees still attached to the open quantity

    def unrealized_pnl(self, price: float) -> float:
        if self.avg_entry_price is None:
            return 0.0
        return self.quantity * (price - self.avg_entry_price)


@dataclass(frozen=True)
class Ledger:
    """The outcome of replaying fills with average-cost accounting."""

    trades: tuple[RoundTrip, ...]
    positions: dict[str, Position]
    realized_pnl: float
    total_fees: float
    timeline: pl.DataFrame  # positions.parquet rows, one per fill


def periods_per_year(interval_seconds: float) -> float:
    """Periods of ``interval_seconds`` in a 365-day year: crypto trades around the clock."""
    if not interval_seconds > 0:
        raise ValueError(f"interval_seconds must be > 0, got {interval_seconds}")
    return SECONDS_PER_YEAR / interval_seconds


def interval_returns(
    ts_ns: np.ndarray, values: np.ndarray, interval_seconds: float = DEFAULT_INTERVAL_SECONDS
) -> np.ndarray:
    """Simple returns of ``values`` on a fixed grid (see the module docstring).

    A return after a non-positive value is NaN: it is undefined, and the ratios that see one
    are null rather than a large meaningless number.
    """
    step = round(interval_seconds * 1e9)
    if step <= 0:
        raise ValueError(f"interval_seconds must be > 0, got {interval_seconds}")
    ts = np.asarray(ts_ns, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    if ts.size == 0:
        return np.empty(0)
    order = np.argsort(ts, kind="stable")
    ts, vals = ts[order], vals[order]
    first = int(ts[0]) // step  # floor: the grid point at or before the first sample
    last = -(-int(ts[-1]) // step)  # ceiling: the grid point at or after the last sample
    grid = np.arange(first, last + 1, dtype=np.int64) * step
    # Index of the last sample at or before each grid point; only the first point can precede
    # every sample, and it takes the first sample (the starting value).
    sampled = vals[np.maximum(np.searchsorted(ts, grid, side="right") - 1, 0)]
    previous = sampled[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(previous > 0, sampled[1:] / previous - 1.0, np.nan)
    return returns


def sharpe_ratio(returns: np.ndarray, periods: float) -> float | None:
    """Annualised Sharpe ratio, risk-free 0; ``None`` when it has no value (module docstring)."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2 or not np.all(np.isfinite(r)):
        return None
    std = float(np.std(r, ddof=1))
    if std == 0.0:
        return None
    return finite_or_none(float(np.mean(r)) / std * math.sqrt(periods))


def sortino_ratio(returns: np.ndarray, periods: float) -> float | None:
    """Annualised Sortino ratio, target 0, downside over all periods; ``None`` when undefined."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size == 0 or not np.all(np.isfinite(r)):
        return None
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    if downside == 0.0:
        return None
    return finite_or_none(float(np.mean(r)) / downside * math.sqrt(periods))


def drawdown_pct(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Percent below the running peak at each point, in time order; NaN while the peak is <= 0."""
    vals = np.asarray(values, dtype=np.float64)
    if vals.size == 0:
        return np.empty(0)
    peak = np.maximum.accumulate(vals)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, (peak - vals) / peak * 100.0, np.nan)


def max_drawdown_pct(values: Sequence[float] | np.ndarray) -> float | None:
    """Deepest drawdown in percent (positive); ``None`` for an empty or never-positive curve."""
    drawdowns = drawdown_pct(values)
    if drawdowns.size == 0 or np.all(np.isnan(drawdowns)):
        return None
    return float(np.nanmax(drawdowns))


def win_rate(pnls: Sequence[float]) -> float | None:
    """Share of trades that made money; ``None`` without trades."""
    if len(pnls) == 0:
        return None
    return sum(1 for pnl in pnls if pnl > 0) / len(pnls)


def profit_factor(pnls: Sequence[float]) -> float | None:
    """Gross wins over gross losses; ``None`` with no losing trade, 0 with losses and no wins."""
    wins = sum(pnl for pnl in pnls if pnl > 0)
    losses = -sum(pnl for pnl in pnls if pnl < 0)
    if losses == 0:
        return None
    return wins / losses


def replay_fills(fills: Frame) -> Ledger:
    """Replay fills in time order with average-cost accounting (module docstring).

    Parameters
    ----------
    fills
        Columns ``instrument_key, side, quantity, price, fee, ts_event`` (ns int or UTC
        timestamp); others are ignored.

    Raises
    ------
    ValueError
        A required column is missing (the runner's bug).
    DataError
        A fill has a null, an unknown side, a non-positive quantity or price, a non-finite
        fee, or fees are in more than one currency.
    """
    frame = _read_fills(fills)
    books: dict[str, _Book] = {}
    trades: list[RoundTrip] = []
    rows: dict[str, list] = {name: [] for name in _TIMELINE_COLUMNS}
    keys = frame["instrument_key"].to_list()
    signs = [SIDE_SIGN[side] for side in frame["side"].to_list()]
    columns = zip(
        keys,
        signs,
        frame["quantity"].to_list(),
        frame["price"].to_list(),
        frame["fee"].to_list(),
        frame["ts_event"].to_list(),
        strict=True,
    )
    for key, sign, quantity, price, fee, ts in columns:
        book = books.setdefault(key, _Book())
        trade = book.apply(sign, quantity, price, fee)
        if trade is not None:
            trades.append(
                RoundTrip(key, ts, trade[0], trade[1], trade[2], price, trade[3], trade[4])
            )
        flat = book.quantity == 0.0
        rows["ts_event"].append(ts)
        rows["instrument_key"].append(key)
        rows["quantity"].append(book.quantity)
        rows["avg_entry_price"].append(None if flat else book.avg_price)
        rows["current_price"].append(price)
        rows["unrealized_pnl"].append(0.0 if flat else book.quantity * (price - book.avg_price))
        rows["realized_pnl"].append(book.realized)
    positions = {key: book.snapshot() for key, book in books.items()}
    return Ledger(
        trades=tuple(trades),
        positions=positions,
        realized_pnl=sum(book.realized for book in books.values()),
        total_fees=float(frame["fee"].sum()) if frame.height else 0.0,
        timeline=_timeline_frame(rows),
    )


def round_trips(fills: Frame) -> list[RoundTrip]:
    """The closed trades of ``fills``: one per fill that reduced, closed or flipped a position."""
    return list(replay_fills(fills).trades)


def compute_pnl(
    fills: Frame, last_prices: Mapping[str, float], *, funding_paid: float = 0.0
) -> Pnl:
    """Gross and net PnL of a run, marking open positions at ``last_prices``.

    Parameters
    ----------
    fills
        As for ``replay_fills``.
    last_prices
        Price per ``instrument_key`` at the end of the run; required for every open position
        so that the unrealized part is never silently zero.
    funding_paid
        Funding the account paid (positive) or received (negative); 0 for spot.

    Raises
    ------
    DataError
        An open position has no last price, or as ``replay_fills``.
    """
    ledger = replay_fills(fills)
    unrealized = 0.0
    for key, position in ledger.positions.items():
        if position.avg_entry_price is None:
            continue
        price = last_prices.get(key)
        if price is None or not math.isfinite(price):
            raise DataError(f"no last price for the open position in {key}", "last_prices")
        unrealized += position.unrealized_pnl(price)
    gross = ledger.realized_pnl + unrealized
    return Pnl(
        gross_pnl=gross,
        net_pnl=gross - ledger.total_fees - funding_paid,
        total_fees=ledger.total_fees,
        funding_paid=funding_paid,
    )


def compute_metrics(
    equity: Frame, fills: Frame, *, interval_seconds: float = DEFAULT_INTERVAL_SECONDS
) -> Metrics:
    """All the summary's metrics from the equity curve and the fills (module docstring).

    Parameters
    ----------
    equity
        Columns ``ts_event`` (ns int or UTC timestamp) and ``portfolio_value``; the first row
        is the portfolio at the start of the run.
    fills
        As for ``replay_fills``.
    interval_seconds
        The equity sampling interval: the grid the returns are measured on.
    """
    ts, values = _read_equity(equity)
    returns = interval_returns(ts, values, interval_seconds)
    periods = periods_per_year(interval_seconds)
    pnls = [trade.pnl for trade in replay_fills(fills).trades]
    return Metrics(
        sharpe_ratio=sharpe_ratio(returns, periods),
        sortino_ratio=sortino_ratio(returns, periods),
        max_drawdown_pct=max_drawdown_pct(values),
        win_rate=win_rate(pnls),
        profit_factor=profit_factor(pnls),
        total_trades=len(pnls),
    )


def positions_timeline(
    fills: Frame,
    marks: Mapping[str, float] | None = None,
    marks_ts: dt.datetime | int | None = None,
) -> pl.DataFrame:
    """The rows of positions.parquet: one per fill, plus optional closing marks.

    Each fill row holds the instrument's signed quantity after the fill, its average entry
    price (null while flat), the fill price as current price, the unrealized PnL at that price
    and the instrument's cumulative realized PnL (before fees). ``marks`` (price per
    instrument at ``marks_ts``, e.g. the last trade at the end of the run) add one row per
    traded instrument named in it, so the file ends with the final unrealized PnL.
    """
    ledger = replay_fills(fills)
    timeline = ledger.timeline
    if marks is None:
        return timeline
    if marks_ts is None:
        raise ValueError("positions_timeline: marks need marks_ts")
    ts = marks_ts if isinstance(marks_ts, int) else _datetime_ns(marks_ts)
    rows: dict[str, list] = {name: [] for name in _TIMELINE_COLUMNS}
    for key, position in ledger.positions.items():
        if key not in marks:
            continue
        price = float(marks[key])
        rows["ts_event"].append(ts)
        rows["instrument_key"].append(key)
        rows["quantity"].append(position.quantity)
        rows["avg_entry_price"].append(position.avg_entry_price)
        rows["current_price"].append(price)
        rows["unrealized_pnl"].append(position.unrealized_pnl(price))
        rows["realized_pnl"].append(position.realized_pnl)
    combined = pl.concat([timeline, _timeline_frame(rows)])
    return combined.sort("ts_event", maintain_order=True)


def avg_slippage_bps(fills: Frame) -> float | None:
    """Quantity-weighted slippage against the decision price, in bps (module docstring).

    Parameters
    ----------
    fills
        Columns ``side, quantity, price, decision_price``; a null decision price leaves the
        fill out.

    Raises
    ------
    DataError
        A decision price that is not a positive finite number, or a side not BUY or SELL.
    """
    frame = _as_polars(fills, "fills")
    _require(frame, ("side", "quantity", "price", "decision_price"), "fills")
    frame = frame.filter(pl.col("decision_price").is_not_null())
    if frame.height == 0:
        return None
    _check_sides(frame)
    decision = frame["decision_price"].cast(pl.Float64).to_numpy()
    if not np.all(np.isfinite(decision)) or np.any(decision <= 0):
        raise DataError("decision_price must be a positive number", "fills")
    quantity = frame["quantity"].cast(pl.Float64).to_numpy()
    price = frame["price"].cast(pl.Float64).to_numpy()
    sign = np.where(frame["side"].to_numpy() == "BUY", 1.0, -1.0)
    total = float(quantity.sum())
    if not total > 0:
        return None
    bps = sign * (price - decision) / decision * 1e4
    return finite_or_none(float((quantity * bps).sum() / total))


_TIMELINE_COLUMNS = (
    "ts_event",
    "instrument_key",
    "quantity",
    "avg_entry_price",
    "current_price",
    "unrealized_pnl",
    "realized_pnl",
)
_TIMELINE_SCHEMA = {
    "ts_event": pl.Int64,
    "instrument_key": pl.String,
    "quantity": pl.Float64,
    "avg_entry_price": pl.Float64,
    "current_price": pl.Float64,
    "unrealized_pnl": pl.Float64,
    "realized_pnl": pl.Float64,
}
_FILL_COLUMNS = ("instrument_key", "side", "quantity", "price", "fee", "ts_event")


class _Book:
    """Mutable average-cost state of one instrument during a replay."""

    def __init__(self) -> None:
        self.quantity = 0.0
        self.avg_price = 0.0
        self.open_fees = 0.0
        self.realized = 0.0

    def apply(
        self, sign: float, quantity: float, price: float, fee: float
    ) -> tuple[float, int, float, float, float] | None:
        """Apply one fill; return the trade it closes as (qty, direction, entry, gross, fees)."""
        held = abs(self.quantity)
        if held == 0.0 or math.copysign(1.0, self.quantity) == sign:
            new_held = held + quantity
            self.avg_price = (held * self.avg_price + quantity * price) / new_held
            self.quantity = sign * new_held
            self.open_fees += fee
            return None
        direction = 1 if self.quantity > 0 else -1
        if abs(quantity - held) <= QUANTITY_TOLERANCE * max(quantity, held):
            quantity = held  # a full close whatever the float dust
        closed = min(quantity, held)
        entry = self.avg_price
        gross = (price - entry) * closed * direction
        entry_fees = self.open_fees * closed / held
        exit_fees = fee * closed / quantity
        self.realized += gross
        self.open_fees -= entry_fees
        remaining = held - closed
        self.quantity = direction * remaining
        if remaining == 0.0:
            self.quantity, self.avg_price, self.open_fees = 0.0, 0.0, 0.0
        opened = quantity - closed
        if opened > 0.0:  # a flip: the rest opens a position the other way at this price
            self.quantity = sign * opened
            self.avg_price = price
            self.open_fees = fee * opened / quantity
        return closed, direction, entry, gross, entry_fees + exit_fees

    def snapshot(self) -> Position:
        flat = self.quantity == 0.0
        return Position(
            quantity=self.quantity,
            avg_entry_price=None if flat else self.avg_price,
            realized_pnl=self.realized,
            open_fees=self.open_fees,
        )


def _timeline_frame(rows: dict[str, list]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=_TIMELINE_SCHEMA)
    return frame.with_columns(pl.col("ts_event").cast(pl.Datetime("ns", "UTC")))


def _as_polars(table: Frame, name: str) -> pl.DataFrame:
    if isinstance(table, pl.DataFrame):
        return table
    if isinstance(table, pa.Table):
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)  # a Table always gives a DataFrame
        return frame
    raise ValueError(f"{name}: expected a polars DataFrame or pyarrow Table")


def _require(frame: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise ValueError(f"{name}: missing column '{column}'")


def _ts_ns(frame: pl.DataFrame, name: str) -> pl.Expr:
    dtype = frame.schema["ts_event"]
    if isinstance(dtype, pl.Datetime):
        return pl.col("ts_event").dt.epoch("ns")
    if dtype.is_integer() or dtype == pl.Null:  # Null: an empty or all-null column
        return pl.col("ts_event").cast(pl.Int64)
    raise ValueError(f"{name}: ts_event is {dtype}, expected ns integers or a timestamp")


def _check_sides(frame: pl.DataFrame) -> None:
    bad = frame.filter(~pl.col("side").is_in(list(SIDE_SIGN)))["side"]
    if bad.len() > 0:
        raise DataError(f"side {bad[0]!r} is not BUY or SELL", "fills")


def _read_fills(fills: Frame) -> pl.DataFrame:
    frame = _as_polars(fills, "fills")
    _require(frame, _FILL_COLUMNS, "fills")
    frame = frame.select(
        pl.col("instrument_key").cast(pl.String),
        pl.col("side").cast(pl.String),
        pl.col("quantity").cast(pl.Float64),
        pl.col("price").cast(pl.Float64),
        pl.col("fee").cast(pl.Float64),
        _ts_ns(frame, "fills").alias("ts_event"),
        *([pl.col("fee_currency").cast(pl.String)] if "fee_currency" in frame.columns else []),
    )
    for column in _FILL_COLUMNS:
        if frame[column].null_count() > 0:
            raise DataError(f"column '{column}' has nulls", "fills")
    _check_sides(frame)
    for column, low in (("quantity", 0.0), ("price", 0.0)):
        values = frame[column].to_numpy()
        if not np.all(np.isfinite(values)) or np.any(values <= low):
            raise DataError(f"column '{column}' must hold positive numbers", "fills")
    if not np.all(np.isfinite(frame["fee"].to_numpy())):
        raise DataError("column 'fee' must hold finite numbers", "fills")
    if "fee_currency" in frame.columns:
        currencies = sorted(frame["fee_currency"].drop_nulls().unique().to_list())
        if len(currencies) > 1:
            raise DataError(
                f"fees in several currencies ({', '.join(currencies)}): convert them to one "
                "before summing",
                "fills",
            )
    return frame.sort("ts_event", maintain_order=True)


def _read_equity(equity: Frame) -> tuple[np.ndarray, np.ndarray]:
    frame = _as_polars(equity, "equity curve")
    _require(frame, ("ts_event", "portfolio_value"), "equity curve")
    frame = frame.select(
        _ts_ns(frame, "equity curve").alias("ts_event"),
        pl.col("portfolio_value").cast(pl.Float64),
    )
    if frame["ts_event"].null_count() or frame["portfolio_value"].null_count():
        raise DataError("nulls in ts_event or portfolio_value", "equity curve")
    frame = frame.sort("ts_event", maintain_order=True)
    values = frame["portfolio_value"].to_numpy()
    if not np.all(np.isfinite(values)):
        raise DataError("portfolio_value must be finite", "equity curve")
    return frame["ts_event"].to_numpy(), values


def _datetime_ns(value: dt.datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("marks_ts must be time zone-aware")
    delta = value.astimezone(dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
