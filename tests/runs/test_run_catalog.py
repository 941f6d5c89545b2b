"""The desk's run list (``core.runs.catalog``): result folders written by ``write_results`` under a
local root and in a bucket on a real GCS API server, the OMS's runs and uploads rows in a real
SQLite file, merged into one entry per run id with the summary's figures; a broken summary is an
entry with its problem; a rescan reads no summary that did not change."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from gcs_emulator import GcsEmulator
from run_helpers import START, write_run

from core.oms import OmsStore, RunState, UploadState
from core.runs.catalog import BROKEN, BUCKET, INCOMPLETE, LOCAL, RunCatalog, merge
from core.runs.files import read_run_files, read_tail
from core.storage.roots import resolve

BUCKET_NAME = "run-catalog"


@pytest.fixture
def bucket(gcs_server: GcsEmulator, request: pytest.FixtureRequest) -> str:
    """A fresh bucket on the session's server; returns the upload root inside it."""
    name = f"{BUCKET_NAME}-{request.node.name[-20:].replace('_', '-').lower()}"
    fs, _ = resolve(f"gs://{name}")
    fs.mkdir(name)
    return f"gs://{name}/desk"


def test_local_and_bucket_runs_are_listed_with_their_summary_figures(
    tmp_path: Path, bucket: str
) -> None:
    local_root = str(tmp_path / "results")
    write_run(local_root, "BT-20260105-001", net_pnl=12.5, sharpe=1.25, max_dd=3.5)
    write_run(local_root, "BT-20260105-002", net_pnl=-4.0, sharpe=None, max_dd=1.0)
    write_run(bucket, "BT-20260105-002", net_pnl=-4.0, sharpe=None, max_dd=1.0)
    eth = ("ETHUSDT.BINANCE", "BTCUSDT.BINANCE")
    write_run(bucket, "BT-20260104-007", net_pnl=99.0, sharpe=2.0, max_dd=0.5, instruments=eth)
    catalog = RunCatalog(local_root, bucket)

    entries = {e.run_id: e for e in merge([*catalog.scan_local(), *catalog.scan_remote()])}

    assert set(entries) == {"BT-20260105-001", "BT-20260105-002", "BT-20260104-007"}
    first = entries["BT-20260105-001"]
    assert (
        first.status,
        first.figures.net_pnl,
        first.figures.sharpe_ratio,
        first.figures.max_drawdown_pct,
    ) == (
        "COMPLETED",
        12.5,
        1.25,
        3.5,
    )
    assert first.locations == (LOCAL,)
    assert first.figures.instruments == ("BTCUSDT.BINANCE",)
    assert first.figures.start_ns == int(START.timestamp()) * 1_000_000_000
    assert first.figures.end_ns - first.figures.start_ns == 2 * 3600 * 1_000_000_000
    both = entries["BT-20260105-002"]
    assert both.locations == (LOCAL, BUCKET) and both.where == "local+bucket"
    assert both.folders[0] == str(tmp_path / "results" / "backtest_results" / "BT-20260105-002")
    assert both.folders[1] == f"{bucket}/backtest_results/BT-20260105-002"
    assert both.figures.sharpe_ratio is None and both.figures.net_pnl == -4.0
    remote = entries["BT-20260104-007"]
    assert remote.locations == (BUCKET,) and remote.figures.instruments == eth
    assert (
        remote.figures.net_pnl,
        remote.figures.sharpe_ratio,
        remote.figures.max_drawdown_pct,
    ) == (99.0, 2.0, 0.5)


def test_a_broken_summary_is_an_entry_with_its_problem_and_the_others_still_list(
    tmp_path: Path, bucket: str
) -> None:
    root = tmp_path / "results"
    write_run(str(root), "BT-20260105-001")
    bad = root / "backtest_results" / "BT-20260105-002"
    bad.mkdir()
    (bad / "summary.json").write_text('{"run_id": "BT-20260105-002", "status": "COMPLETED"')
    wrong = root / "backtest_results" / "BT-20260105-003"
    wrong.mkdir()
    good = json.loads((root / "backtest_results" / "BT-20260105-001" / "summary.json").read_text())
    (wrong / "summary.json").write_text(
        json.dumps({**good, "run_id": "BT-20260105-003", "status": "DONE"})
    )
    (root / "backtest_results" / "BT-20260105-004").mkdir()  # killed before its summary
    fs, path = resolve(f"{bucket}/backtest_results/BT-20260105-005/summary.json")
    fs.pipe_file(path, b"[1, 2")
    catalog = RunCatalog(str(root), bucket)

    entries = {e.run_id: e for e in merge([*catalog.scan_local(), *catalog.scan_remote()])}

    assert entries["BT-20260105-001"].status == "COMPLETED"
    truncated = entries["BT-20260105-002"]
    assert truncated.status == BROKEN
    assert truncated.note is not None and truncated.note.startswith("summary.json: ")
    assert "truncated" in truncated.note and "\n" not in truncated.note
    assert entries["BT-20260105-003"].status == BROKEN
    assert entries["BT-20260105-003"].note == (
        "summary.json: summary.status: 'DONE' is not COMPLETED, FAILED or CANCELLED"
    )
    assert entries["BT-20260105-004"].status == INCOMPLETE
    assert entries["BT-20260105-004"].note == "no summary.json"
    remote = entries["BT-20260105-005"]
    assert remote.status == BROKEN and remote.locations == (BUCKET,)
    assert remote.note is not None and remote.note.startswith("summary.json: ")


