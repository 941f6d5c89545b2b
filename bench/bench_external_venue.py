"""Benchmark: the external-venue order path and poll against the local Gemini server.

Prints figures; asserts nothing. Everything runs on 127.0.0.1 (tests/gemini_server.py), so the
figures are the desk's own cost, not a venue's network latency:

- submit: ``ExternalVenues.submit`` end to end per order, which commits the order to the OMS
  file *before* the request leaves (the crash-safety promise), then signs, sends and records
  the answer; the OMS commit alone is timed too, to show what the promise costs;
- poll: one ``poll_once`` (open orders, fills since the cursor, positions, balances, and the
  records of what changed) with 2N resting orders, N of them placed outside the desk (new to
  the OMS at the first poll), then
  again with nothing changed (the steady state: no write at all).

Usage: ``uv run python bench/bench_external_venue.py [--orders N]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


async def _run(orders: int) -> None:
    from gemini_server import GeminiServer

    from core.config import AppConfig, ExternalVenueConfig
    from core.execution.external import OrderRequest
    from core.execution.external.venues import ExternalVenues
    from core.oms import OmsStore

    server = GeminiServer(balances={"USD": 1e12, "BTC": 1e6, "GUSD": 1e9})
    await server.start()
    os.environ["BENCH_GEMINI_KEY"], os.environ["BENCH_GEMINI_SECRET"] = (
        server.api_key,
        server.api_secret,
    )
    venue = ExternalVenueConfig(
        name="GEMINI",
        base_url=server.url,
        api_key_env="BENCH_GEMINI_KEY",
        api_secret_env="BENCH_GEMINI_SECRET",
    )
    with tempfile.TemporaryDirectory() as folder:
        store = await OmsStore.open(Path(folder) / "oms.sqlite")
        venues = ExternalVenues.from_config(AppConfig(external_venues=(venue,)), store)
        await venues.poller.load()
        await venues.adapters["GEMINI"].connect()
        submits, commits = [], []
        for i in range(orders):
            request = OrderRequest(
                client_order_id=f"B-{i}",
                instrument_id="BTCUSD.GEMINI",
                side="BUY",
                quantity=0.01,
                price=40_000.0 + i * 0.01,  # below the market: each rests
            )
            started = time.perf_counter()
            await venues.submit("GEMINI", request)
            submits.append(time.perf_counter() - started)
        # The OMS commit alone, as submit pays it before the request leaves.
        for _ in range(50):
            [latest] = await store.orders(limit=1)
            store.submit(latest)
            started = time.perf_counter()
            await store.flush()
            commits.append(time.perf_counter() - started)
        # As many orders again, placed on the venue's web page: new to the OMS at the first poll.
        for i in range(orders):
            server.place_from_web(
                symbol="btcusd", side="sell", amount="0.01", price=str(60_000 + i)
            )
        polls = []
        for _ in range(5):
            started = time.perf_counter()
            await venues.poller.poll_once("GEMINI")
            await store.flush()
            polls.append(time.perf_counter() - started)
        await venues.stop()
        await store.close()
    await server.stop()
    ms = 1000.0
    print(f"submit, OMS commit first, {orders} resting orders:")
    print(
        f"  per order   median {statistics.median(submits) * ms:6.2f} ms   "
        f"p95 {sorted(submits)[int(len(submits) * 0.95)] * ms:6.2f} ms"
    )
    print(f"  OMS commit  median {statistics.median(commits) * ms:6.2f} ms (of the above)")
    print(f"poll_once with {2 * orders} open orders, {orders} new to the OMS, then unchanged:")
    print(f"  first       {polls[0] * ms:6.2f} ms")
    print(f"  unchanged   median {statistics.median(polls[1:]) * ms:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(_run(args.orders))


if __name__ == "__main__":
    main()
