"""Launching backtests from the console's ``b`` screen: real runs in spawned processes, their
progress on screen, a bad field refused before anything starts, and a cancel that stops one."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import time
from collections.abc import AsyncIterator, Callable
from multiprocessing import resource_tracker
from pathlib import Path

import msgspec
import psutil
import pytest
from console_seed import table_rows, wait_for
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Collapsible, Input, ProgressBar, Static

from console.app import TradeConsoleApp
from console.cli import EXIT_BAD_INPUT, main
from console.screens.backtests import BacktestsScreen
from console.screens.run_detail import RunDetailScreen
from console.widgets.launch_form import FIELDS, MAIN_FIELDS, MORE_FIELDS, LaunchForm
from console.widgets.launched_run import LaunchedRun
from console.widgets.runs_pane import RunsPane
from core.config import AppConfig
from core.data.demo_data import generate_demo_data
from core.oms import OmsStore
from core.runs.launcher import CANCELLED, LaunchEnded, LaunchProgress

LARGE = (160, 48)
RUN_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def long_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three days of 150k BTC trades a day: a full run lasts seconds, long enough to cancel."""
    root = tmp_path_factory.mktemp("long-data")
    generate_demo_data(
        str(root),
        days=3,
        first_day=dt.date(2026, 1, 5),
        trades_per_day={"BTCUSDT.BINANCE": 150_000},
    )
    return str(root)


def desk_config(tmp_path: Path, data_root: str, log_dir: Path) -> AppConfig:
    """The defaults over ``data_root``, with results and the OMS under ``tmp_path``."""
    config = AppConfig()
    replace = msgspec.structs.replace
    return replace(
        config,
        data=replace(config.data, root=data_root),
        results=replace(config.results, root=str(tmp_path / "results")),
        logging=replace(config.logging, directory=str(log_dir)),
        oms=replace(config.oms, database=str(tmp_path / "oms.sqlite")),
        backtest=replace(
            config.backtest,
            instruments=("BTCUSDT.BINANCE",),
            start="2026-01-05T00:00:00Z",
            end="2026-01-05T04:00:00Z",
        ),
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[OmsStore]:
    async with await OmsStore.open(tmp_path / "oms.sqlite") as opened:
        yield opened


async def backtests(pilot: Pilot) -> BacktestsScreen:
    await pilot.press("b")
    screen = pilot.app.screen
    assert isinstance(screen, BacktestsScreen)
    form = screen.query_one(LaunchForm)
    await wait_for(pilot, lambda: form.is_mounted)
    return screen


async def fill(pilot: Pilot, screen: BacktestsScreen, **values: str) -> None:
    for name, value in values.items():
        screen.query_one(LaunchForm).query_one(f"#{name}", Input).value = value
    await pilot.pause()


async def launch_one(pilot: Pilot, screen: BacktestsScreen, **values: str) -> LaunchedRun:
    """Fill the form with ``values``, launch it (ctrl+r) and return the run's line."""
    await fill(pilot, screen, **values)
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: len(screen.runs) == 1)
    [run] = screen.runs.values()
    return run


async def until(
    pilot: Pilot, condition: Callable[[], bool], watch: Callable[[], None] = lambda: None
) -> None:
    """``wait_for`` with a long timeout, calling ``watch`` at every step."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not condition():
        watch()
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        await pilot.pause(0.02)


def summary(folder: str) -> dict:
    return json.loads((Path(folder) / "summary.json").read_text())


_EARLIER: set[int] = set()
"""Children alive before the test (a session's GCS emulator, when an earlier module started it)."""


@pytest.fixture(autouse=True)
def _earlier_children() -> None:
    _EARLIER.clear()
    _EARLIER.update(p.pid for p in psutil.Process().children(recursive=True))


def no_children_left() -> bool:
    """No process of a run is left (multiprocessing's resource tracker, shared, may stay)."""
    multiprocessing.active_children()  # reaps the ended ones
    kept = _EARLIER | {resource_tracker._resource_tracker._pid}
    return [p for p in psutil.Process().children(recursive=True) if p.pid not in kept] == []


async def test_two_launched_backtests_run_at_once_to_completed_with_bars_at_100_percent(
    store: OmsStore, tmp_path: Path, demo_root: str, log_dir: Path
) -> None:
    app = TradeConsoleApp(desk_config(tmp_path, demo_root, log_dir), store=store)
    async with app.run_test(size=LARGE) as pilot:
        screen = await backtests(pilot)
        # Both demo days: the first run simulates for a second or so, long enough for its
        # "running" phase to be on screen between the merged progress messages.
        await fill(pilot, screen, end="2026-01-07T00:00:00Z")
        screen.query_one("#end", Input).focus()
        await pilot.press("enter")
        await fill(pilot, screen, instruments="ETHUSDT.BINANCE", mode="signals")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(screen.runs) == 2)
        assert len(screen.launcher.running) == 2  # both processes started before either ended
        first, second = screen.runs.values()
        seen: set[str] = set()
        await until(
            pilot,
            lambda: first.over and second.over,
            lambda: seen.update((first.state, second.state)),
        )
        assert "running" in seen
        for run in (first, second):
            assert run.state == "COMPLETED", run.error
            assert run.query_one(ProgressBar).percentage == 1.0
            assert summary(run.folder or "")["status"] == "COMPLETED"
        assert summary(second.folder or "")["config"]["backtest"]["mode"] == "signals"
        assert (
            "ETHUSDT.BINANCE" in summary(second.folder or "")["config"]["backtest"]["instruments"]
        )
        runs = screen.query_one(RunsPane)
        ids = {first.run_id, second.run_id}
        await wait_for(
            pilot,
            lambda: {r[0] for r in table_rows(runs.table) if r[1] == "COMPLETED"} >= ids,
        )
    assert no_children_left()


