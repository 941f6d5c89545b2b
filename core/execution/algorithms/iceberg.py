"""``IcebergExecAlgorithm``: shows a display quantity at a limit price, refilled as it fills.

Nautilus's backtest matching engine ignores ``display_qty``, so the algorithm works the order
itself: at most one child of at most ``display_qty`` works at a time, and the next is sent
only when it has filled completely; the venue never sees more than the display quantity,
in a backtest or live (bar the last refill, which takes a leftover under the venue's minimum
quantity or notional rather than leave it to be denied). The price is the parent's own for
a limit parent, else the best/last price at arrival moved by ``limit_offset_bps`` (positive:
more aggressive), fixed for the parent's life as an iceberg's price is.

Parameters per parent (``exec_algorithm_params``, defaults from the config): ``display_qty``
(instrument units; 0: ``display_fraction`` of the parent), ``display_fraction``,
``limit_offset_bps``.
"""

from __future__ import annotations

import math
from typing import Any

from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.identifiers import ExecAlgorithmId

from core.execution.algorithms.base import DeskExecAlgorithm
from core.execution.algorithms.parent import ParentWork, min_tradable, number

ICEBERG_ID = "ICEBERG"


class IcebergExecAlgorithmConfig(ExecAlgorithmConfig, frozen=True):
    """Defaults of every iceberg parent (``[execution]``)."""

    exec_algorithm_id: ExecAlgorithmId | None = ExecAlgorithmId(ICEBERG_ID)
    display_fraction: float = 0.1
    display_qty: float = 0.0
    limit_offset_bps: float = 0.0


class IcebergExecAlgorithm(DeskExecAlgorithm):
    """One display-sized limit child at a time until the parent is filled."""

    def __init__(self, config: IcebergExecAlgorithmConfig | None = None) -> None:
        super().__init__(config or IcebergExecAlgorithmConfig())

    def begin(self, work: ParentWork, params: dict[str, Any]) -> None:
        config = self.config
        fraction = number(params, "display_fraction", config.display_fraction, 1e-9, 1)
        shown = number(params, "display_qty", config.display_qty, 0, math.inf)
        offset = number(params, "limit_offset_bps", config.limit_offset_bps, -1000, 1000)
        lot = work.instrument.size_increment.as_double()
        display = shown if shown > 0 else work.total * fraction
        display = max(lot, math.floor(display / lot + 1e-9) * lot)
        primary = work.primary
        if primary.order_type == OrderType.LIMIT:
            price = primary.price.as_double()
        else:
            price = self.limit_price(work.instrument, primary.side, offset)
        price = work.instrument.make_price(price).as_double()
        minimum = min_tradable(work.instrument, price)
        work.extra.update(display=max(display, minimum), price=price, minimum=minimum)
        self.send_due(work)

    def on_child_done(self, work: ParentWork, filled: bool) -> None:
        self.send_due(work)

    def send_due(self, work: ParentWork) -> None:
        if work.working:
            return  # the shown part is still working: never more than one display out
        lot = work.instrument.size_increment.as_double()
        quantity = min(work.extra["display"], work.remaining)
        if work.remaining - quantity < work.extra["minimum"] - lot / 2:
            quantity = work.remaining  # a leftover under the venue's minimum joins this refill
        if quantity >= lot / 2:
            self.send_child(work, quantity, work.extra["price"])
