"""The kill switch's operator side: the core API, ``trade-console kill``/``rearm`` from another
shell, and the console's ``k`` screen, each on a real OMS file (the node's side is tested with
the node)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from console_seed import (
    BTC,
    ETH,
    NOW,
    SECOND,
    config_for,
    fixed_clock,
    heartbeat,
    position,
    wait_for,
)
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Input, Static

from console.app import TradeConsoleApp
from console.cli import EXIT_BAD_INPUT, main
from console.screens.kill_switch import KillSwitchScreen
from core.errors import DataError
from core.oms import NodeStatus, OmsStore, TargetsRecord, TradingStateRecord
from core.risk.trading_state import (
    StateRequest,
    change_trading_state,
    operator_name,
    outcome_message,
    read_trading_state,
)

ROOT = Path(__file__).resolve().parents[2]
SMALL = (80, 24)


def targets_record(ts_event: int, source: str, weights: dict[str, float]) -> TargetsRecord:
    """The node's record of targets put in force (a research file's, or a flatten's zeros)."""
    return TargetsRecord(
        ts_event=ts_event,
        source=source,
        weights=weights,
        operation_id=f"{source}-{ts_event}",
        actor="research-v1" if source == "file" else "bob",
        as_of=ts_event - 10 * SECOND if source == "file" else None,
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[OmsStore]:
    async with await OmsStore.open(tmp_path / "oms.sqlite") as opened:
        yield opened


def stopped(ts_event: int) -> NodeStatus:
    return NodeStatus(
        ts_event=ts_event,
        mode="SHADOW",
        venues=("BINANCE",),
        node_state="STOPPED",
        trading_state="ACTIVE",
        data_feed="DOWN",
        venue_connection="DOWN",
        equity=None,
    )


# -- the core API -------------------------------------------------------------------------------


async def test_a_kill_records_the_state_in_force_and_an_audit_entry_stamped_alike(
    store: OmsStore,
) -> None:
    record = await change_trading_state(
        store, "HALTED", "alice", "venue outage", now_ns=NOW, source="cli"
    )
    assert record == TradingStateRecord(
        ts_event=NOW,
        state="HALTED",
        actor="alice",
        reason="venue outage",
        flatten=False,
        source="cli",
        host=socket.gethostname(),
    )
    assert await store.trading_state() == record
    [entry] = await store.audit()
    assert (entry.ts, entry.actor, entry.action, entry.reason) == (
        NOW,
        "alice",
        "kill",
        "venue outage",
    )
    assert entry.details is not None
    assert {k: entry.details[k] for k in ("state", "flatten", "previous", "source")} == {
        "state": "HALTED",
        "flatten": False,
        "previous": "ACTIVE",
        "source": "cli",
    }
    assert (entry.details["ts_event"], entry.details["pid"]) == (NOW, os.getpid())


@pytest.mark.parametrize(
    ("state", "flatten", "action"),
    [
        ("HALTED", False, "kill"),
        ("HALTED", True, "flatten"),
        ("REDUCING", False, "reduce"),
        ("ACTIVE", False, "rearm"),
    ],
)
async def test_each_change_is_audited_under_its_own_action(
    store: OmsStore, state: str, flatten: bool, action: str
) -> None:
    record = await change_trading_state(
        store, state, "alice", "why not", flatten=flatten, now_ns=NOW
    )
    assert (record.state, record.flatten) == (state, flatten)
    [entry] = await store.audit()
    assert entry.action == action
    assert (entry.details or {})["flatten"] is flatten


@pytest.mark.parametrize(
    ("state", "actor", "reason", "flatten", "field"),
    [
        ("HALTED", "alice", "", False, "reason"),
        ("HALTED", "alice", " \n\t ", False, "reason"),
        ("HALTED", "alice", "x" * 501, False, "reason"),
        ("STOPPED", "alice", "why", False, "state"),
        ("halted", "alice", "why", False, "state"),
        ("REDUCING", "alice", "why", True, "flatten"),
        ("ACTIVE", "alice", "why", True, "flatten"),
        ("HALTED", " ", "why", False, "actor"),
    ],
)
async def test_a_bad_change_is_refused_in_one_line_naming_the_field_and_writes_nothing(
    store: OmsStore, state: str, actor: str, reason: str, flatten: bool, field: str
) -> None:
    with pytest.raises(DataError) as refused:
        await change_trading_state(store, state, actor, reason, flatten=flatten, now_ns=NOW)
    message = str(refused.value)
    assert message.startswith(f"{field}: ")
    assert "\n" not in message
    await store.flush()
    assert await store.trading_state_history() == []
    assert await store.audit() == []


async def test_a_reason_over_several_lines_is_kept_on_one(store: OmsStore) -> None:
    record = await change_trading_state(store, "HALTED", "alice", "  fat\nfinger\t on BTC ")
    assert record.reason == "fat finger on BTC"
    [entry] = await store.audit()
    assert entry.reason == "fat finger on BTC"


async def test_two_changes_in_the_same_ns_keep_their_order_and_the_later_is_in_force(
    store: OmsStore,
) -> None:
    kill = await change_trading_state(store, "HALTED", "alice", "kill", now_ns=NOW)
    rearm = await change_trading_state(store, "ACTIVE", "alice", "rearm", now_ns=NOW)
    assert (kill.ts_event, rearm.ts_event) == (NOW, NOW + 1)
    assert await store.trading_state() == rearm
    assert [e.action for e in await store.audit()] == ["rearm", "kill"]


async def test_concurrent_changes_in_one_process_are_all_written_in_the_order_asked(
    store: OmsStore,
) -> None:
    # Both read the state before either writes: the stamps still follow the calls.
    first, second = await asyncio.gather(
        change_trading_state(store, "HALTED", "alice", "first", now_ns=NOW),
        change_trading_state(store, "HALTED", "alice", "second", now_ns=NOW),
    )
    history = await store.trading_state_history()
    assert [(r.ts_event, r.reason) for r in history] == [(NOW + 1, "second"), (NOW, "first")]
    assert first == second == history[0]
    assert len(await store.audit()) == 2


async def test_a_change_takes_over_from_a_state_stamped_ahead_of_its_clock(
    store: OmsStore,
) -> None:
    ahead = TradingStateRecord(ts_event=NOW + 60 * SECOND, state="HALTED", actor="bob", reason="x")
    store.submit(ahead)
    await store.flush()
    rearm = await change_trading_state(store, "ACTIVE", "alice", "all clear", now_ns=NOW)
    assert rearm.ts_event == ahead.ts_event + 1
    assert await store.trading_state() == rearm
    [entry] = await store.audit()
    assert (entry.details or {})["previous"] == "HALTED"


async def test_the_read_helper_says_what_is_in_force_and_whether_a_node_listens(
    store: OmsStore,
) -> None:
    view = await read_trading_state(store, now_ns=NOW)
    assert (view.state, view.record, view.heartbeat_age_secs, view.node_listening) == (
        "ACTIVE",
        None,
        None,
        False,
    )
    await change_trading_state(store, "REDUCING", "alice", "drawdown", now_ns=NOW)
    store.submit(heartbeat(NOW - SECOND))
    await store.flush()
    view = await read_trading_state(store, now_ns=NOW)
    assert (view.state, view.node_state, view.heartbeat_age_secs) == ("REDUCING", "RUNNING", 1.0)
    assert view.node_listening
    assert not (await read_trading_state(store, now_ns=NOW + 5 * SECOND)).node_listening
    store.submit(stopped(NOW))
    await store.flush()
    assert not (await read_trading_state(store, now_ns=NOW)).node_listening


def test_the_outcome_line_says_what_is_in_force_and_who_applies_it() -> None:
    halt = StateRequest(state="HALTED", reason="outage")
    flatten = StateRequest(state="HALTED", reason="outage", flatten=True)
    mine = TradingStateRecord(ts_event=NOW, state="HALTED", actor="alice", reason="outage")
    assert outcome_message(halt, mine, listening=True) == (
        "HALTED in force: the node applies it within ~50 ms"
    )
    assert outcome_message(halt, mine, listening=False) == (
        "HALTED in force: no node is running: recorded; a node started later comes up HALTED"
    )
    later = TradingStateRecord(ts_event=NOW + 1, state="ACTIVE", actor="bob", reason="all clear")
    assert outcome_message(flatten, later, listening=True) == (
        "ACTIVE in force, not HALTED (flatten): a later change by bob wins (all clear); "
        "the node applies it within ~50 ms"
    )


async def test_a_read_only_store_refuses_the_change_with_the_oms_error(tmp_path: Path) -> None:
    path = tmp_path / "oms.sqlite"
    async with await OmsStore.open(path):
        pass
    async with await OmsStore.open(path, read_only=True) as reader:
        with pytest.raises(Exception, match="opened read-only"):
            await change_trading_state(reader, "HALTED", "alice", "why", now_ns=NOW)


# -- two processes ------------------------------------------------------------------------------

CHANGER = """
import asyncio, json, sys, time
from pathlib import Path
from core.oms import OmsStore
from core.risk.trading_state import change_trading_state

database, go, name, now_ns, count = sys.argv[1:6]
states = ("HALTED", "REDUCING", "ACTIVE")

async def run():
    async with await OmsStore.open(database, check_integrity=False) as store:
        Path(f"{go}.{name}.ready").touch()
        while not Path(go).exists():
            await asyncio.sleep(0.001)
        results = []
        for index in range(int(count)):
            record = await change_trading_state(
                store,
                states[index % 3] if int(count) > 1 else "HALTED",
                "ops",
                f"{name}-{index}",
                now_ns=None if now_ns == "wall" else int(now_ns),
            )
            results.append([record.ts_event, record.reason])
        print(json.dumps(results))

asyncio.run(run())
"""


def _race(
    tmp_path: Path, now_ns: str, count: int, hold_writes: float = 0.0
) -> list[list[list[object]]]:
    """Two processes change the state of one OMS at once; each one's in-force records.

    ``hold_writes``: seconds for which this process holds the database's write lock after the
    start, so that both have read the state in force before either can write.
    """
    database = tmp_path / "oms.sqlite"
    # Created first, as the node or the console has by the time an operator kills: two
    # processes creating a database at the same instant is another matter (the OMS's).
    asyncio.run(_create(database))
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", CHANGER, str(database), str(go), name, now_ns, str(count)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("A", "B")
    ]
    try:
        deadline = time.monotonic() + 20
        while not all((tmp_path / f"go.{name}.ready").exists() for name in ("A", "B")):
            if any(w.poll() is not None for w in workers) or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        with _write_lock(database, hold_writes):
            go.touch()
        outputs = [w.communicate(timeout=30) for w in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert [w.returncode for w in workers] == [0, 0], [err for _, err in outputs]
    return [json.loads(out) for out, _ in outputs]


@contextlib.contextmanager
def _write_lock(database: Path, seconds: float) -> Iterator[None]:
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        if seconds > 0:
            connection.execute("BEGIN IMMEDIATE")
        yield
        time.sleep(seconds)
    finally:
        connection.close()  # ends the transaction: the writers waiting on the lock go


async def _create(database: Path) -> None:
    async with await OmsStore.open(database):
        pass


async def _previous(database: Path) -> list[str]:
    async with await OmsStore.open(database, read_only=True) as store:
        return [(entry.details or {})["previous"] for entry in await store.audit()]


async def _history(database: Path) -> tuple[list[TradingStateRecord], list[str]]:
    async with await OmsStore.open(database, read_only=True) as store:
        history = await store.trading_state_history(limit=1000)
        audit = await store.audit(limit=1000)
    return history, sorted(entry.reason for entry in audit)


def test_two_shells_killing_in_the_same_ns_are_both_written_and_audited_and_one_wins(
    tmp_path: Path,
) -> None:
    # Same ns, same state, same actor: the table's primary key would keep only the first.
    results = _race(tmp_path, str(NOW), count=1, hold_writes=0.5)
    history, audited = asyncio.run(_history(tmp_path / "oms.sqlite"))
    # Both read the state before either wrote (ACTIVE), so both stamped NOW and met on the key.
    assert asyncio.run(_previous(tmp_path / "oms.sqlite")) == ["ACTIVE", "ACTIVE"]
    assert sorted(r.reason for r in history) == ["A-0", "B-0"]
    assert audited == ["A-0", "B-0"]
    winner = history[0]
    assert history[1].ts_event == NOW < winner.ts_event
    # The later writer saw its own change in force; the earlier one may have seen either.
    assert [winner.ts_event, winner.reason] in [results[0][0], results[1][0]]


def test_two_shells_changing_the_state_at_once_lose_no_change(tmp_path: Path) -> None:
    _race(tmp_path, "wall", count=15)
    history, audited = asyncio.run(_history(tmp_path / "oms.sqlite"))
    expected = sorted(f"{name}-{index}" for name in "AB" for index in range(15))
    assert sorted(r.reason for r in history) == expected
    assert audited == expected
    assert len({r.ts_event for r in history}) == 30


# -- trade-console kill / rearm -----------------------------------------------------------------


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "console.toml"
    path.write_text(f'[oms]\ndatabase = "{tmp_path / "oms.sqlite"}"\n')
    return path


def shell(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *argv],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )


