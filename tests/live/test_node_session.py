"""The node as the desk runs it: SHADOW on REPLAY, driven through target files.

A real Nautilus TradingNode on the test's event loop, the real sandbox, the real OMS file and
the real watcher; the replay paces the demo data at a high speed so a test takes seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import time
from pathlib import Path

import msgspec
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from console_seed import order
from node_helpers import BTC, ETH, alerts_of, node_config, until, write_targets

from core.config import AppConfig
from core.data.layout import instruments_path
from core.live.session import NodeSession
from core.oms import OmsStore, RunState
from core.oms.events import TradingStateRecord
from core.oms.health import collect_health
from core.risk.drift import parse_drift_line


def write_raw(config: AppConfig, text: str) -> None:
    path = Path(config.watcher.path)
    temporary = path.with_name("incoming.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


async def test_shadow_node_trades_good_targets_and_refuses_each_kind_of_bad_file(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with await OmsStore.open(config.oms.database) as store:
        session = NodeSession(config, store)
        state = await session.start()
        try:
            assert state.node_state == "RUNNING", state.detail
            assert state.mode == "SHADOW" and state.source == "replay"
            write_targets(config, {BTC: 0.4, ETH: 0.3})
            # Targets read before an instrument's first trade wait for its price (a retry).
            cache = session.strategy.cache
            await until(
                lambda: (
                    {str(o.instrument_id) for o in cache.orders()} == {BTC, ETH}
                    # closed, not merely "not open": a just-submitted order is neither
                    and all(o.is_closed for o in cache.orders())
                ),
                what="orders in both instruments, done",
            )
            await store.flush()
            orders = await store.orders()
            assert {order.instrument_id for order in orders} == {BTC, ETH}
            assert {order.status for order in orders} == {"FILLED"}  # the sandbox fills all
            fills = await store.fills()
            assert fills and {fill.instrument_id for fill in fills} == {BTC, ETH}
            positions = {p.instrument_id: p for p in await store.positions()}
            assert positions[BTC].quantity > 0 and positions[ETH].quantity > 0
            lines = [
                parse_drift_line(line) for line in Path(config.drift.log).read_text().splitlines()
            ]
            assert {line.trade_id for line in lines} == {fill.trade_id for fill in fills}
            assert all(line.decision_bps is not None for line in lines)
            assert await alerts_of(store, "targets_applied")

            # Each kind of bad file: an alert naming the problem, and no order.
            bad_files = {
                "not valid JSON": "{not json",
                "unknown instrument": json.dumps(
                    {"as_of": _now_iso(), "weights": {"DOGEUSDT.BINANCE": 0.1}}
                ),
                "not a finite number": (
                    f'{{"as_of": "{_now_iso()}", "weights": {{"{BTC}": 1e999}}}}'
                ),
                "gross": json.dumps({"as_of": _now_iso(), "weights": {BTC: 0.8, ETH: 0.7}}),
                "long": json.dumps({"as_of": _now_iso(), "weights": {BTC: -0.2}}),
                "older": json.dumps({"as_of": "2020-01-01T00:00:00Z", "weights": {BTC: 0.1}}),
                # Hostile files: each once ended the watcher or steered the node.
                "nested too deeply": (
                    f'{{"as_of": "{_now_iso()}", "weights": {{"{BTC}": '
                    + "[" * 10_000
                    + "]" * 10_000
                    + "}}"
                ),
                "ahead of this machine's clock": json.dumps(
                    {"as_of": "2099-01-01T00:00:00Z", "weights": {BTC: 0.1}}
                ),
                "appears twice": (
                    f'{{"as_of": "{_now_iso()}", '
                    f'"weights": {{"{BTC}": 0.9, "{ETH}": 0.5, "{BTC}": 0.1}}}}'
                ),
            }
            for expected, text in bad_files.items():
                word = expected.split()[0]
                before = len(await alerts_of(store, "target_file"))
                write_raw(config, text)
                await until(
                    lambda word=word: rejected_with(session, word),
                    what=f"the '{expected}' rejection",
                )
                alerts = await alerts_of(store, "target_file")
                assert len(alerts) == before + 1
                assert word in alerts[0].message
            # Not files at all: a FIFO (opening it would block the loop) and /dev/zero.
            path = Path(config.watcher.path)
            for made, kind in ((os.mkfifo, "a FIFO"), (_link_to_dev_zero, "a character device")):
                path.unlink()
                made(path)
                await until(lambda kind=kind: rejected_with(session, kind), what=f"{kind} refused")
            path.unlink()
            await asyncio.sleep(0.3)
            await store.flush()
            assert len(await store.orders()) == len(orders)  # no bad file sent an order
            assert session.strategy.targets == {BTC: 0.4, ETH: 0.3}  # the good ones stay
            # The watcher outlived them all: the next good file trades.
            write_targets(config, {BTC: 0.2, ETH: 0.3})
            await until(lambda: session.strategy.targets == {BTC: 0.2, ETH: 0.3}, what="new")
            await asyncio.sleep(1.2)  # a heartbeat after the hostile files
            health = await collect_health(store, now_ns=time.time_ns())
            assert health.component("target watcher").state == "OK"
        finally:
            await session.stop()
    assert asyncio.get_running_loop().is_running()  # the node never stopped the test's loop


def trading_only(config: AppConfig, *instruments: str) -> AppConfig:
    """``config`` with the node trading only ``instruments``."""
    backtest = msgspec.structs.replace(config.backtest, instruments=instruments)
    return msgspec.structs.replace(config, backtest=backtest)


def rejected_with(session: NodeSession, word: str) -> bool:
    last = session.outcomes[-1] if session.outcomes else None
    return last is not None and word in getattr(last, "reason", "")


def _link_to_dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


async def test_node_started_after_a_kill_comes_up_halted_and_trades_nothing(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with await OmsStore.open(config.oms.database) as store:
        store.submit(
            TradingStateRecord(ts_event=time.time_ns(), state="HALTED", actor="op", reason="test")
        )
        await store.flush()
        session = NodeSession(config, store)
        state = await session.start()
        try:
            assert state.trading_state == "HALTED"
            write_targets(config, {BTC: 0.4})
            await until(lambda: session.outcomes, what="the targets read")
            await asyncio.sleep(0.3)
            alerts = await alerts_of(store, "target_file")
            assert alerts and "HALTED" in alerts[0].message
            assert await store.orders() == []
            status = await store.node_status()
            assert status is not None and status.trading_state == "HALTED"
        finally:
            await session.stop()


async def test_spec_mismatches_at_start_become_alerts_and_nothing_crashes(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    # The desk's execution catalog disagrees with the venue's instruments: BTC's tick size and
    # min notional differ, ETH is missing from the venue (here: the replay's instruments).
    specs_root = tmp_path / "specs"
    day = dt.date.fromisoformat(
        sorted(
            p.name[4:] for p in (Path(demo_root) / "instrument_availability" / "by_date").iterdir()
        )[0]
    )
    source = instruments_path(demo_root, day)
    table = pq.read_table(source)
    is_btc = pc.equal(table["instrument_id"], BTC)
    table = table.set_column(
        table.schema.get_field_index("tick_size"),
        "tick_size",
        pc.if_else(is_btc, 0.1, table["tick_size"]),
    )
    table = table.set_column(
        table.schema.get_field_index("min_notional"),
        "min_notional",
        pc.if_else(is_btc, 7.0, table["min_notional"]),
    )
    target = Path(instruments_path(str(specs_root), day))
    target.parent.mkdir(parents=True)
    pq.write_table(table, target)
    config = node_config(
        config_writer, tmp_path, demo_root, specs_root=str(specs_root), replay_speed=60.0
    )
    config = trading_only(config, BTC)
    async with await OmsStore.open(config.oms.database) as store:
        session = NodeSession(config, store)
        state = await session.start()
        try:
            assert state.node_state == "RUNNING", state.detail
            await store.flush()
            alerts = [a for a in await store.alerts(limit=50) if a.rule.startswith("spec")]
            fields = sorted((a.severity, a.instrument_id, a.message.split(":")[0]) for a in alerts)
            assert len(alerts) == 2, alerts
            assert all(a.severity == "WARNING" and a.instrument_id == BTC for a in alerts)
            messages = " ".join(a.message for a in alerts)
            assert "tick" in messages and "notional" in messages, fields
        finally:
            await session.stop()


async def test_a_node_starting_takes_an_earlier_backtests_trading_off_the_panes(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    # A backtest run while no node ran left its trading for the dashboard; the node's panes
    # must then show the node's trading only. The run itself stays in the run list.
    config = node_config(config_writer, tmp_path, demo_root)
    async with await OmsStore.open(config.oms.database) as store:
        backtest_order = msgspec.structs.replace(order(1, "FILLED"), run_id="BT-20260105-001")
        store.submit_many(
            [backtest_order, RunState(run_id="BT-20260105-001", state="COMPLETED", updated_at=1)]
        )
        await store.flush()
        session = NodeSession(config, store)
        try:
            await store.flush()
            assert await store.orders() == []
            assert [run.run_id for run in await store.runs()] == ["BT-20260105-001"]
        finally:
            await session.stop()


@pytest.mark.parametrize("speed", [300.0])
async def test_node_stops_cleanly_and_writes_a_stopped_heartbeat(
    config_writer, tmp_path: Path, demo_root: str, speed: float
) -> None:
    config = node_config(config_writer, tmp_path, demo_root, replay_speed=speed)
    async with await OmsStore.open(config.oms.database) as store:
        session = NodeSession(config, store)
        await session.start()
        await asyncio.sleep(0.5)
        status = await store.node_status()
        assert status is not None and status.node_state == "RUNNING"
        await session.stop()
        status = await store.node_status()
        assert status is not None and status.node_state == "STOPPED"
        await session.stop()  # twice is harmless
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in pending if not t.done() and "node" in t.get_name()]


async def test_a_venue_that_cannot_connect_is_reported_degraded_not_running(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    # Binance's own data client with no network: Nautilus's kernel says running, the trader
    # never starts. The node must say NOT CONNECTED, in the OMS for the Health pane and status.
    config = node_config(config_writer, tmp_path, demo_root, source="venue", start_timeout_secs=2.0)
    config = trading_only(config, BTC)
    async with await OmsStore.open(config.oms.database) as store:
        session = NodeSession(config, store)
        state = await session.start()
        try:
            assert state.node_state == "DEGRADED"
            assert state.detail.startswith("NOT CONNECTED")
            await asyncio.sleep(0.5)
            status = await store.node_status()
            assert status is not None and status.node_state == "DEGRADED"
            assert status.data_feed == "DOWN" and "NOT CONNECTED" in status.detail
            health = await collect_health(store, now_ns=time.time_ns())
            node = next(c for c in health.components if c.name == "node")
            assert node.state != "OK" and "NOT CONNECTED" in node.detail
            alerts = await alerts_of(store, "node_not_connected")
            assert alerts and alerts[0].severity == "ERROR"
            write_targets(config, {BTC: 0.4})
            await until(lambda: session.outcomes, what="the targets read")
            await asyncio.sleep(0.2)
            kept = await alerts_of(store, "target_file")
            assert kept and "not traded" in kept[0].message
            assert await store.orders() == []
        finally:
            await session.stop()


async def test_a_part_of_the_node_that_dies_is_down_with_its_error_in_every_reading(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with await OmsStore.open(config.oms.database) as store:
        session = NodeSession(config, store)
        await session.start()
        try:

            async def healthy() -> bool:
                health = await collect_health(store, now_ns=time.time_ns())
                return ("target watcher", "OK") in {(c.name, c.state) for c in health.components}

            await until_async(healthy, "the watcher OK in the heartbeat")

            def broken(outcome: object) -> None:
                raise RuntimeError("boom in the handler")

            session.watcher._on_outcome = broken  # the next file ends the watcher's task
            write_targets(config, {BTC: 0.4, ETH: 0.3})

            async def watcher_down() -> bool:
                health = await collect_health(store, now_ns=time.time_ns())
                part = health.component("target watcher")
                return part.state == "DOWN" and "RuntimeError: boom in the handler" in part.detail

            await until_async(watcher_down, "the dead watcher DOWN in the heartbeat")
            health = await collect_health(store, now_ns=time.time_ns())
            assert health.node_state == "RUNNING" and health.anything_down
            assert health.component("state watch").state == "OK"
        finally:
            with contextlib.suppress(RuntimeError):
                await session.stop()


async def until_async(condition, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
