"""The target-weights watcher: the research process's file in, validated targets out.

The research process decides target weights and writes them to one file (``WatcherConfig.path``,
by default ``artifacts/orders/target_weights.json``) in the schema of ``core.data.target_file``::

    {"as_of": "2026-01-05T00:00:00Z", "strategy_id": "research-v1",
     "weights": {"BTCUSDT.BINANCE": 0.40, "ETHUSDT.BINANCE": 0.25}}

``as_of`` (ISO 8601 with a time zone) is when the targets were decided, ``weights`` the fraction
of equity per instrument id (signed: negative is short), ``strategy_id`` optional. No other key
is allowed: a misspelt key is an error, not a silently ignored field.

A file is applied only when all of these hold, else it is rejected with one line naming the file
and the field, and nothing changes (the last good targets stay in force):

- it is JSON in that schema, ``as_of`` carries a time zone, every weight is a finite number;
- every instrument is one the node knows;
- every weight is within ``[min_weight, max_weight]``, and not negative when ``long_only``;
- the gross exposure (sum of absolute weights) is at most ``max_gross``;
- ``as_of`` is newer than the last applied file's, and not older than ``max_age_secs``;
- ``as_of`` is at most ``[targets] max_clock_skew_secs`` ahead of this machine's clock.

How the file is read: writers either write a temporary file and rename it onto the path (atomic:
any read sees a whole file) or truncate the file and write into it (a read may catch it empty or
half-written). Changes are read once they have been quiet for ``debounce_ms``. A read that does
not parse is judged again once the file has been still for ``[targets] settle_ms`` (1 s), and
reported only if it reads the same then: a writer that truncates and writes in pieces with
pauses shorter than that is never reported half-written (one that pauses longer is reported
once, and its finished file then applies). The same content twice (byte-identical, or the same
``as_of`` and weights) is applied once. A deleted file changes nothing: deleting the targets is
not an instruction to flatten, and the last good ones stay.

What the file cannot do to the node: only a regular file is read (a FIFO, a device, a socket is
refused with one line), at most ``[targets] max_bytes``, in a thread with a deadline
(``read_timeout_secs``), so no file blocks the loop or fills the memory. Deep nesting and a key
written twice are refused. No exception from judging one file ends the watcher; the messages
quote keys escaped and bounded (``core.errors.bounded``).

Nothing here knows Nautilus: the node hands the outcomes to its strategy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import inspect
import posixpath
import time
from collections.abc import Awaitable, Callable, Collection
from types import TracebackType
from typing import Self

import msgspec
from watchfiles import Change, awatch

from core.config import TargetsConfig, WatcherConfig
from core.data.target_file import (
    TargetWeightsFile,
    check_weights,
    parse_target_weights,
    read_target_bytes,
)
from core.errors import ConfigError, DataError, bounded, one_line, task_part
from core.storage.roots import is_remote, resolve

_STEP_MS = 5
"""How often watchfiles' thread looks for changes and for the stop event: it bounds both the
detection delay (one to two steps) and how long ``stop()`` waits for the thread."""
_MAX_SETTLE_S = 1.0
"""A writer rewriting the file faster than the debounce could postpone reading forever: after
this long since the first change of a burst, the file is read anyway."""


class TargetsAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """A file that passed every check: these targets are now in force."""

    targets: dict[str, float]
    """Weight per instrument id, as written (instruments not listed are not targeted)."""
    as_of: dt.datetime
    """When the research process decided them (UTC)."""
    strategy_id: str | None
    sha256: str
    """Hex digest of the file's bytes: which file, exactly, was applied."""
    detected_ns: int
    """Wall clock (UNIX ns) when the first change of the write was seen (the watcher's start
    for the file found there at start): with ``read_ns`` and the submit time, the latency from
    a write to its orders can be split into detection, debounce and trading."""
    read_ns: int
    """Wall clock (UNIX ns) when the bytes applied were read."""

    @property
    def as_of_ns(self) -> int:
        """``as_of`` in UNIX nanoseconds, as Nautilus clocks count."""
        return _to_ns(self.as_of)


class TargetsRejected(msgspec.Struct, frozen=True, kw_only=True):
    """A file that failed a check: nothing changed, and ``reason`` says why in one line."""

    reason: str
    """``{path}: {field}: {problem}``, e.g. ``.../target_weights.json: weights[X]: unknown``."""
    path: str
    detected_ns: int
    """Wall clock (UNIX ns) when the first change of the write was seen."""


WatchOutcome = TargetsAccepted | TargetsRejected
OutcomeHandler = Callable[[WatchOutcome], Awaitable[None] | None]


