"""``NodeLease``: one node per OMS.

Two nodes on one OMS would each trade every target file, their client order ids would collide
in the same rows and both would write the same node log. So a node takes its OMS before it
builds anything, and holds it for its life:

- **The guard**: on SQLite, an exclusive ``fcntl.flock`` on ``<database>.node.lock``, beside
  the database, held on an open file for as long as the node runs. The kernel drops it when
  the process ends, however it ends (``kill -9`` included), so on one host a crash never leaves
  the OMS held, and two nodes can never both hold it. The file is never deleted (deleting it
  under a running node would let a second one lock a new file); it is not inherited by spawned
  processes. On PostgreSQL, a session advisory lock held by a connection of the node's own
  (``core.oms.postgres.NodeLock``): the same guarantee across machines, the server dropping it
  when the node's session ends.
- **The name**: a ``NodeHolder`` row in the OMS (pid, host, OS user, since). A second node's
  refusal and ``trade-console status`` name the holder from it: the row is the truth about
  *who*, the lock the guard.

Taking the OMS: the lock first; held, the node is refused, naming the holder (and saying so
when it has stopped beating: a hung node still holds the lock, and could wake). Then the row:
none, the node claims it; a holder that is gone (``core.oms.node_holder.holder_gone``: its
process no longer runs on this host, or nothing from it for ``DOWN_AFTER_S``) is taken
over, with an audit entry and an alert naming both; a holder that still runs (on another host,
or on this one with its lock file deleted under it) refuses this node. The claim is a
compare-and-set read back, so of two hosts claiming at once one wins and the other is refused
naming it. Letting go deletes the row (this holding's only), then drops the lock.

Nothing here imports Nautilus: the demo checks the OMS is free before it writes its targets.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Protocol

import msgspec

from core.errors import TradeConsoleError
from core.oms import AuditEntry, NodeHolder, NodeReleased, OmsError, OmsStore, RiskAlert
from core.oms.health import DOWN_AFTER_S
from core.oms.node_holder import describe_holder, holder_gone, pid_alive
from core.risk.trading_state import operator_name

LOCK_SUFFIX = ".node.lock"
NAME_WAIT_SECS = 1.0
"""How long a refused node waits for the lock's holder to name itself in the OMS (it writes
its row a few ms after taking the lock)."""


class NodeLeaseHeld(TradeConsoleError):
    """Another node holds the OMS: this one must not start (one line naming the holder)."""


def lock_path(database: str) -> str:
    """The lock file that guards the OMS at ``database`` (its absolute path)."""
    return f"{database}{LOCK_SUFFIX}"


class NodeLease:
    """The OMS held by this process's node: ``await NodeLease.acquire(store)``, then
    ``await lease.release()`` when the node has stopped (the process ending drops it too)."""

    def __init__(self, store: OmsStore, guard: _Guard, holder: NodeHolder) -> None:
        self.store = store
        self.holder = holder
        """This node's row in the OMS."""
        self._guard: _Guard | None = guard

    @property
    def held(self) -> bool:
        return self._guard is not None

    def part(self) -> tuple[str, str, str] | None:
        """The guard as a part of the node, when it is not simply held: on PostgreSQL, a
        server restart drops the lock until the node takes it back (WARN), and another node
        may take it meanwhile (DOWN: two nodes could trade on one OMS)."""
        guard = self._guard
        problem = None if guard is None else guard.problem
        if problem is None:
            return None
        return ("OMS lock", "DOWN" if "another node" in problem else "WARN", problem)

    @classmethod
    async def acquire(
        cls,
        store: OmsStore,
        *,
        now_ns: Callable[[], int] = time.time_ns,
        down_after_s: float = DOWN_AFTER_S,
    ) -> NodeLease:
        """Take the OMS at ``store`` for this process's node (see the module docstring).

        Raises
        ------
        NodeLeaseHeld
            Another node holds it and still runs; nothing was written.
        OmsError
            The lock file cannot be opened, or the OMS cannot be read or written.
        """
        guard = await _lock(store)
        try:
            holder = NodeHolder(
                token=uuid.uuid4().hex,
                pid=os.getpid(),
                host=socket.gethostname(),
                os_user=operator_name(),
                started_at=now_ns(),
            )
            previous, why = await _judge_holder(store, holder, down_after_s)
            if previous is not None:
                holder = msgspec.structs.replace(holder, replaces=previous.token)
            store.submit(holder)
            await store.flush()
            in_force = await store.node_holder()
            if in_force is None or in_force.token != holder.token:  # another host won the race
                raise NodeLeaseHeld(_held(store.path, in_force))
            if previous is not None and why is not None:
                _record_takeover(store, holder, previous, why)
                await store.flush()
        except BaseException:
            await guard.release()
            raise
        return cls(store, guard, holder)

    async def release(self) -> None:
        """Delete this node's row, then drop the lock (the lock even if the OMS refuses)."""
        guard, self._guard = self._guard, None
        if guard is None:
            return
        try:
            self.store.submit(NodeReleased(token=self.holder.token))
            await self.store.flush()
        finally:
            await guard.release()


