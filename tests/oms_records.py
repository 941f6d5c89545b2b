"""Builders of OMS records for tests."""

from __future__ import annotations

from core.oms import (
    Fill,
    OrderEvent,
)

T0 = 1_767_571_200_000_000_000  # 2026-01-05 00:00 UTC in ns


BTC = "BTCUSDT.BINANCE"


def order_event(
    order_id: str, sequence: int, status: str, event_type: str | None = None, ts: int = 0
) -> OrderEvent:
    return OrderEvent(
        client_order_id=order_id,
        event_id=f"{order_id}-e{sequence}",
        event_type=event_type or status,
        sequence=sequence,
        ts_event=T0 + ts + sequence,
        status=status,
        instrument_id=BTC,
        strategy_id="REBAL-001",
        side="BUY",
        order_type="MARKET",
        quantity=0.5,
        filled_qty=0.5 if status == "FILLED" else 0.0,
        created_at=T0 + ts,
    )


def fill(index: int, order_id: str = "O-1") -> Fill:
    return Fill(
        trade_id=f"T-{index}",
        client_order_id=order_id,
        instrument_id=BTC,
        strategy_id="REBAL-001",
        side="BUY",
        quantity=0.25,
        price=94_000.0 + index,
        commission=0.1,
        commission_currency="USDT",
        liquidity_side="TAKER",
        ts_event=T0 + index,
        decision_price=94_000.0,
    )