async def _write(database: Path, record: NodeStatus) -> None:
    async with await OmsStore.open(database) as store:
        store.submit(record)


def test_kill_flatten_and_rearm_from_another_shell_round_trip(tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    # No OMS yet: the desk halts a node before it starts, so the kill creates it, asked to.
    done = shell("kill", "--config", config, "--reason", "venue outage", "--create-oms")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "HALTED in force: no node is running: recorded; a node started later comes up HALTED\n"
    )
    # A node heartbeating now: the next change reaches it.
    asyncio.run(_write(tmp_path / "oms.sqlite", heartbeat(time.time_ns())))
    done = shell("kill", "--flatten", "--reason", "close it all", "--config", config)
    assert (done.returncode, done.stdout) == (
        0,
        "HALTED (flatten) in force: the node applies it within ~50 ms\n",
    )
    done = shell("kill", "--reduce-only", "--reason", "drawdown", "--config", config)
    assert (done.returncode, done.stdout) == (
        0,
        "REDUCING in force: the node applies it within ~50 ms\n",
    )
    done = shell("--config", config, "rearm", "--reason", "all clear")
    assert (done.returncode, done.stdout) == (
        0,
        "ACTIVE in force: the node applies it within ~50 ms\n",
    )

    history, _ = asyncio.run(_history(tmp_path / "oms.sqlite"))
    assert [(r.state, r.flatten, r.reason) for r in history] == [
        ("ACTIVE", False, "all clear"),
        ("REDUCING", False, "drawdown"),
        ("HALTED", True, "close it all"),
        ("HALTED", False, "venue outage"),
    ]
    audit = asyncio.run(_audit(tmp_path / "oms.sqlite"))
    assert [(e.action, (e.details or {}).get("source")) for e in audit] == [
        ("rearm", "cli"),
        ("reduce", "cli"),
        ("flatten", "cli"),
        ("kill", "cli"),
    ]


