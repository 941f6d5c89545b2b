"""The target-weights watcher on real files in tmp_path, with a real watch task.

Writers here behave like the research process's two kinds: write a temporary file then rename it
onto the path (atomic), or truncate the file and write into it (a reader may catch it midway).
Waits are on outcomes, not on sleeps, except where the point is that nothing happens; there a
later good file is written as a barrier and the outcomes before it are checked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import itertools
import json
import os
import random
import time
from pathlib import Path

import pytest

from core.config import TargetsConfig, WatcherConfig
from core.data.target_file import TargetWeightsFile, load_target_file
from core.errors import ConfigError, DataError
from core.live.watcher import (
    TargetsAccepted,
    TargetsRejected,
    TargetWeightWatcher,
    WatchOutcome,
    parse_target_weights,
    validate_targets,
)

KNOWN = ("BTCUSDT.BINANCE", "ETHUSDT.BINANCE")
NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
NOW_NS = int(NOW.timestamp()) * 1_000_000_000
QUIET_S = 0.25
"""Long enough for a write to be seen, debounced and judged (about 30 ms) several times over."""


def fixed_clock() -> int:
    return NOW_NS


def document(
    minutes: float = 0.0, weights: dict[str, float] | None = None, **extra: object
) -> bytes:
    """A target file whose as_of is ``minutes`` after NOW (negative: before)."""
    as_of = (NOW + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    body = {"as_of": as_of, "weights": {"BTCUSDT.BINANCE": 0.4} if weights is None else weights}
    return json.dumps({**body, **extra}).encode()


def write_renaming(path: Path, raw: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(raw)
    os.replace(temporary, path)


async def write_truncating(path: Path, raw: bytes, pause_s: float) -> None:
    """Truncate, write half, flush (the reader can see half a file), pause, write the rest."""
    half = len(raw) // 2
    with path.open("wb") as file:
        file.write(raw[:half])
        file.flush()
        await asyncio.sleep(pause_s)
        file.write(raw[half:])


class Collected:
    """The watcher's outcomes, in order, with a way to wait for the next ones."""

    def __init__(self) -> None:
        self.outcomes: list[WatchOutcome] = []
        self._arrived = asyncio.Event()

    async def __call__(self, outcome: WatchOutcome) -> None:
        self.outcomes.append(outcome)
        self._arrived.set()

    async def wait_for(self, count: int, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.outcomes) < count:
                self._arrived.clear()
                await self._arrived.wait()

    @property
    def accepted(self) -> list[TargetsAccepted]:
        return [o for o in self.outcomes if isinstance(o, TargetsAccepted)]

    @property
    def rejected(self) -> list[TargetsRejected]:
        return [o for o in self.outcomes if isinstance(o, TargetsRejected)]


@pytest.fixture
def target_path(tmp_path: Path) -> Path:
    return tmp_path / "orders" / "target_weights.json"


def make_watcher(
    path: Path,
    collected: Collected,
    *,
    reading: TargetsConfig | None = None,
    **limits: object,
) -> TargetWeightWatcher:
    config = WatcherConfig(path=str(path), **limits)  # type: ignore[arg-type]
    reading = reading or TargetsConfig(settle_ms=100, max_clock_skew_secs=3600)
    return TargetWeightWatcher(config, KNOWN, collected, now_ns=fixed_clock, reading=reading)


async def test_good_file_is_accepted_with_its_targets_digest_and_timings(
    target_path: Path,
) -> None:
    collected = Collected()
    raw = document(weights={"BTCUSDT.BINANCE": 0.4, "ETHUSDT.BINANCE": 0.25}, strategy_id="r-1")
    async with make_watcher(target_path, collected) as watcher:
        assert target_path.parent.is_dir()  # the missing folder was created at start
        written_ns = time.time_ns()
        write_renaming(target_path, raw)
        await collected.wait_for(1)
    [accepted] = collected.outcomes
    assert isinstance(accepted, TargetsAccepted)
    assert accepted.targets == {"BTCUSDT.BINANCE": 0.4, "ETHUSDT.BINANCE": 0.25}
    assert accepted.as_of == NOW
    assert accepted.as_of_ns == NOW_NS
    assert accepted.strategy_id == "r-1"
    assert accepted.sha256 == hashlib.sha256(raw).hexdigest()
    assert written_ns <= accepted.detected_ns <= accepted.read_ns <= time.time_ns()
    assert watcher.current == accepted


