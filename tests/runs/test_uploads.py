"""The durable upload queue against a real GCS API server (gcp-storage-emulator on loopback).

A real backtest's result folder is queued and drained: the objects read back byte-identical
under ``backtest_results/{run_id}/``; a server stopped in the middle of the uploads and started
again ends with every file there exactly once, and the OMS holds the attempts and the errors;
a row left ``uploading`` by a dead process is taken up again; a write that already landed is
not sent twice; a file out of attempts is ``failed`` until ``uploads --retry-failed``.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import msgspec
import pytest
from console_seed import column, wait_for
from gcs_emulator import GcsEmulator

from console.app import TradeConsoleApp
from console.cli import main
from console.widgets.uploads_pane import UploadsPane
from core.backtest.pipeline import run_backtest
from core.config import AppConfig, UploadsConfig, load_config
from core.oms import OmsStore
from core.runs.uploads import RUN_CONFIG_FILE, UploadQueue, run_uploads, upload_file, upload_run
from core.storage.roots import resolve

pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")

BUCKET = "desk-results"
FAST = UploadsConfig(
    max_attempts=4, backoff_secs=0.1, max_backoff_secs=0.5, timeout_secs=2.0, wait_secs=20.0
)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, config_writer, demo_root: str) -> tuple[Path, str]:
    """One real backtest's result folder (three hours of the demo data)."""
    tmp = tmp_path_factory.mktemp("run")
    path = config_writer(
        tmp / "config.toml",
        data_root=demo_root,
        results_root=str(tmp / "results"),
        backtest={"start": "2026-01-05T00:00:00", "end": "2026-01-05T03:00:00"},
    )
    outcome = run_backtest(load_config(path))
    assert outcome.status == "COMPLETED", outcome.error
    return Path(outcome.folder), outcome.run_id


@pytest.fixture
def server(tmp_path: Path):
    """An emulator keeping objects on disk (they survive a restart), with the bucket."""
    emulator = GcsEmulator(folder=tmp_path / "gcs")
    emulator.start()
    with emulator.environment():
        fs, _ = resolve(f"gs://{BUCKET}")
        fs.mkdir(BUCKET)
        yield emulator
    emulator.stop()


def desk_config(tmp_path: Path, uploads: UploadsConfig = FAST) -> AppConfig:
    config = AppConfig()
    return msgspec.structs.replace(
        config,
        results=msgspec.structs.replace(config.results, upload_root=f"gs://{BUCKET}/desk"),
        oms=msgspec.structs.replace(config.oms, database=str(tmp_path / "oms.sqlite")),
        logging=msgspec.structs.replace(config.logging, directory=str(tmp_path / "logs")),
        uploads=uploads,
    )


