"""The Backtests screen's run list and a run's detail view, through Pilot.

A real backtest (two demo hours) is run once and uploaded through the OMS upload queue to a
real GCS API server, so the list holds a run that is local and in the bucket, with its upload
rows in a real SQLite OMS; other runs are written by ``write_results`` from small frames, locally
or straight into the bucket. What is checked is what the operator sees: cells, the sort in the
pane's title, the filter, the detail view's plots (braille dots, y labels at the curve's max
and min), table row counts equal to the parquet files', the upload state, and compare.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pyarrow.parquet as pq
import pytest
from console_seed import column, drawn_rows, numbers_whole, table_rows, wait_for
from gcs_emulator import GcsEmulator
from run_helpers import START, write_run
from textual.pilot import Pilot
from textual.widgets import Static

from console.app import TradeConsoleApp
from console.screens.backtests import BacktestsScreen
from console.screens.run_compare import RunCompareScreen, SessionCompareScreen
from console.screens.run_detail import TAIL_ROWS, RunDetailScreen
from console.widgets.filter_input import FilterInput
from console.widgets.line_plot import LinePlot, number_label, percent_label
from console.widgets.line_table import LineTable
from console.widgets.run_uploads_pane import RunUploadsPane
from console.widgets.runs_pane import RunsPane
from core.backtest.pipeline import run_backtest
from core.config import AppConfig, load_config
from core.data.results import write_failed_summary
from core.oms import OmsStore, RunState, UploadState
from core.runs.uploads import UploadQueue, run_uploads
from core.storage.roots import resolve

pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")

BUCKET = "run-detail"
UPLOAD_ROOT = f"gs://{BUCKET}/desk"
SMALL = (80, 24)
LARGE = (160, 48)
BRAILLE = range(0x2801, 0x2900)


@dataclass(frozen=True)
class Desk:
    """The real run's config (results, OMS, upload root) and where the run is."""

    config: AppConfig
    run_id: str
    folder: str
    uploads: int


@pytest.fixture(scope="module")
def desk(tmp_path_factory, config_writer, demo_root: str, gcs_server: GcsEmulator) -> Desk:
    """One real backtest of two demo hours, its files uploaded to the bucket (all done)."""
    tmp = tmp_path_factory.mktemp("run-detail")
    path = config_writer(
        tmp / "config.toml",
        data_root=demo_root,
        results_root=str(tmp / "results"),
        backtest={"start": "2026-01-05T00:00:00", "end": "2026-01-05T02:00:00"},
    )
    outcome = run_backtest(load_config(path))
    assert outcome.status == "COMPLETED", outcome.error
    config = load_config(path)
    config = msgspec.structs.replace(
        config, results=msgspec.structs.replace(config.results, upload_root=UPLOAD_ROOT)
    )
    fs, _ = resolve(f"gs://{BUCKET}")
    fs.mkdir(BUCKET)

    async def upload() -> int:
        async with await OmsStore.open(config.oms.database) as store:
            rows = run_uploads(config, outcome.folder, outcome.run_id, time.time_ns())
            await UploadQueue(store, config.uploads).enqueue(rows)
            drained = await UploadQueue(store, config.uploads).drain(30.0)
            assert drained.complete, drained
            return len(rows)

    return Desk(config, outcome.run_id, str(outcome.folder), asyncio.run(upload()))


@pytest.fixture
async def store(desk: Desk) -> AsyncIterator[OmsStore]:
    async with await OmsStore.open(desk.config.oms.database) as opened:
        yield opened


def with_results(config: AppConfig, root: str, upload_root: str = UPLOAD_ROOT) -> AppConfig:
    """``config`` writing and reading results under ``root`` (and ``upload_root``) instead."""
    results = msgspec.structs.replace(config.results, root=root, upload_root=upload_root)
    return msgspec.structs.replace(config, results=results)


