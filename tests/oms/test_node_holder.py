"""The node that holds an OMS: its row (schema v7), the compare-and-set that writes it, how a
person reads it, and when it counts as gone; and opening an OMS without creating one."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_oms_node_status import heartbeat
from test_oms_opening import _v1_database

from core.oms import (
    SCHEMA_VERSION,
    NodeHolder,
    NodeReleased,
    OmsMissingError,
    OmsStore,
)
from core.oms.health import DOWN_AFTER_S
from core.oms.node_holder import describe_holder, holder_gone, pid_alive
from core.oms.schema import MIGRATIONS

T0 = 1_767_571_200_000_000_000  # 2026-01-05 00:00 UTC in ns
SECOND = 1_000_000_000


def holder(token: str, replaces: str | None = None, **fields: object) -> NodeHolder:
    values = {
        "pid": 4242,
        "host": "desk-1",
        "os_user": "ops",
        "started_at": T0,
        **fields,
    }
    return NodeHolder(token=token, replaces=replaces, **values)  # type: ignore[arg-type]


@pytest.fixture
async def store(oms_location: str):
    async with await OmsStore.open(oms_location) as opened:
        yield opened


async def test_a_v6_database_gains_an_empty_holder_table_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "oms.sqlite"
    _v1_database(path)  # one fill
    with sqlite3.connect(path, isolation_level=None) as connection:
        for step in MIGRATIONS[1:6]:
            for statement in step:
                connection.execute(statement)
        connection.execute("PRAGMA user_version = 6")
    async with await OmsStore.open(path) as store:
        assert await store.schema_version() == SCHEMA_VERSION == 12
        assert len(await store.fills()) == 1
        assert await store.node_holder() is None
        before = await store.version()
        store.submit(holder("a"))
        await store.flush()
        assert await store.node_holder() == holder("a")
        assert (await store.changes_since(before)).tables == {"node_holder"}


async def test_a_claim_lands_only_on_a_free_table_or_over_the_holding_it_replaces(
    store: OmsStore,
) -> None:
    store.submit(holder("a"))
    await store.flush()
    store.submit(holder("b", pid=1))  # saw no holder: another came first, so it loses
    store.submit(holder("c", replaces="someone-else", pid=2))  # judged a holder that left
    await store.flush()
    assert await store.node_holder() == holder("a")
    store.submit(holder("d", replaces="a", pid=3))  # took over "a"
    await store.flush()
    assert await store.node_holder() == holder("d", replaces="a", pid=3)


async def test_a_release_deletes_only_its_own_holding(store: OmsStore) -> None:
    store.submit(holder("a"))
    store.submit(NodeReleased(token="b"))
    await store.flush()
    assert await store.node_holder() == holder("a")
    store.submit(NodeReleased(token="a"))
    await store.flush()
    assert await store.node_holder() is None


async def test_a_release_then_a_new_claim_in_one_batch_keep_their_order(store: OmsStore) -> None:
    # One transaction: without the release as a barrier, "b" would be refused over "a", then
    # "a" deleted, leaving nobody.
    store.submit_many([holder("a"), NodeReleased(token="a"), holder("b")])
    await store.flush()
    assert await store.node_holder() == holder("b")


def test_a_holder_reads_as_pid_host_since_and_user() -> None:
    assert (
        describe_holder(holder("a", started_at=T0 + 9 * 3600 * SECOND + 30 * 60 * SECOND))
        == "node pid 4242 on desk-1 since 2026-01-05 09:30:00 UTC (user ops)"
    )


@pytest.mark.parametrize(
    ("where", "pid", "alive", "beat_s", "now_s", "expected"),
    [
        # On its own host, a holder whose process runs and beats is there.
        ("desk-1", 7, True, 3, 10, None),
        # Its process gone: gone at once, whatever its last heartbeat.
        ("desk-1", 7, False, 3, 4, "process 4242 is gone"),
        # This very process: an earlier node of it that did not let go.
        ("desk-1", 4242, True, 3, 4, "an earlier node of this same process did not let go"),
        # Its process runs but has been silent beyond the limit (a hung node).
        ("desk-1", 7, True, 3, 3 + DOWN_AFTER_S + 1, "no heartbeat for 11 s"),
        # On another host only the heartbeat tells: fresh is there, silent is gone.
        ("desk-2", 7, False, 3, 3 + DOWN_AFTER_S, None),
        ("desk-2", 7, False, 3, 3 + DOWN_AFTER_S + 2, "no heartbeat for 12 s"),
        # No heartbeat yet: its start counts as the last sign of life.
        ("desk-2", 7, False, None, DOWN_AFTER_S - 1, None),
        ("desk-2", 7, False, None, DOWN_AFTER_S + 1, "no heartbeat for 11 s"),
    ],
)
def test_a_holder_is_gone_when_its_process_is_or_it_fell_silent(
    where: str, pid: int, alive: bool, beat_s: int | None, now_s: float, expected: str | None
) -> None:
    beat = None if beat_s is None else heartbeat(beat_s * SECOND)
    why = holder_gone(
        holder("a"),
        beat,
        now_ns=T0 + int(now_s * SECOND),
        host=where,
        pid=pid,
        alive=lambda _: alive,
    )
    if expected is None:
        assert why is None
    else:
        assert why is not None and why.startswith(expected), why


def test_a_process_is_alive_until_it_dies_even_before_its_parent_reaps_it() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        child.send_signal(signal.SIGKILL)
        # Dead but not reaped (no wait() yet): a zombie, which holds nothing any more.
        deadline = time.monotonic() + 5
        while pid_alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not pid_alive(child.pid)
        # It is still there for the kernel (kill(pid, 0) succeeds), as a zombie.
        assert Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    finally:
        child.kill()
        child.wait()
    assert not pid_alive(child.pid)


async def test_opening_without_creating_refuses_a_missing_database_and_creates_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "artifacts" / "oms.sqlite"
    with pytest.raises(OmsMissingError) as caught:
        await OmsStore.open(path, create=False)
    assert str(caught.value).startswith(f"{path}: no OMS database here")
    assert list(tmp_path.iterdir()) == []


async def test_opening_without_creating_opens_and_migrates_an_existing_database(
    tmp_path: Path,
) -> None:
    path = tmp_path / "oms.sqlite"
    _v1_database(path)
    async with await OmsStore.open(path, create=False) as store:
        assert await store.schema_version() == SCHEMA_VERSION
        assert len(await store.fills()) == 1
