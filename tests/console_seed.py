"""What the console tests share: a small desk's worth of OMS records, a fixed clock, helpers.

No tests here: the console test files import these (as the OMS tests share their builders).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable

from console.widgets.column_layout import CELL_PADDING
from console.widgets.line_table import LineTable
from core.config import AppConfig
from core.database_url import is_postgres_url
from core.oms import (
    DriftObservation,
    Fill,
    InstrumentPnl,
    NodeStatus,
    OmsStore,
    OrderEvent,
    PnlSnapshot,
    PositionSnapshot,
    Record,
    RiskAlert,
    RunState,
    TargetsRecord,
    UploadState,
)

T0 = 1_767_614_400_000_000_000  # 2026-01-05 12:00:00 UTC in ns
SECOND = 1_000_000_000
NOW = T0 + 11 * SECOND
"""The console's fixed clock in these tests: 12:00:11 UTC."""
BTC = "BTCUSDT.BINANCE"
ETH = "ETHUSDT.BINANCE"
STATUSES = ("ACCEPTED", "FILLED", "CANCELED", "REJECTED", "FILLED", "SUBMITTED")


def fixed_clock() -> int:
    return NOW


def order(index: int, status: str, ts: int | None = None) -> OrderEvent:
    filled = status == "FILLED"
    return OrderEvent(
        client_order_id=f"O-{index:03d}",
        event_id=f"O-{index:03d}-{status}",
        event_type=status,
        sequence=1 if status == "INITIALIZED" else 3,
        ts_event=T0 + index * SECOND if ts is None else ts,
        status=status,
        instrument_id=ETH if index % 3 == 0 else BTC,
        strategy_id="REBAL-001",
        side="BUY" if index % 2 else "SELL",
        order_type="MARKET",
        quantity=0.5 + index / 10,
        filled_qty=0.5 + index / 10 if filled else 0.0,
        avg_px=94_000.0 + index if filled else None,
        created_at=T0 + index * SECOND,
    )


def position(
    instrument: str, signed_qty: float, last_px: float, unrealized: float
) -> PositionSnapshot:
    side = "LONG" if signed_qty > 0 else "SHORT" if signed_qty < 0 else "FLAT"
    return PositionSnapshot(
        position_id=f"{instrument}-REBAL-001",
        event_id=f"{instrument}-2",
        event_type="CHANGED",
        sequence=2,
        ts_event=T0,
        instrument_id=instrument,
        strategy_id="REBAL-001",
        account_id="BINANCE-001",
        side=side,
        signed_qty=signed_qty,
        quantity=abs(signed_qty),
        avg_px_open=last_px * 0.99,
        last_px=last_px,
        last_qty=0.1,
        realized_pnl=-10.5,
        unrealized_pnl=unrealized,
        currency="USDT",
        ts_opened=T0,
    )


def drift(index: int, reference_price: float) -> DriftObservation:
    fill = Fill(
        trade_id=f"T-{index}",
        client_order_id=f"O-{index:03d}",
        instrument_id=BTC,
        strategy_id="REBAL-001",
        side="BUY",
        quantity=0.1,
        price=94_000.0,
        commission=0.1,
        commission_currency="USDT",
        liquidity_side="TAKER",
        ts_event=T0 + index * SECOND,
    )
    return DriftObservation.measure(fill, reference_price, "decision", 5.0)


def heartbeat(ts_event: int = NOW - SECOND, equity: float | None = 100_000.0) -> NodeStatus:
    return NodeStatus(
        ts_event=ts_event,
        mode="SHADOW",
        venues=("BINANCE",),
        node_state="RUNNING",
        trading_state="ACTIVE",
        data_feed="OK",
        venue_connection="OK",
        equity=equity,
    )


def _marked(
    instrument: str,
    quantity: float,
    cost: float,
    mark: float,
    realized: float,
    fees: float,
    day_realized: float,
) -> InstrumentPnl:
    unrealized = quantity * (mark - cost) if quantity else 0.0
    return InstrumentPnl(
        instrument_id=instrument,
        quantity=quantity,
        average_cost=cost if quantity else 0.0,
        mark=mark,
        mark_source="last",
        mark_ns=NOW - 2 * SECOND,
        realized=realized,
        unrealized=unrealized,
        fees=fees,
        funding=0.0,
        day_realized=day_realized,
        day_unrealized=unrealized,
        day_fees=fees,
        day_funding=0.0,
    )


def pnl_snapshot(ts_event: int = NOW - SECOND, equity: float = 103_250.75) -> PnlSnapshot:
    """The node's marks and PnL for the seeded positions, adding up as the node's do: the
    session made realized + unrealized - fees, the day 500 less realized."""
    lines = (
        _marked(BTC, 0.75, 93_060.0, 94_210.5, 120.0, 45.12, -380.0),
        _marked(ETH, -4.0, 3_290.0, 3_301.25, -30.5, 12.4, -30.5),
        _marked("SOLUSDT.BINANCE", 0.0, 0.0, 181.3, 15.0, 3.2, 15.0),
    )
    realized = sum(line.realized for line in lines)
    unrealized = sum(line.unrealized for line in lines)
    fees = sum(line.fees for line in lines)
    session = realized + unrealized - fees
    return PnlSnapshot(
        ts_event=ts_event,
        currency="USDT",
        equity=equity,
        session_start_ns=T0 - 3_600 * SECOND,
        session_start_equity=equity - session,
        day_start_ns=T0 - 3_600 * SECOND,
        day_start_equity=equity - session + 500.0,
        realized=realized,
        unrealized=unrealized,
        fees=fees,
        funding=0.0,
        day_realized=realized - 500.0,
        day_unrealized=unrealized,
        day_fees=fees,
        day_funding=0.0,
        instruments=lines,
    )


