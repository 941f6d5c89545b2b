"""The REPLAY data client, run inside a real shadow node on the session's demo data.

Each test starts a real ``NautilusLiveEngine`` (replay feed, sandbox fills, no network) on the
test's event loop and listens on the node's message bus, so what is checked is what any
strategy or actor of the node would see.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.identifiers import InstrumentId

from core.config import AppConfig, DataConfig, LoggingConfig, NodeConfig, validate
from core.data.ticks import TickReader
from core.live.node import NautilusLiveEngine

INSTRUMENTS = ("BTCUSDT.BINANCE", "ETHUSDT.BINANCE")  # conftest's demo data
DAY_START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
EngineFactory = Callable[..., NautilusLiveEngine]


def _ns(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


def _config(data_root: str, log_dir: Path, **node: object) -> AppConfig:
    return validate(
        AppConfig(
            data=DataConfig(root=data_root),
            logging=LoggingConfig(directory=str(log_dir)),
            node=NodeConfig(**node),  # type: ignore[arg-type]
        ),
        "test",
    )


@pytest.fixture
async def make_engine(log_dir: Path) -> AsyncIterator[EngineFactory]:
    """Build engines on the test's loop; every one is stopped at the end of the test."""
    engines: list[NautilusLiveEngine] = []

    def make(data_root: str, **node: object) -> NautilusLiveEngine:
        engine = NautilusLiveEngine(
            _config(data_root, log_dir, **node),
            asyncio.get_running_loop(),
            instrument_ids=INSTRUMENTS,
        )
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.stop()


