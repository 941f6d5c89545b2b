"""A shadow node for tests: its config on the session's demo data, target files, waiting."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from core.config import AppConfig, load_config
from core.data.target_file import write_target_file
from core.live.session import NodeSession
from core.oms import OmsStore

BTC = "BTCUSDT.BINANCE"


ETH = "ETHUSDT.BINANCE"


def node_config(
    config_writer,
    tmp_path: Path,
    data_root: str,
    risk: dict | None = None,
    venues: list[dict] | None = None,
    **node: object,
) -> AppConfig:
    """A config for a SHADOW node on REPLAY of ``data_root``; ``node``, ``risk`` and
    ``venues`` (``[[venues]]`` tables) override."""
    settings = {"replay_speed": 300.0, "heartbeat_secs": 0.2, **node}
    extra = "\n[node]\n" + "".join(
        f"{key} = {json.dumps(value)}\n" for key, value in settings.items()
    )
    extra += f'\n[watcher]\npath = "{tmp_path / "orders" / "target_weights.json"}"\n'
    extra += f'\n[drift]\nlog = "{tmp_path / "drift.log"}"\n'
    if risk:
        extra += "\n[risk]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in risk.items())
    path = config_writer(
        tmp_path / "config.toml",
        data_root=data_root,
        results_root=str(tmp_path),
        venues=venues,
        extra=extra,
    )
    return load_config(path)


async def until(condition: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await asyncio.sleep(0.02)


def write_targets(config: AppConfig, weights: dict[str, float], seconds_ago: float = 0) -> None:
    as_of = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
    write_target_file(config.watcher.path, weights, as_of, "test-research")


async def alerts_of(store: OmsStore, rule: str) -> list:
    await store.flush()
    return [alert for alert in await store.alerts(limit=200) if alert.rule == rule]


@asynccontextmanager
async def running(config: AppConfig) -> AsyncIterator[tuple[NodeSession, OmsStore]]:
    """A started node with a price for every instrument, and its OMS; stopped after."""
    async with await OmsStore.open(config.oms.location) as store:
        session = NodeSession(config, store)
        state = await session.start()
        try:
            assert state.node_state == "RUNNING", state.detail
            strategy = session.strategy
            await until(
                lambda: all(
                    strategy._price(strategy.cache.instrument(i)) for i in strategy._instrument_ids
                ),
                what="a price for every instrument",
            )
            yield session, store
        finally:
            await session.stop()
