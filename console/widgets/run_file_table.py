"""How a run's fills and orders files look in the run detail: their cells and their columns.

The files hold every column the runner wrote, more than 80 (or 160) columns show. So, as in
the dashboard's panes (``column_layout``), each column has a priority and the table keeps
those that fit whole; numbers are never cut. Ids are long and alike (``O-20260105-000259-001-
001-1``, a fill's id that plus ``-T-<hash>-001``): they differ at their end, so an id column
may be cut at its start, but never shorter than the tail that tells its values apart. A time
is cut the same way (``…01-05 00:03:00``: the year is the period's). Prices have the
decimals the dashboard gives them (``cells.price``). Fees are money: cents for
a dollar-like currency (an exchange's statement shows them so; a rebate of 0.004 USDT reads
0.00), all of a coin's digits for a fee in BTC or BNB (0.00001234 is not 0.00).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyarrow as pa
from rich.text import Text

from console.widgets.cells import DASH, number, price, quantity
from console.widgets.column_layout import Column

MAX_TEXT = 24
"""Widest a text column gets (longer values end in an ellipsis)."""
MIN_ID = 8
"""Narrowest an id column gets (with its ``…``), however short the tail that tells ids apart."""
TIME_TAIL = 15
"""A time cut at its start keeps ``…MM-DD HH:MM:SS``."""
MIN_INSTRUMENT = 11
"""An instrument may be cut to ``BTCUSDT.BI…`` at 80 columns, so a fill keeps its time."""
PRICES = frozenset({"price", "avg_px", "avg_entry_price", "current_price"})
"""Columns of prices: as the panes show them (two decimals from 100 up, more below)."""
CENT_CURRENCIES = frozenset(
    {"USD", "EUR", "GBP", "CHF", "CAD", "AUD", "USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI"}
)
"""Fee currencies counted in cents (fiat, and coins pegged to it)."""
PRIORITIES = {
    "order_id": 1,
    "instrument_key": 1,
    "side": 1,
    "quantity": 1,
    "price": 1,
    "fee": 1,
    "status": 1,
    "ts_event": 1,
    "created_at": 2,
    "filled_quantity": 2,
    "fee_currency": 2,
    "order_type": 2,
    "rejection_reason": 2,
    "fill_id": 3,
    "venue": 3,
    "operation_id": 3,
    "updated_at": 4,
}
"""Which columns stay at 80 columns (1), and which go first (the highest); others are 3."""


def table_cells(table: pa.Table) -> list[tuple[Text, ...]]:
    """Each row of ``table`` as cell texts: times to the second, numbers trimmed, fees in their
    currency's digits, null as ``-``."""
    columns = [_column_texts(table, name) for name in table.column_names]
    return [tuple(Text(column[i], end="") for column in columns) for i in range(table.num_rows)]


def run_columns(table: pa.Table, rows: Sequence[tuple[Text, ...]]) -> list[Column]:
    """The columns of ``table`` (its ``rows`` as ``table_cells`` made them)."""
    columns = []
    for index, name in enumerate(table.column_names):
        kind = table.schema.field(name).type
        texts = [row[index].plain for row in rows]
        widest = max((len(text) for text in texts), default=0)
        priority = PRIORITIES.get(name, 3)
        if pa.types.is_floating(kind) or pa.types.is_integer(kind):
            columns.append(Column(name, len(name), priority=priority, numeric=True))
        elif name.endswith("_id"):
            least = max(MIN_ID, distinct_tail(texts) + 1)
            columns.append(Column(name, widest, priority=priority, keep_end=True, min_width=least))
        elif pa.types.is_timestamp(kind):
            columns.append(
                Column(name, widest, priority=priority, keep_end=True, min_width=TIME_TAIL)
            )
        elif name == "instrument_key":
            columns.append(Column(name, MAX_TEXT, priority=priority, min_width=MIN_INSTRUMENT))
        else:
            columns.append(Column(name, MAX_TEXT, priority=priority))
    return columns


def distinct_tail(values: Sequence[str]) -> int:
    """The fewest characters at the end that tell the distinct ``values`` apart (all of the
    longest when two differ only further in)."""
    distinct = set(values)
    longest = max((len(value) for value in distinct), default=0)
    for length in range(1, longest + 1):
        if len({value[-length:] for value in distinct}) == len(distinct):
            return length
    return longest


def fee_text(value: float | None, currency: str | None) -> str:
    """A fee in its currency's digits: cents for a dollar-like one, a coin's all."""
    if value is None or not math.isfinite(value):
        return DASH
    if currency is not None and currency.upper() in CENT_CURRENCIES:
        return number(value)
    return quantity(value)


def _column_texts(table: pa.Table, name: str) -> list[str]:
    column = table.column(name)
    values = column.to_pylist()
    if name == "fee" and "fee_currency" in table.column_names:
        currencies = table.column("fee_currency").to_pylist()
        return [fee_text(v, c) for v, c in zip(values, currencies, strict=True)]
    if pa.types.is_timestamp(column.type):
        return [DASH if v is None else f"{v:%Y-%m-%d %H:%M:%S}" for v in values]
    if name in PRICES:
        return [price(v) for v in values]
    if pa.types.is_floating(column.type):
        return [_float_text(v) for v in values]
    return [DASH if v is None else str(v) for v in values]


def _float_text(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return quantity(value)
