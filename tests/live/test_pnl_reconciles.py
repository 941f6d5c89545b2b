"""The node's PnL adds up: on a replayed session with rebalances and a flatten, the equity's
change since the session's start is realized + unrealized - fees + funding, to the cent, in
what the OMS holds and ``status --json`` reports.

A real SHADOW node on REPLAY of the demo data, its real sandbox fills (with commissions), the
real OMS file; status reads that file as a second shell would.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from node_helpers import BTC, ETH, node_config, running, until, write_targets

from console.commands.status import read_status, to_json
from core.live.session import NodeSession
from core.oms import OmsStore, PnlSnapshot
from core.risk.trading_state import change_trading_state

CENT = 0.005
DAY_NS = 86_400 * 1_000_000_000


def _settled(session: NodeSession, count: int) -> bool:
    orders = session.strategy.cache.orders()
    return len(orders) >= count and all(order.is_closed for order in orders)


async def _fresh_snapshot(store: OmsStore, after_ns: int) -> PnlSnapshot:
    # A heartbeat written after everything settled (each beat writes one).
    found: list[PnlSnapshot] = []

    async def written() -> bool:
        await store.flush()
        snapshot = await store.pnl()
        if snapshot is not None and snapshot.ts_event > after_ns:
            found.append(snapshot)
            return True
        return False

    deadline = time.monotonic() + 10
    while not await written():
        assert time.monotonic() < deadline, "no PnL snapshot after the trading settled"
        await asyncio.sleep(0.05)
    return found[-1]


def _assert_reconciles(pnl: dict) -> None:
    explained = pnl["realized"] + pnl["unrealized"] - pnl["fees"] + pnl["funding"]
    explained += pnl["external"]
    change = pnl["equity"] - pnl["session_start_equity"]
    assert abs(change - explained) < CENT, (change, explained, pnl)
    assert abs(pnl["session_pnl"] - change) < 1e-9
    day = pnl["day"]
    day_explained = day["realized"] + day["unrealized"] - day["fees"] + day["funding"]
    day_explained += day["external"]
    assert abs(pnl["equity"] - day["start_equity"] - day_explained) < CENT, (day, pnl)
    by_instrument = pnl["instruments"]
    for key in ("realized", "unrealized", "fees", "funding"):
        assert abs(sum(i[key] for i in by_instrument) - pnl[key]) < 1e-6, key


async def test_session_pnl_reconciles_to_the_cent_over_rebalances_and_a_flatten(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with running(config) as (session, store):
        orders = 0
        for weights in ({BTC: 0.4, ETH: 0.3}, {BTC: 0.1, ETH: 0.5}, {BTC: 0.3, ETH: 0.1}):
            write_targets(config, weights)
            orders += 2
            await until(lambda n=orders: _settled(session, n), timeout=15, what="rebalanced")
            snapshot = await _fresh_snapshot(store, time.time_ns())
            status = to_json(await read_status(config.oms.database, now_ns=time.time_ns()))
            _assert_reconciles(status["pnl"])
            # Holding both instruments: their marks are the market's, and the PnL moves with it.
            for line in snapshot.instruments:
                assert line.quantity > 0 and line.mark_source == "last" and line.mark is not None
        assert snapshot.fees > 0  # the sandbox charged commissions on every fill
        await change_trading_state(store, "HALTED", "op", "flatten test", flatten=True)
        await until(lambda: session.trading_state == "HALTED", timeout=15, what="HALTED")
        await until(lambda: _settled(session, orders + 2), timeout=15, what="flattened")
        flat = await _fresh_snapshot(store, time.time_ns())
        status = to_json(await read_status(config.oms.database, now_ns=time.time_ns()))
    pnl = status["pnl"]
    _assert_reconciles(pnl)
    # Flat: nothing unrealized, and the session's PnL is what it realized less its fees.
    assert all(i["quantity"] == 0 and i["unrealized"] == 0 for i in pnl["instruments"])
    assert abs(pnl["session_pnl"] - (pnl["realized"] - pnl["fees"])) < CENT
    assert pnl["funding"] == 0  # spot in the sandbox pays no funding
    assert pnl["session_start_equity"] == 100_000.0
    assert flat.equity == pnl["equity"]


async def test_the_utc_day_starts_again_at_midnight_and_both_periods_still_reconcile(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    # The node's clock jumps to just after the next 00:00 UTC once the first rebalance is
    # held: the day starts again there (holdings carried in at their marks), the session not.
    config = node_config(config_writer, tmp_path, demo_root)
    shift = [0]

    def clock() -> int:
        return time.time_ns() + shift[0]

    async with await OmsStore.open(config.oms.database) as store:
        session = NodeSession(config, store, now_ns=clock)
        assert (await session.start()).node_state == "RUNNING"
        try:
            write_targets(config, {BTC: 0.4, ETH: 0.3})
            await until(lambda: _settled(session, 2), timeout=15, what="rebalanced")
            before = await _fresh_snapshot(store, clock())
            midnight = (clock() // DAY_NS + 1) * DAY_NS
            shift[0] = midnight - time.time_ns()
            after = await _fresh_snapshot(store, clock())
            assert after.day_start_ns >= midnight and after.session_start_ns < midnight
            assert after.day_start_equity != after.session_start_equity
            assert (after.day_fees, after.day_realized) == (0.0, 0.0)
            write_targets(config, {BTC: 0.1, ETH: 0.1})
            await until(lambda: _settled(session, 4), timeout=15, what="rebalanced again")
            final = await _fresh_snapshot(store, clock())
            status = to_json(await read_status(config.oms.database, now_ns=clock()))
        finally:
            await session.stop()
    _assert_reconciles(status["pnl"])
    assert status["pnl"]["as_of_ns"] == final.ts_event
    # The day saw only the second rebalance's fees; the session both.
    assert 0 < final.day_fees < final.fees and final.fees > before.fees
    assert abs(final.day_pnl - (final.equity - after.day_start_equity)) < 1e-9


async def test_a_holding_at_the_start_is_carried_in_at_its_first_mark_not_counted_as_pnl(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    # The account starts with 0.5 BTC besides its USDT: before BTC's first trade the equity
    # cannot value it; the session's start equity counts it at its first mark, and selling
    # it realizes only what the market moved since.
    venue = {"name": "BINANCE", "starting_balances": ["100000 USDT", "0.5 BTC"]}
    config = node_config(config_writer, tmp_path, demo_root, venues=[venue])
    async with running(config) as (session, store):
        held = await _fresh_snapshot(store, time.time_ns())
        (btc,) = [line for line in held.instruments if line.instrument_id == BTC]
        assert btc.quantity == 0.5 and btc.mark is not None
        first_mark = btc.average_cost  # carried in at its first mark
        assert held.session_start_equity == pytest.approx(100_000.0 + 0.5 * first_mark)
        write_targets(config, {BTC: 0.0, ETH: 0.2})
        await until(lambda: _settled(session, 2), timeout=15, what="rebalanced")
        await _fresh_snapshot(store, time.time_ns())
        status = to_json(await read_status(config.oms.database, now_ns=time.time_ns()))
    pnl = status["pnl"]
    _assert_reconciles(pnl)
    btc_line = next(i for i in pnl["instruments"] if i["instrument_id"] == BTC)
    assert btc_line["quantity"] == 0 and btc_line["fees"] > 0
