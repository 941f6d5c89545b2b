"""``DeskCollector``: the desk's figures for Prometheus, read at each scrape.

From the OMS (a read-only connection of the scrape's own, in the server's thread: a SQLite file
or a PostgreSQL server, through ``core.oms.sync_reader``):
orders by status, fills, denials by rule, alerts by severity, the latest drift per instrument,
the heartbeat's age, the upload queue by state, equity and PnL, notifications by status. From
the node's process: the OMS writer's transactions (a summary: ``rate(sum) / rate(count)`` is
the mean write latency) and backlog, and the event loop's lag.

Only the node's own rows count (``run_id IS NULL``): a backtest's orders are not the desk's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from core.monitor.loop_lag import LoopLag
from core.oms import TRADING_STATES, UPLOAD_STATES, WriterStats
from core.oms.sync_reader import SyncReader, connect_read_only

PREFIX = "trade_console"
# A denial's reason is "rule: values and limit" for the desk's checks: the rule is the label.
# Anything else (Nautilus's own engine) is order_denied, so the label set stays small.
_DENIAL_RULE = """
    CASE WHEN strpos(reason, ': ') BETWEEN 2 AND 48
          AND strpos(substr(reason, 1, strpos(reason, ': ') - 1), ' ') = 0
         THEN substr(reason, 1, strpos(reason, ': ') - 1) ELSE 'order_denied' END
"""


class DeskCollector(Collector):
    """Collects the figures listed in the module docstring from ``database`` and the node."""

    def __init__(
        self,
        database: str,
        *,
        writer_stats: Callable[[], WriterStats],
        loop_lag: LoopLag | None = None,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._database = database
        self._writer_stats = writer_stats
        self._loop_lag = loop_lag
        self._now_ns = now_ns

    def collect(self) -> Iterator[Metric]:
        with connect_read_only(self._database, timeout_s=2.0) as reader:
            yield from self._from_oms(reader)
        yield from self._from_process()

    def _from_oms(self, db: SyncReader) -> Iterator[Metric]:
        orders = _gauge("orders", "The node's orders by current status.", ["status"])
        for status, count in db.fetch(
            "SELECT status, count(*) FROM orders WHERE run_id IS NULL GROUP BY status"
        ):
            orders.add_metric([status], count)
        yield orders
        fills = CounterMetricFamily(f"{PREFIX}_fills", "Fills the node recorded.")
        fills.add_metric([], _one(db, "SELECT count(*) FROM fills WHERE run_id IS NULL"))
        yield fills
        denials = CounterMetricFamily(
            f"{PREFIX}_denials", "Orders denied before the venue, by rule.", labels=["rule"]
        )
        for rule, count in db.fetch(
            f"SELECT {_DENIAL_RULE} AS rule, count(*) FROM order_events"
            " WHERE event_type = 'DENIED' AND run_id IS NULL GROUP BY rule"
        ):
            denials.add_metric([rule], count)
        yield denials
        alerts = CounterMetricFamily(
            f"{PREFIX}_alerts", "Risk alerts recorded, by severity.", labels=["severity"]
        )
        for severity, count in db.fetch(
            "SELECT severity, count(*) FROM risk_alerts WHERE run_id IS NULL GROUP BY severity"
        ):
            alerts.add_metric([severity], count)
        yield alerts
        drift = _gauge(
            "drift_bps",
            "The latest fill's drift from its reference price, in bps (positive: a cost).",
            ["instrument_id", "reference"],
        )
        # The latest fill's drift; of fills at the same instant, the costliest.
        for instrument, reference, bps in db.fetch(
            "SELECT instrument_id, reference, max(drift_bps) FROM drift_observations d"
            " WHERE run_id IS NULL AND ts_event = (SELECT max(ts_event) FROM drift_observations"
            " WHERE instrument_id = d.instrument_id AND reference = d.reference"
            " AND run_id IS NULL) GROUP BY instrument_id, reference"
        ):
            drift.add_metric([instrument, reference], bps)
        yield drift
        yield from self._node(db)
        uploads = _gauge("uploads", "The GCS upload queue's files, by state.", ["state"])
        counted = dict(db.fetch("SELECT state, count(*) FROM uploads GROUP BY state"))
        for state in UPLOAD_STATES:
            uploads.add_metric([state], counted.get(state, 0))
        yield uploads
        sent = CounterMetricFamily(
            f"{PREFIX}_notifications",
            "Messages to the desk's channels, by outcome (tests excluded).",
            labels=["status"],
        )
        for status, count in db.fetch(
            "SELECT status, count(*) FROM notifications WHERE kind <> 'test' GROUP BY status"
        ):
            sent.add_metric([status], count)
        yield sent

    def _node(self, db: SyncReader) -> Iterator[Metric]:
        beat = db.one("SELECT ts_event, trading_state, node_state FROM node_status")
        age = _gauge("heartbeat_age_seconds", "Seconds since the node's last heartbeat.")
        age.add_metric([], math.nan if beat is None else max(self._now_ns() - beat[0], 0) / 1e9)
        yield age
        trading = _gauge("trading_state", "1 for the trading state in force.", ["state"])
        for state in TRADING_STATES:
            trading.add_metric([state], 1.0 if beat is not None and beat[1] == state else 0.0)
        yield trading
        pnl = db.one(
            "SELECT currency, equity, equity - session_start_equity, equity - day_start_equity"
            " FROM pnl"
        )
        for name, doc, index in (
            ("equity", "The node's equity.", 1),
            ("pnl_session", "PnL since the node started: equity - its start equity.", 2),
            ("pnl_day", "PnL since 00:00 UTC: equity - the day's start equity.", 3),
        ):
            family = _gauge(name, f"{doc} In the valuation currency.", ["currency"])
            if pnl is not None:
                family.add_metric([pnl[0]], pnl[index])
            yield family

    def _from_process(self) -> Iterator[Metric]:
        stats = self._writer_stats()
        yield SummaryMetricFamily(
            f"{PREFIX}_oms_write_seconds",
            "Time inside the OMS writer's transactions (count: transactions).",
            count_value=stats.batches,
            sum_value=stats.commit_seconds,
        )
        pending = _gauge("oms_pending_records", "Records queued for the OMS, not yet written.")
        pending.add_metric([], stats.pending)
        yield pending
        if self._loop_lag is not None:
            lag = _gauge("event_loop_lag_seconds", "How late the node's event loop woke, latest.")
            lag.add_metric([], self._loop_lag.latest_s)
            yield lag
            worst = _gauge(
                "event_loop_lag_max_seconds", "The event loop's worst lag of the last minute."
            )
            worst.add_metric([], self._loop_lag.worst_s)
            yield worst


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)


def _one(db: SyncReader, sql: str) -> int:
    return db.fetch(sql)[0][0]
