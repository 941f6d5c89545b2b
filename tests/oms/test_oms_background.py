"""The OMS from synchronous code: the background store, and a backtest run's recorder."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from oms_records import fill  # the OMS tests' record builder

from core.oms import OmsError, OmsStore, RunState
from core.oms.background import BackgroundStore
from core.oms.run_recorder import RunRecorder


def background_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "oms-background"]


def read_run(database: Path) -> RunState:
    async def read() -> RunState:
        async with await OmsStore.open(database, read_only=True) as store:
            (run,) = await store.runs()
            return run

    return asyncio.run(read())


def test_a_background_store_takes_records_from_any_thread(oms_location: str) -> None:
    with BackgroundStore.open(oms_location) as background:
        workers = [
            threading.Thread(
                target=lambda n=n: [background.submit(fill(n * 100 + i)) for i in range(100)]
            )
            for n in range(3)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        background.flush()
        assert len(background.call(background.store.fills(limit=1_000))) == 300
    assert background_threads() == []


def test_a_background_store_that_cannot_open_leaves_no_thread(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(OmsError, match="cannot create the OMS database folder"):
        BackgroundStore.open(blocker / "oms.sqlite")
    assert background_threads() == []


def test_the_recorder_takes_a_run_from_queued_to_completed(oms_location: str) -> None:
    database = oms_location
    recorder = RunRecorder.open(database, "BT-1", min_interval_s=3_600)
    recorder.flush()
    assert read_run(database).state == "QUEUED"
    recorder.running("running", 0.1)
    recorder.running("running", 0.5)  # within the interval, same phase: not written
    recorder.flush()
    first = read_run(database)
    assert (first.state, first.phase, first.progress) == ("RUNNING", "running", 0.1)
    recorder.running("writing", 0.0)  # a new phase is always written
    recorder.flush()
    assert read_run(database).phase == "writing"
    recorder.finish("COMPLETED", "/results/BT-1", None)
    done = read_run(database)
    assert (done.state, done.progress, done.result_folder, done.error) == (
        "COMPLETED",
        1.0,
        "/results/BT-1",
        None,
    )
    assert done.started_at == first.started_at == first.updated_at
    assert recorder.problem is None
    recorder.submit(fill(1))  # after the end: dropped, never raised into the engine
    assert background_threads() == []


def test_a_failed_run_keeps_its_last_progress(oms_location: str) -> None:
    database = oms_location
    recorder = RunRecorder.open(database, "BT-1")
    recorder.running("running", 0.4)
    recorder.finish("FAILED", "/results/BT-1", "DataError: no trades")
    failed = read_run(database)
    assert (failed.state, failed.progress, failed.error) == ("FAILED", 0.4, "DataError: no trades")


def test_a_recorder_without_an_oms_records_nothing_and_says_why(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    recorder = RunRecorder.open(blocker / "oms.sqlite", "BT-1")
    assert not recorder.recording
    assert recorder.problem is not None
    assert recorder.problem.startswith("OMS not recorded: ")
    recorder.running("running", 0.5)
    recorder.submit(fill(1))
    recorder.flush()
    recorder.finish("COMPLETED", "/results/BT-1", None)
    assert background_threads() == []
