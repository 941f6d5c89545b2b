"""A real shadow session (SHADOW on the REPLAY of the demo ticks, flat out, as test_parity runs it)
against backtests of the same period: one configured as the shadow (every order matches, every
difference is ~0), one with another latency and dust threshold (the report names the orders
that differ and splits the PnL difference)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import msgspec
import pyarrow.parquet as pq
import pytest
from console_seed import table_rows, wait_for
from run_helpers import console_80x24, parity_config, shadow_orders
from textual.widgets import DataTable, Static

from console.cli import main
from console.commands.compare import EXIT_NO_SESSION, order_cells
from console.screens.run_compare import SessionCompareScreen
from console.widgets.line_plot import LinePlot
from core.backtest.pipeline import run_backtest
from core.config import AppConfig
from core.data.results import read_summary
from core.errors import DataError
from core.oms import Fill, OmsStore, OrderEvent, Record
from core.runs.session_compare import SessionComparison, compare_session

SAME = 1e-6
"""Money and price differences below this are rounding, not a difference."""


@pytest.fixture(scope="module")
def session(
    config_writer, tmp_path_factory: pytest.TempPathFactory, demo_root: str
) -> tuple[AppConfig, str, str]:
    """(config, the backtest's folder, the shadow session's OMS database)."""
    import asyncio

    tmp_path = tmp_path_factory.mktemp("session")
    config = parity_config(config_writer, tmp_path, demo_root)
    outcome = run_backtest(config)
    assert outcome.status == "COMPLETED", outcome.error
    database = str(tmp_path / "shadow.sqlite")
    shadow_config = msgspec.structs.replace(
        config, oms=msgspec.structs.replace(config.oms, database=database)
    )
    asyncio.run(shadow_orders(shadow_config))
    return config, str(outcome.folder), database


def _other_backtest(config: AppConfig, **changes: object) -> str:
    venue = msgspec.structs.replace(config.venues[0], latency_ms=changes["latency_ms"])
    strategy = msgspec.structs.replace(
        config.strategy, min_trade_notional=changes["min_trade_notional"]
    )
    outcome = run_backtest(msgspec.structs.replace(config, venues=(venue,), strategy=strategy))
    assert outcome.status == "COMPLETED", outcome.error
    return str(outcome.folder)


async def test_a_shadow_replay_matches_its_backtest_order_for_order_with_no_difference(
    session: tuple[AppConfig, str, str],
) -> None:
    _, folder, database = session
    report = await compare_session(folder, database)
    assert report.session.how == "operations", report.session_line()
    assert report.matched >= 8
    assert (report.only_backtest, report.only_shadow) == (0, 0)
    for pair in report.pairs:
        assert pair.qty_diff is not None and abs(pair.qty_diff) <= SAME, pair.key
        assert pair.price_diff_bps is not None and abs(pair.price_diff_bps) <= 1e-6, pair.key
        assert pair.fee_diff is not None and abs(pair.fee_diff) <= SAME, pair.key
    a = report.attribution
    summary = read_summary(folder)
    assert summary.pnl is not None
    # The backtest starts flat: its fills marked at its closing marks are its net PnL.
    assert a.backtest_pnl == pytest.approx(summary.pnl.net_pnl, abs=1e-6)
    assert abs(a.difference) <= 1e-6
    for b, s in report.totals:
        assert b is not None and s is not None
        assert s.filled_qty == pytest.approx(b.filled_qty, rel=1e-9)
        assert s.vwap == pytest.approx(b.vwap, rel=1e-9)
    assert report.summary_line().startswith(f"{report.matched} orders matched, 0 only in")
    names = [curve.name for curve in report.curves]
    assert names == ["backtest", "shadow"]
    assert report.curves[0].ys[-1] == pytest.approx(report.curves[1].ys[-1], abs=1e-6)


async def test_a_backtest_with_latency_and_a_dust_threshold_is_explained_order_by_order(
    session: tuple[AppConfig, str, str],
) -> None:
    config, _, database = session
    folder = _other_backtest(config, latency_ms=500.0, min_trade_notional=3_000.0)
    report: SessionComparison = await compare_session(folder, database)
    assert report.only_shadow >= 1, "the dust threshold keeps small orders out of the backtest"
    small = [p for p in report.pairs if p.backtest is None]
    assert all(p.shadow is not None and p.shadow.filled_qty > 0 for p in small)
    moved = [p for p in report.pairs if p.price_diff_bps and abs(p.price_diff_bps) > 1e-3]
    assert moved, "500 ms of latency meets another market"
    for pair in moved:  # positive: the shadow paid worse (bought higher, sold lower)
        b, s = pair.backtest, pair.shadow
        worse = s.vwap > b.vwap if b.side == "BUY" else s.vwap < b.vwap
        assert (pair.price_diff_bps > 0) == worse, pair.key
    a = report.attribution
    assert abs(a.missing) > SAME and abs(a.price) > SAME
    # The parts add up to the difference, which is what each side's fills made.
    assert a.price + a.quantity + a.fees + a.missing == pytest.approx(a.difference, abs=1e-6)
    assert math.isfinite(a.shadow_pnl)
    line = report.summary_line()
    assert f"{report.only_shadow} only in shadow" in line and "price" in line


NO_SESSION = "No shadow session covers 2026-01-05 00:00..2026-01-05 12:00: nothing to compare."
"""What the session compare says of the parity backtest (``WINDOW``) when nothing covers it."""


async def replay_session_elsewhere(tmp_path: Path) -> str:
    """An OMS as the demo leaves it: a REPLAY session's node order of the same strategy, stamped
    with today's clock and the operation id of its own target file. It covers no backtest."""
    now = dt.datetime.now(dt.UTC)
    order = OrderEvent(
        client_order_id="O-20261207-185020-001-001-1",
        event_id="demo-filled",
        event_type="OrderFilled",
        sequence=3,
        ts_event=_ns(now),
        status="FILLED",
        instrument_id="BTCUSDT.BINANCE",
        strategy_id="REBAL-001",
        side="BUY",
        order_type="MARKET",
        quantity=0.42565,
        filled_qty=0.42565,
        operation_id="targets-0123456789ab",
        created_at=_ns(now),
    )
    database = tmp_path / "demo.sqlite"
    async with await OmsStore.open(database) as store:
        store.submit(order)
    return str(database)


