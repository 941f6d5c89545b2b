"""Why does live differ from the backtest: a shadow (or live) session in the OMS against a backtest
of the same period, order by order.

**Which orders are the session's.** The node writes its rows into the OMS with ``run_id`` NULL
(a backtest that records into the OMS marks its rows with its run id), under the strategy id of
the config; the backtest's summary holds its config, so its ``strategy.strategy_id`` picks the
node's orders of that strategy id (Nautilus keeps the configured ``NAME-TAG``). Of those,
the session is:

- ``period``: the orders created within the backtest's period ``[start, end)``: a node that ran
  on the venue's data over the days the backtest replays;
- ``operations``: when no node order lies in the period (a session on a REPLAY of recorded
  trades is stamped with the live clock, not the recorded one), the node orders carrying one
  of the backtest's operation ids, and every node order created between the first and the last
  of them (so the session's extra orders are seen too).

An explicit ``window`` (epoch ns) replaces both. Several sessions over the same period (a node
restarted) count as one.

**No session.** When no node order is found either way, no session covers the backtest and
there is nothing to compare: ``covered`` is False, ``summary_line`` says so and
``session_line`` how to make a session, instead of a PnL "difference" that would be the
backtest's own PnL with its sign turned (``to_json`` then has no ``pnl``). A node on REPLAY
(the demo's) is stamped with the live clock and trades its own target files, whose operation
ids are not a backtest's, so it covers no backtest.

**Matching.** Orders are keyed by (operation id, instrument), the rebalance that asked for them
and what was traded; several orders under one key on one side (an algorithm's children, a
retry) are taken together: their fills summed, their VWAP over all of them. An order with no
operation id matches nothing.

**Per matched pair**: filled quantity difference (shadow - backtest), fill price difference in
bps of the backtest's VWAP, signed so that positive means the shadow paid worse (bought higher
or sold lower), fee difference, and the lag of the shadow's first fill after the backtest's
when both are on one clock (``period``; a replay's clock is not the recorded one, so no lag).

**PnL difference.** Each side's PnL over the session is what its fills made, marked at one
common price per instrument: the backtest's closing mark (its last ``current_price``; the
shadow's last fill price for an instrument the backtest never held): ``sum(signed qty x (mark -
price)) - fees``. For a backtest that starts flat this equals its net PnL. The difference
(shadow - backtest) splits exactly into:

- price: ``signed shadow qty x (backtest VWAP - shadow VWAP)`` over matched pairs;
- quantity: ``signed (shadow qty - backtest qty) x (mark - backtest VWAP)`` over matched pairs;
- fees: ``-(shadow fees - backtest fees)`` over matched pairs;
- missing: the PnL (fees included) of orders only in the shadow, minus that of orders only in
  the backtest.

**Curves.** The OMS keeps balances as they stand now (no history) and positions only at fills,
so the session's curve is rebuilt from its fills: PnL marked at each instrument's last fill
price, at every fill. The backtest's curve is built the same way from its fills, so the two are
comparable; on a replay session, each shadow fill is drawn at the backtest's time of the same
operation. A session without fills in the OMS gets no curve: the backtest's own equity curve
(PnL, marked every interval) is shown alone, and the note says why.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from core.data.results import FILLS_FILE, ORDERS_FILE, POSITIONS_FILE, Summary
from core.data.ticks import to_ns
from core.errors import DataError
from core.oms import OmsStore
from core.runs.compare import Curve, LoadedRun, load_run, read_result_table

Key = tuple[str, str]
"""(operation id, instrument): one rebalance's order for one instrument."""
_QTY_EPSILON = 1e-12
_ALL = 10_000_000
"""Limit passed to the OMS's newest-first reads when every row is wanted."""


@dataclass(frozen=True)
class FillRow:
    """One fill, either side: time (ns), signed quantity (+ buy), price, fee."""

    ts: int
    instrument: str
    signed_qty: float
    price: float
    fee: float


@dataclass
class SideOrder:
    """The orders of one key on one side, taken together."""

    key: Key
    order_ids: list[str]
    side: str
    quantity: float
    status: str
    reason: str | None
    created_ns: int
    fills: list[FillRow] = field(default_factory=list)

    @property
    def filled_qty(self) -> float:
        """Unsigned filled quantity."""
        return sum(abs(f.signed_qty) for f in self.fills)

    @property
    def vwap(self) -> float | None:
        """Volume-weighted fill price; None without a fill."""
        qty = self.filled_qty
        if qty <= _QTY_EPSILON:
            return None
        return sum(abs(f.signed_qty) * f.price for f in self.fills) / qty

    @property
    def fees(self) -> float:
        """Fees paid (a rebate is negative)."""
        return sum(f.fee for f in self.fills)

    @property
    def first_fill_ns(self) -> int | None:
        """When it first filled; None without a fill."""
        return min((f.ts for f in self.fills), default=None)

    @property
    def sign(self) -> float:
        """+1 for BUY, -1 for SELL."""
        return 1.0 if self.side == "BUY" else -1.0


