"""REPLAY: a live data client that plays the desk's recorded trades back on the live clock.

A shadow node on REPLAY needs no network: it is the demo's default and what CI tests. The
client reads ``raw_tick_data`` (``core.data.ticks.TickReader``) one sub-window at a time in a worker
thread, merges the instruments in recorded time order, and hands each trade to the node as a
``TradeTick`` stamped with the live clock (``ts_event = ts_init = now``), so everything
downstream (the sandbox's matching engine, timers, the OMS) sees an ordinary live feed.

Pacing: ``speed`` recorded seconds per live second (1 = real time, 60 = a minute per second),
or 0 for as fast as the node takes them. Either way the client hands the node a batch, then
yields to the event loop; the batch size adapts so that one loop turn (its own batch plus the
data engine draining it) stays near ``_TURN_TARGET_NS``, which keeps the console's loop lag
low even flat out.

Instruments come from the first replayed day's ``instruments.parquet`` (the desk's specs, not
a venue's), and are in the cache and published before the client reports itself connected, so
the sandbox execution client has a matching engine for each before any trade arrives.

Hooks: ``at_recorded_time(T, callback)`` runs ``callback`` when every trade recorded at or
before ``T`` has been handed over *and* processed by the data engine (the cache holds it), and
before any later trade; an awaitable callback pauses the replay until it completes. This is how
a caller says "apply these targets when the replay reaches T" and gets the backtest's view of
the market at T.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import inspect
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.config import LiveDataClientConfig
from nautilus_trader.data.messages import (
    SubscribeBars,
    SubscribeInstrument,
    SubscribeInstruments,
    SubscribeQuoteTicks,
    SubscribeTradeTicks,
    UnsubscribeBars,
    UnsubscribeInstrument,
    UnsubscribeInstruments,
    UnsubscribeQuoteTicks,
    UnsubscribeTradeTicks,
)
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.identifiers import ClientId, InstrumentId
from nautilus_trader.model.instruments import Instrument

from core.data.instrument_specs import InstrumentSpec, load_instrument_specs
from core.data.layout import instruments_path
from core.data.nautilus_instruments import to_nautilus_instrument
from core.data.ticks import TickReader, one_line
from core.errors import ConfigError, DataError, EmptyWindowError
from core.storage.roots import resolve

REPLAY_CLIENT_NAME = "REPLAY"
_COLUMNS = ("price", "size", "side", "trade_id")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Each instrument is read an hour of recorded time at a time: memory stays at about one hour
# of trades per instrument (TickReader alone fetches up to 32 MiB of row groups per read, a
# whole day of a liquid instrument), and each read costs one more footer fetch, 24 a day.
_READ_WINDOW_NS = 3_600 * 1_000_000_000
# One loop turn (a batch handed over + the data engine draining the previous one) aims at this.
# Loop lag seen by others is about one turn; per-turn overhead is ~20 us, so 3 ms costs <1%.
_TURN_TARGET_NS = 3_000_000
_BATCH_MIN, _BATCH_MAX, _BATCH_START = 8, 20_000, 64
# Waiting for the data engine to drain before a hook: loop turns, then short sleeps, then give up.
_CATCH_UP_SPINS = 100
_CATCH_UP_TIMEOUT_S = 2.0
_BUYER, _SELLER = 1, 2  # Nautilus AggressorSide values


class ReplayDataClientConfig(LiveDataClientConfig, frozen=True, kw_only=True):
    """What to replay and how fast.

    Parameters
    ----------
    data_root : str
        Root of the desk's data layout (local path or ``gs://`` URL).
    instruments_root : str
        Where ``instrument_availability/`` is (default: ``data_root``).
    instrument_ids : tuple[str, ...]
        Instruments to replay (Nautilus form, ``BTCUSDT.BINANCE``), all listed in the first
        day's ``instruments.parquet``.
    start_ns, end_ns : int
        Half-open recorded window ``[start_ns, end_ns)``, ns since the epoch (UTC).
    speed : float, default 60.0
        Recorded seconds per live second: 1 real time, 60 a minute per second, 0 flat out.
    start_on_connect : bool, default False
        Start replaying as soon as the client is connected. ``NautilusLiveEngine`` leaves this
        off and calls ``start_replay`` once the trader runs, so no strategy misses the start.
    """

    data_root: str
    instruments_root: str = ""
    instrument_ids: tuple[str, ...]
    start_ns: int
    end_ns: int
    speed: float = 60.0
    start_on_connect: bool = False


@dataclass(frozen=True)
class ReplayMapping:
    """The linear map between recorded and live time of a paced replay (``speed > 0``).

    It moves when a hook pauses the replay (the pause is added to ``live_anchor_ns``), so ask
    for it again rather than keeping it.
    """

    live_anchor_ns: int
    recorded_anchor_ns: int
    speed: float

    def to_live_ns(self, recorded_ns: int) -> int:
        """Live time at which the trade recorded at ``recorded_ns`` is (or was) due."""
        return self.live_anchor_ns + round((recorded_ns - self.recorded_anchor_ns) / self.speed)

    def to_recorded_ns(self, live_ns: int) -> int:
        """Recorded time the replay stands at when the live clock reads ``live_ns``."""
        return self.recorded_anchor_ns + round((live_ns - self.live_anchor_ns) * self.speed)


@dataclass(frozen=True)
class ReplayProgress:
    """A snapshot of the replay, for the node's status and the Health pane."""

    start_ns: int
    end_ns: int
    speed: float
    replay_ns: int | None
    """Recorded time of the last trade handed over (or of the last hook run); None before."""
    ticks_sent: int
    started: bool
    finished: bool
    """The window's data is exhausted (the feed is now silent, not broken)."""
    error: str | None
    """Why the replay could not connect or stopped early (one line), else None."""

    @property
    def fraction(self) -> float:
        """Share of the recorded window replayed so far, 0 to 1."""
        if self.finished:
            return 1.0
        if self.replay_ns is None:
            return 0.0
        span = self.end_ns - self.start_ns
        return min(1.0, max(0.0, (self.replay_ns - self.start_ns) / span))