async def test_without_a_session_it_says_so_instead_of_a_pnl_difference(
    session: tuple[AppConfig, str, str], tmp_path: Path
) -> None:
    _, folder, _ = session
    empty = tmp_path / "empty.sqlite"
    await (await OmsStore.open(empty)).close()
    for database, node_orders in ((str(empty), 0), (await replay_session_elsewhere(tmp_path), 1)):
        report = await compare_session(folder, database)
        assert report.session.how == "none" and not report.covered
        assert report.summary_line() == NO_SESSION
        line = report.session_line()
        assert line.startswith(f"{node_orders} REBAL-001 node orders in "), line
        assert (
            "none in that period or from this backtest's operations. Make one: run the shadow node"
            in line
        )
        data = report.to_json()
        assert (data["covered"], data["message"], data["session_line"]) == (False, NO_SESSION, line)
        assert data["pnl"] is None and data["matched"] is None and data["orders"] == []
        assert data["session"]["node_orders"] == node_orders
    # A session found is covered, and says so.
    _, _, shadow = session
    found = await compare_session(folder, shadow)
    assert found.covered and found.to_json()["covered"] is True
    assert found.summary_line().startswith(f"{found.matched} orders matched")


async def test_a_folder_without_a_run_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"summary\.json: missing"):
        await compare_session(str(tmp_path), str(tmp_path / "oms.sqlite"))


