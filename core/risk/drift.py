"""Fill-price drift: how far each fill lands from the prices the strategy and market showed.

A rebalance decides at one price and fills at another; the gap is the cost the backtest does
not see (latency, the spread, our own size). The node's fill handler hands each fill to a
``DriftTracker``, which measures it against two references:

- ``decision``: the price the strategy decided at (the order's ``decision_price=`` tag, carried
  by ``Fill.decision_price``): the market at decision time;
- ``mid`` (when quotes exist) or ``last`` (the last trade otherwise): the market at fill time,
  which the caller reads from its cache and passes in.

Drift is signed as a cost (``DriftObservation.measure``): positive when the fill was worse
than the reference. Each fill gives one line in the drift log, the observations for the OMS,
rolling statistics per instrument for the Drift pane, and a risk alert when one of its drifts
is beyond the threshold in either direction (a fill far *better* than the reference is as
suspicious: a stale price).

The drift log holds one JSON object per line (``DriftLine``), appended and flushed line by
line, so ``tail -f`` and the pane see each fill as it happens and a crash loses at most the
line being written; ``parse_drift_line`` reads one back.

This module imports no Nautilus: it works on OMS records and floats.
"""

from __future__ import annotations

import math
import posixpath
from collections import deque
from typing import Literal

import msgspec

from core.config import DriftConfig
from core.errors import ConfigError
from core.oms.events import DriftObservation, Fill, RiskAlert
from core.storage.roots import is_remote, resolve

MarketReference = Literal["mid", "last"]
MARKET_REFERENCES = ("mid", "last")

DEFAULT_WINDOW = 200
"""Fills per instrument and reference kept for the rolling statistics."""


class DriftLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the drift log: one fill, measured against both references.

    A ``*_bps`` is None when its reference had no usable price; ``problems`` then says why.
    """

    ts_event: int
    """The fill's time (ns, UTC)."""
    trade_id: str
    client_order_id: str
    instrument_id: str
    side: str
    """BUY or SELL."""
    quantity: float
    fill_price: float
    decision_price: float | None
    """The price the strategy decided at; None when the order carried none."""
    decision_bps: float | None
    """Drift from ``decision_price`` in bps, positive = worse than it."""
    market_reference: str
    """``mid`` or ``last``: what ``market_price`` is."""
    market_price: float | None
    """The mid or last trade price at fill time; None when there was none."""
    market_bps: float | None
    """Drift from ``market_price`` in bps, positive = worse than it."""
    threshold_bps: float
    over_threshold: bool
    """Whether either drift's magnitude exceeds ``threshold_bps`` (the fill raised an alert)."""
    problems: tuple[str, ...] = ()
    """Why a reference was not measured, e.g. ``no decision price``; empty when both were."""
    run_id: str | None = None


class DriftStats(msgspec.Struct, frozen=True, kw_only=True):
    """Rolling drift of one instrument against one reference, for the Drift pane.

    ``count`` is every fill seen; the other figures cover the last ``window`` of them.
    """

    instrument_id: str
    reference: str
    count: int
    window: int
    mean_bps: float
    """Signed mean: a persistent cost (positive) or gain, not noise."""
    mean_abs_bps: float
    p50_abs_bps: float
    p95_abs_bps: float
    max_abs_bps: float
    last_bps: float
    last_ts: int
    over_threshold: int
    """Fills in the window whose drift was beyond the threshold."""


class FillDrift(msgspec.Struct, frozen=True, kw_only=True):
    """What one fill gave: the OMS rows, the alert if any, and the logged line."""

    observations: tuple[DriftObservation, ...]
    alert: RiskAlert | None
    line: DriftLine


class _Series:
    """One instrument's drifts against one reference: bounded by ``window``."""

    __slots__ = ("count", "drifts", "last_ts", "over")

    def __init__(self, window: int) -> None:
        self.drifts: deque[float] = deque(maxlen=window)
        self.over: deque[bool] = deque(maxlen=window)
        self.count = 0
        self.last_ts = 0

    def add(self, observation: DriftObservation) -> None:
        self.drifts.append(observation.drift_bps)
        self.over.append(observation.over_threshold)
        self.count += 1
        self.last_ts = observation.ts_event


