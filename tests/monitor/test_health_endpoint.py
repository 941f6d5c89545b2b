"""The health endpoint over a real OMS (a SQLite file, a PostgreSQL server), scraped over HTTP
by a real client (urllib), the metrics parsed with prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import msgspec
import pytest
from console_seed import desk_records, heartbeat, pnl_snapshot
from http_probe import free_port, get
from oms_records import fill, order_event
from prometheus_client.parser import text_string_to_metric_families

from core.config import AppConfig, HealthConfig
from core.errors import ConfigError
from core.monitor.loop_lag import LoopLag
from core.monitor.server import HealthServer
from core.oms import OmsStore, WriterStats
from core.oms.status_report import read_status, to_json

SECOND = 1_000_000_000


def serving(database: Path | str, stats: WriterStats | None = None, lag: LoopLag | None = None):
    config = AppConfig(health=HealthConfig(listen=f"127.0.0.1:{free_port()}"))
    server = HealthServer(
        config, str(database), writer_stats=lambda: stats or WriterStats(), loop_lag=lag
    )
    server.start()
    return server


async def seeded(path: Path | str, beat_age_s: float) -> None:
    now = time.time_ns()
    denied = msgspec.structs.replace(
        order_event("O-9", 2, "DENIED"), reason="max_order_notional: 52,000 over 50,000"
    )
    async with await OmsStore.open(path) as store:
        store.submit_many(desk_records())
        store.submit_many([fill(1), fill(2), denied])
        store.submit(heartbeat(ts_event=now - int(beat_age_s * SECOND)))
        store.submit(pnl_snapshot(ts_event=now))
        await store.flush()


def families(text: str) -> dict[str, dict[tuple, float]]:
    """{family: {(sample name, sorted labels): value}} as prometheus-client parses ``text``."""
    parsed: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        parsed[family.name] = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for sample in family.samples
        }
    return parsed


async def test_metrics_are_the_oms_figures_in_prometheus_format(oms_location: str) -> None:
    database = oms_location
    await seeded(database, beat_age_s=0.5)
    stats = WriterStats(submitted=12, committed=10, batches=4, commit_seconds=0.02)
    lag = LoopLag()
    lag.latest_s = 0.003
    server = serving(database, stats, lag)
    try:
        code, kind, text = await asyncio.to_thread(get, f"http://127.0.0.1:{server.port}/metrics")
    finally:
        await asyncio.to_thread(server.stop)
    assert code == 200 and kind.startswith("text/plain")
    m = families(text)
    orders = m["trade_console_orders"]
    assert orders[("trade_console_orders", (("status", "FILLED"),))] == 2
    assert orders[("trade_console_orders", (("status", "DENIED"),))] == 1
    assert m["trade_console_fills"] == {("trade_console_fills_total", ()): 2}
    assert m["trade_console_denials"] == {
        ("trade_console_denials_total", (("rule", "max_order_notional"),)): 1
    }
    alerts = m["trade_console_alerts"]
    assert alerts[("trade_console_alerts_total", (("severity", "CRITICAL"),))] == 1
    assert alerts[("trade_console_alerts_total", (("severity", "WARNING"),))] == 1
    drift = m["trade_console_drift_bps"]
    (latest,) = drift.values()  # one instrument, one reference: the latest fill's drift
    assert latest == pytest.approx((94_000 - 93_900) / 93_900 * 10_000)
    uploads = m["trade_console_uploads"]
    assert {labels[0][1]: v for (_, labels), v in uploads.items()} == {
        "queued": 1,
        "uploading": 0,
        "done": 1,
        "failed": 1,
    }
    (age,) = m["trade_console_heartbeat_age_seconds"].values()
    assert 0.5 <= age < 60
    assert m["trade_console_equity"] == {
        ("trade_console_equity", (("currency", "USDT"),)): 103_250.75
    }
    assert ("trade_console_trading_state", (("state", "ACTIVE"),)) in m[
        "trade_console_trading_state"
    ]
    assert (
        m["trade_console_trading_state"][("trade_console_trading_state", (("state", "ACTIVE"),))]
        == 1
    )
    write = m["trade_console_oms_write_seconds"]
    assert write[("trade_console_oms_write_seconds_count", ())] == 4
    assert write[("trade_console_oms_write_seconds_sum", ())] == pytest.approx(0.02)
    assert m["trade_console_oms_pending_records"] == {("trade_console_oms_pending_records", ()): 2}
    assert m["trade_console_event_loop_lag_seconds"] == {
        ("trade_console_event_loop_lag_seconds", ()): pytest.approx(0.003)
    }


async def test_healthz_is_status_json_and_200_while_the_node_beats(oms_location: str) -> None:
    database = oms_location
    await seeded(database, beat_age_s=0.2)
    server = serving(database)
    try:
        code, kind, text = await asyncio.to_thread(get, f"http://127.0.0.1:{server.port}/healthz")
    finally:
        await asyncio.to_thread(server.stop)
    body = json.loads(text)
    expected = to_json(await read_status(str(database), now_ns=time.time_ns()))
    assert code == 200 and kind == "application/json"
    assert body.keys() == expected.keys()
    assert (body["node_state"], body["trading_state"]) == ("RUNNING", "ACTIVE")
    assert body["counts"] == expected["counts"]
    assert body["components"]["GCS"] == expected["components"]["GCS"]


async def test_healthz_is_503_when_the_node_is_down(oms_location: str) -> None:
    database = oms_location
    await seeded(database, beat_age_s=60)  # RUNNING, then silent: it died without a stop
    server = serving(database)
    try:
        code, _, text = await asyncio.to_thread(get, f"http://127.0.0.1:{server.port}/healthz")
    finally:
        await asyncio.to_thread(server.stop)
    body = json.loads(text)
    assert code == 503
    assert body["node_state"] == "DOWN"
    assert body["components"]["node"]["state"] == "DOWN"
    assert body["last_alerts"][0]["rule"] == "node_down"  # as status would have written it


async def test_healthz_is_503_with_the_reason_when_there_is_no_oms(tmp_path: Path) -> None:
    server = serving(tmp_path / "nothing.sqlite")
    try:
        code, _, text = await asyncio.to_thread(get, f"http://127.0.0.1:{server.port}/healthz")
    finally:
        await asyncio.to_thread(server.stop)
    assert code == 503
    assert "no OMS database here yet" in json.loads(text)["error"]


def test_a_port_in_use_is_one_line_naming_the_field(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = AppConfig(health=HealthConfig(listen=f"127.0.0.1:{port}"))
        server = HealthServer(config, str(tmp_path / "oms.sqlite"), writer_stats=WriterStats)
        with pytest.raises(ConfigError) as raised:
            server.start()
    assert str(raised.value) == (
        f"health.listen: cannot serve 127.0.0.1:{port}: the port is already in use "
        "(another node, or another program)"
    )
