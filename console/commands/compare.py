"""``trade-console compare``: runs side by side, or a shadow session against its backtest.

``compare RUN_OR_FOLDER RUN_OR_FOLDER...`` prints the metrics table the console's compare
screen shows (the first run is the reference of the difference columns); ``compare --session
RUN_OR_FOLDER`` prints the session report: the summary line, where the session came from, every
order pair, the per-instrument totals. A run id resolves under ``[results] root``, then
``upload_root``; anything else is a folder URL (local or ``gs://``). ``--json`` prints one
object (``RunComparison.to_json`` / ``SessionComparison.to_json``).

Exit codes: 0 printed; 1 for ``--session`` when no shadow session covers the backtest (it
says so, and how to make one, instead of a difference: ``covered`` false in ``--json``); 2
with one line on stderr for an unknown run, a missing or unreadable file, an OMS that cannot
be read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from collections.abc import Sequence
from typing import Any

from console.logs import log_to_file
from core.config import AppConfig, load_config
from core.errors import DataError
from core.runs.compare import compare_runs, format_value, resolve_run, table_cells
from core.runs.session_compare import (
    InstrumentTotals,
    OrderPair,
    SessionComparison,
    compare_session,
)

EXIT_NO_SESSION = 1
"""``compare --session``: no shadow session covers the backtest, nothing was compared."""


def run_compare_command(args: argparse.Namespace) -> int:
    """Print the comparison asked for (see the module docstring)."""
    config = load_config(getattr(args, "config", None))
    log_to_file(config)  # gcsfs's retry tracebacks go to the log, never to the terminal
    runs = [_folder(config, text) for text in args.runs]
    if args.session:
        if len(runs) != 1:
            raise DataError(f"compare --session takes one run, got {len(runs)}")
        report = asyncio.run(compare_session(runs[0], config.oms.location))
        print(json.dumps(report.to_json()) if args.json else render_session(report))
        return 0 if report.covered else EXIT_NO_SESSION
    comparison = compare_runs(runs)
    if args.json:
        print(json.dumps(comparison.to_json()))
    else:
        header, rows = table_cells(comparison)
        print(comparison.curves.title.replace("Equity: ", "curves: "))
        print(render_table(header, rows))
    return 0


def _folder(config: AppConfig, text: str) -> str:
    return resolve_run(text, config.results.root, config.results.upload_root)


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """Columns padded to their widest cell; the first ``left`` (words) left-aligned, the rest
    (numbers) right-aligned."""
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


ORDER_COLUMNS = (
    "operation",
    "instrument",
    "side",
    "state",
    "Δ bps",
    "Δ qty",
    "Δ fee",
    "lag s",
    "bt qty",
    "sh qty",
    "bt vwap",
    "sh vwap",
)
"""The differences come first: at 80 columns they are what shows before scrolling."""
TOTAL_COLUMNS = ("instrument", "bt qty", "sh qty", "bt vwap", "sh vwap", "bt fees", "sh fees")


def order_cells(pair: OrderPair) -> list[str]:
    """One row of the per-order table (the screen shows the same cells)."""
    b, s = pair.backtest, pair.shadow
    either = b if b is not None else s
    assert either is not None
    if b is None:
        state = f"only shadow: {_state(s)}"
    elif s is None:
        state = f"only backtest: {_state(b)}"
    else:
        state = "matched" if b.status == s.status else f"{b.status} / {s.status}"
    return [
        pair.key[0],
        pair.key[1],
        either.side,
        state,
        _number(pair.price_diff_bps, 2, signed=True),
        _number(pair.qty_diff, 8, signed=True),
        _number(pair.fee_diff, 4, signed=True),
        _number(pair.lag_secs, 3, signed=True),
        _number(b.filled_qty if b else None, 8),
        _number(s.filled_qty if s else None, 8),
        _number(b.vwap if b else None, 2),
        _number(s.vwap if s else None, 2),
    ]


def total_cells(backtest: InstrumentTotals | None, shadow: InstrumentTotals | None) -> list[str]:
    """One row of the per-instrument totals."""
    either = backtest if backtest is not None else shadow
    assert either is not None
    return [
        either.instrument,
        _number(backtest.filled_qty if backtest else None, 8),
        _number(shadow.filled_qty if shadow else None, 8),
        _number(backtest.vwap if backtest else None, 2),
        _number(shadow.vwap if shadow else None, 2),
        _number(backtest.fees if backtest else None, 4),
        _number(shadow.fees if shadow else None, 4),
    ]


def render_session(report: SessionComparison) -> str:
    """The session report as text: the lines, then the two tables (without a session, the
    two lines that say so and how to make one)."""
    if not report.covered:
        return f"{report.summary_line()}\n{report.session_line()}"
    a = report.attribution
    return "\n".join(
        [
            report.summary_line(),
            report.session_line(),
            f"PnL over the session: backtest {format_value(a.backtest_pnl, 'money')}, "
            f"shadow {format_value(a.shadow_pnl, 'money')} (marked at the backtest's closing "
            "prices)",
            "",
            render_table(ORDER_COLUMNS, [order_cells(p) for p in report.pairs], left=4),
            "",
            render_table(TOTAL_COLUMNS, [total_cells(b, s) for b, s in report.totals]),
            "",
            report.curve_note,
        ]
    )


def _state(order: Any) -> str:
    return f"{order.status} ({order.reason})" if order.reason else order.status


def _number(value: float | None, decimals: int, *, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    text = f"{value:{'+' if signed else ''},.{decimals}f}"
    if decimals > 2 and "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("+0", "-0", "") else text