async def test_an_empty_form_runs_every_instrument_over_the_whole_data_as_the_cli_does(
    store: OmsStore, tmp_path: Path, demo_root: str, log_dir: Path
) -> None:
    app = TradeConsoleApp(desk_config(tmp_path, demo_root, log_dir), store=store)
    async with app.run_test(size=LARGE) as pilot:
        screen = await backtests(pilot)
        run = await launch_one(pilot, screen, instruments="", start="", end="", mode="signals")
        assert screen.query_one(LaunchForm).problems == {}
        await until(pilot, lambda: run.over)
        assert run.state == "COMPLETED", run.error
        ran = summary(run.folder or "")
        assert sorted(ran["config"]["backtest"]["instruments"]) == [
            "BTCUSDT.BINANCE",
            "ETHUSDT.BINANCE",
        ]
        assert ran["period"]["start"].startswith("2026-01-05T00:00:00")
        await fill(pilot, screen, instruments=" , ")
        assert "instruments: none named" in screen.query_one(LaunchForm).problems["instruments"]


async def test_a_bad_field_shows_its_message_and_launches_nothing(
    store: OmsStore, tmp_path: Path, demo_root: str, log_dir: Path
) -> None:
    app = TradeConsoleApp(desk_config(tmp_path, demo_root, log_dir), store=store)
    async with app.run_test(size=LARGE) as pilot:
        screen = await backtests(pilot)
        form = screen.query_one(LaunchForm)
        problems = screen.query_one("#problems", Static)
        await fill(pilot, screen, start="2026-01-05 noon", window="0")
        assert set(form.problems) == {"start", "window"}
        shown = str(problems.render())
        assert "backtest.start:" in shown
        assert "backtest.window_secs: must be from 1 to 86400 seconds, got 0" in shown
        assert screen.query_one("#start", Input).has_class("-invalid")
        await pilot.press("ctrl+r")
        await fill(pilot, screen, start="2026-01-06T00:00:00Z", window="60")
        assert set(form.problems) == {"start"}  # now after the end: a rule of the pair
        assert "is not before backtest.end" in str(problems.render())
        await pilot.press("ctrl+r")
        await fill(pilot, screen, start="2026-01-05T00:00:00Z", mode="fast")
        assert "mode: full or signals" in str(problems.render())
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        assert screen.runs == {}
        assert screen.launcher.running == []
        assert not (tmp_path / "results").exists()
        await fill(pilot, screen, mode="full")
        assert form.problems == {}
        assert str(problems.render()).strip() == ""


