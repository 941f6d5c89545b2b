"""The target-weights file a research process writes (``artifacts/orders/target_weights.json``).

Schema (JSON object)::

    {
      "as_of": "2026-01-05T00:00:00Z",      # ISO 8601, UTC: when the targets were decided
      "strategy_id": "research-v1",          # optional
      "weights": {"BTCUSDT.BINANCE": 0.40,   # fraction of equity per instrument id
                  "ETHUSDT.BINANCE": 0.25}
    }

A backtest given such a file applies its weights at ``as_of`` (or at the window's start when
``as_of`` is earlier). The live node's watcher validates the same schema before it trades, and
``check_weights`` holds the desk's rules on the weights themselves (``[watcher]``): the watcher
judges every file by it, and the rebalance preview every weight the operator types.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path

import msgspec

from core.config import WatcherConfig
from core.errors import DataError
from core.storage.roots import resolve


class TargetWeightsFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The parsed file."""

    as_of: dt.datetime
    weights: dict[str, float]
    strategy_id: str | None = None


def load_target_file(url: str, known_instruments: Collection[str]) -> TargetWeightsFile:
    """Read and validate a target-weights file.

    Raises
    ------
    DataError
        One line naming the file and the field: unreadable, not JSON, a missing or unknown key,
        a naive timestamp, a non-finite weight, an instrument the instruments file lacks.
    """
    fs, path = resolve(url)
    try:
        raw = fs.cat_file(path)
    except FileNotFoundError:
        raise DataError("target-weights file not found", url) from None
    except OSError as error:
        raise DataError(f"cannot read target-weights file ({error})", url) from None
    parsed = parse_target_weights(raw, url)
    for instrument_id in parsed.weights:
        if instrument_id not in known_instruments:
            raise DataError(f"weights[{instrument_id}]: not in the instruments file", url)
    return parsed


def parse_target_weights(raw: bytes, source: str) -> TargetWeightsFile:
    """Decode a target-weights file's bytes, with the checks that need nothing but the file.

    The watcher judges exactly the bytes it read (and hashes them); ``load_target_file`` reads
    a file, then calls this.

    Raises
    ------
    DataError
        One line naming ``source`` and the field: empty, not JSON, not the schema, a naive
        ``as_of``, a weight that is not a finite number.
    """
    if not raw.strip():
        raise DataError("the file is empty", source)
    try:
        parsed = msgspec.json.decode(raw, type=TargetWeightsFile)
    except msgspec.ValidationError as error:
        raise DataError(_describe(error, raw), source) from None
    except msgspec.DecodeError as error:
        raise DataError(f"not valid JSON ({error})", source) from None
    if parsed.as_of.tzinfo is None:
        raise DataError("as_of: has no time zone (write it in UTC, e.g. ...T00:00:00Z)", source)
    for instrument_id, weight in parsed.weights.items():
        if not math.isfinite(weight):
            raise DataError(f"weights[{instrument_id}]: {weight} is not a finite number", source)
    return parsed


GROSS_TOLERANCE = 1e-9
"""Weights written as decimals (0.1 + 0.2 + 0.7) may sum a rounding error above ``max_gross``."""