async def runs_pane(pilot: Pilot, *run_ids: str, listed: bool = True) -> RunsPane:
    """Open the Backtests screen and wait until the list shows ``run_ids`` (and, if
    ``listed``, the bucket was listed)."""
    await wait_for(pilot, lambda: pilot.app.screen is not None and pilot.app.is_running)
    await pilot.press("b")
    assert isinstance(pilot.app.screen, BacktestsScreen)
    pane = pilot.app.screen.query_one(RunsPane)
    await wait_for(
        pilot,
        lambda: (
            set(run_ids) <= set(pane.table.keys)
            and (not listed or "bucket listed" in pane.bucket_state)
        ),
        timeout=10,
    )
    return pane


def row_of(pane: RunsPane, run_id: str) -> dict[str, str]:
    labels = [str(c.label) for c in pane.table.ordered_columns]
    rows = table_rows(pane.table)
    return dict(zip(labels, rows[pane.table.keys.index(run_id)], strict=True))


def put_cursor(pane: RunsPane, run_id: str) -> None:
    """Focus the list with its cursor on ``run_id``'s row."""
    pane.table.focus()
    pane.table.move_cursor(row=pane.table.keys.index(run_id))


async def open_detail(pilot: Pilot, pane: RunsPane, run_id: str) -> RunDetailScreen:
    put_cursor(pane, run_id)
    await pilot.press("enter")
    screen = pilot.app.screen
    assert isinstance(screen, RunDetailScreen)
    await wait_for(pilot, lambda: screen.files is not None, timeout=10)
    await pilot.pause()
    return screen


def notices(app: TradeConsoleApp) -> list[str]:
    return [notification.message for notification in app._notifications]


def plot_lines(plot: LinePlot) -> list[str]:
    return plot.render().plain.splitlines()


def y_labels(plot: LinePlot) -> tuple[str, str]:
    """The top and bottom y-axis labels of a drawn plot."""
    rows = [line.split("┤", 1)[0].strip() for line in plot_lines(plot) if "┤" in line]
    return rows[0], rows[-1]


def has_braille(plot: LinePlot) -> bool:
    return any(ord(char) in BRAILLE for char in plot.render().plain)


async def test_the_list_shows_a_real_run_local_and_in_the_bucket_with_its_figures_and_uploads(
    desk: Desk, store: OmsStore
) -> None:
    app = TradeConsoleApp(desk.config, store=store)
    async with app.run_test(size=LARGE) as pilot:
        pane = await runs_pane(pilot, desk.run_id)
        row = row_of(pane, desk.run_id)
        summary = msgspec.json.decode(Path(desk.folder, "summary.json").read_bytes())
        assert row["state"] == "COMPLETED"
        assert row["net PnL"] == f"{summary['pnl']['net_pnl']:+,.2f}"
        sharpe = summary["metrics"]["sharpe_ratio"]
        assert row["Sharpe"] == ("-" if sharpe is None else f"{sharpe:,.2f}")
        assert row["max DD"] == f"{summary['metrics']['max_drawdown_pct']:.2f}%"
        assert row["period"] == "2026-01-05 00:00 +2h"
        assert row["instruments"].startswith(summary["config"]["backtest"]["instruments"][0])
        assert row["where"] == "local+bucket"
        assert row["uploads"] == f"all {desk.uploads} up"