def targets_in_force() -> TargetsRecord:
    """The targets the node trades to: 65% BTC, -10% ETH."""
    return TargetsRecord(
        ts_event=T0 - 60 * SECOND,
        source="file",
        weights={BTC: 0.65, ETH: -0.1},
        operation_id="targets-0123456789ab",
        actor="research",
        as_of=T0 - 120 * SECOND,
    )


def desk_records() -> list[Record]:
    """Six orders (two open), three positions, four drift observations (one over 5 bps),
    three alerts, three uploads (one failed), two backtest runs."""
    records: list[Record] = [order(index, status) for index, status in enumerate(STATUSES)]
    records += [
        position(BTC, 0.75, 94_000.0, 123.4),
        position(ETH, -4.0, 3_300.0, -45.2),
        position("SOLUSDT.BINANCE", 0.0, 180.0, 0.0),
    ]
    # BUY fills at 94,000: 0.0, +1.1, +2.1 and +10.6 bps of cost.
    records += [
        drift(index, reference)
        for index, reference in enumerate((94_000.0, 93_990.0, 93_980.0, 93_900.0))
    ]
    records += [
        RiskAlert(
            alert_id="a1",
            ts_event=T0 + 5 * SECOND,
            severity="WARNING",
            rule="max_order_notional",
            message="O-007 notional 52,000 over the 50,000 limit",
        ),
        RiskAlert(
            alert_id="a2",
            ts_event=T0 + 6 * SECOND,
            severity="CRITICAL",
            rule="drawdown",
            message="daily drawdown 3.1% over 3.0%",
        ),
        RiskAlert(
            alert_id="a3",
            ts_event=T0 + 7 * SECOND,
            severity="INFO",
            rule="trading_state",
            message="trading ACTIVE",
        ),
    ]
    records += [
        UploadState(file="results/run-1/fills.parquet", state="done", size=123_456, updated_at=T0),
        UploadState(
            file="results/run-1/summary.json",
            state="failed",
            size=2_048,
            updated_at=T0 + 1,
            retries=3,
            last_error="403 Forbidden: desk-results",
        ),
        UploadState(file="logs/node.log", state="queued", size=10_485_760, updated_at=T0 + 2),
    ]
    records += [
        RunState(
            run_id="20260105-120000-demo",
            state="COMPLETED",
            updated_at=T0,
            progress=1.0,
            phase="writing",
            result_folder="artifacts/backtest_results/20260105-120000-demo",
        ),
        RunState(
            run_id="20260105-130000-demo",
            state="RUNNING",
            updated_at=T0 + 1,
            progress=0.42,
            phase="running",
        ),
    ]
    return records


async def write_records(path: Path | str, records: list[Record]) -> None:
    """Write ``records`` to the OMS at ``path`` (creating it) and close it."""
    async with await OmsStore.open(path) as store:
        store.submit_many(records)
        await store.flush()


def config_for(database: Path | str, theme: str = "trade-dark") -> AppConfig:
    """The default config with the OMS at ``database`` (a file, or a PostgreSQL URL), results
    beside it (never the checkout's own ``artifacts``, which the demo fills; beside a URL, in
    a new temporary folder), and the given theme."""
    config = AppConfig()
    if is_postgres_url(str(database)):
        oms = msgspec.structs.replace(config.oms, url=str(database))
        results = tempfile.mkdtemp(prefix="trade-console-results-")
    else:
        oms = msgspec.structs.replace(config.oms, database=str(database))
        results = str(Path(database).parent / "results")
    return msgspec.structs.replace(
        config,
        oms=oms,
        results=msgspec.structs.replace(config.results, root=results),
        console=msgspec.structs.replace(config.console, theme=theme),
    )


def cell_text(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def table_rows(table: DataTable) -> list[list[str]]:
    """What the table shows, as plain text, row by row."""
    return [[cell_text(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def drawn_rows(table: LineTable) -> list[dict[str, str]]:
    """What the table draws on screen now, row by row: each shown column's text as drawn (the
    header's labels must be the shown columns', and no line is wider than the table)."""
    shown = table.shown_columns
    header = table.render_line(0).text
    assert header.split() == " ".join(column.label for column, _ in shown).split()
    rows = []
    for y in range(1, min(table.row_count, table.size.height - 1) + 1):
        strip = table.render_line(y)
        assert strip.cell_length <= table.size.width
        x, cells = 0, {}
        for column, width in shown:
            cells[column.label] = strip.text[x + CELL_PADDING : x + CELL_PADDING + width].strip()
            x += width + 2 * CELL_PADDING
        rows.append(cells)
    return rows


def numbers_whole(table: LineTable) -> int:
    """Check that every number drawn is its row's whole cell; return how many were drawn."""
    labels = [column.label for column in table.ordered_columns]
    drawn = 0
    for row, cells in enumerate(drawn_rows(table)):
        values = table.get_row_at(row)
        for column, _ in table.shown_columns:
            if column.numeric:
                assert cells[column.label] == values[labels.index(column.label)].plain
                drawn += 1
    return drawn


def column(table: DataTable, label: str) -> list[str]:
    """The plain texts of one column, top to bottom."""
    index = [str(c.label) for c in table.ordered_columns].index(label)
    return [row[index] for row in table_rows(table)]


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until ``condition()`` holds (fails the test after ``timeout`` s).

    It returns as soon as the condition holds, so the generous default costs nothing but room
    for a loaded CI machine; a test of how fast something shows times it itself.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        await pilot.pause(0.02)
