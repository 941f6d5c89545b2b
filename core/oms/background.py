"""``BackgroundStore``: an ``OmsStore`` for synchronous code, on its own loop in its own thread.

A backtest runs synchronously (``engine.run()`` holds the calling thread until the end), while
the store is asyncio: its writer must keep committing while the engine runs. So the store lives
on a private event loop in a daemon thread for as long as it is open; the engine's thread only
calls ``submit``, which queues the record and returns (the store's ``submit`` is thread-safe),
and ``flush`` / ``close`` wait for that loop from outside.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Self

from core.errors import one_line
from core.oms.errors import OmsError
from core.oms.events import Record
from core.oms.store import OmsStore

_STOP_TIMEOUT_S = 10.0


class BackgroundStore:
    """Open with ``BackgroundStore.open(path)``; ``close()`` when done (or use ``with``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self._loop = loop
        self._thread = thread
        self._store: OmsStore | None = None

    @classmethod
    def open(cls, path: str | Path, **options: Any) -> Self:
        """Start the loop's thread and open the store on it (``options`` go to ``OmsStore.open``).

        Raises
        ------
        OmsError
            The store cannot be opened; the thread is stopped again.
        """
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="oms-background", daemon=True)
        thread.start()
        background = cls(loop, thread)
        try:
            background._store = background._wait(OmsStore.open(path, **options))
        except BaseException:
            background._stop()
            raise
        return background

    @property
    def store(self) -> OmsStore:
        """The store itself: call its coroutines through ``call``, never directly."""
        if self._store is None:
            raise OmsError("the background OMS store is closed")
        return self._store

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def submit(self, record: Record) -> None:
        """Queue ``record``; returns at once, from any thread."""
        self.store.submit(record)

    def submit_many(self, records: list[Record]) -> None:
        """Queue ``records`` in order; returns at once, from any thread."""
        self.store.submit_many(records)

    def call[T](self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` (e.g. ``store.orders()``) on the store's loop and wait for it."""
        return self._wait(coroutine)

    def flush(self) -> int:
        """Wait until everything submitted is committed; return the change version.

        Raises
        ------
        OmsError
            A write failed meanwhile (the records stay queued and are retried).
        """
        return self._wait(self.store.flush())

    def close(self) -> None:
        """Write what is queued, close the store and stop the thread.

        Raises
        ------
        OmsError
            Some records could not be written.
        """
        store, self._store = self._store, None
        if store is None:
            return
        try:
            self._wait(store.close())
        finally:
            self._stop()

    def _wait[T](self, coroutine: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result()
        except OmsError:
            raise
        except Exception as error:  # e.g. the loop died: still one line for the caller
            raise OmsError(f"the OMS store failed: {one_line(error)}") from error

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_STOP_TIMEOUT_S)
        if not self._thread.is_alive():
            self._loop.close()
