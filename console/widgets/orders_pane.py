"""The Orders pane: open orders first, then the most recent others, status coloured."""

from __future__ import annotations

from collections.abc import Sequence

from console.widgets.cells import price, quantity, themed, utc_time
from console.widgets.oms_pane import OmsPane
from console.widgets.table_pane import Cells
from core.oms import OmsStore, OrderEvent

STATUS_VARIABLES = {
    "FILLED": "status-done",
    "CANCELED": "status-closed",
    "EXPIRED": "status-closed",
    "REJECTED": "status-bad",
    "DENIED": "status-bad",
}
"""Theme variable of each closed status; every other status is an open order (status-open)."""


class OrdersPane(OmsPane):
    """Orders as they stand now (the OMS's ``orders`` table), open ones on top."""

    TITLE = "Orders"
    # The columns an operator needs first come first: at 80 columns the order id scrolls.
    COLUMNS = (
        ("time", 8),
        ("instrument", 15),
        ("side", 4),
        ("qty", 10),
        ("status", 16),
        ("filled", 10),
        ("avg px", 11),
        ("order", 22),
    )
    TABLES = frozenset({"orders"})

    async def fetch(self, store: OmsStore) -> list[OrderEvent]:
        return await store.orders(limit=self.limit)

    def key(self, record: OrderEvent) -> str:
        return record.client_order_id

    def cells(self, record: OrderEvent) -> Cells:
        variables = self.variables
        status = STATUS_VARIABLES.get(record.status, "status-open")
        return (
            utc_time(record.ts_event),
            record.instrument_id,
            themed(record.side, "pnl-up" if record.side == "BUY" else "pnl-down", variables),
            quantity(record.quantity),
            themed(record.status, status, variables),
            quantity(record.filled_qty),
            price(record.avg_px),
            record.client_order_id,
        )

    def summary(self, data: Sequence[OrderEvent]) -> str:
        open_orders = sum(1 for order in data if order.is_open)
        return f"{open_orders} open · {len(data)} shown"
