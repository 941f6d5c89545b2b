"""The Orders pane: open orders first, then the most recent others, status coloured, each
routed order with where the smart order router sent it and why, and an execution algorithm's
children right under their parent (``└`` before the instrument)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.widgets import Static

from console.widgets.cells import DASH, price, quantity, themed, utc_time
from console.widgets.column_layout import Column
from console.widgets.line_table import LineTable
from console.widgets.oms_pane import OmsPane
from console.widgets.table_pane import Cells
from core.oms import OmsStore, OrderEvent, RoutedOrder

STATUS_VARIABLES = {
    "FILLED": "status-done",
    "CANCELED": "status-closed",
    "EXPIRED": "status-closed",
    "REJECTED": "status-bad",
    "DENIED": "status-bad",
}
"""Theme variable of each closed status; every other status is an open order (status-open)."""


@dataclass(frozen=True)
class OrderRow:
    """One order as the pane shows it: its state and, if the router placed it, its route."""

    order: OrderEvent
    route: RoutedOrder | None = None
    """The router's decision: the order's own, or its parent's for an algorithm's child."""

    @property
    def is_open(self) -> bool:
        return self.order.is_open

    @property
    def parent(self) -> str | None:
        """The parent order of an execution algorithm's child (None: not a child)."""
        return self.order.parent_order_id


CHILD_MARK = "└ "
"""Before a child's instrument: the row belongs to the parent above it."""


def grouped(rows: Sequence[OrderRow]) -> list[OrderRow]:
    """``rows`` in their order, each algorithm's children moved right under their parent
    (oldest child first); a child whose parent is not among ``rows`` stays where it is."""
    shown = {row.order.client_order_id for row in rows}
    children: dict[str, list[OrderRow]] = {}
    for row in rows:
        if row.parent is not None and row.parent in shown:
            children.setdefault(row.parent, []).append(row)
    result: list[OrderRow] = []
    for row in rows:
        if row.parent is not None and row.parent in shown:
            continue
        result.append(row)
        kids = children.get(row.order.client_order_id, [])
        result.extend(
            sorted(kids, key=lambda kid: (kid.order.created_at, kid.order.client_order_id))
        )
    return result


def explanation(row: OrderRow) -> str:
    """The line under the table: the route's explanation, a child's parent first."""
    route = "" if row.route is None else row.route.explanation
    if row.parent is None:
        return route
    head = f"{CHILD_MARK}child of {row.parent}"
    return f"{head}: {route}" if route else head


def route_cell(route: RoutedOrder | None) -> str:
    """The route column: the venue and its cost, against the next venue weighed (``BYBIT
    4.00 < BINANCE 10.00``), ``split``/``reroute`` marked; ``-`` for an unrouted order."""
    if route is None:
        return DASH
    costs = {c["venue"]: c["total_bps"] for c in route.candidates}
    chosen = f"{route.venue} {costs.get(route.venue, 0.0):.2f}"
    others = [f"{venue} {bps:.2f}" for venue, bps in costs.items() if venue != route.venue]
    if route.rerouted_from is not None:
        return f"reroute {chosen}"
    if route.quantity < route.parent_quantity:
        return f"split {chosen}"
    return f"{chosen} < {others[0]}" if others else chosen


class OrdersPane(OmsPane):
    """Orders as they stand now (the OMS's ``orders`` table), open ones on top; below the
    table, the router's explanation for the order under the cursor (wrapped: at 80 columns a
    split's explanation takes two lines)."""

    DEFAULT_CSS = """
    OrdersPane > #route-line {
        height: auto;
        max-height: 3;
        padding: 0 1;
        color: $text-muted;
        background: $surface;
        display: none;
        &.-shown {
            display: block;
        }
    }
    """

    TITLE = "Orders"
    # At 80 columns (and in the 160-column grid) the route and the order id do not fit: the
    # line under the table explains the order under the cursor. A partly filled order's
    # status is wider: the time goes before the filled quantity.
    COLUMNS = (
        Column("time", 8, priority=3),
        Column("instrument", 17),
        Column("side", 4),
        Column("qty", 3, numeric=True),
        Column("status", 16),
        Column("filled", 6, numeric=True, priority=2),
        Column("avg px", 6, numeric=True),
        Column("route", 26, priority=5),
        Column("order", 36, priority=4, keep_end=True),
    )
    TABLES = frozenset({"orders", "route_decisions"})

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Static("", id="route-line", markup=False)

    async def fetch(self, store: OmsStore) -> list[OrderRow]:
        orders = await store.orders(limit=self.limit)
        ids = {order.client_order_id for order in orders}
        ids |= {order.parent_order_id for order in orders if order.parent_order_id}
        routes = await store.routes(sorted(ids))
        # A child is explained by its parent's decision (the router decided the parent).
        return grouped(
            [OrderRow(o, routes.get(o.parent_order_id or o.client_order_id)) for o in orders]
        )

    def key(self, record: OrderRow) -> str:
        return record.order.client_order_id

    def cells(self, record: OrderRow) -> Cells:
        variables = self.variables
        order = record.order
        status = STATUS_VARIABLES.get(order.status, "status-open")
        child = record.parent is not None
        return (
            utc_time(order.ts_event),
            f"{CHILD_MARK}{order.instrument_id}" if child else order.instrument_id,
            themed(order.side, "pnl-up" if order.side == "BUY" else "pnl-down", variables),
            quantity(order.quantity),
            themed(order.status, status, variables),
            quantity(order.filled_qty),
            price(order.avg_px),
            DASH if child else route_cell(record.route),
            f"{CHILD_MARK}{order.client_order_id}" if child else order.client_order_id,
        )

    def summary(self, data: Sequence[OrderRow]) -> str:
        open_orders = sum(1 for row in data if row.is_open)
        return f"{open_orders} open · {len(data)} shown"

    def show(self, data: Any) -> None:
        super().show(data)
        self._explain_cursor()

    def on_line_table_cursor_moved(self, message: LineTable.CursorMoved) -> None:
        self._explain_cursor()

    @property
    def route_line(self) -> str:
        """The line shown under the table: the route's explanation, a child's parent first
        (empty for an unrouted order that is no child)."""
        return str(self.query_one("#route-line", Static).content)

    def _explain_cursor(self) -> None:
        line = self.query_one("#route-line", Static)
        table = self.table
        text = ""
        if table.row_count and self.data:
            key = table.keys[table.cursor_row]
            row = next((r for r in self.data if r.order.client_order_id == key), None)
            text = "" if row is None else explanation(row)
        if str(line.content) != text:  # an update lays the whole screen out again
            line.update(text)
        line.set_class(bool(text), "-shown")