class DriftTracker:
    """Measures each fill's drift, logs it, keeps rolling statistics and raises alerts.

    Call ``on_fill`` from the node's fill handler (the event loop's thread); it never raises
    for a missing price or an unwritable log, because a bookkeeping problem must not stop
    trading: a failed write is counted in ``write_errors`` for the Health pane instead.

    Parameters
    ----------
    config : DriftConfig
        The threshold and the log file (a local path; its folder is created).
    window : int, default ``DEFAULT_WINDOW``
        Fills per instrument and reference the rolling statistics cover; memory is bounded by
        it times the number of instruments.

    Raises
    ------
    ConfigError
        When the log is not a local path or its folder cannot be created.
    ValueError
        When ``window`` is below 1.
    """

    def __init__(self, config: DriftConfig, window: int = DEFAULT_WINDOW) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        if config.log is None:
            # The default lives under the log folder: core.config.drift_log_path resolves it.
            raise ConfigError("drift.log: no path given (use core.config.drift_log_path)")
        if is_remote(config.log):
            # fsspec's remote stores cannot append: a per-line log must be a local file.
            raise ConfigError(f"drift.log: must be a local path, got {config.log}")
        self.threshold_bps = config.threshold_bps
        self._fs, self.log_path = resolve(config.log)
        try:
            self._fs.makedirs(posixpath.dirname(self.log_path), exist_ok=True)
        except OSError as error:
            raise ConfigError(
                f"drift.log: cannot create the folder of {self.log_path}: {error.strerror or error}"
            ) from error
        self._window = window
        self._series: dict[tuple[str, str], _Series] = {}
        self.write_errors = 0
        """Lines that could not be written (disk full, file removed with its folder...)."""
        self.last_write_error: str | None = None

    def on_fill(
        self,
        fill: Fill,
        market_price: float | None,
        market_reference: MarketReference = "mid",
    ) -> FillDrift:
        """Measure ``fill`` against its decision price and the market, log it, track it.

        Parameters
        ----------
        fill : Fill
            The execution; its ``decision_price`` (from the order's tag) is the decision
            reference.
        market_price : float or None
            The mid at fill time when quotes exist, else the last trade price; None (or 0, or
            not finite) when there is neither: that reference is then not measured.
        market_reference : {"mid", "last"}
            Which of the two ``market_price`` is.

        Returns
        -------
        FillDrift
            The observations (zero to two), the alert when a drift is beyond the threshold,
            and the line written to the log.
        """
        if market_reference not in MARKET_REFERENCES:
            raise ValueError(f"market_reference: {market_reference!r} is not mid or last")
        problems: list[str] = []
        fill_ok = _usable(fill.price)
        if not fill_ok:
            problems.append(f"fill price {fill.price!r} is not a positive number")
        observations: list[DriftObservation] = []
        drifts: dict[str, float | None] = {}
        for reference, price in (
            ("decision", fill.decision_price),
            (market_reference, market_price),
        ):
            drifts[reference] = None
            if price is None or not _usable(price):
                problems.append(
                    f"no {reference} price"
                    if price is None
                    else f"{reference} price {price!r} is not a positive number"
                )
                continue
            if not fill_ok:
                continue
            observation = DriftObservation.measure(fill, price, reference, self.threshold_bps)
            observations.append(observation)
            drifts[reference] = observation.drift_bps
            self._series_for(fill.instrument_id, reference).add(observation)
        over = any(o.over_threshold for o in observations)
        line = DriftLine(
            ts_event=fill.ts_event,
            trade_id=fill.trade_id,
            client_order_id=fill.client_order_id,
            instrument_id=fill.instrument_id,
            side=fill.side,
            quantity=fill.quantity,
            fill_price=fill.price,
            decision_price=fill.decision_price if _usable(fill.decision_price) else None,
            decision_bps=drifts["decision"],
            market_reference=market_reference,
            market_price=market_price if _usable(market_price) else None,
            market_bps=drifts[market_reference],
            threshold_bps=self.threshold_bps,
            over_threshold=over,
            problems=tuple(problems),
            run_id=fill.run_id,
        )
        self._write(line)
        alert = _alert(fill, observations, self.threshold_bps) if over else None
        return FillDrift(observations=tuple(observations), alert=alert, line=line)

    def stats(self) -> list[DriftStats]:
        """The rolling statistics of every instrument and reference seen, sorted by both."""
        return [
            _summarise(instrument_id, reference, series)
            for (instrument_id, reference), series in sorted(self._series.items())
        ]

    def stats_for(self, instrument_id: str, reference: str) -> DriftStats | None:
        """One instrument's rolling statistics against ``reference``; None before its first."""
        series = self._series.get((instrument_id, reference))
        return None if series is None else _summarise(instrument_id, reference, series)

    def _series_for(self, instrument_id: str, reference: str) -> _Series:
        key = (instrument_id, reference)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(self._window)
        return series

    def _write(self, line: DriftLine) -> None:
        data = msgspec.json.encode(line) + b"\n"
        try:
            # Opened per line: a log rotated or removed by hand is recreated, not written
            # into a deleted file; fills come a few a second at most.
            with self._fs.open(self.log_path, "ab") as handle:
                handle.write(data)
                handle.flush()
        except OSError as error:
            self.write_errors += 1
            self.last_write_error = f"{self.log_path}: {error.strerror or error}"