def validate_targets(
    targets: TargetWeightsFile,
    source: str,
    *,
    config: WatcherConfig,
    known_instruments: Collection[str],
    last_as_of: dt.datetime | None,
    now_ns: int,
    max_clock_skew_secs: float = TargetsConfig().max_clock_skew_secs,
) -> None:
    """Check parsed targets against the desk's limits before anything trades on them: the
    weights by ``check_weights`` (the rules the rebalance preview applies to a typed weight
    too), then the file's ``as_of``.

    ``last_as_of`` is the ``as_of`` of the targets in force (None when there are none): a file
    no newer is an old decision replayed, and trading on it would undo a newer one. An ``as_of``
    more than ``max_clock_skew_secs`` ahead of ``now_ns`` is refused too: once in force, it would
    make every later honest file look older.

    Raises
    ------
    DataError
        One line naming ``source`` and the field (``weights[ID]``, ``weights``, ``as_of``) and
        the limit (``watcher.max_weight``...) it breaks.
    """

    def fail(field: str, problem: str) -> DataError:
        return DataError(f"{field}: {problem}", source)

    check_weights(targets.weights, config, known_instruments, source=source)
    as_of = targets.as_of.astimezone(dt.UTC)
    ahead_secs = (_to_ns(as_of) - now_ns) / 1e9
    if ahead_secs > max_clock_skew_secs:
        raise fail(
            "as_of",
            f"{_iso(as_of)} is {ahead_secs:,.0f} s ahead of this machine's clock, more than "
            f"targets.max_clock_skew_secs {max_clock_skew_secs:g}",
        )
    if config.max_age_secs > 0:
        age_secs = (now_ns - _to_ns(as_of)) / 1e9
        if age_secs > config.max_age_secs:
            raise fail(
                "as_of",
                f"{_iso(as_of)} is {age_secs:.0f} s old, older than watcher.max_age_secs "
                f"{config.max_age_secs:g}",
            )
    if last_as_of is not None and as_of <= last_as_of:
        raise fail(
            "as_of",
            f"{_iso(as_of)} is not newer than the targets in force ({_iso(last_as_of)})",
        )


