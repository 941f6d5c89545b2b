"""The node's check that the results' bucket answers, against the GCS emulator."""

from __future__ import annotations

import time
from pathlib import Path

from gcs_emulator import GcsEmulator

from core.storage.probe import BucketProbe
from core.storage.roots import resolve

BUCKET = "probe-results"


def wait_for_part(probe: BucketProbe, state: str, timeout: float = 20.0) -> tuple[str, str, str]:
    deadline = time.monotonic() + timeout
    while (part := probe.part())[1] != state:
        assert time.monotonic() < deadline, f"still {part}"
        time.sleep(0.05)
    return part


def test_the_bucket_is_ok_while_it_answers_and_warn_when_it_does_not(tmp_path: Path) -> None:
    emulator = GcsEmulator(folder=tmp_path / "gcs")
    emulator.start()
    try:
        with emulator.environment():
            fs, _ = resolve(f"gs://{BUCKET}")
            fs.mkdir(BUCKET)
            probe = BucketProbe(f"gs://{BUCKET}/desk", interval_secs=0.2, timeout_secs=1.0)
            assert probe.part()[1] == "WARN"  # not checked yet: never OK on no evidence
            probe.start()
            name, _, detail = wait_for_part(probe, "OK")
            assert name == "GCS bucket" and detail.startswith(f"{BUCKET} answered in")

            emulator.stop()  # the server goes away: the next check hangs in gcsfs's retries
            _, _, detail = wait_for_part(probe, "WARN")
            assert detail.startswith(f"{BUCKET}: ")

            emulator.start()  # back: OK again
            wait_for_part(probe, "OK", timeout=60.0)
            probe.stop()
    finally:
        emulator.stop()


def test_a_missing_bucket_is_warn_naming_it(tmp_path: Path) -> None:
    emulator = GcsEmulator()
    emulator.start()
    try:
        with emulator.environment():
            probe = BucketProbe("gs://no-such-bucket/desk", interval_secs=60.0, timeout_secs=5.0)
            state, detail = probe.check()
            assert state == "WARN"
            assert detail.startswith("no-such-bucket: ") and "\n" not in detail
    finally:
        emulator.stop()
