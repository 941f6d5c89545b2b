"""Property-based tests: whatever a target file or a config file holds, the reader ends in an
accepted value or one bounded line naming the problem, never in another exception.

Hypothesis generates documents (nested JSON of every kind, deep nesting, huge values, unicode
and control characters, repeated keys) and raw bytes. The profile is derandomized (a fixed
seed), so CI runs the same examples every time: 2,400 here, 600 more for the backtest's
options (tests/console/test_backtest_argument_properties.py).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import AppConfig, load_config
from core.data.target_file import TargetWeightsFile, parse_target_weights, write_target_file
from core.errors import ConfigError, DataError

FIXED = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
LINE_LIMIT = 1_000
"""The source (a path) plus a 500-character bounded text, with room for the field's name."""
KNOWN = ("BTCUSDT.BINANCE", "ETHUSDT.BINANCE")

# Text with everything a hostile file may carry: control characters, terminal escapes,
# surrogate-free unicode of every plane, line separators.
TEXTS = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["\x1b[2J\x1b[31mFAKE", "\u2028", "X\nY", "\x00", "\x9b31m", "K" * 5_000]
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXTS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXTS, children, max_size=4),
    max_leaves=20,
)


def assert_one_bounded_line(message: str) -> None:
    assert message.strip(), "an empty message"
    assert len(message) <= LINE_LIMIT, f"{len(message)} characters"
    assert not any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in message), message


def judge(raw: bytes) -> TargetWeightsFile | None:
    try:
        return parse_target_weights(raw, "targets.json")
    except DataError as error:
        assert_one_bounded_line(str(error))
        return None


@FIXED
@given(st.binary(max_size=300))
def test_any_bytes_are_a_file_or_one_bounded_line(raw: bytes) -> None:
    judge(raw)


@FIXED
@given(JSON_VALUES)
def test_any_json_document_is_a_file_or_one_bounded_line(document: object) -> None:
    judge(json.dumps(document).encode())


@FIXED
@given(
    weights=st.dictionaries(TEXTS, JSON_VALUES, max_size=5),
    as_of=st.one_of(TEXTS, st.just("2026-01-05T00:00:00Z"), st.just("2026-01-05T00:00:00")),
    extra=st.dictionaries(TEXTS, JSON_VALUES, max_size=2),
)
def test_documents_shaped_like_a_target_file_are_a_file_or_one_bounded_line(
    weights: dict[str, object], as_of: str, extra: dict[str, object]
) -> None:
    parsed = judge(json.dumps({"as_of": as_of, "weights": weights, **extra}).encode())
    if parsed is not None:  # accepted: exactly what was written, every weight a float
        assert parsed.weights == weights


@FIXED
@given(depth=st.integers(1, 60_000), opener=st.sampled_from(["[", '{"a":']))
def test_nesting_of_any_depth_is_a_file_or_one_bounded_line(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "1" + closer * depth
    judge(f'{{"as_of": "2026-01-05T00:00:00Z", "weights": {{"A": {nested}}}}}'.encode())


@FIXED
@given(
    keys=st.lists(TEXTS, min_size=1, max_size=4),
    repeated=st.integers(0, 3),
    values=st.lists(st.floats(0, 1), min_size=5, max_size=5),
)
def test_a_key_written_twice_is_always_refused(
    keys: list[str], repeated: int, values: list[float]
) -> None:
    pairs = [*keys, keys[repeated % len(keys)]]
    body = ", ".join(
        f"{json.dumps(key)}: {value!r}" for key, value in zip(pairs, values, strict=False)
    )
    raw = f'{{"as_of": "2026-01-05T00:00:00Z", "weights": {{{body}}}}}'.encode()
    try:
        parse_target_weights(raw, "targets.json")
    except DataError as error:
        assert_one_bounded_line(str(error))
        assert "appears twice" in str(error)
    else:
        raise AssertionError("a repeated key was accepted")


@FIXED
@given(
    weights=st.dictionaries(
        st.sampled_from(KNOWN), st.floats(-1, 1, allow_subnormal=False), max_size=2
    ),
    seconds=st.integers(0, 10**9),
)
def test_a_file_written_as_the_research_process_does_reads_back_the_same(
    tmp_path_factory, weights: dict[str, float], seconds: int
) -> None:
    path = tmp_path_factory.mktemp("targets") / "target_weights.json"
    as_of = dt.datetime(2000, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    write_target_file(str(path), weights, as_of, "research")
    parsed = parse_target_weights(path.read_bytes(), str(path))
    assert (parsed.weights, parsed.as_of, parsed.strategy_id) == (weights, as_of, "research")


CONFIG_SECTIONS = st.sampled_from(
    ["oms", "watcher", "targets", "risk", "console", "backtest", "data", "logging", "nope"]
)
TOML_VALUES = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda value: repr(value).lower()),
    TEXTS.map(json.dumps),
    st.booleans().map(lambda value: str(value).lower()),
    st.just("[1, 2]"),
)


@FIXED
@given(raw=st.binary(max_size=200))
def test_any_config_bytes_are_a_config_or_one_line(tmp_path_factory, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("config") / "desk.toml"
    path.write_bytes(raw)
    load_or_one_line(path)


@FIXED
@given(
    section=CONFIG_SECTIONS,
    key=st.sampled_from(
        [
            "database",
            "max_bytes",
            "settle_ms",
            "max_clock_skew_secs",
            "path",
            "max_gross",
            "stale_after_secs",
            "down_after_secs",
            "start",
            "root",
            "directory",
            "chunk_size",
            "x",
        ]
    )
    | TEXTS.filter(lambda key: key.isidentifier()),
    value=TOML_VALUES,
)
def test_any_config_value_is_a_config_or_one_line(
    tmp_path_factory, section: str, key: str, value: object
) -> None:
    path = tmp_path_factory.mktemp("config") / "desk.toml"
    path.write_text(f"[{section}]\n{key} = {value}\n")
    load_or_one_line(path)


def load_or_one_line(path: Path) -> AppConfig | None:
    try:
        return load_config(path)
    except ConfigError as error:
        assert_one_bounded_line(str(error))
        return None
