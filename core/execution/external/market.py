"""``ExternalMarketFeed``: an external venue's public market data, read at the venue's interval.

The router weighs a venue by what it traded lately and what its book shows. Nautilus venues
feed that from their trade ticks; an external venue is asked: every ``poll_interval_secs`` of
its ``[[external_venues]]`` entry, the feed reads each routed instrument's last price, the touch
and the public trades since the previous read (``ExternalVenueAdapter.market``), and hands
them to ``on_market`` (the router's liquidity tracker, ``core.execution.external.routes``).

A failing read is logged once per streak and tried again at the next interval: the venue's
price then ages, and the router stops routing to it once it has none (``price`` None).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from core.execution.external.adapter import ExternalMarket, ExternalVenueAdapter
from core.execution.external.errors import VenueError

_log = logging.getLogger(__name__)


class ExternalMarketFeed:
    """Polls each venue's public data of ``instruments`` into ``on_market``.

    Parameters
    ----------
    adapters : mapping of venue name to ExternalVenueAdapter
        Connected adapters (their sessions are the poller's).
    instruments : mapping of venue name to instrument ids
        What to read at each venue.
    on_market : callable
        Called on the loop with each read (``ExternalMarket``).
    lookback_ns : int
        How far back the first read of the tape goes (the router's liquidity window).
    """

    def __init__(
        self,
        adapters: Mapping[str, ExternalVenueAdapter],
        instruments: Mapping[str, Sequence[str]],
        on_market: Callable[[ExternalMarket], None],
        lookback_ns: int,
        *,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._adapters = adapters
        self._instruments = {venue: tuple(ids) for venue, ids in instruments.items() if ids}
        self._on_market = on_market
        self._lookback_ns = lookback_ns
        self._now_ns = now_ns
        self._since: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.errors: dict[str, str] = {}
        """Each venue whose last read failed, with why."""

    async def read_once(self, venue: str) -> bool:
        """Read every instrument of ``venue`` once; False when a read failed (logged)."""
        adapter = self._adapters[venue]
        try:
            for instrument_id in self._instruments.get(venue, ()):
                since = self._since.get(instrument_id, self._now_ns() - self._lookback_ns)
                market = await adapter.market(instrument_id, since)
                if market.trades:
                    # Inclusive at ms granularity: the tracker's consumer drops repeats by id.
                    self._since[instrument_id] = market.trades[-1].ts_event
                else:
                    self._since.setdefault(instrument_id, since)
                self._on_market(market)
        except VenueError as error:
            if venue not in self.errors:
                _log.warning("market data of %s unavailable: %s", venue, error)
            self.errors[venue] = str(error)
            return False
        self.errors.pop(venue, None)
        return True

    def start(self) -> None:
        """Start one task per venue on the running loop (after a first read of each)."""
        loop = asyncio.get_running_loop()
        for venue in self._instruments:
            interval = self._adapters[venue].config.poll_interval_secs
            self._tasks.append(
                loop.create_task(self._run(venue, interval), name=f"external-market-{venue}")
            )

    async def stop(self) -> None:
        """Stop every task."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _run(self, venue: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.read_once(venue)