def check_weights(
    weights: Mapping[str, float],
    limits: WatcherConfig,
    known_instruments: Collection[str],
    *,
    source: str | None = None,
    as_percent: bool = False,
) -> None:
    """Check target weights against the desk's rules for them, the same for a target file and
    for a weight typed in the rebalance preview.

    The rules, in order, each naming the limit it enforces: every instrument is one the node
    knows; every weight is a finite number, not negative when ``watcher.long_only``, within
    ``[watcher.min_weight, watcher.max_weight]``; the gross exposure (sum of absolute weights)
    is at most ``watcher.max_gross``.

    Parameters
    ----------
    weights : Mapping[str, float]
        Fraction of equity per instrument id.
    limits : WatcherConfig
        The ``[watcher]`` limits.
    known_instruments : Collection[str]
        The instrument ids the node trades.
    source : str | None
        The file, prefixed to the message (None: no prefix).
    as_percent : bool
        Say it as the operator typed it: weights in percent (``2500%``), fields named by
        instrument id and ``targets``; otherwise as the file writes it (``25.0``,
        ``weights[ID]``, ``weights``).

    Raises
    ------
    DataError
        One line: the field, the value and the limit, e.g. ``weights[BTCUSDT.BINANCE]: 25.0 is
        outside [-1.0, 1.0] (watcher.min_weight, watcher.max_weight)``.
    """

    def show(value: float) -> str:
        return f"{value * 100:.6g}%" if as_percent else f"{value}"

    def fail(instrument_id: str | None, problem: str) -> DataError:
        if instrument_id is None:
            field = "targets" if as_percent else "weights"
        else:
            field = instrument_id if as_percent else f"weights[{instrument_id}]"
        return DataError(f"{field}: {problem}", source)

    gross = 0.0
    for instrument_id, weight in weights.items():
        if instrument_id not in known_instruments:
            known = ", ".join(sorted(known_instruments)) or "none"
            raise fail(instrument_id, f"unknown instrument (the node knows: {known})")
        if not math.isfinite(weight):
            raise fail(instrument_id, f"{show(weight)} is not a finite number")
        if limits.long_only and weight < 0:
            raise fail(instrument_id, f"{show(weight)} is negative and watcher.long_only is set")
        if not limits.min_weight <= weight <= limits.max_weight:
            raise fail(
                instrument_id,
                f"{show(weight)} is outside [{show(limits.min_weight)}, "
                f"{show(limits.max_weight)}] (watcher.min_weight, watcher.max_weight)",
            )
        gross += abs(weight)
    if gross > limits.max_gross + GROSS_TOLERANCE:
        shown = show(gross) if as_percent else f"{gross:.6g}"
        raise fail(
            None, f"gross exposure {shown} is above watcher.max_gross {show(limits.max_gross)}"
        )


def _describe(error: msgspec.ValidationError, raw: bytes) -> str:
    # msgspec says "Expected `float`, got `str` - at `$.weights[...]`": name the field, and for
    # a weight the instrument, which msgspec leaves out.
    what, _, location = str(error).partition(" - at `$")
    where = location.rstrip("`").lstrip(".")
    if where == "weights[...]":
        named = _bad_weight(raw)
        if named is not None:
            return named
    missing = re.fullmatch(r"Object missing required field `(?P<key>[^`]+)`", what)
    if missing is not None:
        return f"{_dotted(where, missing['key'])}: is missing"
    unknown = re.fullmatch(r"Object contains unknown field `(?P<key>[^`]+)`", what)
    if unknown is not None:
        field = _dotted(where, unknown["key"])
        return f"{field}: unknown key (the schema has as_of, weights, strategy_id)"
    return f"{where}: {what}" if where else what


def _dotted(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


class _RawWeights(msgspec.Struct):
    weights: dict[str, msgspec.Raw] = {}


def _bad_weight(raw: bytes) -> str | None:
    try:
        document = msgspec.json.decode(raw, type=_RawWeights)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    for instrument_id, value in document.weights.items():
        try:
            msgspec.json.decode(value, type=float)
        except msgspec.ValidationError as error:
            text = bytes(value).decode(errors="replace")
            if "out of range" in str(error):
                return f"weights[{instrument_id}]: {text} is not a finite number"
            return f"weights[{instrument_id}]: {text} is not a number"
    return None


def write_target_file(
    path: str,
    weights: dict[str, float],
    as_of: dt.datetime,
    strategy_id: str | None = None,
) -> None:
    """Write a target-weights file the way a research process should: a temporary file, then
    an atomic rename, so the watcher never reads half of it (local paths only)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    raw = msgspec.json.encode(
        TargetWeightsFile(as_of=as_of.astimezone(dt.UTC), weights=weights, strategy_id=strategy_id)
    )
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_bytes(raw)
    os.replace(temporary, target)