class TargetWeightWatcher:
    """Watches the target-weights file and hands each verdict to ``on_outcome``.

    Use ``async with TargetWeightWatcher(...)`` or ``await start()`` / ``await stop()`` on the
    loop that should run it. ``start()`` returns once the watch is in place and a file already
    there has been judged, so ``current`` then holds the targets found at start, if good.

    Parameters
    ----------
    config
        The file and the limits (``[watcher]`` of the desk's configuration).
    known_instruments
        Instrument ids the node can trade: a target on any other is refused, not skipped.
    on_outcome
        Called (and awaited, if it returns an awaitable) with every ``TargetsAccepted`` and
        ``TargetsRejected``, one at a time, on the watcher's loop. The next change is not read
        until it returns, so it is also the back-pressure. An exception from it ends the
        watcher, and ``stop()`` re-raises it.
    now_ns
        The clock ``max_age_secs`` is measured against (UNIX ns); tests pass a fixed one, the
        node may pass its own clock. Timing fields of the outcomes always use the wall clock.
    reading
        How a file is read (``[targets]``): the size cap, the read timeout, the settle time of
        a file that does not parse (a truncate-then-write writer that pauses midway for less
        than ``settle_ms`` is never reported) and the clock skew ``as_of`` may have.

    Raises
    ------
    ConfigError
        ``config.path`` is not a local path (watchfiles watches local folders only).
    """

    def __init__(
        self,
        config: WatcherConfig,
        known_instruments: Collection[str],
        on_outcome: OutcomeHandler,
        *,
        now_ns: Callable[[], int] = time.time_ns,
        reading: TargetsConfig | None = None,
    ) -> None:
        if is_remote(config.path):
            raise ConfigError(
                f"watcher.path: '{config.path}' is not a local path (only local files are watched)"
            )
        self._config = config
        self._known = frozenset(known_instruments)
        self._on_outcome = on_outcome
        self._now_ns = now_ns
        self._debounce_s = config.debounce_ms / 1000
        self._reading = reading or TargetsConfig()
        self._retry_s = self._reading.settle_ms / 1000
        self._fs, self._path = resolve(config.path)
        self._folder, self._name = posixpath.split(self._path)
        self._current: TargetsAccepted | None = None
        self._last_sha: str | None = None
        self._read_failure: str | None = None
        # Replaced by each start(), so that a watcher can be started again after a stop.
        self._stop_event = asyncio.Event()
        self._changes: asyncio.Queue[int | None] = asyncio.Queue()
        self._watch_task: asyncio.Task[None] | None = None
        self._apply_task: asyncio.Task[None] | None = None

    @property
    def path(self) -> str:
        """The absolute path of the watched file."""
        return self._path

    @property
    def current(self) -> TargetsAccepted | None:
        """The targets in force: the last accepted file (None before any)."""
        return self._current

    def parts(self) -> tuple[tuple[str, str, str], ...]:
        """The watcher's two tasks as parts of the node (see ``core.errors.task_part``): a
        task that ended on an exception is DOWN with it, so later files are not ignored in
        silence."""
        # One task's failure ends the other too: report the one that says why.
        both = [task_part("target watcher", task) for task in (self._watch_task, self._apply_task)]
        down = [part for part in both if part[1] == "DOWN"]
        down.sort(key=lambda part: part[2] == "ended")  # an error before a plain end
        return (down[0] if down else both[0],)

    @property
    def running(self) -> bool:
        """Whether the watcher is watching (False before start, after stop, or after a failure
        of ``on_outcome``)."""
        return self._watch_task is not None and not self._watch_task.done()

    async def start(self) -> None:
        """Create the folder if missing, start watching, and judge the file already there.

        Raises
        ------
        ConfigError
            The folder cannot be created, or the path is a folder.
        """
        if self._watch_task is not None:
            raise RuntimeError(f"the watcher of {self._path} is already started")
        try:
            self._fs.makedirs(self._folder, exist_ok=True)
        except OSError as error:
            reason = error.strerror or str(error)
            raise ConfigError(
                f"watcher.path: cannot create folder {self._folder} ({reason})"
            ) from None
        if self._fs.isdir(self._path):
            raise ConfigError(f"watcher.path: {self._path} is a folder, not a file")
        self._stop_event = asyncio.Event()
        self._changes = asyncio.Queue()
        self._watch_task = asyncio.create_task(self._watch_changes(), name="target-weights-watch")
        # awatch adds its inotify watch in its task's first step, before its first await: one
        # turn of the loop, and no write can fall between the watch and the initial read.
        await asyncio.sleep(0)
        try:
            await self._judge_file(time.time_ns())
        except BaseException:
            await self.stop()
            raise
        self._apply_task = asyncio.create_task(self._apply_changes(), name="target-weights-apply")

    async def stop(self) -> None:
        """Stop watching and wait for the watcher's tasks to end (promptly: within a few ms,
        unless ``on_outcome`` is running, which is let finish rather than cut off midway).

        Raises
        ------
        Exception
            Whatever ``on_outcome`` raised, if it did, ending the watcher early.
        RuntimeError
            Called from ``on_outcome`` itself (it would wait for its own return).
        """
        tasks = [task for task in (self._watch_task, self._apply_task) if task is not None]
        if not tasks:
            return
        if asyncio.current_task() in tasks:
            # Waiting for the task that is waiting here would never end: say so instead.
            raise RuntimeError("stop() called from on_outcome: stop the watcher from elsewhere")
        self._stop_event.set()
        self._changes.put_nowait(None)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        self._watch_task = self._apply_task = None
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def _is_target(self, change: Change, path: str) -> bool:
        # The folder is watched, not the file: a rename onto the path replaces the inode, and a
        # watch on the old inode would go deaf after the first atomic write.
        return posixpath.basename(path) == self._name

    async def _watch_changes(self) -> None:
        try:
            async for _ in awatch(
                self._folder,
                watch_filter=self._is_target,
                debounce=_STEP_MS,
                step=_STEP_MS,
                stop_event=self._stop_event,
                recursive=False,
            ):
                self._changes.put_nowait(time.time_ns())
        finally:
            self._changes.put_nowait(None)

    async def _apply_changes(self) -> None:
        try:
            while True:
                detected_ns = await self._changes.get()
                if detected_ns is None:
                    return
                if not await self._settle(self._debounce_s, _MAX_SETTLE_S):
                    return
                await self._judge_file(detected_ns)
        finally:
            # When on_outcome fails, the watch must end too, not go on queueing changes.
            self._stop_event.set()

    async def _settle(self, quiet_s: float, cap_s: float | None) -> bool:
        """Wait until no change has come for ``quiet_s`` (at most ``cap_s``); False on stop."""
        while not self._changes.empty():
            if self._changes.get_nowait() is None:
                return False
        if quiet_s <= 0:
            return True
        loop = asyncio.get_running_loop()
        deadline = None if cap_s is None else loop.time() + cap_s
        while True:
            timeout = quiet_s if deadline is None else min(quiet_s, deadline - loop.time())
            if timeout <= 0:
                return True
            try:
                change = await asyncio.wait_for(self._changes.get(), timeout)
            except TimeoutError:
                return True
            if change is None:
                return False

    async def _judge_file(self, detected_ns: int) -> None:
        read = await self._read_parsed(detected_ns)
        if read is None:
            return
        parsed, sha, read_ns = read
        current = self._current
        if (
            current is not None
            and parsed.as_of == current.as_of
            and parsed.weights == current.targets
        ):
            self._last_sha = sha  # the same targets rewritten (reformatted): applied once
            return
        try:
            validate_targets(
                parsed,
                self._path,
                config=self._config,
                known_instruments=self._known,
                last_as_of=None if current is None else current.as_of,
                now_ns=self._now_ns(),
                max_clock_skew_secs=self._reading.max_clock_skew_secs,
            )
        except DataError as error:
            await self._reject(str(error), sha, detected_ns)
            return
        except Exception as error:  # no file may end the watcher
            await self._reject(_unexpected(self._path, error), sha, detected_ns)
            return
        accepted = TargetsAccepted(
            targets=dict(parsed.weights),
            as_of=parsed.as_of.astimezone(dt.UTC),
            strategy_id=parsed.strategy_id,
            sha256=sha,
            detected_ns=detected_ns,
            read_ns=read_ns,
        )
        self._current = accepted
        self._last_sha = sha
        await self._emit(accepted)

    async def _read_parsed(self, detected_ns: int) -> tuple[TargetWeightsFile, str, int] | None:
        """The file parsed, its digest and read time; None when there is nothing new to judge
        (missing, unchanged since last judged, rejected, or the watcher stopping)."""
        unparsed: bytes | None = None
        while True:
            read_ns = time.time_ns()
            try:
                raw = await self._read()
            except DataError as error:
                # The same failure again (the FIFO touched, the huge file still growing) is
                # not a new alert.
                if str(error) != self._read_failure:
                    self._read_failure = str(error)
                    await self._reject(str(error), None, detected_ns)
                return None
            self._read_failure = None
            if raw is None:
                return None
            sha = hashlib.sha256(raw).hexdigest()
            if sha == self._last_sha:
                return None
            try:
                return parse_target_weights(raw, self._path), sha, read_ns
            except Exception as error:  # no file may end the watcher
                if not isinstance(error, DataError):
                    await self._reject(_unexpected(self._path, error), sha, detected_ns)
                    return None
                # Bad only if it stayed so: the same bytes again after the file was still for
                # settle_ms. Quiet alone is not proof: under load, change notices can
                # come late, and a second read midway through the next write would differ.
                if raw == unparsed:
                    await self._reject(str(error), sha, detected_ns)
                    return None
                unparsed = raw
            # Maybe caught midway through a truncate-then-write: read again once it is still.
            if not await self._settle(self._retry_s, None):
                return None

    async def _read(self) -> bytes | None:
        # In a thread, with a deadline: a regular file of a few hundred bytes reads in
        # microseconds, but a hung network file system must not stop the node's loop (its
        # heartbeat, the kill switch). A read past the deadline is reported; its thread is left
        # to finish on its own (Python cannot cancel it).
        timeout = self._reading.read_timeout_secs
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(read_target_bytes, self._path, self._reading.max_bytes), timeout
            )
        except TimeoutError:
            raise DataError(
                f"the read took longer than targets.read_timeout_secs {timeout:g}: abandoned",
                self._path,
            ) from None

    async def _reject(self, reason: str, sha: str | None, detected_ns: int) -> None:
        # Remembering a rejected file's digest keeps a touch of the same bad file from raising
        # the same alert again: every check would fail the same way (limits and the known
        # instruments are fixed, the last as_of and the clock only move forward).
        self._last_sha = sha
        await self._emit(TargetsRejected(reason=reason, path=self._path, detected_ns=detected_ns))

    async def _emit(self, outcome: WatchOutcome) -> None:
        result = self._on_outcome(outcome)
        if inspect.isawaitable(result):
            await result


def _unexpected(path: str, error: Exception) -> str:
    # A check that raised what no check should (a library's own error): still one line, and
    # the watcher goes on to the next file.
    return f"{path}: refused, the file could not be judged ({type(error).__name__}: " + (
        f"{bounded(one_line(error), 200)})"
    )


def _to_ns(moment: dt.datetime) -> int:
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