async def test_enter_opens_the_detail_view_with_plots_tables_and_upload_state(
    desk: Desk, store: OmsStore
) -> None:
    app = TradeConsoleApp(desk.config, store=store)
    async with app.run_test(size=LARGE) as pilot:
        pane = await runs_pane(pilot, desk.run_id)
        screen = await open_detail(pilot, pane, desk.run_id)
        equity = pq.read_table(Path(desk.folder, "equity_curve.parquet"))
        values = equity.column("portfolio_value").to_pylist()
        drawdowns = [-d / 100 for d in equity.column("drawdown_pct").to_pylist()]
        equity_plot = screen.query_one("#equity", LinePlot)
        drawdown_plot = screen.query_one("#drawdown", LinePlot)
        assert has_braille(equity_plot) and has_braille(drawdown_plot)
        assert y_labels(equity_plot) == (number_label(max(values)), number_label(min(values)))
        assert y_labels(drawdown_plot) == (
            percent_label(max(drawdowns) + 0.0),
            percent_label(min(drawdowns)),
        )
        for name in ("fills", "orders"):
            total = pq.read_metadata(Path(desk.folder, f"{name}.parquet")).num_rows
            assert 0 < total <= TAIL_ROWS
            assert screen.query_one(f"#{name}", LineTable).row_count == total
            caption = str(screen.query_one(f"#{name}-caption", Static).render())
            assert caption == f"{name.capitalize()}: {total:,}"
        figures = str(screen.query_one("#figures", Static).render())
        summary = msgspec.json.decode(Path(desk.folder, "summary.json").read_bytes())
        assert f"net {summary['pnl']['net_pnl']:+,.2f}" in figures
        assert f"trades {summary['metrics']['total_trades']}" in figures
        uploads = screen.query_one(RunUploadsPane)
        await wait_for(pilot, lambda: uploads.table.row_count == desk.uploads)
        assert set(column(uploads.table, "state")) == {"done"}
        assert "summary.json" in column(uploads.table, "file")
        assert uploads.border_subtitle.startswith(f"{desk.uploads} of {desk.uploads} uploaded")
        await pilot.press("escape")
        assert isinstance(app.screen, BacktestsScreen)


async def test_a_bucket_only_run_opens_from_gs_and_a_large_fills_file_shows_its_last_rows(
    desk: Desk, store: OmsStore, tmp_path: Path
) -> None:
    folder = write_run(UPLOAD_ROOT, "BT-20251231-001", fills=1_200, orders=30, net_pnl=-7.0)
    app = TradeConsoleApp(with_results(desk.config, str(tmp_path / "empty")), store=store)
    async with app.run_test(size=LARGE) as pilot:
        pane = await runs_pane(pilot, "BT-20251231-001")
        assert row_of(pane, "BT-20251231-001")["where"] == "bucket"
        screen = await open_detail(pilot, pane, "BT-20251231-001")
        assert screen.folder == folder and folder.startswith("gs://")
        fills = screen.query_one("#fills", LineTable)
        assert fills.row_count == TAIL_ROWS
        assert fills.get_row_at(TAIL_ROWS - 1)[0].plain == "F1199"
        caption = str(screen.query_one("#fills-caption", Static).render())
        assert caption == f"Fills: the last {TAIL_ROWS} of 1,200"
        assert screen.query_one("#orders", LineTable).row_count == 30
        assert has_braille(screen.query_one("#equity", LinePlot))
        uploads = screen.query_one(RunUploadsPane)
        await wait_for(pilot, lambda: uploads.data is not None)
        assert uploads.border_subtitle == "no upload recorded for this run"


async def test_s_and_shift_s_sort_the_list_and_slash_filters_it(
    desk: Desk, store: OmsStore, tmp_path: Path
) -> None:
    root = str(tmp_path / "results")
    write_run(root, "BT-20260201-001", net_pnl=5.0, instruments=("SOLUSDT.BINANCE",))
    write_run(root, "BT-20260201-002", net_pnl=-3.0)
    write_run(root, "BT-20260201-003", net_pnl=20.0)
    app = TradeConsoleApp(with_results(desk.config, root), store=store)
    async with app.run_test(size=LARGE) as pilot:
        pane = await runs_pane(pilot, "BT-20260201-001", "BT-20260201-003")
        pane.table.focus()
        for _ in range(3):  # updated -> run -> state -> net PnL
            await pilot.press("s")
        assert pane.border_title == "Backtest runs · sort: net PnL ▼"
        mine = [k for k in pane.table.keys if k.startswith("BT-20260201")]
        assert mine == ["BT-20260201-003", "BT-20260201-001", "BT-20260201-002"]
        await pilot.press("S")
        assert pane.border_title == "Backtest runs · sort: net PnL ▲"
        mine = [k for k in pane.table.keys if k.startswith("BT-20260201")]
        assert mine == ["BT-20260201-002", "BT-20260201-001", "BT-20260201-003"]
        everything = pane.table.row_count

        await pilot.press("slash")
        assert isinstance(app.focused, FilterInput)
        await pilot.press(*"sol")
        assert pane.table.keys == ("BT-20260201-001",)
        assert pane.border_subtitle.startswith(f"0 running · 1 of {everything} match")
        await pilot.press("escape")
        assert pane.table.row_count == everything
        assert app.focused is pane.table
        assert isinstance(app.screen, BacktestsScreen)