@dataclass(frozen=True)
class OrderPair:
    """One key on both sides; ``backtest`` or ``shadow`` is None when the order is only on the
    other side. Differences are shadow minus backtest."""

    key: Key
    backtest: SideOrder | None
    shadow: SideOrder | None
    qty_diff: float | None
    price_diff_bps: float | None
    fee_diff: float | None
    lag_secs: float | None

    @property
    def matched(self) -> bool:
        """On both sides."""
        return self.backtest is not None and self.shadow is not None


@dataclass(frozen=True)
class InstrumentTotals:
    """One instrument's fills on one side: traded quantity, net quantity, VWAP, fees."""

    instrument: str
    filled_qty: float
    net_qty: float
    vwap: float | None
    fees: float


@dataclass(frozen=True)
class PnlAttribution:
    """Shadow PnL - backtest PnL = price + quantity + fees + missing (exactly)."""

    backtest_pnl: float
    shadow_pnl: float
    price: float
    quantity: float
    fees: float
    missing: float
    marks: dict[str, float]

    @property
    def difference(self) -> float:
        """Shadow minus backtest."""
        return self.shadow_pnl - self.backtest_pnl


@dataclass(frozen=True)
class SessionInfo:
    """How the session was picked out of the OMS (see the module docstring)."""

    database: str
    strategy_id: str
    how: Literal["period", "operations", "window", "none"]
    start_ns: int | None
    end_ns: int | None
    node_mode: str | None
    orders: int
    fills: int
    node_orders: int = 0
    """The strategy's node orders in the OMS, session or not."""


