"""The batch grid file: a base config and the lists to multiply into one backtest per point.

A grid file is TOML::

    config = "configs/base.toml"      # optional; relative to the grid file; --config wins
    instruments = [["BTCUSDT.BINANCE"], ["ETHUSDT.BINANCE"], ["BTCUSDT.BINANCE", "ETHUSDT.BINANCE"]]
    periods = [{start = "2026-01-05T00:00:00Z", end = "2026-01-06T00:00:00Z"}]
    mode = ["full", "signals"]
    window_secs = [60, 300]
    fetch = ["every-signal", "direction-change"]
    weight_tolerance = [0.0005, 0.002]

Every other key is a list of values (an *axis*); the grid is their Cartesian product, in the
order the axes are listed in ``AXES``, and each point is the base config with that point's
values laid over it. An axis left out keeps the base config's value. Everything is checked
before any run starts: an unknown key, an axis that is not a non-empty list, a period without
``start``/``end`` or with ``start`` not before ``end``, and any point whose config is invalid
are one line naming the grid file and the key (``periods[2].end``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from core.config import AppConfig, load_config, parse_time, validate
from core.errors import ConfigError

# axis name -> (config section, field); "periods" sets backtest.start and backtest.end.
AXES: dict[str, tuple[str, str]] = {
    "instruments": ("backtest", "instruments"),
    "periods": ("backtest", "start/end"),
    "mode": ("backtest", "mode"),
    "window_secs": ("backtest", "window_secs"),
    "fetch": ("backtest", "fetch"),
    "targets": ("backtest", "targets"),
    "weight_tolerance": ("strategy", "weight_tolerance"),
    "min_trade_notional": ("strategy", "min_trade_notional"),
    "cash_buffer": ("strategy", "cash_buffer"),
}
GRID_KEYS = ("config", *AXES)


@dataclass(frozen=True)
class GridPoint:
    """One backtest of the batch: its place in the grid, its axis values, its full config."""

    index: int
    values: dict[str, Any]
    config: AppConfig

    @property
    def label(self) -> str:
        """The point's axis values in one short line, for progress lines and the table."""
        parts = []
        for name, value in self.values.items():
            if name == "periods":
                parts.append(f"{value['start']}..{value['end']}")
            elif name == "instruments":
                parts.append("+".join(value))
            else:
                parts.append(f"{name}={value}")
        return " ".join(parts) or "base config"


def load_grid(path: str | Path, config_path: str | Path | None = None) -> list[GridPoint]:
    """Read the grid file at ``path`` and return every point with its validated config.

    ``config_path`` (the command line's ``--config``) overrides the grid's own ``config`` key.

    Raises
    ------
    ConfigError
        One line naming the grid file (or the base config) and the key at fault.
    """
    source = str(path)
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{source}: grid file not found") from None
    except OSError as error:
        raise ConfigError(f"{source}: cannot read grid file ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{source}: not valid TOML ({error})") from None
    for key in raw:
        if key not in GRID_KEYS:
            raise ConfigError(f"{source}: unknown key '{key}' (known: {', '.join(GRID_KEYS)})")
    base_path = config_path
    if base_path is None and "config" in raw:
        if not isinstance(raw["config"], str) or not raw["config"]:
            raise ConfigError(f"{source}: config: must be the path of a config file")
        base_path = Path(path).parent / raw["config"]  # relative to the grid file, like includes
    base = load_config(base_path)
    axes = {name: _axis(raw, name, source) for name in AXES if name in raw}
    points = []
    for index, combo in enumerate(itertools.product(*axes.values())):
        values = dict(zip(axes, combo, strict=True))
        where = f"{source} point {index}"
        points.append(GridPoint(index, values, validate(_apply(base, values, where), where)))
    return points


def _axis(raw: dict[str, Any], name: str, source: str) -> list[Any]:
    values = raw[name]
    if not isinstance(values, list):
        raise ConfigError(f"{source}: {name}: must be a list of values, got {values!r}")
    if not values:
        raise ConfigError(f"{source}: {name}: empty list (leave the key out to keep the base)")
    if name == "periods":  # unquoted TOML times arrive as datetimes: keep them as text
        values = [_times_as_text(value) for value in values]
    check = _CHECKS[name]
    for i, value in enumerate(values):
        check(value, source, f"{name}[{i}]")
    return values


def _times_as_text(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {k: v.isoformat() if isinstance(v, dt.date | dt.time) else v for k, v in value.items()}


def _check_instruments(value: Any, source: str, key: str) -> None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: {key}: must be a non-empty list of instrument ids")


def _check_period(value: Any, source: str, key: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {key}: must be {{start = ..., end = ...}}, got {value!r}")
    for name in value:
        if name not in ("start", "end"):
            raise ConfigError(f"{source}: {key}: unknown key '{name}' (known: start, end)")
    for name in ("start", "end"):
        if not isinstance(value.get(name), str):
            raise ConfigError(f"{source}: {key}.{name}: missing (an ISO 8601 UTC time string)")
    start = parse_time(value["start"], f"{key}.start", source)
    end = parse_time(value["end"], f"{key}.end", source)
    if start >= end:
        raise ConfigError(
            f"{source}: {key}.start: {value['start']} is not before end {value['end']}"
        )


def _typed(kinds: tuple[type, ...], what: str) -> Callable[[Any, str, str], None]:
    def check(value: Any, source: str, key: str) -> None:
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise ConfigError(f"{source}: {key}: must be {what}, got {value!r}")

    return check


def _choice(choices: tuple[str, ...]) -> Callable[[Any, str, str], None]:
    def check(value: Any, source: str, key: str) -> None:
        if value not in choices:
            raise ConfigError(
                f"{source}: {key}: must be one of {', '.join(choices)}, got {value!r}"
            )

    return check


_CHECKS: dict[str, Callable[[Any, str, str], None]] = {
    "instruments": _check_instruments,
    "periods": _check_period,
    "mode": _choice(("full", "signals")),
    "window_secs": _typed((int,), "a whole number of seconds"),
    "fetch": _choice(("every-signal", "direction-change")),
    "targets": _typed((str,), "'signals' or a target-weights file"),
    "weight_tolerance": _typed((int, float), "a number"),
    "min_trade_notional": _typed((int, float), "a number"),
    "cash_buffer": _typed((int, float), "a number"),
}


def _apply(base: AppConfig, values: dict[str, Any], source: str) -> AppConfig:
    """``base`` with one point's values; re-typed through msgspec so a bad value is one line."""
    changes: dict[str, dict[str, Any]] = {"backtest": {}, "strategy": {}}
    for name, value in values.items():
        section, field = AXES[name]
        if name == "periods":
            changes[section] |= {"start": value["start"], "end": value["end"]}
        elif name == "instruments":
            changes[section][field] = tuple(value)
        else:
            changes[section][field] = float(value) if section == "strategy" else value
    try:
        backtest = msgspec.convert(
            msgspec.to_builtins(base.backtest) | changes["backtest"], type(base.backtest)
        )
    except msgspec.ValidationError as error:
        what, _, at = str(error).partition(" - at `$.")
        raise ConfigError(f"{source}: backtest.{at.rstrip('`')}: {what}") from None
    strategy = msgspec.structs.replace(base.strategy, **changes["strategy"])
    # A batch's runs go on at once: their trading would interleave in the dashboard's single
    # "current backtest" view, so only their run state is recorded in the OMS.
    oms = msgspec.structs.replace(base.oms, record_backtests=False)
    return msgspec.structs.replace(base, backtest=backtest, strategy=strategy, oms=oms)