async def test_space_marks_runs_and_equals_opens_the_compare_screen_with_their_folders(
    desk: Desk, store: OmsStore, tmp_path: Path
) -> None:
    root = str(tmp_path / "results")
    first = write_run(root, "BT-20260201-001", net_pnl=5.0)
    second = write_run(root, "BT-20260201-002", net_pnl=-3.0)
    app = TradeConsoleApp(with_results(desk.config, root), store=store)
    async with app.run_test(size=LARGE) as pilot:
        pane = await runs_pane(pilot, "BT-20260201-001", "BT-20260201-002")
        put_cursor(pane, "BT-20260201-002")
        await pilot.press("space")
        assert row_of(pane, "BT-20260201-002")["run"] == "✓ BT-20260201-002"
        await pilot.press("equals_sign")
        assert isinstance(app.screen, BacktestsScreen)  # one mark: nothing to compare
        assert any("Mark two or more" in text for text in notices(app))
        pane.table.move_cursor(row=pane.table.keys.index("BT-20260201-001"))
        await pilot.press("space")
        assert "2 marked" in pane.border_subtitle
        await pilot.press("equals_sign")
        await pilot.pause()
        assert isinstance(app.screen, RunCompareScreen)
        assert app.screen.folders == (second, first)  # in the order they were marked


async def test_v_opens_the_session_compare_for_the_run_under_the_cursor(
    desk: Desk, store: OmsStore
) -> None:
    app = TradeConsoleApp(desk.config, store=store)
    async with app.run_test(size=LARGE) as pilot:
        pane = await runs_pane(pilot, desk.run_id)
        put_cursor(pane, desk.run_id)
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, SessionCompareScreen)
        assert app.screen.folder == desk.folder


async def test_a_broken_summary_shows_in_the_list_with_its_problem(
    desk: Desk, store: OmsStore, tmp_path: Path
) -> None:
    broken = tmp_path / "results" / "backtest_results" / "BT-20260201-009"
    broken.mkdir(parents=True)
    (broken / "summary.json").write_text("{")
    app = TradeConsoleApp(with_results(desk.config, str(tmp_path / "results")), store=store)
    async with app.run_test(size=LARGE) as pilot:
        pane = await runs_pane(pilot, "BT-20260201-009")
        row = row_of(pane, "BT-20260201-009")
        assert row["state"] == "BROKEN"
        assert row["note"].startswith("summary.json: ") and "truncated" in row["note"]


async def test_the_detail_view_scrolls_to_every_part_at_80_by_24(
    desk: Desk, store: OmsStore
) -> None:
    app = TradeConsoleApp(desk.config, store=store)
    async with app.run_test(size=SMALL) as pilot:
        pane = await runs_pane(pilot, desk.run_id)
        assert pane.region.height >= 8  # the list keeps room below the launcher
        screen = await open_detail(pilot, pane, desk.run_id)
        body = screen.query_one("#body")
        assert body.max_scroll_y > 0
        visible = screen.region
        for selector in ("#figures", "#equity", "#drawdown", "#fills", "#orders", "#uploads"):
            part = screen.query_one(selector)
            part.scroll_visible(animate=False, immediate=True)
            await pilot.pause()
            assert part.region.height > 0, selector
            assert visible.overlaps(part.region), selector
        assert has_braille(screen.query_one("#equity", LinePlot))


async def test_a_failed_run_opens_with_its_error_and_says_which_files_it_lacks(
    desk: Desk, store: OmsStore, tmp_path: Path
) -> None:
    root = str(tmp_path / "results")
    folder = write_failed_summary(
        root, "BT-20260201-004", "no trades in the window", {"backtest": {}}, START
    )
    app = TradeConsoleApp(with_results(desk.config, root), store=store)
    async with app.run_test(size=LARGE) as pilot:
        pane = await runs_pane(pilot, "BT-20260201-004")
        assert row_of(pane, "BT-20260201-004")["note"] == "no trades in the window"
        screen = await open_detail(pilot, pane, "BT-20260201-004")
        assert screen.folder == folder
        figures = str(screen.query_one("#figures", Static).render())
        assert "FAILED: no trades in the window" in figures
        assert "equity_curve.parquet: missing" in figures
        caption = str(screen.query_one("#fills-caption", Static).render())
        assert caption == "Fills: missing"
        assert "no data" in screen.query_one("#equity", LinePlot).render().plain