@dataclass(frozen=True)
class SessionComparison:
    """Everything the session compare shows."""

    run: LoadedRun
    session: SessionInfo
    pairs: tuple[OrderPair, ...]
    totals: tuple[tuple[InstrumentTotals | None, InstrumentTotals | None], ...]
    attribution: PnlAttribution
    curves: tuple[Curve, ...]
    curve_note: str

    @property
    def covered(self) -> bool:
        """Whether a node session covers the backtest: without one, nothing is compared."""
        return self.session.orders > 0

    @property
    def period_text(self) -> str:
        """The backtest's period (or the window given): ``2026-01-05..2026-01-08``, with times
        when one is not midnight."""
        s = self.session
        if s.how == "window" and s.start_ns is not None and s.end_ns is not None:
            start = dt.datetime.fromtimestamp(s.start_ns / 1e9, dt.UTC)
            end = dt.datetime.fromtimestamp(s.end_ns / 1e9, dt.UTC)
        else:
            period = self.run.summary.period
            assert period is not None  # a completed run's
            start, end = period.start, period.end
        midnight = dt.time(0, 0)
        form = "%Y-%m-%d" if start.time() == end.time() == midnight else "%Y-%m-%d %H:%M"
        return f"{start:{form}}..{end:{form}}"

    @property
    def matched(self) -> int:
        """Keys on both sides."""
        return sum(1 for p in self.pairs if p.matched)

    @property
    def only_backtest(self) -> int:
        """Keys only in the backtest."""
        return sum(1 for p in self.pairs if p.shadow is None)

    @property
    def only_shadow(self) -> int:
        """Keys only in the shadow session."""
        return sum(1 for p in self.pairs if p.backtest is None)

    def summary_line(self) -> str:
        """The one line the desk reads first."""
        if not self.covered:
            return f"No shadow session covers {self.period_text}: nothing to compare."
        a = self.attribution
        quantity = f" + quantity {a.quantity:,.2f}" if abs(a.quantity) >= 0.005 else ""
        return (
            f"{self.matched} orders matched, {self.only_backtest} only in backtest, "
            f"{self.only_shadow} only in shadow; PnL difference {a.difference:,.2f} = "
            f"price {a.price:,.2f} + fees {a.fees:,.2f} + missing {a.missing:,.2f}{quantity}"
        )

    def session_line(self) -> str:
        """Where the session came from, in words."""
        s = self.session
        if not self.covered:
            where = (
                "in the window given"
                if s.how == "window"
                else "in that period or from this backtest's operations"
            )
            return (
                f"{s.node_orders} {s.strategy_id} node orders in {s.database}, none {where}. "
                "Make one: run the shadow node on the venue's data during those days "
                '(trade-console run --mode shadow, [node] source = "venue"). A REPLAY session, '
                "as the demo's, runs on today's clock and trades its own target files: it "
                "covers no backtest (docs/operator/compare.md)."
            )
        how = {
            "period": "node orders in the backtest's period",
            "operations": "node orders of the backtest's operations (a replay: its own clock)",
            "window": "node orders in the window given",
        }[s.how]
        mode = f"{s.node_mode} " if s.node_mode else ""
        return f"{mode}session: {s.orders} orders, {s.fills} fills; {how} ({s.database})"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``trade-console compare --session --json``); keys are stable.

        Without a session (``covered`` false) the comparison's keys are null or empty: no
        ``pnl``, no ``orders``; ``message`` and ``session_line`` say why.
        """
        covered = self.covered
        a = self.attribution
        return {
            "run_id": self.run.summary.run_id,
            "folder": self.run.folder,
            "covered": covered,
            "message": self.summary_line(),
            "session_line": self.session_line(),
            "session": {
                "database": self.session.database,
                "strategy_id": self.session.strategy_id,
                "how": self.session.how,
                "start_ns": self.session.start_ns,
                "end_ns": self.session.end_ns,
                "node_mode": self.session.node_mode,
                "orders": self.session.orders,
                "fills": self.session.fills,
                "node_orders": self.session.node_orders,
            },
            "matched": self.matched if covered else None,
            "only_backtest": self.only_backtest if covered else None,
            "only_shadow": self.only_shadow if covered else None,
            "pnl": None
            if not covered
            else {
                "backtest": a.backtest_pnl,
                "shadow": a.shadow_pnl,
                "difference": a.difference,
                "price": a.price,
                "quantity": a.quantity,
                "fees": a.fees,
                "missing": a.missing,
                "marks": a.marks,
            },
            "orders": [_pair_json(p) for p in self.pairs] if covered else [],
            "instruments": [
                {
                    "instrument": (b or s).instrument,  # type: ignore[union-attr]
                    "backtest": _totals_json(b),
                    "shadow": _totals_json(s),
                }
                for b, s in self.totals
            ]
            if covered
            else [],
            "curve_note": self.curve_note if covered else "",
        }


async def compare_session(
    folder: str, database: str, *, window: tuple[int, int] | None = None
) -> SessionComparison:
    """Compare the backtest in ``folder`` with the node session in the OMS at ``database``.

    Raises
    ------
    DataError
        The folder is not a completed run, or its orders/fills/positions cannot be read.
    OmsError
        The OMS database cannot be opened or read.
    """
    run = load_run(folder)
    backtest = _backtest_orders(folder)
    async with await OmsStore.open(database, read_only=True) as store:
        orders = await store.orders(limit=_ALL)
        fills = await store.fills(limit=_ALL)
        status = await store.node_status()
    strategy_id = _strategy_id(run.summary)
    node_orders = [o for o in orders if o.run_id is None and o.strategy_id == strategy_id]
    chosen, how, start_ns, end_ns = _session_orders(run.summary, node_orders, backtest, window)
    by_id = {
        o.client_order_id: (o.operation_id or f"(none) {o.client_order_id}", o.instrument_id)
        for o in chosen
    }
    shadow: dict[Key, SideOrder] = {}
    for o in sorted(chosen, key=lambda o: (o.created_at, o.client_order_id)):
        _add_order(
            shadow,
            by_id[o.client_order_id],
            o.client_order_id,
            o.side,
            o.quantity,
            o.status,
            o.reason,
            o.created_at,
        )
    session_fills = [f for f in fills if f.run_id is None and f.client_order_id in by_id]
    for f in session_fills:
        sign = 1.0 if f.side == "BUY" else -1.0
        shadow[by_id[f.client_order_id]].fills.append(
            FillRow(f.ts_event, f.instrument_id, sign * f.quantity, f.price, f.commission)
        )
    info = SessionInfo(
        database=store.path,
        strategy_id=strategy_id,
        how=how,
        start_ns=start_ns,
        end_ns=end_ns,
        node_mode=status.mode if status is not None else None,
        orders=len(chosen),
        fills=len(session_fills),
        node_orders=len(node_orders),
    )
    return build_session_comparison(run, info, backtest, shadow, _closing_marks(folder))


def build_session_comparison(
    run: LoadedRun,
    info: SessionInfo,
    backtest: dict[Key, SideOrder],
    shadow: dict[Key, SideOrder],
    marks: dict[str, float],
) -> SessionComparison:
    """The comparison of both sides' orders (pure: the reading is done)."""
    same_clock = info.how in ("period", "window")

    # On one clock the pairs read in time order; a replay's clock is not the backtest's, so
    # there they read in operation order (operation ids sort in time).
    def order_of(key: Key) -> tuple[Any, ...]:
        first = backtest.get(key) or shadow[key]
        return (first.created_ns, key) if same_clock else key

    keys = sorted(backtest.keys() | shadow.keys(), key=order_of)
    pairs = tuple(_pair(key, backtest.get(key), shadow.get(key), same_clock) for key in keys)
    marks = dict(marks)
    # An instrument the backtest never held is marked at the shadow's last fill of it.
    last: dict[str, tuple[int, float]] = {}
    for fill in (f for o in (*backtest.values(), *shadow.values()) for f in o.fills):
        if fill.instrument not in last or fill.ts >= last[fill.instrument][0]:
            last[fill.instrument] = (fill.ts, fill.price)
    for instrument, (_, price) in last.items():
        marks.setdefault(instrument, price)
    attribution = _attribution(pairs, marks)
    totals = _totals(backtest.values(), shadow.values())
    curves, note = _curves(run, backtest, shadow, same_clock, marks)
    return SessionComparison(run, info, pairs, totals, attribution, curves, note)