async def _audit(database: Path) -> list:
    async with await OmsStore.open(database, read_only=True) as store:
        return await store.audit()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["kill"], "reason: empty"),
        (["kill", "--reason", "   "], "reason: empty"),
        (["rearm", "--reason", ""], "reason: empty"),
        (["kill", "--reason", "x", "--flatten", "--reduce-only"], "exclude each other"),
    ],
)
def test_a_bad_kill_or_rearm_exits_2_with_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    config = str(write_config(tmp_path))
    code = main([*argv, "--config", config])
    out, err = capsys.readouterr()
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "oms.sqlite").exists()


@pytest.mark.parametrize("command", ["kill", "rearm"])
def test_kill_or_rearm_where_there_is_no_oms_exits_2_with_one_line_and_creates_nothing(
    tmp_path: Path, command: str
) -> None:
    # The operator's shell in the wrong folder, no --config: the default OMS path
    # (artifacts/oms.sqlite) has no database. A kill recorded in a new, empty one would halt
    # nothing while saying "recorded".
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "console.cli", command, "--reason", "venue outage"],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode, done.stdout) == (EXIT_BAD_INPUT, "")
    assert done.stderr == (
        f"trade-console: {folder / 'artifacts' / 'oms.sqlite'}: no OMS here, nothing was "
        "recorded: run from the node's folder or pass its --config (--create-oms records it "
        "in a new OMS here)\n"
    )
    assert list(folder.iterdir()) == []