def test_a_rescan_reads_only_the_summaries_that_changed(tmp_path: Path, bucket: str) -> None:
    root = str(tmp_path / "results")
    for number in range(1, 6):
        write_run(root, f"BT-20260105-00{number}")
        write_run(bucket, f"BT-20260105-00{number}")
    catalog = RunCatalog(root, bucket)
    catalog.scan_local()
    catalog.scan_remote()
    assert catalog.reads == 10

    catalog.scan_local()
    catalog.scan_remote()
    assert catalog.reads == 10

    folder = resolve(f"{root}/backtest_results/BT-20260105-003")[1]
    write_run(root, "BT-20260105-003", net_pnl=42.0)
    summary = os.path.join(folder, "summary.json")
    later = os.stat(summary).st_mtime_ns + 1_000_000_000
    os.utime(summary, ns=(later, later))
    write_run(bucket, "BT-20260105-004", net_pnl=-42.0)
    entries = {e.run_id: e for e in merge([*catalog.scan_local(), *catalog.scan_remote()])}
    assert catalog.reads == 12
    assert entries["BT-20260105-003"].figures.net_pnl == 42.0  # the local copy wins
    assert entries["BT-20260105-004"].figures.net_pnl == 10.0  # still the local figure
    remote_only = {f.run_id: f for f in catalog.scan_remote()}["BT-20260105-004"]
    assert remote_only.figures is not None and remote_only.figures.net_pnl == -42.0


async def test_oms_runs_and_uploads_fill_in_state_and_upload_tally(tmp_path: Path) -> None:
    root = str(tmp_path / "results")
    done_folder = write_run(root, "BT-20260105-001")
    write_run(root, "BT-20260105-002")
    running = tmp_path / "results" / "backtest_results" / "BT-20260105-003"
    running.mkdir()
    dest = "gs://desk-results/desk/backtest_results"

    def upload(run_id: str, name: str, state: str) -> UploadState:
        return UploadState(
            file=f"{root}/backtest_results/{run_id}/{name}",
            state=state,
            size=10,
            updated_at=1,
            destination=f"{dest}/{run_id}/{name}",
        )

    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        store.submit_many(
            [
                RunState(run_id="BT-20260105-001", state="COMPLETED", updated_at=5, progress=1.0),
                RunState(
                    run_id="BT-20260105-003",
                    state="RUNNING",
                    updated_at=9,
                    progress=0.25,
                    phase="running",
                    result_folder=str(running),
                ),
                RunState(run_id="BT-20260105-004", state="QUEUED", updated_at=10),
                RunState(run_id="BT-20260105-005", state="FAILED", updated_at=3, error="no data"),
                *(upload("BT-20260105-001", n, "done") for n in ("a", "b", "c")),
                upload("BT-20260105-002", "a", "done"),
                upload("BT-20260105-002", "b", "queued"),
                upload("BT-20260105-002", "c", "failed"),
            ]
        )
        await store.flush()
        runs, uploads = await store.runs(), await store.upload_folders()
    catalog = RunCatalog(root)

    entries = {e.run_id: e for e in merge(catalog.scan_local(), runs, uploads)}

    assert entries["BT-20260105-001"].uploads is not None
    assert entries["BT-20260105-001"].uploads.text == "all 3 up"
    assert entries["BT-20260105-001"].updated_ns == 5
    assert entries["BT-20260105-001"].folders == (done_folder,)
    assert entries["BT-20260105-002"].uploads is not None
    assert entries["BT-20260105-002"].uploads.text == "1 failed"
    assert entries["BT-20260105-002"].uploads.pending == 1
    live = entries["BT-20260105-003"]
    assert (live.status, live.progress, live.phase, live.figures.net_pnl) == (
        "RUNNING",
        0.25,
        "running",
        None,
    )
    assert live.note is None and live.locations == (LOCAL,)
    assert entries["BT-20260105-004"].status == "QUEUED"
    assert entries["BT-20260105-004"].locations == ()
    failed = entries["BT-20260105-005"]
    assert (failed.status, failed.note) == ("FAILED", "no data")


def test_filter_words_match_run_id_instruments_status_and_place(tmp_path: Path) -> None:
    root = str(tmp_path / "results")
    write_run(root, "BT-20260105-001", instruments=("ETHUSDT.BINANCE",))
    write_run(root, "BT-20260106-002")
    entries = {e.run_id: e for e in merge(RunCatalog(root).scan_local())}
    eth, btc = entries["BT-20260105-001"], entries["BT-20260106-002"]
    assert eth.matches("eth") and not btc.matches("eth")
    assert btc.matches("20260106 completed local") and not btc.matches("20260106 failed")


def test_the_tail_of_a_large_table_reads_only_its_last_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "fills.parquet"
    pq.write_table(pa.table({"n": list(range(10_000))}), path, row_group_size=1_000)
    tail = read_tail(str(path), 1_500)
    assert tail.total == 10_000
    assert tail.table.column("n").to_pylist() == list(range(8_500, 10_000))
    assert read_tail(str(path), 50_000).table.num_rows == 10_000


def test_run_files_of_a_bucket_run_read_its_curve_and_tables(bucket: str) -> None:
    folder = write_run(bucket, "BT-20260105-001", fills=30, orders=12, points=90)
    files = read_run_files(folder, tail_rows=20)
    assert files.problems == {}
    assert files.summary is not None and files.summary.run_id == "BT-20260105-001"
    assert files.equity is not None and len(files.equity.ts_ns) == 90
    assert files.fills is not None and (files.fills.total, files.fills.table.num_rows) == (30, 20)
    assert files.orders is not None
    assert (files.orders.total, files.orders.table.num_rows) == (12, 12)
    fs, path = resolve(f"{folder}/fills.parquet")
    fs.rm(path)
    assert read_run_files(folder).problems == {"fills.parquet": "missing"}