# -- reading ----------------------------------------------------------------------------------


def _strategy_id(summary: Summary) -> str:
    strategy = summary.config.get("strategy", {}) if isinstance(summary.config, dict) else {}
    value = strategy.get("strategy_id") if isinstance(strategy, dict) else None
    if not isinstance(value, str) or not value:
        raise DataError("summary.config.strategy.strategy_id: missing, cannot find the session")
    return value


def _backtest_orders(folder: str) -> dict[Key, SideOrder]:
    orders = read_result_table(
        folder,
        ORDERS_FILE,
        (
            "order_id",
            "operation_id",
            "instrument_key",
            "side",
            "quantity",
            "status",
            "created_at",
            "rejection_reason",
        ),
    )
    fills = read_result_table(
        folder,
        FILLS_FILE,
        ("order_id", "instrument_key", "side", "quantity", "price", "fee", "ts_event"),
    )
    result: dict[Key, SideOrder] = {}
    key_of: dict[str, Key] = {}
    for o in _rows(orders, "created_at"):
        key = (o["operation_id"] or f"(none) {o['order_id']}", o["instrument_key"])
        key_of[o["order_id"]] = key
        _add_order(
            result,
            key,
            o["order_id"],
            o["side"],
            o["quantity"],
            o["status"],
            o["rejection_reason"],
            o["created_at"],
        )
    for f in _rows(fills, "ts_event"):
        key = key_of.get(f["order_id"])
        if key is None:
            raise DataError(f"fill of unknown order {f['order_id']}", f"{folder}/{FILLS_FILE}")
        sign = 1.0 if f["side"] == "BUY" else -1.0
        result[key].fills.append(
            FillRow(f["ts_event"], f["instrument_key"], sign * f["quantity"], f["price"], f["fee"])
        )
    return result


def _rows(table: pa.Table, time_column: str) -> list[dict[str, Any]]:
    index = table.column_names.index(time_column)
    table = table.set_column(index, time_column, table.column(time_column).cast(pa.int64()))
    return table.to_pylist()


def _closing_marks(folder: str) -> dict[str, float]:
    positions = read_result_table(
        folder, POSITIONS_FILE, ("ts_event", "instrument_key", "current_price")
    )
    marks: dict[str, float] = {}
    for row in _rows(positions, "ts_event"):  # in time order: the last one wins
        marks[row["instrument_key"]] = row["current_price"]
    return marks


def _add_order(
    into: dict[Key, SideOrder],
    key: Key,
    order_id: str,
    side: str,
    quantity: float,
    status: str,
    reason: str | None,
    created_ns: int,
) -> None:
    existing = into.get(key)
    if existing is None:
        into[key] = SideOrder(key, [order_id], side, quantity, status, reason, created_ns)
        return
    existing.order_ids.append(order_id)
    existing.quantity += quantity
    if status != existing.status:
        existing.status = f"{existing.status},{status}"
    existing.reason = existing.reason or reason