async def test_file_present_at_start_is_judged_before_start_returns(target_path: Path) -> None:
    target_path.parent.mkdir()
    target_path.write_bytes(document())
    collected = Collected()
    watcher = make_watcher(target_path, collected)
    await watcher.start()
    try:
        assert len(collected.accepted) == 1
        assert watcher.current == collected.accepted[0]
    finally:
        await watcher.stop()


async def test_renaming_writer_gives_one_accept_per_distinct_content(target_path: Path) -> None:
    collected = Collected()
    async with make_watcher(target_path, collected):
        for i in range(20):
            write_renaming(target_path, document(minutes=i, weights={"BTCUSDT.BINANCE": i / 40}))
            await collected.wait_for(i + 1)
        write_renaming(target_path, document(minutes=19, weights={"BTCUSDT.BINANCE": 19 / 40}))
        await asyncio.sleep(QUIET_S)
    assert collected.rejected == []
    assert [a.targets["BTCUSDT.BINANCE"] for a in collected.accepted] == [i / 40 for i in range(20)]


async def test_truncating_writer_pausing_midway_gives_one_accept_per_content(
    target_path: Path,
) -> None:
    # Pauses beyond the debounce (20 ms) make the watcher read half a file; it must wait.
    collected = Collected()
    async with make_watcher(target_path, collected):
        for i in range(20):
            raw = document(minutes=i, weights={"ETHUSDT.BINANCE": i / 40})
            await write_truncating(target_path, raw, pause_s=0.005 * (i % 10))
            await collected.wait_for(i + 1)
        await asyncio.sleep(QUIET_S)
    assert collected.rejected == []
    assert [a.targets["ETHUSDT.BINANCE"] for a in collected.accepted] == [i / 40 for i in range(20)]


async def test_hundreds_of_slow_truncating_writes_never_give_a_reject(target_path: Path) -> None:
    collected = Collected()
    rng = random.Random(7)
    written: list[bytes] = []
    async with make_watcher(target_path, collected):
        for i in range(300):
            raw = document(minutes=i / 60, weights={"BTCUSDT.BINANCE": rng.random() / 2})
            written.append(raw)
            # Pauses beyond the debounce make half-file reads common; a rest now and then beyond
            # the retry delay lets the watcher accept some files between the bursts of writes.
            await write_truncating(target_path, raw, pause_s=rng.choice((0.0, 0.001, 0.025)))
            await asyncio.sleep(0.12 if rng.random() < 0.05 else 0.0)
        async with asyncio.timeout(5.0):
            while watcher_digest(collected) != hashlib.sha256(written[-1]).hexdigest():
                await asyncio.sleep(0.01)
    assert collected.rejected == []
    digests = [hashlib.sha256(raw).hexdigest() for raw in written]
    positions = [digests.index(accepted.sha256) for accepted in collected.accepted]
    assert positions == sorted(set(positions))  # each a written file, in order, at most once
    assert len(positions) >= 5  # the watcher accepted files between bursts, not only the last


def watcher_digest(collected: Collected) -> str | None:
    return collected.accepted[-1].sha256 if collected.accepted else None


