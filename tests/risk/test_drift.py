"""Fill drift: bps against the decision price and the market, the log, the alert, the window."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import DriftConfig
from core.errors import ConfigError
from core.oms.events import Fill
from core.risk.drift import DriftTracker, parse_drift_line

T0 = 1_767_571_200_000_000_000  # 2026-01-05 00:00 UTC in ns
BTC = "BTCUSDT.BINANCE"


def _fill(
    price: float,
    side: str = "BUY",
    decision_price: float | None = 100.0,
    trade_id: str = "T-1",
    order_id: str = "O-1",
    instrument_id: str = BTC,
    ts: int = T0,
) -> Fill:
    return Fill(
        trade_id=trade_id,
        client_order_id=order_id,
        instrument_id=instrument_id,
        strategy_id="REBAL-001",
        side=side,
        quantity=0.5,
        price=price,
        commission=0.05,
        commission_currency="USDT",
        liquidity_side="TAKER",
        ts_event=ts,
        operation_id="SIG-20260105-001",
        decision_price=decision_price,
    )


def _tracker(tmp_path: Path, threshold_bps: float = 10.0, window: int = 200) -> DriftTracker:
    log = tmp_path / "logs" / "live" / "drift.log"
    return DriftTracker(DriftConfig(threshold_bps=threshold_bps, log=str(log)), window=window)


def _lines(tracker: DriftTracker) -> list[str]:
    return Path(tracker.log_path).read_text().splitlines()


def test_a_buy_above_its_reference_drifts_positive_and_below_negative(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path, threshold_bps=1000.0)

    result = tracker.on_fill(_fill(100.25, "BUY", decision_price=100.0), 100.5, "mid")

    by_reference = {o.reference: o for o in result.observations}
    assert set(by_reference) == {"decision", "mid"}
    assert by_reference["decision"].drift_bps == pytest.approx(25.0, rel=1e-12)
    assert by_reference["mid"].drift_bps == pytest.approx(-0.25 / 100.5 * 10_000, rel=1e-12)
    assert by_reference["mid"].reference_price == 100.5
    assert result.line.decision_bps == by_reference["decision"].drift_bps
    assert result.line.market_bps == by_reference["mid"].drift_bps


def test_a_sell_below_its_reference_drifts_positive_and_above_negative(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path, threshold_bps=1000.0)

    result = tracker.on_fill(_fill(99.5, "SELL", decision_price=100.0), 99.0, "last")

    by_reference = {o.reference: o.drift_bps for o in result.observations}
    assert by_reference["decision"] == pytest.approx(50.0, rel=1e-12)
    assert by_reference["last"] == pytest.approx(-0.5 / 99.0 * 10_000, rel=1e-12)
    assert result.line.market_reference == "last"


def test_every_fill_is_one_log_line_that_parses_back(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    results = [
        tracker.on_fill(_fill(100.0 + i / 100, trade_id=f"T-{i}", ts=T0 + i), 100.0, "mid")
        for i in range(3)
    ]

    lines = _lines(tracker)

    assert len(lines) == 3
    assert [parse_drift_line(text) for text in lines] == [r.line for r in results]
    fields = json.loads(lines[2])
    assert fields["trade_id"] == "T-2"
    assert fields["ts_event"] == T0 + 2
    assert fields["market_reference"] == "mid"
    assert fields["decision_bps"] == pytest.approx(2.0, rel=1e-9)
    assert fields["problems"] == []


def test_a_restarted_tracker_appends_to_the_same_log(tmp_path: Path) -> None:
    _tracker(tmp_path).on_fill(_fill(100.0, trade_id="T-1"), 100.0)
    second = _tracker(tmp_path)
    second.on_fill(_fill(100.0, trade_id="T-2"), 100.0)

    assert [parse_drift_line(text).trade_id for text in _lines(second)] == ["T-1", "T-2"]


def test_a_fill_beyond_the_threshold_raises_one_alert_named_by_its_trade(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path, threshold_bps=10.0)

    within = tracker.on_fill(_fill(100.05, trade_id="T-1"), 100.05, "mid")  # 5 bps, 0 bps
    worse = tracker.on_fill(_fill(100.15, trade_id="T-2"), 100.15, "mid")  # 15 bps, 0 bps
    better = tracker.on_fill(_fill(99.85, trade_id="T-3"), 99.85, "mid")  # -15 bps, 0 bps

    assert within.alert is None
    assert not within.line.over_threshold
    assert worse.alert is not None
    assert worse.line.over_threshold
    assert worse.alert.alert_id == "drift:O-1:T-2"
    assert (worse.alert.severity, worse.alert.rule, worse.alert.instrument_id) == (
        "WARNING",
        "fill_drift",
        BTC,
    )
    assert worse.alert.ts_event == T0
    assert worse.alert.message == (
        f"{BTC} BUY 0.5 @ 100.15 is +15.0 bps from decision 100 (threshold 10 bps)"
    )
    assert worse.alert.details is not None
    assert worse.alert.details["decision_bps"] == pytest.approx(15.0, rel=1e-9)
    assert worse.alert.details["mid_bps"] == 0.0
    # A fill far better than its reference is as suspicious: a stale decision price.
    assert better.alert is not None
    assert better.alert.alert_id == "drift:O-1:T-3"
    assert [o.over_threshold for o in worse.observations] == [True, False]


def test_the_same_fill_handled_twice_gives_the_same_alert_id(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path, threshold_bps=10.0)
    fill = _fill(101.0, trade_id="T-9")

    first = tracker.on_fill(fill, 100.0)
    again = tracker.on_fill(fill, 100.0)

    assert first.alert is not None
    assert again.alert is not None
    assert again.alert.alert_id == first.alert.alert_id


def test_rolling_statistics_cover_only_the_last_window_of_fills(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path, threshold_bps=10.5, window=5)
    for k in range(1, 13):  # buys 1..12 bps above the decision price of 100
        tracker.on_fill(_fill(100.0 * (1 + k / 10_000), trade_id=f"T-{k}", ts=T0 + k), None)

    stats = tracker.stats_for(BTC, "decision")

    assert stats is not None
    assert stats.count == 12
    assert stats.window == 5  # drifts 8..12 bps
    assert stats.mean_bps == pytest.approx(10.0, rel=1e-9)
    assert stats.mean_abs_bps == pytest.approx(10.0, rel=1e-9)
    assert stats.p50_abs_bps == pytest.approx(10.0, rel=1e-9)
    assert stats.p95_abs_bps == pytest.approx(11.8, rel=1e-9)
    assert stats.max_abs_bps == pytest.approx(12.0, rel=1e-9)
    assert stats.last_bps == pytest.approx(12.0, rel=1e-9)
    assert stats.last_ts == T0 + 12
    assert stats.over_threshold == 2  # 11 and 12 bps
    assert tracker.stats_for(BTC, "mid") is None  # no market price was given
    assert [(s.instrument_id, s.reference) for s in tracker.stats()] == [(BTC, "decision")]


def test_statistics_are_kept_per_instrument_and_reference(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path, threshold_bps=1000.0)
    tracker.on_fill(_fill(101.0), 100.0, "mid")
    tracker.on_fill(_fill(2020.0, side="SELL", decision_price=2000.0, instrument_id="E"), 2000.0)

    assert [(s.instrument_id, s.reference, round(s.last_bps, 6)) for s in tracker.stats()] == [
        (BTC, "decision", 100.0),
        (BTC, "mid", 100.0),
        ("E", "decision", -100.0),
        ("E", "mid", -100.0),
    ]


def test_a_missing_reference_price_gives_no_observation_and_the_line_says_why(
    tmp_path: Path,
) -> None:
    tracker = _tracker(tmp_path, threshold_bps=1.0)

    no_decision = tracker.on_fill(_fill(150.0, decision_price=None, trade_id="T-1"), 0.0)
    nan_market = tracker.on_fill(_fill(150.0, trade_id="T-2"), float("nan"), "last")

    assert no_decision.observations == ()
    assert no_decision.alert is None  # nothing measured, nothing to alert on
    assert no_decision.line.problems == (
        "no decision price",
        "mid price 0.0 is not a positive number",
    )
    assert [o.reference for o in nan_market.observations] == ["decision"]
    assert nan_market.line.market_bps is None
    assert nan_market.line.problems == ("last price nan is not a positive number",)
    logged = [json.loads(text) for text in _lines(tracker)]
    assert [(d["decision_bps"], d["market_price"], d["market_bps"]) for d in logged] == [
        (None, None, None),
        (pytest.approx(5000.0), None, None),
    ]


def test_a_fill_without_a_usable_price_is_logged_and_not_measured(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)

    result = tracker.on_fill(_fill(0.0), 100.0)

    assert result.observations == ()
    assert result.line.problems == ("fill price 0.0 is not a positive number",)
    assert tracker.stats() == []


def test_an_unwritable_log_is_counted_not_raised(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    Path(tracker.log_path).mkdir()  # a folder where the file should be

    result = tracker.on_fill(_fill(101.0), 100.0)

    assert len(result.observations) == 2
    assert tracker.write_errors == 1
    assert tracker.last_write_error is not None
    assert tracker.last_write_error.startswith(tracker.log_path)


def test_a_remote_or_uncreatable_log_is_a_one_line_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^drift\.log: must be a local path"):
        DriftTracker(DriftConfig(log="gs://bucket/drift.log"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"^drift\.log: cannot create the folder") as error:
        DriftTracker(DriftConfig(log=str(blocker / "live" / "drift.log")))
    assert "\n" not in str(error.value)
