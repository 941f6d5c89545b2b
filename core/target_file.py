"""The target-weights file a research process writes (``artifacts/orders/target_weights.json``).

Schema (JSON object)::

    {
      "as_of": "2026-01-05T00:00:00Z",      # ISO 8601, UTC: when the targets were decided
      "strategy_id": "research-v1",          # optional
      "weights": {"BTCUSDT.BINANCE": 0.40,   # fraction of equity per instrument id
                  "ETHUSDT.BINANCE": 0.25}
    }

A backtest given such a file applies its weights at ``as_of`` (or at the window's start when
``as_of`` is earlier). The live node's watcher validates the same schema before it trades.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Collection
from pathlib import Path

import msgspec

from core.errors import DataError
from core.storage import resolve


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
    try:
        parsed = msgspec.json.decode(raw, type=TargetWeightsFile)
    except msgspec.ValidationError as error:
        raise DataError(f"invalid target-weights file: {error}", url) from None
    except msgspec.DecodeError as error:
        raise DataError(f"not valid JSON: {error}", url) from None
    if parsed.as_of.tzinfo is None:
        raise DataError("as_of has no time zone (write it in UTC, e.g. ...Z)", url)
    for instrument_id, weight in parsed.weights.items():
        if not math.isfinite(weight):
            raise DataError(f"weight of {instrument_id} is not finite: {weight}", url)
        if instrument_id not in known_instruments:
            raise DataError(f"instrument {instrument_id} is not in the instruments file", url)
    return parsed


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
