"""What the kill switch shows beside its choices: the positions a flatten closes, and after a
flatten, the targets a re-arm may restore.

The app reads both from the OMS as the dialog opens (``KillContext``) and hands them over; the
dialog never reads the OMS nor reaches into a node. These functions only turn them into lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from console.widgets.cells import number, percent, quantity, utc_time
from core.oms import PositionSnapshot, TargetsRecord
from core.risk.restore import RestoreOffer


@dataclass(frozen=True)
class KillContext:
    """The OMS's positions and restore offer as the kill switch opened (or why not read)."""

    positions: tuple[PositionSnapshot, ...] = ()
    offer: RestoreOffer | None = None
    error: str | None = None
    """Why the OMS could not be read: the dialog says so, and still works."""


def open_positions(positions: Sequence[PositionSnapshot]) -> list[PositionSnapshot]:
    """The positions a flatten closes: every one not flat, largest notional first."""
    held = [position for position in positions if position.side != "FLAT"]
    return sorted(held, key=lambda position: -notional(position))


def notional(position: PositionSnapshot) -> float:
    """The position's size in its currency, at its last fill price (the OMS has no marks)."""
    return abs(position.signed_qty * position.last_px)


def flatten_lines(context: KillContext | None, room: int, width: int) -> list[str]:
    """What a flatten closes, in at most ``room`` lines (at least two) of ``width`` characters: a
    line saying how many and how much, then one per position (``… and N more`` for those that
    do not fit). Narrow, the same figures in fewer words."""
    if context is None:
        return ["Reading the positions from the OMS…"]
    if context.error is not None:
        return [f"Positions not read ({context.error}): the flatten closes whatever is held."]
    held = open_positions(context.positions)
    if not held:
        return ["No open position: the flatten cancels every order, then halts."]
    totals: dict[str, float] = {}
    for position in held:
        totals[position.currency] = totals.get(position.currency, 0.0) + notional(position)
    total = ", ".join(f"{number(value)} {currency}" for currency, value in totals.items())
    count = f"{len(held)} position{'s' if len(held) > 1 else ''}"
    lines = [
        _fitting(
            width,
            f"Closes {count}, {total} at last fill prices:",
            f"Closes {count}, {total}:",
            f"Closes {count}:",
        )
    ]
    shown = held if len(held) <= room - 1 else held[: max(room - 2, 0)]
    name_width = max((len(position.instrument_id) for position in shown), default=0)
    for position in shown:
        size = f"{position.side} {quantity(abs(position.signed_qty))}"
        value = f"{number(notional(position))} {position.currency}"
        lines.append(
            _fitting(
                width,
                f"  {position.instrument_id:<{name_width}}  {size:<14} {value}",
                f"{position.instrument_id} {quantity(position.signed_qty)} {value}",
                f"{position.instrument_id} {number(notional(position), 0)} {position.currency}",
                f"{position.instrument_id} {number(notional(position), 0)}",
            )
        )
    if len(shown) < len(held):
        lines.append(f"  … and {len(held) - len(shown)} more")
    return lines


def _fitting(width: int, *texts: str) -> str:
    """The first of ``texts`` that fits ``width``, else the shortest (the screen crops it)."""
    return next((text for text in texts if len(text) <= width), texts[-1])


def weights_text(weights: dict[str, float]) -> str:
    """``BTCUSDT.BINANCE 40.0%, ETHUSDT.BINANCE 30.0%``: the non-zero targets, largest first."""
    shown = sorted(((i, w) for i, w in weights.items() if w != 0), key=lambda item: -abs(item[1]))
    return ", ".join(f"{instrument} {percent(weight)}" for instrument, weight in shown) or "all 0%"


def rearm_lines(
    context: KillContext | None, can_restore: bool, restore_key: str, width: int
) -> list[str]:
    """What a re-arm leaves in force: after a flatten, targets of 0%, and what ``restore_key``
    would put back (or why it cannot from here); nothing when no flatten set the targets.
    Narrower than ``width``, the same in fewer words (a line may still wrap: the weights)."""
    if context is None:
        return ["Reading the targets in force from the OMS…"]
    if context.error is not None:
        return [f"Targets in force not read ({context.error})."]
    offer = context.offer
    if offer is None:
        return []
    flatten = offer.flatten
    since = utc_time(flatten.ts_event)
    lines = [
        _fitting(
            width,
            f"Targets in force are 0% since the flatten at {since} UTC ({flatten.actor}).",
            f"Targets in force: 0% since the flatten at {since}.",
        ),
        _fitting(width, "Re-armed alone, the node buys nothing back.", "Re-armed alone: no buys."),
    ]
    previous = offer.previous
    if previous is None:
        lines.append(
            _fitting(
                width,
                "No targets are recorded before it: a new targets file sets them.",
                "No targets before it to restore.",
            )
        )
        return lines
    weights = weights_text(previous.weights)
    lines.append(
        _fitting(width, f"Before it ({_origin(previous)}):", f"Before it ({_origin(previous, 0)}):")
    )
    lines.append(f"  {weights}")
    if can_restore:
        lines.append(f"{restore_key} re-arms and restores them.")
    else:
        lines.append(
            _fitting(
                width,
                "Restoring them needs the node in this console (or a new targets file).",
                "Restoring them needs the node here.",
            )
        )
    return lines


def _origin(record: TargetsRecord, words: int = 1) -> str:
    # Where the targets came from; with words=0, only from when.
    when = utc_time(record.ts_event)
    if record.source == "file" and record.as_of is not None:
        as_of = utc_time(record.as_of)
        return f"research file as of {as_of} UTC, in force {when}" if words else f"file {as_of}"
    if words:
        return f"{record.source} by {record.actor} at {when} UTC"
    return f"{record.source} {when}"
