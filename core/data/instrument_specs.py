"""The desk's instrument specs: one row per instrument available on a day.

The instruments file is the execution metadata catalog: tick size, lot size, minimums and fees
come from it (not from Nautilus defaults), so a backtest trades under the rules the venue had
that day.
"""

from __future__ import annotations

import datetime as dt
import math

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from core.data.layout import (
    INSTRUMENT_SCHEMA,
    instruments_path,
    missing_bucket_note,
    require_columns,
)
from core.errors import DataError
from core.storage.roots import resolve, to_url

KINDS = ("spot", "perpetual")


class InstrumentSpec(msgspec.Struct, frozen=True):
    """One instrument as the desk's instruments file describes it (see ``INSTRUMENT_SCHEMA``)."""

    instrument_id: str
    venue: str
    symbol: str
    kind: str
    base: str
    quote: str
    settlement: str
    tick_size: float
    lot_size: float
    price_precision: int
    size_precision: int
    min_quantity: float
    max_quantity: float | None
    min_notional: float
    maker_fee: float
    taker_fee: float
    multiplier: float
    is_inverse: bool


def _check_row(spec: InstrumentSpec, source: str) -> None:
    where = f"{source} [{spec.instrument_id}]"
    if spec.instrument_id != f"{spec.symbol}.{spec.venue}":
        raise DataError(
            f"instrument_id '{spec.instrument_id}' is not symbol.venue "
            f"('{spec.symbol}.{spec.venue}')",
            source,
        )
    if spec.kind not in KINDS:
        raise DataError(f"kind '{spec.kind}' is not one of {', '.join(KINDS)}", where)
    for name in ("tick_size", "lot_size", "multiplier"):
        value = getattr(spec, name)
        if not (math.isfinite(value) and value > 0):
            raise DataError(f"{name} must be a positive number, got {value}", where)
    for name in ("min_quantity", "min_notional", "maker_fee", "taker_fee"):
        value = getattr(spec, name)
        if not math.isfinite(value) or (name.startswith("min") and value < 0):
            raise DataError(f"{name} is invalid: {value}", where)
    for name, increment, precision in (
        ("tick_size", spec.tick_size, spec.price_precision),
        ("lot_size", spec.lot_size, spec.size_precision),
    ):
        if not 0 <= precision <= 16 or abs(round(increment, precision) - increment) > 1e-15:
            raise DataError(f"{name} {increment} does not fit precision {precision}", where)


def load_instrument_specs(root: str, day: dt.date) -> dict[str, InstrumentSpec]:
    """Read and validate the instruments available on ``day``, keyed by instrument id.

    Raises
    ------
    DataError
        When the file is missing, unreadable, of the wrong schema, or a row is inconsistent.
    """
    fs, base = resolve(root)
    fs_path = instruments_path(base, day)
    path = to_url(fs, fs_path)  # what errors name: on GCS the gs:// URL, not the bucket path
    try:
        # Opened straight away rather than after an exists() check: on GCS each is a request.
        with fs.open(fs_path, "rb") as handle:
            table = pq.read_table(handle)
    except FileNotFoundError:
        note = missing_bucket_note(fs, fs_path)
        raise DataError(f"no instruments file for {day.isoformat()}{note}", path) from None
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"unreadable parquet ({type(error).__name__})", path) from error
    require_columns(table, INSTRUMENT_SCHEMA, path)
    specs: dict[str, InstrumentSpec] = {}
    for row in table.select(INSTRUMENT_SCHEMA.names).to_pylist():
        spec = InstrumentSpec(**row)
        if spec.instrument_id in specs:
            raise DataError(f"instrument '{spec.instrument_id}' is listed twice", path)
        _check_row(spec, path)
        specs[spec.instrument_id] = spec
    return specs
