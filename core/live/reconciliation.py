"""Spec reconciliation: does the venue trade our instruments under the rules our file says?

The desk's instruments file (``core.data.instrument_specs``) is what the backtests and the strategy
round prices and sizes to. When the venue has since changed a tick size or a minimum, live
orders get rejected or land on a grid the backtest never saw; when an instrument is gone, every
order for it fails. The node compares the two on start and turns each disagreement into a risk
alert the operator sees, without stopping: a wrong spec is worth a warning, not a crash.

Four fields are compared, each as the desk's column against the Nautilus instrument attribute:

================  ====================  ==========================================
desk column       Nautilus attribute    "no value"
================  ====================  ==========================================
``tick_size``     ``price_increment``   never expected: a None is a mismatch
``lot_size``      ``size_increment``    never expected: a None is a mismatch
``min_quantity``  ``min_quantity``      desk 0 = venue None = no minimum
``min_notional``  ``min_notional``      desk 0 = venue None = no minimum
================  ====================  ==========================================

Nautilus's own ``lot_size`` is a board lot, not the desk's size increment, so it is not
compared (see ``core.data.nautilus_instruments``).

Values are compared as decimals: the desk's float through its shortest repr (``0.01`` is
``Decimal("0.01")``, not the binary expansion), the venue's ``Price``/``Quantity``/``Money``
through ``as_decimal()``. Two values agree when they differ by at most ``RELATIVE_TOLERANCE``
of the larger: that absorbs a desk float computed rather than typed (``0.1 + 0.2`` against a
venue's ``0.3``, 2e-16 apart), while any real change of a venue rule (a tick ten times larger,
a minimum notional from 5 to 5.01, 2e-3 apart) is far beyond it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from core.data.instrument_specs import InstrumentSpec
from core.oms.events import RiskAlert

FIELDS = ("tick_size", "lot_size", "min_quantity", "min_notional")
"""The desk columns compared, in the order findings list them."""

VENUE_ATTRIBUTES = {
    "tick_size": "price_increment",
    "lot_size": "size_increment",
    "min_quantity": "min_quantity",
    "min_notional": "min_notional",
}
"""The Nautilus ``Instrument`` attribute each desk column is compared with."""

RELATIVE_TOLERANCE = Decimal("1e-9")
"""Largest relative difference still taken as equal (see the module docstring)."""

_MINIMUMS = ("min_quantity", "min_notional")  # 0 and None both mean "no minimum"
# Stands for a value that could not be read: it agrees with nothing, not even itself.
_UNREADABLE = Decimal("NaN")

MISMATCH = "mismatch"
MISSING_AT_VENUE = "missing_at_venue"
VENUE_ONLY = "venue_only"

_SEVERITY = {MISMATCH: "WARNING", MISSING_AT_VENUE: "ERROR", VENUE_ONLY: "INFO"}


class SpecFinding(msgspec.Struct, frozen=True, kw_only=True):
    """One disagreement between the desk's specs and the venue's instruments.

    Values are decimal strings as a person would type them (``"0.01"``, ``"5 USDT"`` for a
    notional); None means the side gives no value (no minimum, or no such instrument).
    """

    instrument_id: str
    kind: str
    """``mismatch`` (one field differs), ``missing_at_venue`` (the desk trades an instrument
    the venue does not list) or ``venue_only`` (the venue lists one the desk's file lacks)."""
    field: str | None
    """The desk column that differs (one of ``FIELDS``); None unless ``kind`` is mismatch."""
    desk_value: str | None
    venue_value: str | None
    severity: str
    """WARNING for a mismatch, ERROR for an instrument missing at the venue, INFO for one
    only the venue lists (not an alert: see ``spec_alerts``)."""


def reconcile(
    specs: Mapping[str, InstrumentSpec],
    venue_instruments: Iterable[Any],
    venues: Collection[str] | None = None,
) -> list[SpecFinding]:
    """Every disagreement between the desk's ``specs`` and the venue's instruments.

    Findings come sorted by instrument id, then in ``FIELDS`` order; agreement gives none.

    Parameters
    ----------
    specs : Mapping[str, InstrumentSpec]
        The day's desk specs, as ``core.data.instrument_specs.load_instrument_specs`` returns them.
    venue_instruments : Iterable[Instrument]
        The venue's Nautilus instruments, e.g. ``node.cache.instruments()``. An object without
        a readable ``id`` cannot be matched to anything and is skipped; a missing or unreadable
        attribute is reported as a mismatch, never raised.
    venues : Collection[str], optional
        Only the desk's instruments on these venues are checked: the node that connects to
        BINANCE alone must not report the desk's BYBIT instruments as missing. Default: all.

    Returns
    -------
    list[SpecFinding]
    """
    by_id: dict[str, Any] = {}
    for instrument in venue_instruments:
        instrument_id = _instrument_id(instrument)
        if instrument_id is not None:
            by_id[instrument_id] = instrument
    wanted = {key: spec for key, spec in specs.items() if venues is None or spec.venue in venues}
    findings: list[SpecFinding] = []
    for instrument_id in sorted(wanted.keys() | by_id.keys()):
        spec = wanted.get(instrument_id)
        instrument = by_id.get(instrument_id)
        if spec is None:
            if venues is None or instrument_id.rsplit(".", 1)[-1] in venues:
                findings.append(_whole(instrument_id, VENUE_ONLY))
        elif instrument is None:
            findings.append(_whole(instrument_id, MISSING_AT_VENUE))
        else:
            findings.extend(_compare(spec, instrument))
    return findings


def spec_alerts(
    findings: Sequence[SpecFinding], ts_event: int, run_id: str | None = None
) -> list[RiskAlert]:
    """The risk alerts ``findings`` raise: one per mismatching field, one per missing instrument.

    Instruments only the venue lists raise none: a venue lists thousands the desk never
    trades. Alert ids are built from the finding, values included, so reconciling again after
    a restart writes no new row (the OMS ignores a repeated ``alert_id``), while a value that
    changes again is a new alert.
    """
    alerts: list[RiskAlert] = []
    for finding in findings:
        if finding.kind == MISMATCH:
            alert_id = (
                f"spec:{finding.instrument_id}:{finding.field}:"
                f"{_shown(finding.desk_value)}:{_shown(finding.venue_value)}"
            )
            message = (
                f"{finding.instrument_id} {finding.field}: desk {_shown(finding.desk_value)}, "
                f"venue {_shown(finding.venue_value)}"
            )
            rule = "spec_mismatch"
        elif finding.kind == MISSING_AT_VENUE:
            alert_id = f"spec:{finding.instrument_id}:missing"
            message = f"{finding.instrument_id} is in the desk's specs but not at the venue"
            rule = "spec_missing_at_venue"
        else:
            continue
        alerts.append(
            RiskAlert(
                alert_id=alert_id,
                ts_event=ts_event,
                severity=finding.severity,
                rule=rule,
                message=message,
                instrument_id=finding.instrument_id,
                details={
                    "field": finding.field,
                    "desk_value": finding.desk_value,
                    "venue_value": finding.venue_value,
                },
                run_id=run_id,
            )
        )
    return alerts


def _shown(value: str | None) -> str:
    return "none" if value is None else value


def _whole(instrument_id: str, kind: str) -> SpecFinding:
    return SpecFinding(
        instrument_id=instrument_id,
        kind=kind,
        field=None,
        desk_value=None,
        venue_value=None,
        severity=_SEVERITY[kind],
    )


def _instrument_id(instrument: Any) -> str | None:
    identifier = getattr(instrument, "id", None)
    value = getattr(identifier, "value", identifier)
    return value if isinstance(value, str) and value else None


def _compare(spec: InstrumentSpec, instrument: Any) -> list[SpecFinding]:
    findings = []
    for field in FIELDS:
        desk, desk_text = _desk_value(spec, field)
        venue, venue_text, venue_currency = _venue_value(
            field, getattr(instrument, VENUE_ATTRIBUTES[field], None)
        )
        if field == "min_notional":
            desk_text = None if desk_text is None else f"{desk_text} {spec.quote}"
            if venue_currency is not None and venue_text is not None:
                venue_text = f"{venue_text} {venue_currency}"
        same_currency = venue_currency is None or venue_currency == spec.quote
        if not (same_currency and _agree(desk, venue)):
            findings.append(
                SpecFinding(
                    instrument_id=spec.instrument_id,
                    kind=MISMATCH,
                    field=field,
                    desk_value=desk_text,
                    venue_value=venue_text,
                    severity=_SEVERITY[MISMATCH],
                )
            )
    return findings


def _desk_value(spec: InstrumentSpec, field: str) -> tuple[Decimal | None, str | None]:
    raw = getattr(spec, field, None)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return _UNREADABLE, f"unreadable ({raw!r})"
    # repr: the shortest decimal that reads back as the same float (0.01, not its binary value)
    return _normalised(field, Decimal(repr(float(raw))))


def _venue_value(field: str, raw: object) -> tuple[Decimal | None, str | None, str | None]:
    """The venue's value, its text and, for money, its currency code."""
    if raw is None:
        return None, None, None
    currency = getattr(getattr(raw, "currency", None), "code", None)
    try:
        if hasattr(raw, "as_decimal"):
            value = Decimal(raw.as_decimal())
        elif isinstance(raw, float | int) and not isinstance(raw, bool):
            value = Decimal(repr(raw))
        else:
            value = Decimal(str(raw))
    except (InvalidOperation, TypeError, ValueError, ArithmeticError):
        return _UNREADABLE, f"unreadable ({raw!r})", None
    if not value.is_finite():
        return _UNREADABLE, f"unreadable ({raw!r})", None
    decimal, text = _normalised(field, value)
    return decimal, text, currency if isinstance(currency, str) else None


def _normalised(field: str, value: Decimal) -> tuple[Decimal | None, str | None]:
    if field in _MINIMUMS and value == 0:
        return None, None
    return value, format(value.normalize(), "f")


def _agree(desk: Decimal | None, venue: Decimal | None) -> bool:
    if desk is None or venue is None:
        # The venue's 0 minimum was normalised to None as well.
        return desk is None and venue is None
    if desk.is_nan() or venue.is_nan():
        return False
    return abs(desk - venue) <= RELATIVE_TOLERANCE * max(abs(desk), abs(venue))