def copy_of(run_folder: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    folder, run_id = run_folder
    copy = tmp_path / run_id
    shutil.copytree(folder, copy)
    return copy, run_id


def bucket_objects(run_id: str) -> dict[str, bytes]:
    fs, _ = resolve(f"gs://{BUCKET}")
    prefix = f"{BUCKET}/desk/backtest_results/{run_id}"
    return {path.rsplit("/", 1)[1]: fs.cat_file(path) for path in fs.find(prefix)}


async def test_a_run_uploads_byte_identical_under_its_run_id(
    server, tmp_path: Path, run_folder, log_dir: Path
) -> None:
    folder, run_id = copy_of(run_folder, tmp_path)
    # No retry is expected here: a timeout roomy enough for a loaded machine (2 s was not).
    config = desk_config(tmp_path, msgspec.structs.replace(FAST, timeout_secs=15.0))
    (tmp_path / "logs").mkdir()
    log = shutil.copy(log_dir / f"{run_id}.log", tmp_path / "logs")  # the run's Nautilus log
    async with await OmsStore.open(config.oms.database) as store:
        queue = UploadQueue(store, config.uploads)
        rows = run_uploads(config, folder, run_id, time.time_ns())
        assert await queue.enqueue(rows) == len(rows)
        summary = await queue.drain(config.uploads.wait_secs)
        assert summary.complete and summary.done == len(rows)
        states = await store.uploads()
    names = {p.name for p in folder.iterdir() if not p.name.startswith("_")}
    assert {"summary.json", "orders.parquet", "fills.parquet", RUN_CONFIG_FILE} <= names
    objects = bucket_objects(run_id)
    assert set(objects) == names | {f"{run_id}.log"}
    assert objects.pop(f"{run_id}.log") == Path(log).read_bytes()
    for name, data in objects.items():
        assert data == (folder / name).read_bytes(), name
    assert {(s.state, s.retries, s.last_error) for s in states} == {("done", 0, None)}
    # Queued again (a repeated upload command): nothing to do, nothing sent.
    async with await OmsStore.open(config.oms.database) as store:
        assert await UploadQueue(store, config.uploads).enqueue(rows) == 0


async def test_a_server_stopped_mid_upload_and_restarted_gets_every_file_exactly_once(
    server: GcsEmulator, tmp_path: Path, run_folder
) -> None:
    folder, run_id = copy_of(run_folder, tmp_path)
    config = desk_config(tmp_path)
    async with await OmsStore.open(config.oms.database) as store:
        queue = UploadQueue(store, config.uploads)
        rows = run_uploads(config, folder, run_id, time.time_ns())
        await queue.enqueue(rows)
        draining = asyncio.create_task(queue.drain(config.uploads.wait_secs))

        async def count(state: str) -> int:
            return sum(1 for row in await store.uploads() if row.state == state)

        while await count("done") < 1:
            await asyncio.sleep(0.01)
        server.stop()  # in the middle: some files are up, the rest are not
        while not any(row.retries for row in await store.uploads()):
            await asyncio.sleep(0.05)
        stalled = await store.uploads()
        await asyncio.sleep(1.0)
        server.start()
        summary = await draining
        final = await store.uploads()
    assert summary.complete, final
    assert any(row.state in ("queued", "uploading") for row in stalled)
    errors = [row for row in final if row.retries]
    assert errors and all(row.last_error for row in errors)  # the pane shows what happened
    assert {row.state for row in final} == {"done"}
    objects = bucket_objects(run_id)
    assert sorted(objects) == sorted(Path(row.file).name for row in final)  # once each
    for row in final:
        assert objects[Path(row.file).name] == Path(row.file).read_bytes()


async def test_an_upload_left_in_flight_by_a_dead_process_is_taken_up_again(
    server, tmp_path: Path, run_folder
) -> None:
    folder, run_id = copy_of(run_folder, tmp_path)
    config = desk_config(tmp_path)
    rows = run_uploads(config, folder, run_id, time.time_ns())
    async with await OmsStore.open(config.oms.database) as store:
        for row in rows:  # as a process killed while uploading left them
            store.submit(msgspec.structs.replace(row, state="uploading"))
        await store.flush()
    async with await OmsStore.open(config.oms.database) as store:
        summary = await UploadQueue(store, config.uploads).drain(config.uploads.wait_secs)
    assert summary.complete and summary.done == len(rows)
    assert set(bucket_objects(run_id)) == {Path(row.file).name for row in rows}


def test_a_write_that_already_landed_is_verified_not_sent_again(
    server, tmp_path: Path, run_folder
) -> None:
    folder, run_id = copy_of(run_folder, tmp_path)
    (row, *_) = run_uploads(desk_config(tmp_path), folder, run_id, time.time_ns())
    assert row.destination is not None and row.md5 is not None
    assert upload_file(row.file, row.destination, row.size, row.md5, 5.0) is False  # sent
    assert upload_file(row.file, row.destination, row.size, row.md5, 5.0) is True  # there
    Path(row.file).write_bytes(b"changed after it was queued")
    fs, path = resolve(row.destination)
    fs.rm(path)
    with pytest.raises(Exception, match="changed since it was queued"):
        upload_file(row.file, row.destination, row.size, row.md5, 5.0)


def test_a_file_out_of_attempts_is_failed_until_retry_failed(
    tmp_path: Path, run_folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, run_id = copy_of(run_folder, tmp_path)
    emulator = GcsEmulator(folder=tmp_path / "gcs")  # not started: nothing answers
    # Against nothing, each of the files' attempts lasts its whole timeout (gcsfs retries until
    # then): a short one keeps the test to seconds, and every attempt still fails.
    config = desk_config(
        tmp_path, msgspec.structs.replace(FAST, max_attempts=2, timeout_secs=0.25, wait_secs=60.0)
    )

    async def fail_once() -> list:
        async with await OmsStore.open(config.oms.database) as store:
            queue = UploadQueue(store, config.uploads)
            await queue.enqueue(run_uploads(config, folder, run_id, time.time_ns()))
            summary = await queue.drain(config.uploads.wait_secs)
            assert summary.failed and not summary.pending
            return await store.uploads(), await store.alerts()

    with emulator.environment():
        failed, alerts = asyncio.run(fail_once())
    assert {(row.state, row.retries) for row in failed} == {("failed", 2)}
    assert all(row.last_error for row in failed)
    # Out of attempts: one ERROR alert per file (what the notifier sends to the desk's phones).
    assert sorted(a.message.split()[2] for a in alerts) == sorted(row.file for row in failed)
    assert {(a.severity, a.rule) for a in alerts} == {("ERROR", "upload_failed")}
    assert all("--retry-failed" in a.message for a in alerts)

    toml = tmp_path / "desk.toml"
    toml.write_text(
        f'[results]\nupload_root = "gs://{BUCKET}/desk"\n'
        f'[oms]\ndatabase = "{config.oms.database}"\n'
        f'[logging]\ndirectory = "{tmp_path / "logs"}"\n'
        "[uploads]\nmax_attempts = 2\ntimeout_secs = 5\nwait_secs = 20\nbackoff_secs = 0.1\n"
    )
    assert main(["uploads", "--config", str(toml)]) == 1  # shows them failed, changes nothing
    assert "failed" in capsys.readouterr().out
    emulator.start()
    try:
        with emulator.environment():
            resolve(f"gs://{BUCKET}")[0].mkdir(BUCKET)
            assert main(["uploads", "--retry-failed", "--config", str(toml)]) == 0
            out = capsys.readouterr().out
            assert f"{len(failed)} files: {len(failed)} done, 0 pending, 0 failed" in out
            assert set(bucket_objects(run_id)) == {Path(row.file).name for row in failed}
    finally:
        emulator.stop()


async def test_the_console_resumes_queued_uploads_and_its_pane_tells_their_story(
    server, tmp_path: Path, run_folder
) -> None:
    folder, run_id = copy_of(run_folder, tmp_path)
    config = desk_config(tmp_path)
    rows = run_uploads(config, folder, run_id, time.time_ns())
    first = rows[0]
    async with await OmsStore.open(config.oms.database) as store:
        # As an earlier process left them: all queued, the first after two failed attempts.
        earlier = "ClientConnectorError: Cannot connect to host 127.0.0.1"
        store.submit_many(
            [msgspec.structs.replace(first, retries=2, last_error=earlier), *rows[1:]]
        )
        await store.flush()
        app = TradeConsoleApp(config, store=store)
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.dashboard is not None)
            pane = app.dashboard.query_one(UploadsPane)
            await wait_for(
                pilot,
                lambda: (
                    pane.table.row_count == len(rows)
                    and set(column(pane.table, "state")) == {"done"}
                ),
                timeout=15,
            )
            assert sorted(column(pane.table, "retries")) == ["0"] * (len(rows) - 1) + ["2"]
            assert any(earlier[:20] in text for text in column(pane.table, "last error"))
    assert set(bucket_objects(run_id)) == {Path(row.file).name for row in rows}


async def test_a_dead_server_costs_one_attempt_per_backoff_not_one_per_file(
    tmp_path: Path, run_folder
) -> None:
    folder, run_id = copy_of(run_folder, tmp_path)
    emulator = GcsEmulator()  # never started: connections are refused
    config = desk_config(
        tmp_path, msgspec.structs.replace(FAST, backoff_secs=2.0, max_backoff_secs=2.0)
    )
    with emulator.environment():
        async with await OmsStore.open(config.oms.database) as store:
            queue = UploadQueue(store, config.uploads)
            rows = run_uploads(config, folder, run_id, time.time_ns())
            await queue.enqueue(rows)
            summary = await queue.drain(1.0)
            states = await store.uploads()
    assert summary.attempts == 1 and summary.pending == len(rows)
    assert sorted(row.retries for row in states) == [0] * (len(rows) - 1) + [1]


def backtest_uploading(
    config_writer, tmp_path: Path, demo_root: str, *, hours: int, extra: str = ""
) -> Path:
    """A backtest config over the first ``hours`` of the demo data, uploading to BUCKET."""
    path = config_writer(
        tmp_path / "c.toml",
        data_root=demo_root,
        results_root=str(tmp_path / "results"),
        backtest={"start": "2026-01-05T00:00:00", "end": f"2026-01-05T{hours:02d}:00:00"},
    )
    text = path.read_text().replace(
        "[results]\n", f'[results]\nupload_root = "gs://{BUCKET}/desk"\n'
    )
    path.write_text(text + extra)
    return path


def test_a_backtest_with_an_upload_root_puts_its_run_in_the_bucket(
    server, tmp_path: Path, config_writer, demo_root: str, capfd: pytest.CaptureFixture[str]
) -> None:
    path = backtest_uploading(config_writer, tmp_path, demo_root, hours=3)
    capfd.readouterr()
    code = main(["backtest", "--config", str(path), "--mode", "signals"])
    out, err = capfd.readouterr()
    assert code == 0, out + err
    (folder,) = (tmp_path / "results" / "backtest_results").iterdir()
    assert f"uploaded to gs://{BUCKET}/desk/backtest_results/{folder.name}/" in out
    objects = bucket_objects(folder.name)
    assert {"summary.json", "equity_curve.parquet", RUN_CONFIG_FILE} <= set(objects)
    assert objects["summary.json"] == (folder / "summary.json").read_bytes()


async def test_a_missing_bucket_fails_every_file_at_once_in_one_line(
    tmp_path: Path, run_folder
) -> None:
    folder, run_id = copy_of(run_folder, tmp_path)
    emulator = GcsEmulator()  # in memory, and no bucket made
    emulator.start()
    config = desk_config(tmp_path, msgspec.structs.replace(FAST, wait_secs=60.0))
    try:
        with emulator.environment():
            async with await OmsStore.open(config.oms.database) as store:
                queue = UploadQueue(store, config.uploads)
                rows = run_uploads(config, folder, run_id, time.time_ns())
                await queue.enqueue(rows)
                started = time.monotonic()
                summary = await queue.drain(config.uploads.wait_secs)
                took = time.monotonic() - started
                states = await store.uploads()
    finally:
        emulator.stop()
    assert (summary.failed, summary.pending, summary.attempts) == (len(rows), 0, 1)
    assert took < config.uploads.wait_secs  # it did not wait the drain out
    expected = (
        f"bucket gs://{BUCKET} does not exist: create it (or fix results.upload_root), then "
        "`trade-console uploads --retry-failed`"
    )
    assert {(row.state, row.last_error) for row in states} == {("failed", expected)}
    assert summary.last_error == expected


async def test_a_run_reports_its_own_files_not_an_earlier_runs_leftovers(
    server, tmp_path: Path, run_folder
) -> None:
    folder, run_id = copy_of(run_folder, tmp_path)
    config = desk_config(tmp_path)
    leftover = tmp_path / "earlier" / "summary.json"
    leftover.parent.mkdir()
    leftover.write_text("{}")
    async with await OmsStore.open(config.oms.database) as store:
        await UploadQueue(store, config.uploads).enqueue(
            run_uploads(config, leftover.parent, "EARLIER", time.time_ns())
        )
    summary = await upload_run(config, folder, run_id)
    mine = run_uploads(config, folder, run_id, time.time_ns())
    assert (summary.done, summary.pending, summary.failed) == (len(mine), 0, 0)
    async with await OmsStore.open(config.oms.database) as store:
        assert len(await store.uploads()) == len(mine) + 2  # the leftovers went up too


def test_verify_queues_again_what_the_bucket_lost_and_uploads_it(
    tmp_path: Path, run_folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, run_id = copy_of(run_folder, tmp_path)
    emulator = GcsEmulator()  # in memory: a restart loses every object
    emulator.start()
    config = desk_config(tmp_path)
    toml = tmp_path / "desk.toml"
    toml.write_text(
        f'[results]\nupload_root = "gs://{BUCKET}/desk"\n'
        f'[oms]\ndatabase = "{config.oms.database}"\n'
        f'[logging]\ndirectory = "{tmp_path / "logs"}"\n'
        "[uploads]\ntimeout_secs = 5\nwait_secs = 20\nbackoff_secs = 0.1\n"
    )
    try:
        with emulator.environment():
            resolve(f"gs://{BUCKET}")[0].mkdir(BUCKET)
            summary = asyncio.run(upload_run(config, folder, run_id))
            assert summary.complete
            emulator.stop()
            emulator.start()  # the server lost the objects the queue marked done
            resolve(f"gs://{BUCKET}")[0].mkdir(BUCKET)
            assert bucket_objects(run_id) == {}
            capsys.readouterr()
            assert main(["uploads", "--drain", "--config", str(toml)]) == 0  # nothing pending
            assert bucket_objects(run_id) == {}
            assert main(["uploads", "--verify", "--config", str(toml)]) == 0
            out = capsys.readouterr().out
            files = summary.done
            assert f"verified {files} done files: {files} missing or different" in out
            assert f"{files} files: {files} done, 0 pending, 0 failed" in out
            assert len(bucket_objects(run_id)) == files
    finally:
        emulator.stop()


def test_gcs_down_at_upload_time_is_one_line_naming_the_url_and_no_traceback(
    tmp_path: Path, config_writer, demo_root: str, capfd: pytest.CaptureFixture[str]
) -> None:
    closed = GcsEmulator()  # never started: its port refuses connections
    path = backtest_uploading(
        config_writer,
        tmp_path,
        demo_root,
        hours=1,
        extra=f'\n[gcs]\nendpoint = "http://{closed.host}"\nanonymous = true\n'
        "[uploads]\nwait_secs = 4\ntimeout_secs = 2\nbackoff_secs = 0.5\n",
    )
    capfd.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("STORAGE_EMULATOR_HOST", raising=False)
        code = main(["backtest", "--config", str(path), "--mode", "signals"])
    out, err = capfd.readouterr()
    assert code == 0, out + err  # the run completed; its files stay queued
    assert "Traceback" not in out + err
    [line] = err.splitlines()
    assert line.startswith(f"warning: uploads to gs://{BUCKET}/desk/backtest_results/")
    assert f"gs://{BUCKET}/desk/backtest_results/" in line.split("(", 1)[1]  # the error names it