@dataclass
class _Block:
    """Consecutive trades of one instrument, as arrays (one trimmed row group or less)."""

    ts: np.ndarray  # int64 recorded ns
    price: np.ndarray  # float64
    size: np.ndarray  # float64
    side: np.ndarray  # uint8 AggressorSide
    trade_id: pa.Array  # string

    def __len__(self) -> int:
        return len(self.ts)


@dataclass
class _Chunk:
    """Trades of every instrument up to a common horizon, in recorded time order."""

    ts: np.ndarray
    instrument: np.ndarray  # index into the client's instruments
    price: np.ndarray
    size: np.ndarray
    side: np.ndarray
    trade_id: pa.Array

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(order=True)
class _Hook:
    ts_ns: int
    sequence: int
    callback: Callable[[], Awaitable[None] | None] | None
    future: asyncio.Future


def _moment(ns: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=ns // 1_000)


def _iso(ns: int) -> str:
    return _moment(ns).isoformat().replace("+00:00", "Z")


class _Stream:
    """One instrument's trades of the window, read ahead one block in a worker thread."""

    def __init__(self, index: int, spec: InstrumentSpec, root: str, start_ns: int, end_ns: int):
        self.index = index
        self.spec = spec
        self._tables = self._read(TickReader(root), start_ns, end_ns)
        self._last_ts = start_ns
        self.block: _Block | None = None
        self.pos = 0
        self.done = False
        self._pending: asyncio.Future | None = None

    def _read(self, reader: TickReader, start_ns: int, end_ns: int) -> Iterator[pa.Table]:
        # Sub-windows bound what is in memory; trimming here keeps ns bounds exact (TickReader
        # takes datetimes, which stop at microseconds).
        window_start = start_ns - start_ns % 1_000
        while window_start < end_ns:
            window_end = min(window_start + _READ_WINDOW_NS, end_ns + (-end_ns) % 1_000)
            tables = reader.iter_window(
                self.spec.instrument_id, _moment(window_start), _moment(window_end), _COLUMNS
            )
            for table in tables:
                ts = table.column("ts_event")
                keep = pc.and_(pc.greater_equal(ts, start_ns), pc.less(ts, end_ns))
                table = table.filter(keep)
                if table.num_rows:
                    yield table
            window_start = window_end

    def _next_block(self) -> _Block | None:
        # Runs in a worker thread: file reads and conversions keep off the event loop.
        table = next(self._tables, None)
        if table is None:
            return None
        return self._to_block(table)

    def _to_block(self, table: pa.Table) -> _Block:
        source = self.spec.instrument_id
        ts = table.column("ts_event").to_numpy()
        if ts[0] < self._last_ts:
            raise DataError(f"ts_event {ts[0]} comes after {self._last_ts}: not sorted", source)
        self._last_ts = int(ts[-1])
        # Copies: Nautilus's array constructor wants writable buffers, arrow's are read-only.
        price = np.array(table.column("price").to_numpy(), dtype=np.float64)
        size = np.array(table.column("size").to_numpy(), dtype=np.float64)
        for name, values, precision in (
            ("price", price, self.spec.price_precision),
            ("size", size, self.spec.size_precision),
        ):
            with np.errstate(invalid="ignore"):
                bad = ~(np.isfinite(values) & (values * 10.0**precision >= 0.5))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise DataError(
                    f"{name} {values[row]} at ts_event {ts[row]} is not positive at "
                    f"precision {precision}",
                    source,
                )
        is_buy = pc.equal(table.column("side"), "BUY").to_numpy(zero_copy_only=False)
        is_sell = pc.equal(table.column("side"), "SELL").to_numpy(zero_copy_only=False)
        if not (is_buy | is_sell).all():
            row = int(np.flatnonzero(~(is_buy | is_sell))[0])
            raise DataError(f"side at ts_event {ts[row]} is not BUY or SELL", source)
        side = np.where(is_buy, _BUYER, _SELLER).astype(np.uint8)
        return _Block(ts, price, size, side, table.column("trade_id").combine_chunks())

    async def ensure(self) -> None:
        """Have rows left in ``block``, or be ``done``; start reading the next block."""
        while not self.done and (self.block is None or self.pos >= len(self.block)):
            pending = self._pending or asyncio.ensure_future(asyncio.to_thread(self._next_block))
            self._pending = None
            block = await pending
            if block is None:
                self.done = True
                self.block = None
                return
            self.block, self.pos = block, 0
            self._pending = asyncio.ensure_future(asyncio.to_thread(self._next_block))

    @property
    def exhausted(self) -> bool:
        return self.done and (self.block is None or self.pos >= len(self.block))

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None


class ReplayDataClient(LiveMarketDataClient):
    """Replays recorded trades into a live node (see the module docstring).

    Attributes
    ----------
    done : asyncio.Event
        Set when the replay ends: data exhausted (``finished``), failed (``error``) or stopped.
    error : str | None
        One line: why connecting failed (bad root, missing file, empty window) or why the
        replay stopped early. The client never raises into the node.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        client_id: ClientId,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
        config: ReplayDataClientConfig,
    ) -> None:
        check_replay_config(config)
        super().__init__(
            loop=loop,
            client_id=client_id,
            venue=None,  # several venues may be replayed; no venue means default routing
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            instrument_provider=InstrumentProvider(),
            config=config,
        )
        self._config = config
        self.speed = float(config.speed)
        self.instrument_ids = tuple(config.instrument_ids)
        self.error: str | None = None
        self.done = asyncio.Event()
        self.finished = False
        self.ticks_sent = 0
        self.replay_ns: int | None = None
        self.instruments: dict[str, Instrument] = {}
        self._ids: list[InstrumentId] = []
        self._streams: list[_Stream] = []
        self._last_sent: dict[int, TradeTick] = {}
        self._mapping: ReplayMapping | None = None
        self._hooks: list[_Hook] = []
        self._hook_sequence = itertools.count()
        self._task: asyncio.Task | None = None
        self._batch = _BATCH_START
        self._turn_started: int | None = None
        self._turn_count = 1

    # -- public API ------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether ``start_replay`` has run (ticks may not have flowed yet)."""
        return self._task is not None

    @property
    def mapping(self) -> ReplayMapping | None:
        """Recorded <-> live time of a paced replay; None flat out (no fixed ratio) or before
        the first trade. Flat out, use ``at_recorded_time`` to act at a recorded moment."""
        return self._mapping

    def progress(self) -> ReplayProgress:
        """A snapshot of where the replay stands."""
        return ReplayProgress(
            start_ns=self._config.start_ns,
            end_ns=self._config.end_ns,
            speed=self.speed,
            replay_ns=self.replay_ns,
            ticks_sent=self.ticks_sent,
            started=self.started,
            finished=self.finished,
            error=self.error,
        )

    def start_replay(self) -> None:
        """Begin handing trades to the node (once connected; a second call does nothing)."""
        if self._task is not None:
            return
        if not self.is_connected:
            raise RuntimeError("the replay client is not connected")
        self._task = self._loop.create_task(self._run(), name="replay")

    def at_recorded_time(
        self, ts_ns: int, callback: Callable[[], Awaitable[None] | None] | None = None
    ) -> asyncio.Future:
        """Run ``callback`` when the replay reaches recorded time ``ts_ns``.

        "Reaches" means every trade recorded at or before ``ts_ns`` has been processed by the
        node (the cache holds it) and no later trade has been handed over. A callback that
        returns an awaitable pauses the replay until it completes; the paced schedule resumes
        where it stopped (the pause does not turn into a burst).

        Returns
        -------
        asyncio.Future
            Resolves to True once ``callback`` has run (or completed), False if the replay
            ended or stopped before reaching ``ts_ns``. An exception in ``callback`` is
            logged, set on the future, and does not stop the replay.
        """
        future = self._loop.create_future()
        if self.done.is_set():
            future.set_result(False)
            return future
        heapq.heappush(self._hooks, _Hook(ts_ns, next(self._hook_sequence), callback, future))
        return future

    # -- connection ------------------------------------------------------------------------

    def connect(self) -> None:
        # The base class marks the client connected whenever ``_connect`` returns and logs a
        # traceback when it raises; a bad data root must instead leave the client
        # disconnected with a one-line reason.
        self._log.info("Connecting...")
        self.create_task(self._connect_or_fail(), log_msg="replay-connect")

    async def _connect_or_fail(self) -> None:
        try:
            await self._connect()
        except Exception as error:
            self.error = (
                str(error) if isinstance(error, DataError | ConfigError) else one_line(error)
            )
            self._log.error(f"Replay cannot start: {self.error}")
            self._close_streams()
            self.done.set()
            return
        self._set_connected(True)
        self._log.info("Connected")
        if self._config.start_on_connect:
            self.start_replay()

    async def _connect(self) -> None:
        config = self._config
        day = _moment(config.start_ns).date()
        instruments_root = config.instruments_root or config.data_root
        specs = await asyncio.to_thread(load_instrument_specs, instruments_root, day)
        _, base = resolve(instruments_root)
        for instrument_id in self.instrument_ids:
            if instrument_id not in specs:
                raise DataError(
                    f"instrument {instrument_id} is not listed", instruments_path(base, day)
                )
        now = self._clock.timestamp_ns()
        for index, instrument_id in enumerate(self.instrument_ids):
            spec = specs[instrument_id]
            instrument = to_nautilus_instrument(spec, ts_init=now)
            self.instruments[instrument_id] = instrument
            self._ids.append(instrument.id)
            # Straight into the cache, so that the sandbox finds it when it connects, and
            # through the data engine, so that an already connected sandbox adds it too.
            self._cache.add_instrument(instrument)
            self._handle_data(instrument)
            self._streams.append(
                _Stream(index, spec, config.data_root, config.start_ns, config.end_ns)
            )
        for stream in self._streams:
            await stream.ensure()
        if all(stream.exhausted for stream in self._streams):
            raise EmptyWindowError(
                f"no trades of {', '.join(self.instrument_ids)} between "
                f"{_iso(config.start_ns)} and {_iso(config.end_ns)}",
                config.data_root,
            )
        for stream in self._streams:
            if stream.exhausted:
                self._log.warning(f"No trades of {stream.spec.instrument_id} in the window")

    async def _disconnect(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._close_streams()
        self._resolve_hooks(False)
        self.done.set()

    def _close_streams(self) -> None:
        for stream in self._streams:
            stream.close()

    # -- subscriptions: every recorded trade is sent anyway --------------------------------

    async def _subscribe_trade_ticks(self, command: SubscribeTradeTicks) -> None:
        pass

    async def _unsubscribe_trade_ticks(self, command: UnsubscribeTradeTicks) -> None:
        pass

    async def _subscribe_instrument(self, command: SubscribeInstrument) -> None:
        pass

    async def _unsubscribe_instrument(self, command: UnsubscribeInstrument) -> None:
        pass

    async def _subscribe_instruments(self, command: SubscribeInstruments) -> None:
        pass

    async def _unsubscribe_instruments(self, command: UnsubscribeInstruments) -> None:
        pass

    async def _subscribe_quote_ticks(self, command: SubscribeQuoteTicks) -> None:
        self._log.warning(f"Replay has trades only: no quotes for {command.instrument_id}")

    async def _unsubscribe_quote_ticks(self, command: UnsubscribeQuoteTicks) -> None:
        pass

    async def _subscribe_bars(self, command: SubscribeBars) -> None:
        self._log.warning(f"Replay has trades only: subscribe to INTERNAL {command.bar_type}")

    async def _unsubscribe_bars(self, command: UnsubscribeBars) -> None:
        pass

    # -- the replay ------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while (chunk := await self._next_chunk()) is not None:
                await self._play(chunk)
            await self._catch_up()
            self.finished = True
            end = self._config.end_ns
            await self._run_hooks(lambda hook: hook.ts_ns < end)
            self._log.info(f"Replay finished: {self.ticks_sent} trades")
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.error = str(error) if isinstance(error, DataError) else one_line(error)
            self._log.error(f"Replay stopped: {self.error}")
        finally:
            self._close_streams()
            self._resolve_hooks(False)
            self.done.set()

    async def _next_chunk(self) -> _Chunk | None:
        for stream in self._streams:
            await stream.ensure()
        live = [stream for stream in self._streams if not stream.exhausted]
        if not live:
            return None
        # Every trade at or before the horizon is loaded for every instrument, so what lies
        # below it can be ordered now; the stream defining the horizon empties its block.
        horizon = min(int(stream.block.ts[-1]) for stream in live)  # type: ignore[union-attr]
        parts: list[tuple[int, _Block, int, int]] = []
        for stream in live:
            block = stream.block
            assert block is not None
            stop = int(np.searchsorted(block.ts, horizon, side="right"))
            if stop > stream.pos:
                parts.append((stream.index, block, stream.pos, stop))
                stream.pos = stop
        if len(parts) == 1:
            index, block, low, high = parts[0]
            return _Chunk(
                block.ts[low:high],
                np.full(high - low, index, dtype=np.int32),
                block.price[low:high],
                block.size[low:high],
                block.side[low:high],
                block.trade_id.slice(low, high - low),
            )
        ts = np.concatenate([block.ts[low:high] for _, block, low, high in parts])
        order = np.argsort(ts, kind="stable")  # ties keep the configured instrument order
        take = pa.array(order)
        return _Chunk(
            ts[order],
            np.concatenate(
                [np.full(high - low, index, dtype=np.int32) for index, _, low, high in parts]
            )[order],
            np.concatenate([block.price[low:high] for _, block, low, high in parts])[order],
            np.concatenate([block.size[low:high] for _, block, low, high in parts])[order],
            np.concatenate([block.side[low:high] for _, block, low, high in parts])[order],
            pa.concat_arrays(
                [block.trade_id.slice(low, high - low) for _, block, low, high in parts]
            ).take(take),
        )

    async def _play(self, chunk: _Chunk) -> None:
        pos = 0
        total = len(chunk)
        while pos < total:
            next_ts = int(chunk.ts[pos])
            hook_ts = self._hooks[0].ts_ns if self._hooks else None
            due_ts = next_ts if hook_ts is None or hook_ts >= next_ts else hook_ts
            if self.speed > 0:
                if self._mapping is None:
                    self._mapping = ReplayMapping(self._clock.timestamp_ns(), due_ts, self.speed)
                wait_ns = self._mapping.to_live_ns(due_ts) - self._clock.timestamp_ns()
                if wait_ns > 0:
                    self._turn_started = None  # a pacing sleep is not a turn
                    await asyncio.sleep(wait_ns / 1e9)
                    continue
            if hook_ts is not None and hook_ts < next_ts:
                await self._run_hooks(lambda hook, before=next_ts: hook.ts_ns < before)
                continue
            stop = total
            if hook_ts is not None:  # trades at the hook's instant go first
                stop = int(np.searchsorted(chunk.ts, hook_ts, side="right"))
            if self._mapping is not None:
                now_recorded = self._mapping.to_recorded_ns(self._clock.timestamp_ns())
                stop = min(stop, int(np.searchsorted(chunk.ts, now_recorded, side="right")))
            count = max(1, min(stop - pos, self._batch))
            self._send(chunk, pos, count)
            pos += count
            await self._yield_turn(count)

    def _send(self, chunk: _Chunk, pos: int, count: int) -> None:
        end = pos + count
        now = self._clock.timestamp_ns()
        instruments = chunk.instrument[pos:end]
        trade_ids = chunk.trade_id.slice(pos, count).to_pylist()
        first = int(instruments[0])
        if (instruments == first).all():
            ticks = self._ticks(first, chunk, slice(pos, end), trade_ids, now)
            for tick in ticks:
                self._handle_data(tick)
            self._last_sent[first] = ticks[-1]
        else:
            per_instrument: dict[int, Iterator[TradeTick]] = {}
            for index in np.unique(instruments).tolist():
                rows = np.flatnonzero(instruments == index)
                ticks = self._ticks(
                    index, chunk, rows + pos, [trade_ids[row] for row in rows.tolist()], now
                )
                self._last_sent[index] = ticks[-1]
                per_instrument[index] = iter(ticks)
            for index in instruments.tolist():
                self._handle_data(next(per_instrument[index]))
        self.ticks_sent += count
        self.replay_ns = int(chunk.ts[end - 1])

    def _ticks(
        self,
        index: int,
        chunk: _Chunk,
        rows: slice | np.ndarray,
        trade_ids: list[str],
        now: int,
    ) -> list[TradeTick]:
        instrument = self.instruments[self.instrument_ids[index]]
        stamps = np.full(len(trade_ids), now, dtype=np.uint64)
        return TradeTick.from_raw_arrays_to_list(
            instrument.id,
            instrument.price_precision,
            instrument.size_precision,
            np.ascontiguousarray(chunk.price[rows]),
            np.ascontiguousarray(chunk.size[rows]),
            np.ascontiguousarray(chunk.side[rows]),
            trade_ids,
            stamps,
            stamps,
        )

    async def _yield_turn(self, count: int) -> None:
        # The data engine drains its queue in the next loop turn, with this client's next
        # batch after it: from what a turn cost per trade, size batches so that a turn stays
        # near the target. (A turn cut short by a chunk's end still measures a fair cost.)
        now = time.perf_counter_ns()
        if self._turn_started is not None:
            per_trade = max(now - self._turn_started, 1) / self._turn_count
            wanted = _TURN_TARGET_NS / per_trade
            # Grow slowly, shrink at once: a slow turn is what the console feels.
            batch = min(wanted, self._batch * 1.25)
            self._batch = int(min(_BATCH_MAX, max(_BATCH_MIN, batch)))
        await asyncio.sleep(0)
        self._turn_started = now
        self._turn_count = count

    async def _catch_up(self) -> None:
        """Wait until the data engine has processed every trade handed over (cache holds it)."""

        def caught_up() -> bool:
            return all(
                self._cache.trade_tick(self._ids[index]) is tick
                for index, tick in self._last_sent.items()
            )

        for _ in range(_CATCH_UP_SPINS):
            if caught_up():
                return
            await asyncio.sleep(0)
        deadline = time.monotonic() + _CATCH_UP_TIMEOUT_S
        while not caught_up():
            if time.monotonic() > deadline:
                self._log.warning("Data engine still behind the replay; running hooks anyway")
                return
            await asyncio.sleep(0.001)

    async def _run_hooks(self, due: Callable[[_Hook], bool]) -> None:
        if not self._hooks or not due(self._hooks[0]):
            return
        await self._catch_up()
        while self._hooks and due(self._hooks[0]):
            hook = heapq.heappop(self._hooks)
            if self.replay_ns is None or hook.ts_ns > self.replay_ns:
                self.replay_ns = hook.ts_ns
            paused_at = self._clock.timestamp_ns()
            try:
                result = None if hook.callback is None else hook.callback()
                if inspect.isawaitable(result):
                    await result
            except Exception as error:
                self._log.error(f"Replay hook at {_iso(hook.ts_ns)} failed: {one_line(error)}")
                if not hook.future.done():
                    hook.future.set_exception(error)
                    # Logged above: a caller that only passed a callback needs no
                    # "exception never retrieved" report; one that awaits still gets it.
                    hook.future.exception()
            else:
                if not hook.future.done():
                    hook.future.set_result(True)
            finally:
                if self._mapping is not None:
                    pause = self._clock.timestamp_ns() - paused_at
                    mapping = self._mapping
                    self._mapping = ReplayMapping(
                        mapping.live_anchor_ns + pause, mapping.recorded_anchor_ns, mapping.speed
                    )
            self._turn_started = None

    def _resolve_hooks(self, reached: bool) -> None:
        while self._hooks:
            hook = heapq.heappop(self._hooks)
            if not hook.future.done():
                hook.future.set_result(reached)


def check_replay_config(config: ReplayDataClientConfig) -> None:
    """Refuse a config the client cannot run (no instruments, empty window, bad speed)."""
    if not config.instrument_ids:
        raise ConfigError("replay: no instruments to replay")
    if not config.start_ns < config.end_ns:
        raise ConfigError(
            f"replay: start {_iso(config.start_ns)} is not before end {_iso(config.end_ns)}"
        )
    if not (np.isfinite(config.speed) and config.speed >= 0):
        raise ConfigError(f"replay: speed must be >= 0 (0 = flat out), got {config.speed}")


class ReplayDataClientFactory(LiveDataClientFactory):
    """Builds the ``ReplayDataClient`` of a node (register it as ``REPLAY``)."""

    @staticmethod
    def create(  # type: ignore[override]
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: ReplayDataClientConfig,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> ReplayDataClient:
        """A replay client named ``name`` for ``config``."""
        return ReplayDataClient(
            loop=loop,
            client_id=ClientId(name),
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            config=config,
        )