BAD_FILES = {
    "not json": (b'{"as_of": "2026-01-05T12:00:00Z", "weights": ', "not valid JSON"),
    "empty": (b"", "the file is empty"),
    "unknown key": (document(minutes=1, wieghts={}), "wieghts: unknown key"),
    "missing as_of": (b'{"weights": {"BTCUSDT.BINANCE": 0.1}}', "as_of: is missing"),
    "bad as_of": (b'{"as_of": "noon", "weights": {}}', "as_of: Invalid RFC3339"),
    "naive as_of": (
        b'{"as_of": "2026-01-05T12:01:00", "weights": {"BTCUSDT.BINANCE": 0.1}}',
        "as_of: has no time zone",
    ),
    "text weight": (
        b'{"as_of": "2026-01-05T12:01:00Z", "weights": {"ETHUSDT.BINANCE": "0.1"}}',
        'weights[ETHUSDT.BINANCE]: "0.1" is not a number',
    ),
    "infinite weight": (
        b'{"as_of": "2026-01-05T12:01:00Z", "weights": {"BTCUSDT.BINANCE": 1e999}}',
        "weights[BTCUSDT.BINANCE]: 1e999 is not a finite number",
    ),
    "unknown instrument": (
        document(minutes=1, weights={"SOLUSDT.BINANCE": 0.1}),
        "weights[SOLUSDT.BINANCE]: unknown instrument",
    ),
    "above max_weight": (
        document(minutes=1, weights={"BTCUSDT.BINANCE": 0.7}),
        "weights[BTCUSDT.BINANCE]: 0.7 is outside [-1.0, 0.6]",
    ),
    "negative when long only": (
        document(minutes=1, weights={"ETHUSDT.BINANCE": -0.1}),
        "weights[ETHUSDT.BINANCE]: -0.1 is negative and watcher.long_only is set",
    ),
    "gross above max_gross": (
        document(minutes=1, weights={"BTCUSDT.BINANCE": 0.5, "ETHUSDT.BINANCE": 0.45}),
        "weights: gross exposure 0.95 is above watcher.max_gross 0.9",
    ),
    "as_of not newer": (
        document(minutes=0, weights={"BTCUSDT.BINANCE": 0.3}),
        "as_of: 2026-01-05T12:00:00Z is not newer than the targets in force",
    ),
    "stale as_of": (
        document(minutes=-61, weights={"BTCUSDT.BINANCE": 0.3}),
        "as_of: 2026-01-05T10:59:00Z is 3660 s old, older than watcher.max_age_secs 3600",
    ),
    # Hostile files (issue 16): each once ended the watcher, steered it, or bloated an alert.
    "nested 10,000 deep": (
        b'{"as_of": "2026-01-05T12:01:00Z", "weights": {"BTCUSDT.BINANCE": '
        + b"[" * 10_000
        + b"]" * 10_000
        + b"}}",
        "weights: nested too deeply",
    ),
    "as_of in 2099": (
        b'{"as_of": "2099-01-01T00:00:00Z", "weights": {"BTCUSDT.BINANCE": 0.3}}',
        "as_of: 2099-01-01T00:00:00Z is 2,303,294,400 s ahead of this machine's clock, more "
        "than targets.max_clock_skew_secs 3600",
    ),
    "duplicate key": (
        b'{"as_of": "2026-01-05T12:01:00Z", "weights": '
        b'{"BTCUSDT.BINANCE": 0.9, "ETHUSDT.BINANCE": 0.5, "BTCUSDT.BINANCE": 0.1}}',
        "weights[BTCUSDT.BINANCE]: the key appears twice",
    ),
    "duplicate as_of": (
        b'{"as_of": "2026-01-05T12:01:00Z", "as_of": "2026-01-05T12:02:00Z", "weights": {}}',
        "as_of: the key appears twice",
    ),
    "terminal escapes in a key": (
        document(minutes=1, weights={"X\n\u001b[2J\u001b[31mFAKE: all clear\u001b[0m": 0.1}),
        r"weights[X\n\x1b[2J\x1b[31mFAKE: all clear\x1b[0m]: unknown instrument",
    ),
    "huge key": (
        document(minutes=1, weights={"K" * 500_000: 0.1}),
        f"weights[{'K' * 80}... (499,920 more)]: unknown instrument",
    ),
    "huge text weight": (
        document(minutes=1, weights={"BTCUSDT.BINANCE": "9" * 500_000}),  # type: ignore[dict-item]
        f'weights[BTCUSDT.BINANCE]: "{"9" * 79}... (499,922 more) is not a number',
    ),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
async def test_bad_file_is_rejected_with_its_reason_and_changes_nothing(
    target_path: Path, kind: str
) -> None:
    raw, reason = BAD_FILES[kind]
    target_path.parent.mkdir()
    target_path.write_bytes(document(minutes=0))
    collected = Collected()
    limits = {"max_weight": 0.6, "max_gross": 0.9, "max_age_secs": 3600.0}
    async with make_watcher(target_path, collected, **limits) as watcher:
        good = watcher.current
        assert good is not None
        write_renaming(target_path, raw)
        await collected.wait_for(2)
        assert watcher.current is good
    rejected = collected.outcomes[1]
    assert isinstance(rejected, TargetsRejected)
    assert rejected.path == str(target_path)
    assert rejected.reason.startswith(f"{target_path}: {reason}")
    assert len(rejected.reason) < 1_000  # bounded, whatever the file held
    assert not any(char in rejected.reason for char in "\n\r\x1b")
    assert "\n" not in rejected.reason


async def test_weight_below_min_weight_is_rejected_when_shorts_are_allowed(
    target_path: Path,
) -> None:
    collected = Collected()
    limits = {"long_only": False, "min_weight": -0.5}
    async with make_watcher(target_path, collected, **limits) as watcher:
        write_renaming(target_path, document(weights={"BTCUSDT.BINANCE": -0.5}))
        await collected.wait_for(1)
        write_renaming(target_path, document(minutes=1, weights={"BTCUSDT.BINANCE": -0.6}))
        await collected.wait_for(2)
        assert watcher.current == collected.outcomes[0]
    assert isinstance(collected.outcomes[0], TargetsAccepted)
    assert isinstance(collected.outcomes[1], TargetsRejected)
    assert "weights[BTCUSDT.BINANCE]: -0.6 is outside [-0.5, 1.0]" in collected.outcomes[1].reason


async def test_same_content_is_applied_once(target_path: Path) -> None:
    collected = Collected()
    raw = document(weights={"BTCUSDT.BINANCE": 0.2, "ETHUSDT.BINANCE": 0.1})
    async with make_watcher(target_path, collected):
        write_renaming(target_path, raw)
        await collected.wait_for(1)
        write_renaming(target_path, raw)  # byte-identical
        await asyncio.sleep(QUIET_S)
        target_path.touch()
        await asyncio.sleep(QUIET_S)
        reformatted = json.dumps(json.loads(raw), indent=2).encode()  # same as_of and weights
        await write_truncating(target_path, reformatted, pause_s=0.0)
        await asyncio.sleep(QUIET_S)
        write_renaming(target_path, document(minutes=1))  # the barrier
        await collected.wait_for(2)
    assert collected.rejected == []
    assert [a.as_of for a in collected.accepted] == [NOW, NOW + dt.timedelta(minutes=1)]


async def test_same_bad_file_rewritten_is_rejected_once(target_path: Path) -> None:
    collected = Collected()
    bad = document(weights={"SOLUSDT.BINANCE": 0.1})
    async with make_watcher(target_path, collected):
        write_renaming(target_path, bad)
        await collected.wait_for(1)
        write_renaming(target_path, bad)
        await asyncio.sleep(QUIET_S)
        write_renaming(target_path, document())
        await collected.wait_for(2)
    assert [type(o) for o in collected.outcomes] == [TargetsRejected, TargetsAccepted]


async def test_older_as_of_is_rejected_and_the_newer_targets_stay(target_path: Path) -> None:
    collected = Collected()
    async with make_watcher(target_path, collected) as watcher:
        write_renaming(target_path, document(minutes=5, weights={"BTCUSDT.BINANCE": 0.5}))
        await collected.wait_for(1)
        write_renaming(target_path, document(minutes=4, weights={"BTCUSDT.BINANCE": 0.1}))
        await collected.wait_for(2)
        write_renaming(target_path, document(minutes=5, weights={"BTCUSDT.BINANCE": 0.2}))
        await collected.wait_for(3)
        assert watcher.current == collected.outcomes[0]
    assert [type(o) for o in collected.outcomes] == [
        TargetsAccepted,
        TargetsRejected,
        TargetsRejected,
    ]
    assert "as_of: 2026-01-05T12:04:00Z is not newer" in collected.outcomes[1].reason
    assert "as_of: 2026-01-05T12:05:00Z is not newer" in collected.outcomes[2].reason


async def test_stale_as_of_is_rejected_against_the_given_clock(target_path: Path) -> None:
    collected = Collected()
    async with make_watcher(target_path, collected, max_age_secs=3600.0):
        write_renaming(target_path, document(minutes=-120))
        await collected.wait_for(1)
        write_renaming(target_path, document(minutes=-59))
        await collected.wait_for(2)
    assert [type(o) for o in collected.outcomes] == [TargetsRejected, TargetsAccepted]
    assert "is 7200 s old, older than watcher.max_age_secs 3600" in collected.outcomes[0].reason


async def test_zero_max_age_accepts_any_age(target_path: Path) -> None:
    collected = Collected()
    async with make_watcher(target_path, collected, max_age_secs=0.0):
        write_renaming(target_path, document(minutes=-60 * 24 * 365))
        await collected.wait_for(1)
    assert len(collected.accepted) == 1


async def test_deleted_file_changes_nothing(target_path: Path) -> None:
    collected = Collected()
    raw = document()
    async with make_watcher(target_path, collected) as watcher:
        write_renaming(target_path, raw)
        await collected.wait_for(1)
        target_path.unlink()
        await asyncio.sleep(QUIET_S)
        assert watcher.current == collected.outcomes[0]
        write_renaming(target_path, raw)  # the same targets back: still applied once
        await asyncio.sleep(QUIET_S)
        write_renaming(target_path, document(minutes=1))
        await collected.wait_for(2)
    assert collected.rejected == []
    assert [a.as_of for a in collected.accepted] == [NOW, NOW + dt.timedelta(minutes=1)]


async def test_file_left_half_written_is_rejected_once_it_stays_so(target_path: Path) -> None:
    collected = Collected()
    raw = document()
    reading = TargetsConfig(settle_ms=200, max_clock_skew_secs=3600)
    async with make_watcher(target_path, collected, reading=reading):
        written_ns = time.time_ns()
        target_path.write_bytes(raw[: len(raw) // 2])
        await collected.wait_for(1)
        judged_ns = time.time_ns()
    [rejected] = collected.outcomes
    assert isinstance(rejected, TargetsRejected)
    assert "not valid JSON" in rejected.reason
    assert judged_ns - written_ns >= 200_000_000  # not before it had been still for the retry


async def test_plain_callback_receives_outcomes(target_path: Path) -> None:
    received: list[WatchOutcome] = []
    watcher = TargetWeightWatcher(WatcherConfig(path=str(target_path)), KNOWN, received.append)
    async with watcher:
        write_renaming(target_path, document(minutes=1))
        async with asyncio.timeout(5.0):
            while not received:
                await asyncio.sleep(0.01)
    # The default clock is the wall clock: a file from 2026-01-05 is stale or fresh by date.
    assert len(received) == 1


async def test_start_and_stop_leave_no_task_running(target_path: Path) -> None:
    before = asyncio.all_tasks()
    collected = Collected()
    watcher = make_watcher(target_path, collected)
    await watcher.start()
    assert watcher.running
    assert len(asyncio.all_tasks() - before) == 2
    started = time.perf_counter()
    await watcher.stop()
    assert time.perf_counter() - started < 0.5
    assert not watcher.running
    assert asyncio.all_tasks() == before
    await watcher.stop()  # a second stop is harmless
    async with watcher:  # and it can be started again
        write_renaming(target_path, document())
        await collected.wait_for(1)
    assert asyncio.all_tasks() == before


async def test_failing_callback_ends_the_watcher_and_stop_reraises(target_path: Path) -> None:
    def explode(outcome: WatchOutcome) -> None:
        raise RuntimeError("strategy refused")

    before = asyncio.all_tasks()
    watcher = TargetWeightWatcher(WatcherConfig(path=str(target_path)), KNOWN, explode)
    await watcher.start()
    write_renaming(target_path, document())
    async with asyncio.timeout(5.0):
        while watcher.running:
            await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError, match="strategy refused"):
        await watcher.stop()
    assert asyncio.all_tasks() == before


async def test_stop_from_the_callback_is_refused_and_ends_the_watcher(target_path: Path) -> None:
    watchers: list[TargetWeightWatcher] = []

    async def stop_from_inside(outcome: WatchOutcome) -> None:
        await watchers[0].stop()

    watcher = TargetWeightWatcher(WatcherConfig(path=str(target_path)), KNOWN, stop_from_inside)
    watchers.append(watcher)
    await watcher.start()
    write_renaming(target_path, document())
    async with asyncio.timeout(5.0):
        while watcher.running:
            await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError, match="stop\\(\\) called from on_outcome"):
        await watcher.stop()


def test_remote_path_is_refused() -> None:
    config = WatcherConfig(path="gs://bucket/orders/target_weights.json")
    with pytest.raises(ConfigError, match=r"watcher.path: 'gs://bucket/.*' is not a local path"):
        TargetWeightWatcher(config, KNOWN, print)


async def test_folder_at_the_path_is_refused(target_path: Path) -> None:
    target_path.mkdir(parents=True)
    watcher = make_watcher(target_path, Collected())
    with pytest.raises(ConfigError, match="is a folder, not a file"):
        await watcher.start()
    assert not watcher.running


def test_gross_at_the_limit_with_rounding_error_is_accepted() -> None:
    weights = {"BTCUSDT.BINANCE": 0.1, "ETHUSDT.BINANCE": 0.2}
    assert sum(weights.values()) > 0.3  # 0.30000000000000004
    targets = TargetWeightsFile(as_of=NOW, weights=weights)
    validate_targets(
        targets,
        "t.json",
        config=WatcherConfig(max_gross=0.3),
        known_instruments=KNOWN,
        last_as_of=None,
        now_ns=NOW_NS,
    )


def test_parse_names_the_file_and_converts_nothing_silently() -> None:
    parsed = parse_target_weights(b'{"as_of": "2026-01-05T13:00:00+01:00", "weights": {}}', "f")
    assert parsed.as_of == NOW
    with pytest.raises(DataError, match=r"^f: as_of: has no time zone"):
        parse_target_weights(b'{"as_of": "2026-01-05T12:00:00", "weights": {}}', "f")


async def test_fifo_at_the_path_is_refused_without_blocking_and_the_next_file_applies(
    target_path: Path,
) -> None:
    # Opening a FIFO for reading blocks until a writer opens it: on the node's loop that once
    # stopped the heartbeat and the kill switch. No writer ever opens this one.
    collected = Collected()
    async with make_watcher(target_path, collected) as watcher:
        os.mkfifo(target_path)
        await collected.wait_for(1)
        target_path.unlink()
        write_renaming(target_path, document(minutes=1))
        await collected.wait_for(2)
        assert watcher.running
    refused, accepted = collected.outcomes
    assert isinstance(refused, TargetsRejected)
    assert refused.reason == f"{target_path}: not a regular file (a FIFO): refused"
    assert isinstance(accepted, TargetsAccepted)


async def test_link_to_dev_zero_is_refused_unread(target_path: Path) -> None:
    collected = Collected()
    async with make_watcher(target_path, collected) as watcher:
        target_path.symlink_to("/dev/zero")
        await collected.wait_for(1)
        assert watcher.running
    [refused] = collected.outcomes
    assert isinstance(refused, TargetsRejected)
    assert refused.reason == f"{target_path}: not a regular file (a character device): refused"


async def test_file_above_max_bytes_is_refused_unread(target_path: Path) -> None:
    collected = Collected()
    reading = TargetsConfig(max_bytes=1_000, max_clock_skew_secs=3600)
    padded = document(minutes=1, strategy_id="x" * 2_000)
    async with make_watcher(target_path, collected, reading=reading):
        write_renaming(target_path, padded)
        await collected.wait_for(1)
        write_renaming(target_path, document(minutes=2))  # a small one still applies
        await collected.wait_for(2)
    refused, accepted = collected.outcomes
    assert isinstance(refused, TargetsRejected)
    assert refused.reason == (
        f"{target_path}: {len(padded):,} bytes, larger than targets.max_bytes 1,000: refused unread"
    )
    assert isinstance(accepted, TargetsAccepted)


async def test_deeply_nested_file_leaves_the_watcher_running_for_the_next_file(
    target_path: Path,
) -> None:
    collected = Collected()
    nested = b"[" * 10_000 + b"]" * 10_000
    async with make_watcher(target_path, collected) as watcher:
        write_renaming(
            target_path,
            b'{"as_of": "2026-01-05T12:00:00Z", "weights": {"BTCUSDT.BINANCE": ' + nested + b"}}",
        )
        await collected.wait_for(1)
        write_renaming(target_path, document(minutes=1))
        await collected.wait_for(2)
        assert watcher.running
        assert watcher.parts() == (("target watcher", "OK", "running"),)
    refused, accepted = collected.outcomes
    assert isinstance(refused, TargetsRejected)
    assert "nested too deeply" in refused.reason
    assert accepted == watcher.current


async def test_writer_in_five_pieces_400_ms_apart_is_never_reported_half_written(
    target_path: Path,
) -> None:
    # The default settle rule ([targets] settle_ms = 1000) against a slow truncating writer.
    collected = Collected()
    raw = document(minutes=1, strategy_id="slow-writer")
    cuts = [len(raw) * i // 5 for i in range(6)]
    reading = TargetsConfig(max_clock_skew_secs=3600)  # settle_ms as by default
    async with make_watcher(target_path, collected, reading=reading):
        with target_path.open("wb") as file:
            for start, end in itertools.pairwise(cuts):
                file.write(raw[start:end])
                file.flush()
                await asyncio.sleep(0.4)
        await collected.wait_for(1)
        await asyncio.sleep(QUIET_S)
    assert collected.rejected == []
    [accepted] = collected.accepted
    assert accepted.strategy_id == "slow-writer"


def test_backtest_targets_file_that_is_nested_too_deeply_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "targets.json"
    path.write_bytes(b'{"as_of": "2026-01-05T12:00:00Z", "weights": {"A": ' + b"[" * 10_000 + b"}}")
    with pytest.raises(DataError, match="nested too deeply"):
        load_target_file(str(path), KNOWN)