def test_compare_session_prints_the_summary_line_and_every_order(
    session: tuple[AppConfig, str, str],
    config_writer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, folder, database = session
    path = config_writer(
        tmp_path / "config.toml",
        data_root=config.data.root,
        results_root=config.results.root,
        oms={"database": database},
    )
    assert main(["compare", "--config", str(path), "--session", "--json", folder]) == 0
    data = json.loads(capsys.readouterr().out)
    matched = data["matched"]
    assert matched == len(data["orders"]) >= 8
    assert (data["only_backtest"], data["only_shadow"]) == (0, 0)
    assert data["session"]["how"] == "operations"
    assert abs(data["pnl"]["difference"]) <= 1e-6
    run_id = Path(folder).name
    assert main(["compare", "--config", str(path), "--session", run_id]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{matched} orders matched, 0 only in backtest, 0 only in shadow")
    assert lines[4].split()[:3] == ["operation", "instrument", "side"]
    assert sum(1 for line in lines if line.startswith("SIG-")) == matched
    assert main(["compare", "--config", str(path), "--session", folder, folder]) == 2
    assert "compare --session takes one run, got 2" in capsys.readouterr().err
    nowhere = config_writer(
        tmp_path / "nowhere.toml",
        data_root=config.data.root,
        results_root=config.results.root,
        oms={"database": str(tmp_path / "none" / "oms.sqlite")},
    )
    assert main(["compare", "--config", str(nowhere), "--session", folder]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none/oms.sqlite" in err and "no OMS database" in err


def test_compare_session_without_a_session_says_so_and_exits_1(
    session: tuple[AppConfig, str, str],
    config_writer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import asyncio

    config, folder, _ = session
    path = config_writer(
        tmp_path / "config.toml",
        data_root=config.data.root,
        results_root=config.results.root,
        oms={"database": asyncio.run(replay_session_elsewhere(tmp_path))},
    )
    assert main(["compare", "--config", str(path), "--session", folder]) == EXIT_NO_SESSION == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == NO_SESSION
    assert lines[1].startswith("1 REBAL-001 node orders in ") and "Make one:" in lines[1]
    assert len(lines) == 2  # no difference, no order table
    assert main(["compare", "--config", str(path), "--session", "--json", folder]) == 1
    data = json.loads(capsys.readouterr().out)
    assert (data["covered"], data["message"], data["pnl"]) == (False, NO_SESSION, None)


async def test_the_session_screen_shows_the_summary_orders_and_braille_curves_at_80x24(
    session: tuple[AppConfig, str, str],
) -> None:
    _, folder, database = session
    async with console_80x24(database) as (app, pilot):
        screen = SessionCompareScreen(folder)
        await app.push_screen(screen)
        await wait_for(pilot, lambda: screen.report is not None, timeout=10)
        await pilot.pause()
        report = screen.report
        assert str(screen.query_one("#status", Static).render()) == report.summary_line()
        rows = table_rows(screen.query_one("#orders", DataTable))
        assert len(rows) == len(report.pairs) and all(r[3] == "matched" for r in rows)
        totals = table_rows(screen.query_one("#totals", DataTable))
        assert [r[0] for r in totals] == ["BTCUSDT.BINANCE", "ETHUSDT.BINANCE"]
        drawn = screen.query_one("#curves", LinePlot).render().plain
        assert any(0x2801 <= ord(ch) <= 0x28FF for ch in drawn)
        assert "backtest" in drawn and "shadow" in drawn
        await pilot.press("escape")
        assert app.screen is not screen


async def test_the_session_screen_without_a_session_says_so_and_shows_no_difference(
    session: tuple[AppConfig, str, str], tmp_path: Path
) -> None:
    _, folder, _ = session
    async with console_80x24(await replay_session_elsewhere(tmp_path)) as (app, pilot):
        screen = SessionCompareScreen(folder)
        await app.push_screen(screen)
        await wait_for(pilot, lambda: screen.report is not None, timeout=10)
        await pilot.pause()
        assert str(screen.query_one("#status", Static).render()) == NO_SESSION
        said = str(screen.query_one("#session", Static).render())
        assert "Make one: run the shadow node" in said and "PnL" not in said
        for part in ("#orders", "#totals", "#curves", "#curve-note"):
            assert not screen.query_one(part).display, part


async def test_a_node_session_over_the_backtests_period_is_found_by_time_with_no_lag(
    session: tuple[AppConfig, str, str], tmp_path: Path
) -> None:
    """A node that ran over the recorded days (on the venue's data) is stamped in the period:
    here the backtest's own orders and fills written as node rows, with rows that are not the
    session's around them (another strategy, outside the period, a backtest's, and a rejected
    order of the session's own)."""
    _, folder, _ = session
    orders = pq.read_table(Path(folder) / "orders.parquet").to_pylist()
    fills = pq.read_table(Path(folder) / "fills.parquet").to_pylist()
    records: list[Record] = []
    for o in orders:
        created = _ns(o["created_at"])
        records.append(
            OrderEvent(
                client_order_id=o["order_id"],
                event_id=f"{o['order_id']}-filled",
                event_type="OrderFilled",
                sequence=3,
                ts_event=_ns(o["updated_at"]),
                status=o["status"],
                instrument_id=o["instrument_key"],
                strategy_id="REBAL-001",
                side=o["side"],
                order_type=o["order_type"],
                quantity=o["quantity"],
                filled_qty=o["quantity"],
                operation_id=o["operation_id"],
                created_at=created,
            )
        )
    for f in fills:
        records.append(
            Fill(
                trade_id=f["fill_id"],
                client_order_id=f["order_id"],
                instrument_id=f["instrument_key"],
                strategy_id="REBAL-001",
                side=f["side"],
                quantity=f["quantity"],
                price=f["price"],
                commission=f["fee"],
                commission_currency=f["fee_currency"],
                liquidity_side="TAKER",
                ts_event=_ns(f["ts_event"]),
            )
        )
    inside = _ns(orders[0]["created_at"])
    template = records[0]
    assert isinstance(template, OrderEvent)
    decoys = {
        "O-OTHER": {"strategy_id": "REBAL-002"},  # another strategy of the desk
        "O-LATER": {"created_at": inside + 86_400 * 10**9},
        "O-BACKTEST": {"run_id": "BT-20260101-001"},
        "O-REJECTED": {"status": "REJECTED", "reason": "price band", "operation_id": None},
    }
    for order_id, changes in decoys.items():
        records.append(msgspec.structs.replace(template, client_order_id=order_id, **changes))
    database = tmp_path / "node.sqlite"
    async with await OmsStore.open(database) as store:
        store.submit_many(records)
    report = await compare_session(folder, str(database))
    assert report.session.how == "period"
    assert (report.matched, report.only_backtest, report.only_shadow) == (len(orders), 0, 1)
    rejected = next(p for p in report.pairs if p.backtest is None)
    assert rejected.shadow is not None and rejected.shadow.order_ids == ["O-REJECTED"]
    assert order_cells(rejected)[3] == "only shadow: REJECTED (price band)"
    for pair in (p for p in report.pairs if p.matched):
        # The decoys share the first order's key: none of them may join its pair.
        assert pair.shadow.order_ids == pair.backtest.order_ids, pair.key
        assert pair.lag_secs == 0.0, pair.key
    assert abs(report.attribution.difference) <= 1e-6
    # A window given explicitly replaces the period: here one that holds no order.
    narrowed = await compare_session(folder, str(database), window=(0, 1))
    assert (narrowed.session.how, narrowed.matched, narrowed.only_shadow) == ("window", 0, 0)


def _ns(value: dt.datetime) -> int:
    return int(value.timestamp() * 1_000_000) * 1_000
