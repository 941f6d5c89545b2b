"""One node per OMS, in one process: ``NodeLease`` on both back ends, a real OMS file with a
real lock file, and a real PostgreSQL server with its advisory lock.

flock locks belong to an open file, and advisory locks to a server session, not to a process,
so two leases in this process exclude each other as two processes' would
(tests/live/test_one_node_per_oms.py runs real nodes).
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

import pytest

from core.live.lease import NodeLease, NodeLeaseHeld, ensure_free, lock_path
from core.oms import NodeHolder, NodeStatus, OmsStore
from core.oms.node_holder import describe_holder
from core.oms.postgres import NODE_LOCK, connect_pg
from core.risk.trading_state import operator_name

SECOND = 1_000_000_000


def dead_pid() -> int:
    """A pid no process has now (the pid after the highest running one, checked)."""
    pid = int(Path("/proc/sys/kernel/pid_max").read_text()) - 1
    while Path(f"/proc/{pid}").exists():
        pid -= 1
    return pid


def left_behind(pid: int, host: str | None = None, age_s: float = 1.0) -> NodeHolder:
    """A holder row as a node that never let go left it."""
    return NodeHolder(
        token="left-behind",
        pid=pid,
        host=host or socket.gethostname(),
        os_user="ops",
        started_at=time.time_ns() - int(age_s * SECOND),
    )


def beat(age_s: float) -> NodeStatus:
    return NodeStatus(
        ts_event=time.time_ns() - int(age_s * SECOND),
        mode="SHADOW",
        venues=("BINANCE",),
        node_state="RUNNING",
        trading_state="ACTIVE",
        data_feed="OK",
        venue_connection="OK",
        equity=None,
    )


async def guard_taken(store: OmsStore) -> bool:
    """Whether the OMS's guard is taken, as another process would find it: the lock file's
    flock (SQLite), or the advisory lock from another server session (PostgreSQL)."""
    if store.url is not None:
        connection = await connect_pg(store.url)
        try:
            cursor = await connection.execute("SELECT pg_try_advisory_lock(%s)", (NODE_LOCK,))
            free = (await cursor.fetchone())[0]
        finally:
            await connection.close()  # and the lock with it
        return not free
    fd = os.open(lock_path(store.path), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@pytest.fixture
async def store(oms_location: str):
    async with await OmsStore.open(oms_location) as opened:
        yield opened


async def test_a_node_holds_the_oms_by_name_and_lets_go_of_it(store: OmsStore) -> None:
    lease = await NodeLease.acquire(store)
    held = await store.node_holder()
    assert held == lease.holder
    assert (held.pid, held.host, held.os_user) == (
        os.getpid(),
        socket.gethostname(),
        operator_name(),
    )
    assert await guard_taken(store)
    await lease.release()
    assert not await guard_taken(store)
    assert await store.node_holder() is None
    again = await NodeLease.acquire(store)  # free again
    await again.release()
    assert await store.audit() == []  # no takeover: each let go


async def test_a_second_node_is_refused_naming_the_first_and_writes_nothing(
    store: OmsStore,
) -> None:
    first = await NodeLease.acquire(store)
    try:
        version = await store.version()
        with pytest.raises(NodeLeaseHeld) as caught:
            await NodeLease.acquire(store)
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith(f"{store.path}: held by {describe_holder(first.holder)}: ")
        assert f"node pid {os.getpid()} on {socket.gethostname()} since " in message
        assert await store.version() == version  # not a row written
        assert await store.node_holder() == first.holder
        with pytest.raises(NodeLeaseHeld):
            await ensure_free(store)
    finally:
        await first.release()
    await ensure_free(store)  # free: no error, and nothing taken
    assert await store.node_holder() is None


async def test_a_holder_whose_process_died_is_taken_over_and_audited(store: OmsStore) -> None:
    gone = left_behind(dead_pid())
    store.submit(gone)
    store.submit(beat(0.5))  # a fresh heartbeat does not keep a dead process's hold
    await store.flush()
    lease = await NodeLease.acquire(store)
    try:
        assert await store.node_holder() == lease.holder
        assert lease.holder.replaces == gone.token
        [entry] = await store.audit()
        assert entry.action == "node_takeover"
        assert entry.actor == operator_name()
        assert entry.reason == (
            f"took over the OMS from {describe_holder(gone)}: process {gone.pid} is gone"
        )
        assert entry.details is not None
        assert entry.details["from"]["pid"] == gone.pid
        assert entry.details["to"]["pid"] == os.getpid()
        [alert] = [a for a in await store.alerts() if a.rule == "node_takeover"]
        assert alert.severity == "WARNING"
        assert describe_holder(lease.holder) in alert.message
        assert describe_holder(gone) in alert.message
    finally:
        await lease.release()


async def test_a_live_holder_on_another_host_refuses_until_it_falls_silent(
    store: OmsStore,
) -> None:
    # Another host's node: this host's lock cannot see it, only its row and heartbeat can.
    elsewhere = left_behind(os.getpid(), host="desk-elsewhere", age_s=30)
    store.submit(elsewhere)
    store.submit(beat(2.0))
    await store.flush()
    with pytest.raises(NodeLeaseHeld) as caught:
        await NodeLease.acquire(store)
    assert describe_holder(elsewhere) in str(caught.value)
    assert await store.audit() == []
    with pytest.raises(NodeLeaseHeld):
        await NodeLease.acquire(store, down_after_s=3.0)  # 2 s old: still there
    lease = await NodeLease.acquire(store, down_after_s=1.0)  # 2 s old: gone
    try:
        [entry] = await store.audit()
        assert entry.reason.endswith(": no heartbeat for 2 s")
    finally:
        await lease.release()


async def test_a_running_holder_on_this_host_refuses_even_with_its_lock_file_deleted(
    store: OmsStore,
) -> None:
    # The lock file removed under a running node: a new one locks, but the row names a live
    # process of this host that beats, so the node is still refused.
    running = left_behind(os.getppid())
    store.submit(running)
    store.submit(beat(0.5))
    await store.flush()
    Path(lock_path(store.path)).unlink(missing_ok=True)
    with pytest.raises(NodeLeaseHeld) as caught:
        await NodeLease.acquire(store)
    assert f"node pid {os.getppid()} on " in str(caught.value)
    assert await store.node_holder() == running


async def test_a_hung_holder_keeps_the_oms_and_the_refusal_says_it_went_silent(
    store: OmsStore,
) -> None:
    # Its process still holds the lock (hung, or stopped with SIGSTOP): it could wake and
    # trade, so it is not taken over; the operator is told it stopped beating.
    hung = await NodeLease.acquire(store, now_ns=lambda: time.time_ns() - 60 * SECOND)
    try:
        store.submit(beat(20.0))
        await store.flush()
        with pytest.raises(NodeLeaseHeld) as caught:
            await NodeLease.acquire(store)
        assert f"held by {describe_holder(hung.holder)}, no heartbeat for 20 s (hung?): " in str(
            caught.value
        )
        assert await store.node_holder() == hung.holder
        assert await store.audit() == []
    finally:
        await hung.release()
