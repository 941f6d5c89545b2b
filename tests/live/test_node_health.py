"""A real shadow node with its health endpoint on: scraped while it trades, and 503 from its own
endpoint when its event loop hangs (the endpoint's threads answer; the heartbeat stops)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import msgspec
from http_probe import free_port, get
from node_helpers import node_config, running
from prometheus_client.parser import text_string_to_metric_families

from core.config import ConsoleConfig, HealthConfig


async def answered(url: str, wanted: int, timeout: float = 15.0) -> tuple[int, str]:
    """GET ``url`` (from a worker thread) until it answers ``wanted``."""
    deadline = time.monotonic() + timeout
    while True:
        code, _, text = await asyncio.to_thread(get, url)
        if code == wanted:
            return code, text
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} still answers {code}: {text[:500]}")
        await asyncio.sleep(0.05)


async def test_the_nodes_endpoint_answers_while_it_runs_and_503_while_its_loop_hangs(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    port = free_port()
    config = msgspec.structs.replace(
        node_config(config_writer, tmp_path, demo_root),
        health=HealthConfig(listen=f"127.0.0.1:{port}"),
        console=ConsoleConfig(stale_after_secs=0.5, down_after_secs=1.0),
    )
    base = f"http://127.0.0.1:{port}"
    async with running(config) as (session, _):
        # Its first heartbeats say STARTING, the feed not yet connected (503, as status exits 3).
        # (A heartbeat late by over stale_after_secs on a loaded machine reads STALE, still 200.)
        deadline = time.monotonic() + 15
        while True:
            code, text = await answered(f"{base}/healthz", 200)
            body = json.loads(text)
            if body["node_state"] == "RUNNING" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert (body["node_state"], body["node_holder"]["gone"]) == ("RUNNING", None)
        code, _, text = await asyncio.to_thread(get, f"{base}/metrics")
        assert code == 200, text
        names = {family.name for family in text_string_to_metric_families(text)}
        assert {
            "trade_console_event_loop_lag_seconds",
            "trade_console_heartbeat_age_seconds",
            "trade_console_oms_write_seconds",
            "trade_console_equity",
        } <= names

        # The loop hangs (this very wait blocks it) until the endpoint says the node is down.
        seen: dict[str, object] = {}

        def probe() -> None:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                seen["code"], _, seen["text"] = get(f"{base}/healthz")
                if seen["code"] == 503:
                    return
                time.sleep(0.05)

        prober = threading.Thread(target=probe)
        prober.start()
        prober.join()  # on the loop: the node's heartbeat stops while this waits
        assert seen["code"] == 503, seen
        down = json.loads(str(seen["text"]))
        assert down["node_state"] == "DOWN"
        assert "died or hangs" in down["components"]["node"]["detail"]

        # The loop runs again: the node beats, and its endpoint says so.
        await answered(f"{base}/healthz", 200)
        # The hang lasted at least down_after (1 s) less one heartbeat (0.2 s); the lag task
        # woke at most one interval (0.25 s) into it: it saw at least 0.55 s of it.
        assert session.loop_lag is not None and session.loop_lag.worst_s > 0.5
