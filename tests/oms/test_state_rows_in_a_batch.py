"""A batch sends a state table only the row its upsert would keep for each key: the result must
be what writing the records one by one, in order, leaves (a property over random batches with
repeated keys and tied ranks)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from oms_records import T0

from core.oms import BalanceSnapshot, OmsStore, OrderEvent, PositionSnapshot, Record
from core.oms.ingest import plan


def order(key: int, sequence: int, tag: int) -> OrderEvent:
    return OrderEvent(
        client_order_id=f"O-{key}",
        event_id=f"E-{tag}",
        event_type="FILLED",
        sequence=sequence,
        ts_event=T0 + tag,
        status=("ACCEPTED", "FILLED", "CANCELED")[tag % 3],
        instrument_id="BTCUSDT.BINANCE",
        strategy_id="S",
        side="BUY",
        order_type="MARKET",
        quantity=1.0,
        filled_qty=float(tag),
        created_at=T0,
    )


def position(key: int, ts: int, sequence: int, tag: int) -> PositionSnapshot:
    return PositionSnapshot(
        position_id=f"P-{key}",
        event_id=f"PE-{tag}",
        event_type="PositionChanged",
        sequence=sequence,
        ts_event=T0 + ts,
        instrument_id="BTCUSDT.BINANCE",
        strategy_id="S",
        account_id="A",
        side="LONG",
        signed_qty=float(tag),
        quantity=float(tag),
        avg_px_open=1.0,
        last_px=1.0,
        last_qty=1.0,
        realized_pnl=0.0,
        unrealized_pnl=float(tag),
        currency="USDT",
        ts_opened=T0,
    )


def balance(key: int, ts: int, tag: int) -> BalanceSnapshot:
    return BalanceSnapshot(
        account_id="A",
        currency=("USDT", "BTC")[key % 2],
        total=float(tag),
        locked=0.0,
        free=float(tag),
        ts_event=T0 + ts,
        event_id=f"B-{tag}",
        account_type="CASH",
    )


small = st.integers(0, 3)
records = st.lists(
    st.one_of(
        st.tuples(st.just("order"), small, small),
        st.tuples(st.just("position"), small, small, small),
        st.tuples(st.just("balance"), small, small),
    ),
    min_size=1,
    max_size=25,
)


def build(drawn: list[tuple]) -> list[Record]:
    built: list[Record] = []
    for tag, (kind, *values) in enumerate(drawn):
        if kind == "order":
            built.append(order(values[0], values[1], tag))
        elif kind == "position":
            built.append(position(values[0], values[1], values[2], tag))
        else:
            built.append(balance(values[0], values[1], tag))
    return built


async def state_after(path: Path, batches: list[list[Record]]) -> tuple:
    async with await OmsStore.open(path) as store:
        for batch in batches:
            store.submit_many(batch)
            await store.flush()
        return (
            sorted(await store.orders(limit=1_000), key=lambda o: o.client_order_id),
            await store.positions(),
            await store.balances(),
            (await store.counts())["order_events"],
        )


@settings(max_examples=60, deadline=None)
@given(records)
def test_one_batch_leaves_the_state_that_one_record_at_a_time_leaves(
    tmp_path_factory, drawn: list[tuple]
) -> None:
    batch = build(drawn)
    folder = tmp_path_factory.mktemp("batch")
    whole = asyncio.run(state_after(folder / "whole.sqlite", [batch]))
    singly = asyncio.run(state_after(folder / "singly.sqlite", [[r] for r in batch]))
    assert whole == singly


def test_a_batch_sends_the_orders_table_one_row_per_order() -> None:
    events = [order(1, sequence, tag) for tag, sequence in enumerate((1, 3, 2, 3))]
    steps = {step.table: step.rows for step in plan(events)}
    assert len(steps["order_events"]) == 4  # the history keeps every event
    assert [row[3] for row in steps["orders"]] == [3]  # the first of the two sequence-3 events
    assert steps["orders"][0][1] == "E-1"