def test_create_oms_creates_the_oms_and_records_the_change_in_it(tmp_path: Path) -> None:
    folder = tmp_path / "new-desk"
    folder.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "console.cli"]
    done = subprocess.run(
        [*argv, "kill", "--reason", "before the node starts", "--create-oms"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("HALTED in force: no node is running: recorded")
    database = folder / "artifacts" / "oms.sqlite"
    history, _ = asyncio.run(_history(database))
    assert [(r.state, r.reason) for r in history] == [("HALTED", "before the node starts")]
    # Once it exists, no flag is needed.
    done = subprocess.run(
        [*argv, "rearm", "--reason", "node up"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert asyncio.run(_history(database))[1] == ["before the node starts", "node up"]


def test_a_kill_with_a_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "console.toml"
    config.write_text("[oms]\ndatabse = 'x'\n")
    done = shell("kill", "--reason", "why", "--config", str(config))
    assert (done.returncode, done.stdout) == (EXIT_BAD_INPUT, "")
    assert done.stderr.count("\n") == 1 and "databse" in done.stderr, done.stderr


PROBE = """
import json, sys, time
started = time.perf_counter()
from console.cli import main
code = main(["kill", "--reason", "probe", "--config", sys.argv[1]])
elapsed = time.perf_counter() - started
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("nautilus_trader", "textual"))
print(json.dumps([code, heavy, elapsed]), file=sys.stderr)
"""


def test_kill_loads_neither_nautilus_nor_textual_and_answers_fast(tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    asyncio.run(_create(tmp_path / "oms.sqlite"))
    result = subprocess.run(
        [sys.executable, "-c", PROBE, config],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    code, heavy, elapsed = json.loads(result.stderr.strip().splitlines()[-1])
    assert (code, heavy) == (0, [])
    assert result.stdout.startswith("HALTED in force")
    # `heavy` above is the real guard; the bound only catches a slow path, with room for a
    # loaded CI machine.
    assert elapsed < 3.0, f"kill took {elapsed:.2f} s"


# -- the console's k screen ---------------------------------------------------------------------


def console(store: OmsStore) -> TradeConsoleApp:
    return TradeConsoleApp(config_for(store.path), store=store, clock=fixed_clock)


def notices(app: TradeConsoleApp) -> list[str]:
    return [notification.message for notification in app._notifications]


def shown(app: TradeConsoleApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def said(screen: KillSwitchScreen) -> str:
    """The dialog's one-line message at the reason box, "" when it shows none."""
    message = screen.query_one("#message", Static)
    return str(message.render()) if message.display else ""


async def opened(pilot: Pilot) -> KillSwitchScreen:
    """Press k (after the first health reading), with what the OMS says read."""
    app = pilot.app
    assert isinstance(app, TradeConsoleApp)
    await wait_for(pilot, lambda: app.health is not None)
    await pilot.press("k")
    screen = app.screen
    assert isinstance(screen, KillSwitchScreen)
    await wait_for(pilot, lambda: screen._kill_context is not None)
    return screen


async def give_reason(pilot: Pilot, reason: str) -> None:
    """Tab to the reason box, type ``reason``, Enter (which leaves the box)."""
    await pilot.press("tab", *reason, "enter")


@pytest.mark.parametrize(
    ("key", "state", "flatten", "action", "default"),
    [
        ("h", "HALTED", False, "kill", "operator halt"),
        ("r", "REDUCING", False, "reduce", "operator reduce only"),
        ("f", "HALTED", True, "flatten", "operator flatten"),
    ],
)
async def test_k_then_a_grade_then_y_changes_the_state_with_the_default_reason_and_name(
    store: OmsStore, key: str, state: str, flatten: bool, action: str, default: str
) -> None:
    app = console(store)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        await pilot.press(key)
        assert screen.choice is not None and app.screen is screen
        assert screen.query_one(Input).value == ""  # the grade's key, not a letter of a reason
        assert await store.trading_state() is None  # chosen, not yet confirmed
        await pilot.press("y")
        await wait_for(pilot, lambda: bool(notices(app)))
        assert app.screen is not screen
        label = "HALTED (flatten)" if flatten else state
        assert notices(app) == [
            f"{label} in force: no node is running: recorded; a node started later comes up {state}"
        ]
    record = await store.trading_state()
    assert record is not None
    assert (record.state, record.flatten, record.reason, record.actor, record.ts_event) == (
        state,
        flatten,
        default,
        operator_name(),
        NOW,
    )
    [entry] = await store.audit()
    assert (entry.action, entry.reason, entry.actor, (entry.details or {})["source"]) == (
        action,
        default,
        operator_name(),
        "console",
    )


async def test_a_reason_typed_after_tab_is_recorded_instead_of_the_default(
    store: OmsStore,
) -> None:
    app = console(store)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        await pilot.press("tab")  # no grade yet: the box is closed, and the dialog says why
        assert app.focused is None and "choose h, r or f" in said(screen)
        await pilot.press("h", "tab", *"fat  finger", "enter")
        assert (app.focused, screen.query_one(Input).value) == (None, "fat  finger")
        assert "Press y to HALT now" in shown(app, "#prompt")
        await pilot.press("y")
        await wait_for(pilot, lambda: bool(notices(app)))
    record = await store.trading_state()
    assert record is not None and (record.state, record.reason) == ("HALTED", "fat finger")


async def test_no_key_but_y_after_a_choice_carries_it_out_and_other_keys_are_answered(
    store: OmsStore,
) -> None:
    app = console(store)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        await pilot.press("y")  # no grade yet: nothing happens, in words
        assert screen.choice is None and app.screen is screen
        assert said(screen) == "y: choose first (h, r or f)."
        await pilot.press("enter", "space")
        assert said(screen) == "space does nothing here: choose h, r or f, or Esc to cancel."
        await pilot.press("h", "enter", "space", "1")  # chosen: still only y confirms
        assert (screen.choice, app.screen) == ("halt", screen)
        assert said(screen).startswith("1 does nothing here: y confirms, Tab types a reason")
        await pilot.press("f")  # another grade replaces it
        assert screen.choice == "flatten" and said(screen) == ""
        assert "FLATTEN" in shown(app, "#prompt")
        assert screen.query_one(Input).value == ""
        await pilot.press("y")
        await wait_for(pilot, lambda: bool(notices(app)))
    record = await store.trading_state()
    assert record is not None and (record.state, record.flatten) == ("HALTED", True)


@pytest.mark.parametrize(
    "keys",
    [
        ("escape",),
        ("h", "escape"),
        ("h", "tab", *"oops", "escape"),
        ("f", "tab", *"oops", "enter", "escape"),
        ("h", "n"),
    ],
)
async def test_escape_or_n_at_any_step_closes_the_screen_and_changes_nothing(
    store: OmsStore, keys: tuple[str, ...]
) -> None:
    app = console(store)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        await pilot.press(*keys)
        await pilot.pause()
        assert app.screen is not screen
        assert app.screen is app.dashboard
        assert "Kill switch closed: nothing was changed." in notices(app)
        await pilot.press("y")  # a late y on the dashboard confirms nothing
        await pilot.pause()
    assert await store.trading_state() is None
    assert await store.audit() == []


async def test_re_arm_is_offered_only_when_trading_is_not_active_and_needs_y(
    store: OmsStore,
) -> None:
    app = console(store)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        assert "trading now ACTIVE" in shown(app, "#state")
        assert not screen.query("#choice-rearm")
        await pilot.press("a")
        assert screen.choice is None
        assert said(screen) == "a: trading is ACTIVE, there is nothing to re-arm."
        await pilot.press("escape")

    await change_trading_state(store, "HALTED", "bob", "outage", now_ns=NOW - SECOND)
    app = console(store)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        assert "trading now HALTED" in shown(app, "#state")
        assert "RE-ARM" in shown(app, "#choice-rearm")
        await pilot.press("a")
        assert (screen.choice, app.screen) == ("rearm", screen)
        assert "Press y to RE-ARM" in shown(app, "#prompt")
        await give_reason(pilot, "all clear")
        await pilot.press("y")
        await wait_for(pilot, lambda: bool(notices(app)))
        assert notices(app) == [
            "ACTIVE in force: no node is running: recorded; a node started later comes up ACTIVE"
        ]
        await wait_for(
            pilot, lambda: app.health is not None and app.health.trading_state == "ACTIVE"
        )
    record = await store.trading_state()
    assert record is not None
    assert (record.state, record.actor, record.reason) == ("ACTIVE", operator_name(), "all clear")
    assert [e.action for e in await store.audit()] == ["rearm", "kill"]


async def test_a_re_arm_with_an_empty_reason_is_refused_with_a_message_at_the_field(
    store: OmsStore,
) -> None:
    await change_trading_state(store, "HALTED", "bob", "outage", now_ns=NOW - SECOND)
    app = console(store)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        await pilot.press("a", "y")  # k a y by habit: refused, in words
        assert app.screen is screen
        message = screen.query_one("#message", Static)
        assert said(screen) == "A re-arm needs a reason: Tab, type it, Enter."
        reason = screen.query_one(Input).region
        dialog = screen.query_one("#dialog").region
        assert message.region.height == 1 and dialog.contains_region(message.region)
        assert message.region.y == reason.bottom  # right under the box
        await pilot.press("tab", "space", "enter")  # blank is no reason either
        assert app.focused is screen.query_one(Input)
        assert said(screen) == "A re-arm needs a reason: type it here, then Enter."
        await pilot.press(*"all clear", "enter")
        assert said(screen) == ""
        await pilot.press("y")
        await wait_for(pilot, lambda: bool(notices(app)))
    assert [(e.action, e.reason) for e in await store.audit()] == [
        ("rearm", "all clear"),
        ("kill", "outage"),
    ]


async def test_with_a_node_running_the_screen_and_the_notice_say_it_applies_the_change(
    store: OmsStore,
) -> None:
    store.submit(heartbeat())
    await store.flush()
    app = console(store)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: app.health is not None and app.health.mode == "SHADOW")
        await opened(pilot)
        assert shown(app, "#note") == "Node RUNNING (SHADOW): the node applies it within ~50 ms."
        await pilot.press("h", "y")
        await wait_for(pilot, lambda: bool(notices(app)))
        assert notices(app) == ["HALTED in force: the node applies it within ~50 ms"]
    [entry] = await store.audit()
    assert (entry.details or {})["node_running"] is True


async def test_the_screen_fits_80_by_24_with_every_choice_and_the_prompt_visible(
    store: OmsStore,
) -> None:
    await change_trading_state(store, "REDUCING", "bob", "drawdown", now_ns=NOW - SECOND)
    app = console(store)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        await pilot.press("f")
        await pilot.pause()
        whole = Region(0, 0, *SMALL)
        dialog = screen.query_one("#dialog").region
        assert whole.contains_region(dialog)
        for name in ("halt", "reduce", "flatten", "rearm"):
            line = screen.query_one(f"#choice-{name}", Static)
            assert line.region.height == 1 and dialog.contains_region(line.region), name
        prompt = screen.query_one("#prompt", Static)
        assert dialog.contains_region(prompt.region) and prompt.region.height == 1
        assert shown(app, "#prompt") == "Press y to FLATTEN now.  Esc cancels."


async def test_a_keymap_moves_a_choice_and_the_screen_shows_the_new_key(store: OmsStore) -> None:
    app = console(store)
    async with app.run_test(size=SMALL) as pilot:
        app.set_keymap({"kill.halt": "x", "kill.confirm": "z"})
        screen = await opened(pilot)
        assert shown(app, "#choice-halt").split()[:2] == ["x", "HALT"]
        await pilot.press("h")
        assert screen.choice is None
        await pilot.press("x")
        assert screen.query_one("#choice-halt", Static).has_class("-chosen")
        assert shown(app, "#prompt") == "Press z to HALT now.  Esc cancels."
        await pilot.press("y")
        assert app.screen is screen
        await pilot.press("z")
        await wait_for(pilot, lambda: bool(notices(app)))
    record = await store.trading_state()
    assert record is not None and record.state == "HALTED"


# -- what the dialog shows from the OMS ---------------------------------------------------------


async def test_the_flatten_confirmation_lists_each_open_position_with_its_notional(
    store: OmsStore,
) -> None:
    store.submit_many(
        [
            position(BTC, 0.75, 94_000.0, 123.4),
            position(ETH, -4.0, 3_300.0, -45.2),
            position("SOLUSDT.BINANCE", 0.0, 180.0, 0.0),  # flat: nothing to close
        ]
    )
    await store.flush()
    app = console(store)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        assert not screen.query_one("#details").display  # nothing to list before the grade
        await pilot.press("f")
        details = shown(app, "#details").splitlines()
        assert details == [
            "Closes 2 positions, 83,700.00 USDT at last fill prices:",
            "  BTCUSDT.BINANCE  LONG 0.75      70,500.00 USDT",
            "  ETHUSDT.BINANCE  SHORT 4        13,200.00 USDT",
        ]
        dialog = screen.query_one("#dialog").region
        assert Region(0, 0, *SMALL).contains_region(dialog)
        assert dialog.contains_region(screen.query_one("#details").region)
        assert dialog.contains_region(screen.query_one("#prompt").region)
        await pilot.press("h")  # another grade: the list goes
        assert not screen.query_one("#details").display


async def test_a_flatten_of_many_positions_says_how_many_are_not_listed(store: OmsStore) -> None:
    store.submit_many([position(f"X{i:02d}USDT.BINANCE", 1.0, 100.0 + i, 0.0) for i in range(12)])
    await store.flush()
    app = console(store)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        await pilot.press("f", "q")  # q: a message line too, and all of it still fits
        details = shown(app, "#details").splitlines()
        assert details[0] == "Closes 12 positions, 1,266.00 USDT at last fill prices:"
        assert (
            details[1].startswith("  X11USDT.BINANCE  LONG 1") and details[-1] == "  … and 5 more"
        )
        assert len(details) == 9
        dialog = screen.query_one("#dialog").region
        assert Region(0, 0, *SMALL).contains_region(dialog)
        for part in ("#details", "#reason", "#message", "#prompt"):
            assert dialog.contains_region(screen.query_one(part).region), part


async def test_after_a_flatten_a_re_arm_says_the_targets_are_0_and_what_was_before(
    store: OmsStore,
) -> None:
    store.submit_many(
        [
            targets_record(NOW - 60 * SECOND, "file", {BTC: 0.4, ETH: 0.3}),
            targets_record(NOW - 30 * SECOND, "flatten", {BTC: 0.0, ETH: 0.0}),
        ]
    )
    await store.flush()
    await change_trading_state(store, "HALTED", "bob", "flat", flatten=True, now_ns=NOW - SECOND)
    app = console(store)  # no node in this console: nothing can be restored from here
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        await pilot.press("a")
        assert shown(app, "#details").splitlines() == [
            "Targets in force are 0% since the flatten at 11:59:41 UTC (bob).",
            "Re-armed alone, the node buys nothing back.",
            "Before it (research file as of 11:59:01 UTC, in force 11:59:11):",
            "  BTCUSDT.BINANCE 40.0%, ETHUSDT.BINANCE 30.0%",
            "Restoring them needs the node in this console (or a new targets file).",
        ]
        await pilot.press("t")
        assert said(screen).startswith("t does nothing here:")
        assert screen.restorable is None
    record = await store.trading_state()
    assert record is not None and record.state == "HALTED"


async def test_targets_not_set_by_a_flatten_are_not_mentioned_by_a_re_arm(
    store: OmsStore,
) -> None:
    store.submit(targets_record(NOW - 60 * SECOND, "file", {BTC: 0.4}))
    await store.flush()
    await change_trading_state(store, "HALTED", "bob", "outage", now_ns=NOW - SECOND)
    app = console(store)
    async with app.run_test(size=SMALL) as pilot:
        screen = await opened(pilot)
        await pilot.press("a")
        assert not screen.query_one("#details").display
        assert shown(app, "#prompt") == "Press y to RE-ARM now.  Esc cancels."
