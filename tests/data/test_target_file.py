"""``check_weights``: the one set of rules on target weights, for a file and for a weight the
operator types in the rebalance preview; said as the file writes it or in percent."""

from __future__ import annotations

import fsspec
import pytest

from core.config import WatcherConfig
from core.data.target_file import check_weights, read_target_bytes
from core.errors import DataError

BTC = "BTCUSDT.BINANCE"
ETH = "ETHUSDT.BINANCE"
KNOWN = (BTC, ETH)


def refusal(weights: dict[str, float], *, as_percent: bool, **limits: object) -> str:
    with pytest.raises(DataError) as caught:
        check_weights(weights, WatcherConfig(**limits), KNOWN, as_percent=as_percent)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("weights", "limits", "as_file", "as_typed"),
    [
        (
            {BTC: 25.0},
            {},
            "weights[BTCUSDT.BINANCE]: 25.0 is outside [-1.0, 1.0] "
            "(watcher.min_weight, watcher.max_weight)",
            "BTCUSDT.BINANCE: 2500% is outside [-100%, 100%] "
            "(watcher.min_weight, watcher.max_weight)",
        ),
        (
            {ETH: -0.05},
            {},
            "weights[ETHUSDT.BINANCE]: -0.05 is negative and watcher.long_only is set",
            "ETHUSDT.BINANCE: -5% is negative and watcher.long_only is set",
        ),
        (
            {BTC: 0.6, ETH: 0.5},
            {},
            "weights: gross exposure 1.1 is above watcher.max_gross 1.0",
            "targets: gross exposure 110% is above watcher.max_gross 100%",
        ),
        (
            {BTC: float("nan")},
            {},
            "weights[BTCUSDT.BINANCE]: nan is not a finite number",
            "BTCUSDT.BINANCE: nan% is not a finite number",
        ),
        (
            {"SOLUSDT.BINANCE": 0.1},
            {},
            "weights[SOLUSDT.BINANCE]: unknown instrument",
            "SOLUSDT.BINANCE: unknown instrument",
        ),
        (
            {BTC: 0.7},
            {"max_weight": 0.6},
            "weights[BTCUSDT.BINANCE]: 0.7 is outside [-1.0, 0.6]",
            "BTCUSDT.BINANCE: 70% is outside [-100%, 60%]",
        ),
    ],
)
def test_a_weight_breaking_a_rule_is_refused_naming_the_field_and_the_limit(
    weights: dict[str, float], limits: dict[str, object], as_file: str, as_typed: str
) -> None:
    assert refusal(weights, as_percent=False, **limits).startswith(as_file)
    assert refusal(weights, as_percent=True, **limits).startswith(as_typed)


def test_weights_within_every_rule_pass() -> None:
    check_weights({BTC: 0.4, ETH: 0.3}, WatcherConfig(), KNOWN)
    check_weights({BTC: 0.1 + 0.2, ETH: 0.7}, WatcherConfig(), KNOWN)  # rounding at the gross
    check_weights({BTC: -0.5}, WatcherConfig(long_only=False, min_weight=-0.5), KNOWN)


def test_a_remote_target_file_above_max_bytes_is_refused_and_a_small_one_read() -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/desk/big.json", b"x" * 2_000)
    fs.pipe_file("/desk/small.json", b"{}")
    with pytest.raises(DataError, match=r"2,000 bytes, larger than targets\.max_bytes 1,000"):
        read_target_bytes("memory://desk/big.json", 1_000)
    assert read_target_bytes("memory://desk/small.json", 1_000) == b"{}"
    assert read_target_bytes("memory://desk/absent.json", 1_000) is None
