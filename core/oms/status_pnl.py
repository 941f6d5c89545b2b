"""The PnL part of ``trade-console status``: the node's last ``PnlSnapshot``, as text and JSON.

The figures are the node's (``core.oms.pnl_record`` says what each means): status adds nothing
up itself but the session's and the day's totals, ``equity - start equity``. Unrounded in JSON;
rounded to cents only in the text.

``pnl`` in ``--json`` (null before a node's first mark):

=========================  ====================================================================
key                        value
=========================  ====================================================================
``as_of``, ``as_of_ns``    when the node computed it (ISO UTC / ns); with no node running, the
                           last session's figures, as of then
``currency``               the valuation currency
``equity``                 the equity then
``session_start``          when the session (the node) started (ISO UTC); ``session_start_ns``
``session_start_equity``   the equity then (holdings at their first mark)
``session_pnl``            ``equity - session_start_equity``
``realized``, ``unrealized``, ``fees``, ``funding``, ``external``
                           the session's parts: ``session_pnl = realized + unrealized - fees +
                           funding + external`` (realized gross of fees; funding 0 on spot)
``day``                    the UTC day the same way: ``start``, ``start_ns``, ``start_equity``,
                           ``pnl``, ``realized``, ``unrealized``, ``fees``, ``funding``,
                           ``external``; the day starts at 00:00 UTC's first mark, or at the
                           session's start when it began later that day
``instruments``            per instrument: ``instrument_id``, ``quantity``, ``average_cost``,
                           ``mark``, ``mark_source`` (last or mid), ``mark_at`` / ``mark_ns``,
                           ``realized``, ``unrealized``, ``fees``, ``funding``,
                           ``session_pnl``, ``day_realized``, ``day_unrealized``,
                           ``day_fees``, ``day_funding``, ``day_pnl``
=========================  ====================================================================
"""

from __future__ import annotations

import datetime as dt

from core.oms import InstrumentPnl, PnlSnapshot


def pnl_json(snapshot: PnlSnapshot | None) -> dict | None:
    """``pnl`` of ``status --json`` (keys in the module docstring)."""
    if snapshot is None:
        return None
    return {
        "as_of": iso(snapshot.ts_event),
        "as_of_ns": snapshot.ts_event,
        "currency": snapshot.currency,
        "equity": snapshot.equity,
        "session_start": iso(snapshot.session_start_ns),
        "session_start_ns": snapshot.session_start_ns,
        "session_start_equity": snapshot.session_start_equity,
        "session_pnl": snapshot.session_pnl,
        "realized": snapshot.realized,
        "unrealized": snapshot.unrealized,
        "fees": snapshot.fees,
        "funding": snapshot.funding,
        "external": snapshot.external,
        "day": {
            "start": iso(snapshot.day_start_ns),
            "start_ns": snapshot.day_start_ns,
            "start_equity": snapshot.day_start_equity,
            "pnl": snapshot.day_pnl,
            "realized": snapshot.day_realized,
            "unrealized": snapshot.day_unrealized,
            "fees": snapshot.day_fees,
            "funding": snapshot.day_funding,
            "external": snapshot.day_external,
        },
        "instruments": [_instrument_json(line) for line in snapshot.instruments],
    }


def _instrument_json(line: InstrumentPnl) -> dict:
    return {
        "instrument_id": line.instrument_id,
        "quantity": line.quantity,
        "average_cost": line.average_cost,
        "mark": line.mark,
        "mark_source": line.mark_source,
        "mark_at": None if line.mark_ns is None else iso(line.mark_ns),
        "mark_ns": line.mark_ns,
        "realized": line.realized,
        "unrealized": line.unrealized,
        "fees": line.fees,
        "funding": line.funding,
        "session_pnl": line.session,
        "day_realized": line.day_realized,
        "day_unrealized": line.day_unrealized,
        "day_fees": line.day_fees,
        "day_funding": line.day_funding,
        "day_pnl": line.day,
    }


def pnl_lines(snapshot: PnlSnapshot | None, node_running: bool) -> list[str]:
    """The text's PnL lines: the totals, their parts, then one line per instrument."""
    if snapshot is None:
        return ["pnl            - (no node has marked this OMS yet)"]
    whose = "" if node_running else ", the last session's: no node runs"
    lines = [
        f"pnl            session {snapshot.session_pnl:+,.2f}  day {snapshot.day_pnl:+,.2f} "
        f"{snapshot.currency} (as of {_time(snapshot.ts_event)}{whose})",
        f"  session      since {iso(snapshot.session_start_ns, readable=True)} at equity "
        f"{snapshot.session_start_equity:,.2f}: {_parts(snapshot)}",
        f"  day          since {iso(snapshot.day_start_ns, readable=True)} at equity "
        f"{snapshot.day_start_equity:,.2f}",
    ]
    for line in snapshot.instruments:
        mark = "-" if line.mark is None else f"{line.mark:,.8g} ({line.mark_source})"
        lines.append(
            f"  {line.instrument_id:<18} qty {line.quantity:g}  mark {mark}  "
            f"unrealized {line.unrealized:+,.2f}  realized {line.realized:+,.2f}  "
            f"fees {line.fees:,.2f}  session {line.session:+,.2f}  day {line.day:+,.2f}"
        )
    return lines


def _parts(snapshot: PnlSnapshot) -> str:
    text = (
        f"realized {snapshot.realized:+,.2f} + unrealized {snapshot.unrealized:+,.2f} "
        f"- fees {snapshot.fees:,.2f} + funding {snapshot.funding:+,.2f}"
    )
    if snapshot.external:
        text += f" + external venues {snapshot.external:+,.2f}"
    return text


def iso(ns: int, readable: bool = False) -> str:
    """``ns`` as ISO 8601 UTC (``...Z``), or ``YYYY-MM-DD HH:MM:SS UTC`` when ``readable``."""
    moment = dt.datetime.fromtimestamp(ns / 1e9, dt.UTC)
    if readable:
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%H:%M:%S UTC")