def _recorded(data_root: str, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """The window's trades as the files hold them, all instruments, in recorded order."""
    frames = []
    for instrument_id in INSTRUMENTS:
        table = TickReader(data_root).read_window(instrument_id, start, end)
        frames.append(pl.from_arrow(table).with_columns(instrument_id=pl.lit(instrument_id)))
    return pl.concat(frames).sort("ts_event", maintain_order=True)


def _listen(engine: NautilusLiveEngine) -> list[tuple[TradeTick, int]]:
    """Every trade tick the node publishes, with the wall-clock ns at which it arrived."""
    received: list[tuple[TradeTick, int]] = []
    engine.node.kernel.msgbus.subscribe(
        "data.trades.*", lambda tick: received.append((tick, time.time_ns()))
    )
    return received


async def test_flat_out_replay_delivers_every_trade_in_recorded_order_with_live_timestamps(
    demo_root: str, make_engine: EngineFactory
) -> None:
    start, end = DAY_START, DAY_START + dt.timedelta(hours=6)
    engine = make_engine(
        demo_root, replay_speed=0.0, replay_start=start.isoformat(), replay_end=end.isoformat()
    )
    received = _listen(engine)
    began = time.time_ns()
    state = await engine.start()
    assert state.node_state == "RUNNING", state.error
    assert engine.replay is not None
    await asyncio.wait_for(engine.replay.done.wait(), timeout=10)

    expected = _recorded(demo_root, start, end)
    assert engine.replay.finished and engine.replay.error is None
    assert engine.replay.ticks_sent == expected.height == len(received)
    got = [(str(tick.instrument_id), str(tick.trade_id)) for tick, _ in received]
    want = list(zip(expected["instrument_id"], expected["trade_id"], strict=True))
    assert got == want  # same trades, merged in recorded time order
    prices = [tick.price.as_double() for tick, _ in received]
    assert prices == pytest.approx(expected["price"].to_list())
    stamps = np.array([tick.ts_event for tick, _ in received], dtype=np.int64)
    assert all(tick.ts_event == tick.ts_init for tick, _ in received)
    assert stamps[0] >= began and stamps[-1] <= time.time_ns()  # the live clock, not 2026-01-05
    assert (np.diff(stamps) >= 0).all()
    assert engine.replay.replay_ns == expected["ts_event"][-1]


async def test_replay_at_sixty_times_keeps_to_the_recorded_schedule(
    demo_root: str, make_engine: EngineFactory
) -> None:
    start = DAY_START + dt.timedelta(hours=9)
    end = start + dt.timedelta(minutes=3)  # 3 s of live time at 60x
    engine = make_engine(
        demo_root, replay_speed=60.0, replay_start=start.isoformat(), replay_end=end.isoformat()
    )
    received = _listen(engine)
    await engine.start()
    assert engine.replay is not None
    await asyncio.wait_for(engine.replay.done.wait(), timeout=10)

    expected = _recorded(demo_root, start, end)
    assert len(received) == expected.height > 50
    recorded = expected["ts_event"].to_numpy()
    arrived = np.array([at for _, at in received], dtype=np.int64)
    live_span = (arrived[-1] - arrived[0]) / 1e9
    recorded_span = (recorded[-1] - recorded[0]) / 1e9
    assert live_span == pytest.approx(recorded_span / 60, rel=0.1)
    mapping = engine.replay.mapping
    assert mapping is not None and mapping.speed == 60.0
    due = np.array([mapping.to_live_ns(int(ts)) for ts in recorded])
    late_ms = (arrived - due) / 1e6
    assert late_ms.min() > -1.0  # never early
    assert np.percentile(late_ms, 99) < 50.0  # and on time


async def test_hook_runs_when_the_replay_reaches_its_recorded_time_and_pauses_it(
    demo_root: str, make_engine: EngineFactory
) -> None:
    start, end = DAY_START, DAY_START + dt.timedelta(hours=2)
    moment = DAY_START + dt.timedelta(minutes=30)
    engine = make_engine(
        demo_root, replay_speed=0.0, replay_start=start.isoformat(), replay_end=end.isoformat()
    )
    replay = engine.replay
    assert replay is not None
    seen: dict[str, object] = {}

    async def at_moment() -> None:
        sent = replay.ticks_sent
        await asyncio.sleep(0.2)  # the replay waits for the callback
        seen["paused"] = replay.ticks_sent == sent
        seen["replay_ns"] = replay.replay_ns
        for instrument_id in INSTRUMENTS:
            tick = engine.node.cache.trade_tick(InstrumentId.from_str(instrument_id))
            seen[instrument_id] = None if tick is None else str(tick.trade_id)

    reached = replay.at_recorded_time(_ns(moment), at_moment)
    beyond = replay.at_recorded_time(_ns(end) + 1)
    await engine.start()
    assert await asyncio.wait_for(reached, timeout=10) is True
    await asyncio.wait_for(replay.done.wait(), timeout=10)

    before = _recorded(demo_root, start, moment + dt.timedelta(microseconds=1))
    assert seen["paused"] is True
    assert seen["replay_ns"] == _ns(moment)
    for instrument_id in INSTRUMENTS:
        last = before.filter(pl.col("instrument_id") == instrument_id)["trade_id"][-1]
        assert seen[instrument_id] == last  # the cache holds the last trade at or before T
    assert await beyond is False  # never reached: the window ended first
    assert replay.finished


async def test_bad_data_root_leaves_the_node_not_connected_with_a_one_line_reason(
    tmp_path: Path, make_engine: EngineFactory
) -> None:
    missing = str(tmp_path / "nowhere")
    engine = make_engine(
        missing,
        replay_speed=0.0,
        replay_start=DAY_START.isoformat(),
        replay_end=(DAY_START + dt.timedelta(hours=1)).isoformat(),
    )
    began = time.monotonic()
    state = await engine.start()
    assert time.monotonic() - began < 5  # reported at once, not after the connect timeout
    assert state.node_state == "DEGRADED"
    assert not state.trader_running and state.data_clients == {"REPLAY": False}
    assert state.data_feed == "DOWN"
    assert state.error is not None and "\n" not in state.error
    assert state.error.startswith("NOT CONNECTED: REPLAY: ")
    assert "instruments.parquet: no instruments file for 2026-01-05" in state.error
    assert engine.replay is not None and engine.replay.error is not None
    status = state.to_node_status(ts_event=1)
    assert status.node_state == "DEGRADED" and status.detail == state.error


async def test_window_without_trades_is_refused_as_an_empty_window(
    demo_root: str, make_engine: EngineFactory
) -> None:
    # One microsecond in the middle of the night: the instruments file exists, no trade does.
    start = DAY_START + dt.timedelta(hours=3, microseconds=1)
    trades = _recorded(demo_root, start, start + dt.timedelta(microseconds=1))
    assert trades.height == 0
    engine = make_engine(
        demo_root,
        replay_speed=0.0,
        replay_start=start.isoformat(),
        replay_end=(start + dt.timedelta(microseconds=1)).isoformat(),
    )
    state = await engine.start()
    assert state.node_state == "DEGRADED"
    assert state.error is not None
    assert "no trades of BTCUSDT.BINANCE, ETHUSDT.BINANCE between" in state.error