def _session_orders(
    summary: Summary,
    node_orders: list[Any],
    backtest: dict[Key, SideOrder],
    window: tuple[int, int] | None,
) -> tuple[list[Any], Literal["period", "operations", "window", "none"], int | None, int | None]:
    if window is not None:
        start, end = window
        return [o for o in node_orders if start <= o.created_at < end], "window", start, end
    period = summary.period
    assert period is not None
    start, end = to_ns(period.start), to_ns(period.end)
    inside = [o for o in node_orders if start <= o.created_at < end]
    if inside:
        return inside, "period", start, end
    operations = {key[0] for key in backtest}
    shared = [o for o in node_orders if o.operation_id in operations]
    if not shared:
        return [], "none", None, None
    first = min(o.created_at for o in shared)
    last = max(o.created_at for o in shared)
    return [o for o in node_orders if first <= o.created_at <= last], "operations", first, last


# -- comparing --------------------------------------------------------------------------------


def _pair(
    key: Key, backtest: SideOrder | None, shadow: SideOrder | None, same_clock: bool
) -> OrderPair:
    if backtest is None or shadow is None:
        return OrderPair(key, backtest, shadow, None, None, None, None)
    b_vwap, s_vwap = backtest.vwap, shadow.vwap
    price_bps = None
    if b_vwap is not None and s_vwap is not None and b_vwap > 0:
        price_bps = (s_vwap - b_vwap) / b_vwap * 1e4 * backtest.sign
    lag = None
    b_first, s_first = backtest.first_fill_ns, shadow.first_fill_ns
    if same_clock and b_first is not None and s_first is not None:
        lag = (s_first - b_first) / 1e9
    return OrderPair(
        key,
        backtest,
        shadow,
        shadow.filled_qty - backtest.filled_qty,
        price_bps,
        shadow.fees - backtest.fees,
        lag,
    )


def fills_pnl(fills: Iterable[FillRow], marks: dict[str, float]) -> float:
    """What ``fills`` made, marked at ``marks``: sum(signed qty x (mark - price)) - fees."""
    return sum(f.signed_qty * (marks[f.instrument] - f.price) - f.fee for f in fills)


def _attribution(pairs: Sequence[OrderPair], marks: dict[str, float]) -> PnlAttribution:
    price = quantity = fees = missing = 0.0
    backtest_pnl = shadow_pnl = 0.0
    for pair in pairs:
        b, s = pair.backtest, pair.shadow
        if b is not None:
            backtest_pnl += fills_pnl(b.fills, marks)
        if s is not None:
            shadow_pnl += fills_pnl(s.fills, marks)
        if b is None or s is None:
            missing += fills_pnl(s.fills, marks) if s is not None else 0.0
            missing -= fills_pnl(b.fills, marks) if b is not None else 0.0
            continue
        mark = marks.get(pair.key[1], 0.0)
        b_qty, s_qty = b.filled_qty, s.filled_qty
        b_vwap, s_vwap = b.vwap, s.vwap
        if b.side == s.side and b_vwap is not None:
            price += b.sign * s_qty * (b_vwap - (s_vwap if s_vwap is not None else b_vwap))
            quantity += b.sign * (s_qty - b_qty) * (mark - b_vwap)
        else:
            # Opposite sides, or nothing filled in the backtest: no common price to measure
            # against, so the whole gross difference is the quantity's.
            quantity += _gross(s, mark) - _gross(b, mark)
        fees -= s.fees - b.fees
    return PnlAttribution(backtest_pnl, shadow_pnl, price, quantity, fees, missing, marks)


def _gross(order: SideOrder, mark: float) -> float:
    return sum(f.signed_qty * (mark - f.price) for f in order.fills)


def _totals(
    backtest: Iterable[SideOrder], shadow: Iterable[SideOrder]
) -> tuple[tuple[InstrumentTotals | None, InstrumentTotals | None], ...]:
    b = _instrument_totals(f for o in backtest for f in o.fills)
    s = _instrument_totals(f for o in shadow for f in o.fills)
    return tuple((b.get(i), s.get(i)) for i in sorted(b.keys() | s.keys()))