async def test_a_cancelled_backtest_is_cancelled_on_its_line_in_the_list_detail_and_compare(
    store: OmsStore,
    tmp_path: Path,
    long_root: str,
    log_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = TradeConsoleApp(desk_config(tmp_path, long_root, log_dir), store=store)
    async with app.run_test(size=LARGE) as pilot:
        screen = await backtests(pilot)
        run = await launch_one(
            pilot, screen, start="2026-01-05T00:00:00Z", end="2026-01-08T00:00:00Z"
        )
        figures = run.query_one("#figures", Static)
        await until(pilot, lambda: "ticks/s" in str(figures.render()) or run.over)
        assert run.state == "running"
        assert 0.0 < run.fraction < 1.0
        run.focus()
        await pilot.press("c")
        await until(pilot, lambda: run.over)
        assert run.state == "CANCELLED"
        assert run.query_one(ProgressBar).percentage < 1.0
        assert "CANCELLED" in str(figures.render())
        written = summary(run.folder or "")
        assert (written["status"], written["error"]) == ("CANCELLED", CANCELLED)
        assert not list(Path(run.folder or "").glob("*.parquet"))
        [row] = [r for r in await store.runs() if r.run_id == run.run_id]
        assert (row.state, row.error) == ("CANCELLED", CANCELLED)
        runs = screen.query_one(RunsPane)
        await wait_for(
            pilot,
            lambda: [run.run_id, "CANCELLED"] in [r[:2] for r in table_rows(runs.table)],
        )
        assert screen.launcher.running == []
        await wait_for(pilot, no_children_left)
        # The detail view says the same.
        runs.table.focus()
        runs.table.move_cursor(row=runs.table.keys.index(run.run_id))
        await pilot.press("enter")
        detail = pilot.app.screen
        assert isinstance(detail, RunDetailScreen)
        await wait_for(pilot, lambda: detail.files is not None)
        await pilot.pause()
        assert " · CANCELLED · " in str(detail.query_one("#title", Static).render())
        shown = str(detail.query_one("#figures", Static).render())
        assert f"CANCELLED: {CANCELLED}" in shown
    # And compare, which has nothing to compare in it.
    assert main(["compare", run.folder or "", run.folder or ""]) == EXIT_BAD_INPUT
    refused = capsys.readouterr().err
    assert f"run {run.run_id} CANCELLED, nothing to compare: {CANCELLED}" in refused


async def test_quitting_the_console_cancels_its_launched_runs_and_leaves_no_process(
    store: OmsStore, tmp_path: Path, long_root: str, log_dir: Path
) -> None:
    app = TradeConsoleApp(desk_config(tmp_path, long_root, log_dir), store=store)
    async with app.run_test(size=LARGE) as pilot:
        screen = await backtests(pilot)
        run = await launch_one(
            pilot, screen, start="2026-01-05T00:00:00Z", end="2026-01-08T00:00:00Z"
        )
        await until(pilot, lambda: run.state == "running" or run.over)
        assert not run.over
        await pilot.press("escape")  # leaving the screen leaves the run going
        await pilot.pause(0.1)
        assert screen.launcher.running != []
        await pilot.press("q")
    assert no_children_left()
    [folder] = (tmp_path / "results" / "backtest_results").iterdir()
    written = summary(str(folder))
    assert (written["status"], written["error"]) == ("CANCELLED", CANCELLED)


async def test_a_report_reaching_a_line_the_closing_console_took_down_is_kept_not_drawn() -> None:
    # A run's last reports can arrive while the console closes and takes the line's parts
    # down (seen once on a loaded machine, as the console quit with a run going).
    class OneLine(App[None]):
        def compose(self) -> ComposeResult:
            yield LaunchedRun(1, "BTCUSDT.BINANCE")

    app = OneLine()
    async with app.run_test():
        line = app.query_one(LaunchedRun)
        line.progress(LaunchProgress(1, "running", 1, 4, 100, 1.0))
        assert str(line.query_one("#figures", Static).render()) == "running · 100 ticks"
        await line.remove_children()
        line.progress(LaunchProgress(1, "running", 2, 4, 200, 2.0))
        assert (line.state, line.fraction) == ("running", 0.5)
        line.ended(LaunchEnded(1, "CANCELLED", "R-1", None, CANCELLED, cancelled=True))
        assert (line.state, line.run_id, line.error) == ("CANCELLED", "R-1", CANCELLED)


async def test_the_launcher_fits_an_80_by_24_terminal(
    tmp_path: Path, demo_root: str, log_dir: Path, store: OmsStore
) -> None:
    app = TradeConsoleApp(desk_config(tmp_path, demo_root, log_dir), store=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.dashboard is not None)
        screen = await backtests(pilot)
        await pilot.pause()
        visible = screen.region
        more = screen.query_one("#more", Collapsible)
        assert more.collapsed  # one line until asked for
        for name in MAIN_FIELDS:
            field = screen.query_one(LaunchForm).query_one(f"#{name}", Input)
            assert field.region.height > 0 and visible.contains_region(field.region), name
        more.collapsed = False
        await pilot.pause()
        for name in FIELDS:
            field = screen.query_one(LaunchForm).query_one(f"#{name}", Input)
            assert field.region.height > 0 and visible.contains_region(field.region), name
        for name in MORE_FIELDS:  # wide enough to show what they hold ("100000 USDT", "0.0005")
            field = screen.query_one(LaunchForm).query_one(f"#{name}", Input)
            assert field.region.width >= len(field.value) + 1, name
        runs = screen.query_one(RunsPane)  # the runs are still on screen below the open form
        assert runs.region.height >= 4 and visible.contains_region(runs.region)


BAD_MORE_FIELDS = [
    ("min_notional", "--min-trade-notional", "ten", "strategy.min_trade_notional: 'ten' is not"),
    ("tolerance", "--weight-tolerance", "-0.1", "strategy.weight_tolerance: must be a non-neg"),
    ("cash_buffer", "--cash-buffer", "1", "strategy.cash_buffer: must be below 1, got 1.0"),
    ("balance", "--starting-balances", "lots", "venues.0.starting_balances: 'lots' is not"),
    ("account", "--account-type", "spot", "venues.0.account_type: must be one of cash, margin"),
    ("latency", "--latency-ms", "-5", "venues.0.latency_ms: must be >= 0, got -5.0"),
    ("algo", "--algorithm", "pov", "execution.algorithm: must be one of market, twap, vwap"),
]


async def test_a_bad_strategy_venue_or_algorithm_field_opens_the_row_and_names_its_field(
    store: OmsStore,
    tmp_path: Path,
    demo_root: str,
    log_dir: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    app = TradeConsoleApp(desk_config(tmp_path, demo_root, log_dir), store=store)
    async with app.run_test(size=LARGE) as pilot:
        screen = await backtests(pilot)
        form = screen.query_one(LaunchForm)
        more = screen.query_one("#more", Collapsible)
        good = form.values
        shown: dict[str, str] = {}
        for name, _, bad, words in BAD_MORE_FIELDS:
            more.collapsed = True
            await fill(pilot, screen, **{name: bad})
            assert set(form.problems) == {name}, form.problems
            assert words in str(screen.query_one("#problems", Static).render())
            assert screen.query_one(LaunchForm).query_one(f"#{name}", Input).has_class("-invalid")
            assert not more.collapsed  # opened, so the wrong field is in sight
            await pilot.press("ctrl+r")
            await pilot.pause(0.05)
            assert screen.runs == {}
            shown[name] = form.problems[name]
            await fill(pilot, screen, **{name: good[name]})
            assert form.problems == {}
        assert not (tmp_path / "results").exists()
    # The command line refuses the same values with the same words.
    for name, option, bad, _ in BAD_MORE_FIELDS:
        capfd.readouterr()
        assert main(["backtest", f"{option}={bad}"]) == EXIT_BAD_INPUT
        out, err = capfd.readouterr()
        assert (out, err) == ("", f"trade-console: command line: {shown[name]}\n")


async def test_a_launched_run_uses_the_forms_strategy_venue_and_algorithm(
    store: OmsStore, tmp_path: Path, demo_root: str, log_dir: Path
) -> None:
    app = TradeConsoleApp(desk_config(tmp_path, demo_root, log_dir), store=store)
    async with app.run_test(size=LARGE) as pilot:
        screen = await backtests(pilot)
        await fill(
            pilot,
            screen,
            min_notional="50",
            tolerance="0.001",
            cash_buffer="0.01",
            balance="250000 USDT",
            account="margin",
            latency="5",
            algo="twap",
        )
        title = str(screen.query_one("#more", Collapsible).title)
        assert "250000 USDT margin 5ms" in title and "twap" in title  # shown while collapsed
        run = await launch_one(pilot, screen)
        await until(pilot, lambda: run.over)
        assert run.state == "COMPLETED", run.error
        written = summary(run.folder or "")
    config = written["config"]
    assert config["strategy"] | {"strategy_id": "", "valuation_currency": ""} == {
        "strategy_id": "",
        "valuation_currency": "",
        "min_trade_notional": 50.0,
        "weight_tolerance": 0.001,
        "cash_buffer": 0.01,
    }
    venue = config["venues"][0]
    assert (venue["starting_balances"], venue["account_type"], venue["latency_ms"]) == (
        ["250000 USDT"],
        "margin",
        5.0,
    )
    assert config["execution"]["algorithm"] == "twap"
    assert written["starting_value"] == 250_000.0  # the engine started with the form's balance