async def ensure_free(store: OmsStore, *, down_after_s: float = DOWN_AFTER_S) -> None:
    """Refuse, as ``NodeLease.acquire`` would, when a node holds the OMS; take nothing.

    For a command that must not touch a running node's files before its own node starts (the
    demo writes a target file first). The node's own ``acquire`` stays the guard.

    Raises
    ------
    NodeLeaseHeld
        Another node holds the OMS.
    """
    guard = await _lock(store)
    try:
        me = NodeHolder(
            token="",
            pid=os.getpid(),
            host=socket.gethostname(),
            os_user="",
            started_at=time.time_ns(),
        )
        await _judge_holder(store, me, down_after_s)
    finally:
        await guard.release()


async def _judge_holder(
    store: OmsStore, me: NodeHolder, down_after_s: float
) -> tuple[NodeHolder | None, str | None]:
    # With the lock taken: the holder left in the OMS, if any, and why it is gone; refused if
    # it still runs.
    previous = await store.node_holder()
    if previous is None:
        return None, None
    why = holder_gone(
        previous,
        await store.node_status(),
        now_ns=me.started_at,
        host=me.host,
        pid=me.pid,
        down_after_s=down_after_s,
    )
    if why is None:
        raise NodeLeaseHeld(_held(store.path, previous))
    return previous, why


class _Guard(Protocol):
    problem: str | None

    async def release(self) -> None: ...


class _FileGuard:
    """The flock on the lock file beside a SQLite OMS, held by an open descriptor."""

    problem: str | None = None

    def __init__(self, fd: int) -> None:
        self._fd = fd

    async def release(self) -> None:
        os.close(self._fd)


async def _lock(store: OmsStore) -> _Guard:
    # The guard; refused (naming the holder) when another node has it.
    if store.url is not None:
        from core.oms.postgres import NodeLock

        lock = await NodeLock.take(store.url)
        if lock is None:
            holder = await store.node_holder()
            raise NodeLeaseHeld(_held(store.path, holder, await _silence(store, holder)))
        return lock
    database = store.path
    path = lock_path(database)
    try:
        # Read-only is enough for flock, and lets nodes of different users share the file.
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError as error:
        raise OmsError(
            f"cannot open the node's lock file {path} ({error.strerror or error})", database
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = await _named_holder(store)
        raise NodeLeaseHeld(_held(database, holder, await _silence(store, holder))) from None
    except OSError as error:
        os.close(fd)
        raise OmsError(
            f"cannot lock the node's lock file {path} ({error.strerror or error})", database
        ) from None
    return _FileGuard(fd)


def _held(database: str, holder: NodeHolder | None, silence: str | None = None) -> str:
    who = "another node" if holder is None else describe_holder(holder)
    if silence is not None:
        who = f"{who}, {silence} (hung?)"
    return (
        f"{database}: held by {who}: this node did not start "
        "(stop that one first, or give this one another [oms] database)"
    )


async def _silence(store: OmsStore, holder: NodeHolder | None) -> str | None:
    # A process that holds the lock but no longer beats (hung, stopped with SIGSTOP) still
    # holds the OMS: it could wake and trade. The refusal says so, for the operator to act.
    if holder is None:
        return None
    return holder_gone(
        holder,
        await store.node_status(),
        now_ns=time.time_ns(),
        host="",  # judged by its heartbeat alone: its process is there, holding the lock
        pid=-1,
    )


async def _named_holder(store: OmsStore) -> NodeHolder | None:
    # The lock's holder, once its row names a process that runs (it writes the row just after
    # taking the lock, over a dead holder's row that may still be there).
    host = socket.gethostname()
    deadline = time.monotonic() + NAME_WAIT_SECS
    while True:
        holder = await store.node_holder()
        if holder is not None and (holder.host != host or pid_alive(holder.pid)):
            return holder
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.05)


def _record_takeover(store: OmsStore, holder: NodeHolder, previous: NodeHolder, why: str) -> None:
    reason = f"took over the OMS from {describe_holder(previous)}: {why}"
    store.submit(
        AuditEntry(
            entry_id=uuid.uuid4().hex,
            ts=holder.started_at,
            actor=holder.os_user,
            action="node_takeover",
            reason=reason,
            details={
                "from": msgspec.to_builtins(previous),
                "to": msgspec.to_builtins(holder),
                "why": why,
            },
        )
    )
    store.submit(
        RiskAlert(
            alert_id=f"node:node_takeover:{holder.token}",
            ts_event=holder.started_at,
            severity="WARNING",
            rule="node_takeover",
            message=f"{describe_holder(holder)} {reason}",
        )
    )