def _instrument_totals(fills: Iterable[FillRow]) -> dict[str, InstrumentTotals]:
    grouped: dict[str, list[FillRow]] = defaultdict(list)
    for f in fills:
        grouped[f.instrument].append(f)
    result = {}
    for instrument, rows in grouped.items():
        qty = sum(abs(f.signed_qty) for f in rows)
        vwap = sum(abs(f.signed_qty) * f.price for f in rows) / qty if qty > _QTY_EPSILON else None
        result[instrument] = InstrumentTotals(
            instrument, qty, sum(f.signed_qty for f in rows), vwap, sum(f.fee for f in rows)
        )
    return result


# -- curves -----------------------------------------------------------------------------------


def pnl_at_fills(fills: Sequence[tuple[float, FillRow]]) -> tuple[np.ndarray, np.ndarray]:
    """PnL after each fill, marked at each instrument's last fill price; ``fills`` are
    (x, fill) in x order."""
    cash = 0.0
    holdings: dict[str, float] = defaultdict(float)
    last: dict[str, float] = {}
    xs, ys = [], []
    for x, f in fills:
        cash -= f.signed_qty * f.price + f.fee
        holdings[f.instrument] += f.signed_qty
        last[f.instrument] = f.price
        xs.append(x)
        ys.append(cash + sum(q * last[i] for i, q in holdings.items()))
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


def _curves(
    run: LoadedRun,
    backtest: dict[Key, SideOrder],
    shadow: dict[Key, SideOrder],
    same_clock: bool,
    marks: dict[str, float],
) -> tuple[tuple[Curve, ...], str]:
    shadow_fills = [(f.ts, f, key) for key, o in shadow.items() for f in o.fills]
    if not shadow_fills:
        start = run.summary.starting_value or 0.0
        curve = Curve("backtest", run.equity_ns.astype(np.float64), run.equity_value - start)
        return (curve,), (
            "PnL: the OMS holds no fills of this session, so only the backtest's curve "
            "(marked every interval) is shown"
        )
    b_fills = sorted(
        ((float(f.ts), f) for o in backtest.values() for f in o.fills), key=lambda p: p[0]
    )
    if same_clock:
        s_fills = sorted(((float(ts), f) for ts, f, _ in shadow_fills), key=lambda p: p[0])
        where = ""
    else:
        s_fills = _on_backtest_clock(shadow_fills, backtest)
        where = "; shadow fills drawn at the backtest's time of their operation (a replay)"
    curves = []
    end = float(run.equity_ns[-1]) if len(run.equity_ns) else None
    for name, fills in (("backtest", b_fills), ("shadow", s_fills)):
        xs, ys = pnl_at_fills(fills)
        if end is not None and len(xs) and end >= xs[-1]:
            # The closing mark: the same prices the PnL difference uses.
            final = fills_pnl((f for _, f in fills), marks)
            xs, ys = np.append(xs, end), np.append(ys, final)
        curves.append(Curve(name, xs, ys))
    note = "PnL marked at fill prices, from each side's fills (the OMS keeps no balance history)"
    return tuple(curves), note + where


def _on_backtest_clock(
    shadow_fills: list[tuple[int, FillRow, Key]], backtest: dict[Key, SideOrder]
) -> list[tuple[float, FillRow]]:
    when: dict[str, int] = {}
    for (operation, _), order in backtest.items():
        times = [f.ts for f in order.fills] or [order.created_ns]
        when[operation] = min(when.get(operation, min(times)), min(times))
    placed: list[tuple[float, FillRow]] = []
    previous = -math.inf
    for _ts, f, key in sorted(shadow_fills, key=lambda item: item[0]):
        x = float(when.get(key[0], previous))
        previous = max(previous, x)
        if math.isfinite(previous):
            placed.append((previous, f))
    return placed


def _pair_json(pair: OrderPair) -> dict[str, Any]:
    def side(order: SideOrder | None) -> dict[str, Any] | None:
        if order is None:
            return None
        return {
            "order_ids": order.order_ids,
            "side": order.side,
            "quantity": order.quantity,
            "filled_qty": order.filled_qty,
            "vwap": order.vwap,
            "fees": order.fees,
            "status": order.status,
            "reason": order.reason,
        }

    return {
        "operation_id": pair.key[0],
        "instrument": pair.key[1],
        "backtest": side(pair.backtest),
        "shadow": side(pair.shadow),
        "qty_diff": pair.qty_diff,
        "price_diff_bps": pair.price_diff_bps,
        "fee_diff": pair.fee_diff,
        "lag_secs": pair.lag_secs,
    }


def _totals_json(totals: InstrumentTotals | None) -> dict[str, Any] | None:
    return None if totals is None else dataclasses.asdict(totals)
