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
import json
import math
import os
import re
import stat
from collections.abc import Collection, Mapping
from pathlib import Path

import msgspec

from core.config import TargetsConfig, WatcherConfig
from core.errors import DataError, bounded
from core.storage.roots import is_remote, resolve

KEY_LIMIT = 80
"""The most characters of a file's key (an instrument id) a message quotes."""


class TargetWeightsFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The parsed file."""

    as_of: dt.datetime
    weights: dict[str, float]
    strategy_id: str | None = None


def load_target_file(
    url: str, known_instruments: Collection[str], reading: TargetsConfig | None = None
) -> TargetWeightsFile:
    """Read and validate a target-weights file (``backtest --targets``).

    Raises
    ------
    DataError
        One line naming the file and the field: unreadable, not a regular file, larger than
        ``targets.max_bytes``, not JSON, a missing, unknown or repeated key, nested too deeply, a
        naive timestamp, a non-finite weight, an instrument the instruments file lacks.
    """
    raw = read_target_bytes(url, (reading or TargetsConfig()).max_bytes)
    if raw is None:
        raise DataError("target-weights file not found", url)
    parsed = parse_target_weights(raw, url)
    for instrument_id in parsed.weights:
        if instrument_id not in known_instruments:
            key = shown_key(instrument_id)
            raise DataError(f"weights[{key}]: not in the instruments file", url)
    return parsed


def read_target_bytes(url: str, max_bytes: int) -> bytes | None:
    """The bytes of a target-weights file, or None when there is no file.

    Only a regular file is read (a symbolic link to one is followed), and at most ``max_bytes``:
    a FIFO would block the reader until some writer opened it, ``/dev/zero`` would fill the
    memory, and neither is a file a research process writes. Locally the file is opened without
    blocking and checked on the open descriptor, so a swap between the check and the read
    cannot slip a FIFO in.

    Raises
    ------
    DataError
        One line naming the file: not a regular file, larger than ``targets.max_bytes``, or
        unreadable.
    """
    if is_remote(url):
        return _read_remote(url, max_bytes)
    try:
        descriptor = os.open(url, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise DataError(f"cannot read ({error.strerror or error})", url) from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise DataError(f"not a regular file ({_file_kind(status.st_mode)}): refused", url)
        if status.st_size > max_bytes:
            raise DataError(_too_large(status.st_size, max_bytes), url)
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(descriptor, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise DataError(f"cannot read ({error.strerror or error})", url) from None
    finally:
        os.close(descriptor)
    if size > max_bytes:  # it grew while read
        raise DataError(_too_large(size, max_bytes, grew=True), url)
    return b"".join(chunks)


def _read_remote(url: str, max_bytes: int) -> bytes | None:
    fs, path = resolve(url)
    try:
        size = fs.size(path)
        if size is not None and size > max_bytes:
            raise DataError(_too_large(size, max_bytes), url)
        raw = fs.cat_file(path, start=0, end=max_bytes + 1)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise DataError(f"cannot read target-weights file ({error})", url) from None
    if len(raw) > max_bytes:  # a store that reported no size, or the object grew
        raise DataError(_too_large(len(raw), max_bytes, grew=True), url)
    return raw


def _too_large(size: int, max_bytes: int, *, grew: bool = False) -> str:
    more = "at least " if grew else ""
    return f"{more}{size:,} bytes, larger than targets.max_bytes {max_bytes:,}: refused unread"


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return kind
    return "not a plain file"


def shown_key(key: str) -> str:
    """A key of the file as a message quotes it: escaped, at most ``KEY_LIMIT`` characters."""
    return bounded(key, KEY_LIMIT)


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
        raise DataError(bounded(_describe(error, raw)), source) from None
    except msgspec.DecodeError as error:
        raise DataError(f"not valid JSON ({bounded(str(error), 200)})", source) from None
    except RecursionError:
        raise DataError(_NESTED, source) from None
    if parsed.as_of.tzinfo is None:
        raise DataError("as_of: has no time zone (write it in UTC, e.g. ...T00:00:00Z)", source)
    for instrument_id, weight in parsed.weights.items():
        if not math.isfinite(weight):
            key = shown_key(instrument_id)
            raise DataError(f"weights[{key}]: {weight} is not a finite number", source)
    _refuse_repeated_keys(raw, source)
    return parsed


_SCHEMA_KEYS = frozenset(TargetWeightsFile.__struct_fields__)
_NESTED = "nested too deeply (the schema is one object of numbers): refused"


def _refuse_repeated_keys(raw: bytes, source: str) -> None:
    # JSON lets a key appear twice and every decoder keeps one silently (msgspec the last): a
    # file saying BTC 0.9 and later BTC 0.1 is ambiguous, and a weight that would break a limit
    # could hide behind its repeat. The file already decoded in the schema, so it is shallow.
    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                field = key if key in _SCHEMA_KEYS else f"weights[{shown_key(key)}]"
                raise DataError(
                    f"{field}: the key appears twice (refused: which value was meant?)", source
                )
            seen.add(key)
        return dict(items)

    json.loads(raw, object_pairs_hook=pairs)


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
            key = shown_key(instrument_id)
            field = key if as_percent else f"weights[{key}]"
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
    except RecursionError:
        return f"weights: {_NESTED}"
    for instrument_id, value in document.weights.items():
        try:
            msgspec.json.decode(value, type=float)
        except msgspec.ValidationError as error:
            text = bounded(bytes(value).decode(errors="replace"), KEY_LIMIT)
            key = shown_key(instrument_id)
            if "out of range" in str(error):
                return f"weights[{key}]: {text} is not a finite number"
            return f"weights[{key}]: {text} is not a number"
        except RecursionError:
            return f"weights[{shown_key(instrument_id)}]: {_NESTED}"
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