async def test_the_list_follows_upload_rows_and_new_runs_as_the_oms_commits_them(
    desk: Desk, tmp_path: Path
) -> None:
    root = str(tmp_path / "results")
    folder = write_run(root, "BT-20260201-005")

    def upload(state: str) -> UploadState:
        return UploadState(
            file=f"{folder}/summary.json",
            state=state,
            size=10,
            updated_at=time.time_ns(),
            destination=f"{UPLOAD_ROOT}/backtest_results/BT-20260201-005/summary.json",
        )

    # No upload root: the console's own drain must not upload the row while it is watched.
    config = with_results(desk.config, root, upload_root="")
    async with (
        await OmsStore.open(tmp_path / "oms.sqlite") as store,
        TradeConsoleApp(config, store=store).run_test(size=LARGE) as pilot,
    ):
        pane = await runs_pane(pilot, "BT-20260201-005", listed=False)
        assert pane.bucket_state == ""
        assert row_of(pane, "BT-20260201-005")["uploads"] == "-"
        store.submit(upload("queued"))
        await store.flush()
        await wait_for(pilot, lambda: row_of(pane, "BT-20260201-005")["uploads"] == "1 pending")
        store.submit(RunState(run_id="BT-20260201-006", state="RUNNING", updated_at=time.time_ns()))
        await store.flush()
        await wait_for(pilot, lambda: "BT-20260201-006" in pane.table.keys)
        assert row_of(pane, "BT-20260201-005")["uploads"] == "1 pending"
        store.submit(upload("failed"))
        await store.flush()
        await wait_for(pilot, lambda: row_of(pane, "BT-20260201-005")["uploads"] == "1 failed")


def is_id_or_its_tail(shown: str, full: str) -> bool:
    return shown == full or (shown.startswith("…") and full.endswith(shown[1:]))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
async def test_fills_and_orders_show_ids_that_tell_them_apart_whole_numbers_and_fees_in_cents(
    desk: Desk, store: OmsStore, size: tuple[int, int]
) -> None:
    app = TradeConsoleApp(desk.config, store=store)
    async with app.run_test(size=size) as pilot:
        pane = await runs_pane(pilot, desk.run_id)
        screen = await open_detail(pilot, pane, desk.run_id)
        fills_file = pq.read_table(Path(desk.folder, "fills.parquet")).to_pylist()
        fills = screen.query_one("#fills", LineTable)
        assert numbers_whole(fills) >= 3 * len(drawn_rows(fills))
        drawn = drawn_rows(fills)
        ids = [row["order_id"] for row in drawn]
        for shown, fill in zip(ids, fills_file, strict=False):
            assert is_id_or_its_tail(shown, fill["order_id"])
        # Fills of different orders show different ids.
        by_id = {fill["order_id"]: shown for shown, fill in zip(ids, fills_file, strict=False)}
        assert len(set(by_id.values())) == len(by_id) > 1
        # The fee in USDT in cents, the value rounded (never cut).
        for row, fill in zip(drawn, fills_file, strict=False):
            assert fill["fee_currency"] == "USDT"
            assert row["fee"] == f"{fill['fee']:,.2f}"
        if size == LARGE:  # and each fill by its own id
            fill_ids = [row["fill_id"] for row in drawn]
            assert len(set(fill_ids)) == len(fill_ids)
            for shown, fill in zip(fill_ids, fills_file, strict=False):
                assert is_id_or_its_tail(shown, fill["fill_id"])
        orders = screen.query_one("#orders", LineTable)
        assert numbers_whole(orders) >= 1
        shown_ids = [row["order_id"] for row in drawn_rows(orders)]
        assert len(set(shown_ids)) == len(shown_ids) > 1