def parse_drift_line(text: str | bytes) -> DriftLine:
    """One drift log line read back.

    Raises
    ------
    msgspec.ValidationError, msgspec.DecodeError
        When ``text`` is not a drift line.
    """
    return msgspec.json.decode(text, type=DriftLine)


def _usable(price: float | None) -> bool:
    return price is not None and math.isfinite(price) and price > 0


def _alert(fill: Fill, observations: list[DriftObservation], threshold: float) -> RiskAlert:
    worst = max(observations, key=lambda o: abs(o.drift_bps))
    return RiskAlert(
        # The fill's identity (the drift table's key without the reference): one alert per
        # fill however often the fill is replayed or re-handled after a restart.
        alert_id=f"drift:{fill.client_order_id}:{fill.trade_id}",
        ts_event=fill.ts_event,
        severity="WARNING",
        rule="fill_drift",
        message=(
            f"{fill.instrument_id} {fill.side} {fill.quantity:g} @ {fill.price:g} is "
            f"{worst.drift_bps:+.1f} bps from {worst.reference} {worst.reference_price:g} "
            f"(threshold {threshold:g} bps)"
        ),
        instrument_id=fill.instrument_id,
        details={
            "client_order_id": fill.client_order_id,
            "trade_id": fill.trade_id,
            "threshold_bps": threshold,
            **{f"{o.reference}_bps": o.drift_bps for o in observations},
            **{f"{o.reference}_price": o.reference_price for o in observations},
        },
        run_id=fill.run_id,
    )


def _percentile(ordered: list[float], q: float) -> float:
    # Linear interpolation between closest ranks, as numpy's default: p50 of [1, 2] is 1.5.
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _summarise(instrument_id: str, reference: str, series: _Series) -> DriftStats:
    drifts = list(series.drifts)
    magnitudes = sorted(abs(d) for d in drifts)
    return DriftStats(
        instrument_id=instrument_id,
        reference=reference,
        count=series.count,
        window=len(drifts),
        mean_bps=math.fsum(drifts) / len(drifts),
        mean_abs_bps=math.fsum(magnitudes) / len(magnitudes),
        p50_abs_bps=_percentile(magnitudes, 0.50),
        p95_abs_bps=_percentile(magnitudes, 0.95),
        max_abs_bps=magnitudes[-1],
        last_bps=drifts[-1],
        last_ts=series.last_ts,
        over_threshold=sum(series.over),
    )
