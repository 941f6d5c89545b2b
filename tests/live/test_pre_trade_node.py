"""The pre-trade checks and the kill switch on a running shadow node (REPLAY, simulated fills).

A limit denies on the node as in the backtest (a DENIED row and an ERROR alert in the OMS, the
preview says DENY and refuses to send it); REDUCING lets only reducing orders through; a kill
while a rebalance is in flight leaves no order working; a flatten ends flat and HALTED; a
drawdown limit trips the state on its own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from node_helpers import BTC, ETH, alerts_of, node_config, running, until, write_targets

from core.errors import TradeConsoleError
from core.live.session import NodeSession
from core.oms import OmsStore
from core.risk.restore import read_restore_offer
from core.risk.trading_state import change_trading_state

pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")


def _settled(session: NodeSession, count: int) -> bool:
    orders = session.strategy.cache.orders()
    return len(orders) >= count and all(order.is_closed for order in orders)


async def _orders_by_status(store: OmsStore) -> dict[str, list]:
    await store.flush()
    found: dict[str, list] = {}
    for order in await store.orders(limit=1_000):
        found.setdefault(order.status, []).append(order)
    return found


async def test_a_position_limit_denies_on_the_node_with_a_history_row_and_an_alert(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root, risk={"max_position_notional": 5000.0})
    async with running(config) as (session, store):
        # The preview says so before anything is sent, and refuses to send it.
        preview = {p.line.instrument_id: p for p in session.preview({BTC: 0.4, ETH: 0.01})}
        assert preview[BTC].verdict.startswith("DENY position_notional:")
        assert not preview[BTC].allowed
        assert preview[ETH].verdict in ("PASS", "no order") or preview[ETH].allowed
        with pytest.raises(TradeConsoleError, match="denied by the risk checks"):
            session.send_preview([preview[BTC]], "op", "test")
        assert session.strategy.cache.orders() == []

        write_targets(config, {BTC: 0.4})
        await until(lambda: _settled(session, 1), what="the order decided")
        by_status = await _orders_by_status(store)
        assert list(by_status) == ["DENIED"]
        (order,) = by_status["DENIED"]
        assert order.instrument_id == BTC
        assert order.reason.startswith("position_notional: ")
        assert "5,000" in order.reason or "5000" in order.reason
        (alert,) = await alerts_of(store, "position_notional")
        assert alert.severity == "ERROR" and order.client_order_id in alert.message


async def test_reducing_lets_sells_through_and_denies_buys(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with running(config) as (session, store):
        write_targets(config, {BTC: 0.3, ETH: 0.3})
        await until(lambda: _settled(session, 2), what="the first rebalance filled")
        (first,) = {o.operation_id for o in await _all_orders(store)}
        await change_trading_state(store, "REDUCING", "op", "test reduce only")
        await until(lambda: session.trading_state == "REDUCING", what="REDUCING applied")
        write_targets(config, {BTC: 0.1, ETH: 0.5})
        await until(lambda: _settled(session, 4), what="the second rebalance decided")
        later = [o for o in await _all_orders(store) if o.operation_id != first]
        assert {(o.instrument_id, o.side, o.status) for o in later} == {
            (BTC, "SELL", "FILLED"),
            (ETH, "BUY", "DENIED"),
        }
        (denied,) = [o for o in later if o.status == "DENIED"]
        assert denied.reason.startswith("trading_state: ")


async def _all_orders(store: OmsStore) -> list:
    await store.flush()
    return await store.orders(limit=1_000)


async def test_a_kill_during_a_rebalance_leaves_no_order_working_and_nothing_after_it(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with running(config) as (session, store):
        write_targets(config, {BTC: 0.3, ETH: 0.3})
        await until(lambda: session.strategy.cache.orders(), what="the rebalance sent")
        await change_trading_state(store, "HALTED", "op", "kill mid-rebalance")
        await until(lambda: session.trading_state == "HALTED", what="HALTED applied")
        await until(
            lambda: all(o.is_closed for o in session.strategy.cache.orders()),
            what="every order closed",
        )
        # Each order of the rebalance is either filled (and shown so) or cancelled.
        by_status = await _orders_by_status(store)
        assert set(by_status) <= {"FILLED", "CANCELED"}, by_status.keys()
        sent = len(session.strategy.cache.orders())
        write_targets(config, {BTC: 0.1, ETH: 0.1})
        await until(lambda: len(session.outcomes) >= 2, what="the second file read")
        await asyncio.sleep(0.3)
        assert len(session.strategy.cache.orders()) == sent


async def test_flatten_closes_every_position_through_the_checks_then_halts(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with running(config) as (session, store):
        write_targets(config, {BTC: 0.3, ETH: 0.3})
        await until(lambda: _settled(session, 2), what="the rebalance filled")
        await change_trading_state(store, "HALTED", "op", "flatten test", flatten=True)
        await until(lambda: session.trading_state == "HALTED", timeout=15, what="HALTED")
        strategy = session.strategy
        closing = [o for o in strategy.cache.orders() if o.side_string() == "SELL"]
        assert len(closing) == 2 and all(o.status_string() == "FILLED" for o in closing)
        assert all(line.side is None for line in strategy.plan({BTC: 0.0, ETH: 0.0}))
        (alert,) = await alerts_of(store, "flatten")
        assert alert.message.endswith(", flat")
        # The targets in force went to 0, recorded after the research file's they replaced.
        flattened, research = await store.targets_history()
        assert (flattened.source, flattened.actor, flattened.weights) == (
            "flatten",
            "op",
            {BTC: 0.0, ETH: 0.0},
        )
        assert (research.source, research.weights) == ("file", {BTC: 0.3, ETH: 0.3})
        assert research.operation_id.startswith("targets-") and research.as_of is not None


async def test_a_restore_after_flatten_and_rearm_trades_the_targets_back_and_is_audited(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with running(config) as (session, store):
        write_targets(config, {BTC: 0.3, ETH: 0.3})
        await until(lambda: _settled(session, 2), what="the rebalance filled")
        await change_trading_state(store, "HALTED", "op", "flatten test", flatten=True)
        await until(lambda: session.trading_state == "HALTED", timeout=15, what="HALTED")
        await until(lambda: _settled(session, 4), what="the closing orders filled")
        await store.flush()
        offer = await read_restore_offer(store)
        assert offer is not None and offer.previous is not None
        # Still HALTED: kept, as a research file would be, and nothing goes in force.
        kept = session.restore_targets(offer.previous, "alice", "too early")
        assert kept.endswith("kept, not traded: HALTED")
        await store.flush()
        assert (await store.targets_history())[0].source == "flatten"

        await change_trading_state(store, "ACTIVE", "alice", "all clear")
        await session.apply_state_now()
        done = session.restore_targets(offer.previous, "alice", "all clear")
        assert done.startswith("restored targets as of ") and done.endswith(": 2 orders")
        await until(lambda: _settled(session, 6), what="the restoring orders filled")
        buys = [o for o in session.strategy.cache.orders() if o.side_string() == "BUY"]
        assert len(buys) == 4 and all(o.status_string() == "FILLED" for o in buys)
        await store.flush()
        restored = (await store.targets_history())[0]
        assert (restored.source, restored.actor, restored.weights) == (
            "restore",
            "alice",
            {BTC: 0.3, ETH: 0.3},
        )
        assert restored.as_of == offer.previous.as_of
        assert await read_restore_offer(store) is None
        audit = [e for e in await store.audit() if e.action == "restore_targets"]
        assert [(e.actor, e.reason, (e.details or {})["restored_from"]) for e in audit] == [
            ("alice", "all clear", offer.previous.ts_event),
            ("alice", "too early", offer.previous.ts_event),
        ]


async def test_a_drawdown_limit_trips_the_configured_state_with_an_alert(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(
        config_writer,
        tmp_path,
        demo_root,
        risk={"drawdown_limit": 0.0001, "auto_action": "reducing"},
    )
    async with running(config) as (session, store):
        # Fees alone take a round trip's equity below its peak by more than 0.01%.
        write_targets(config, {BTC: 0.45, ETH: 0.45})
        await until(lambda: session.trading_state == "REDUCING", timeout=15, what="tripped")
        (alert,) = await alerts_of(store, "drawdown_limit")
        assert alert.severity == "CRITICAL" and "REDUCING" in alert.message
        record = await store.trading_state()
        assert record is not None and record.state == "REDUCING"
        assert (record.actor, record.source) == ("auto: drawdown_limit", "auto")


async def test_a_console_kill_holds_the_node_halted_until_it_is_recorded(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with running(config) as (session, store):
        session.hold("HALTED")
        assert session.trading_state == "HALTED"  # at once, before any OMS write
        session.hold("ACTIVE")  # a hold only tightens
        await asyncio.sleep(0.6)  # three heartbeats read ACTIVE from the OMS ...
        assert session.trading_state == "HALTED"  # ... and the hold stands
        write_targets(config, {BTC: 0.3})
        await until(lambda: session.outcomes, what="the file read")
        await asyncio.sleep(0.2)
        assert session.strategy.cache.orders() == []
        await change_trading_state(store, "HALTED", "op", "recorded now")
        await session.apply_state_now()
        assert session.trading_state == "HALTED"
        await change_trading_state(store, "ACTIVE", "op", "re-armed")
        await until(lambda: session.trading_state == "ACTIVE", what="the re-arm applied")
