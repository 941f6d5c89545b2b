"""What a backtest needs before it runs: its window, instruments, specs and target schedule.

Everything here is checked before a single tick is read, so that a bad window, an unknown
instrument or a signal naming an instrument the instruments file lacks fails fast with one line.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from core.config import AppConfig, parse_balance, parse_time
from core.data.instrument_specs import InstrumentSpec, load_instrument_specs
from core.data.layout import TRADES_DIR, days_between, missing_bucket_note
from core.data.signals import load_signals
from core.data.target_file import load_target_file
from core.data.ticks import to_ns
from core.errors import ConfigError, DataError
from core.execution.strategy import ScheduledTargets
from core.storage.roots import join, resolve, to_url

_DAY = re.compile(r"day-(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class BacktestInputs:
    """The resolved inputs of one run."""

    start: dt.datetime
    end: dt.datetime
    days: list[dt.date]
    instrument_ids: list[str]
    specs: dict[str, InstrumentSpec]
    schedule: list[ScheduledTargets]

    @property
    def start_ns(self) -> int:
        return to_ns(self.start)

    @property
    def end_ns(self) -> int:
        return to_ns(self.end)


def available_days(data_root: str) -> list[dt.date]:
    """Days that have a trades folder under ``data_root``, in order."""
    fs, base = resolve(data_root)
    folder = join(base, TRADES_DIR)
    if not fs.exists(folder):
        note = missing_bucket_note(fs, folder)
        raise DataError(f"no trade data (missing raw_tick_data/by_date){note}", to_url(fs, folder))
    days = []
    for entry in fs.ls(folder, detail=False):
        match = _DAY.search(entry.rstrip("/"))
        if match is not None:
            days.append(dt.date.fromisoformat(match[1]))
    if not days:
        raise DataError("no day-YYYY-MM-DD folders", to_url(fs, folder))
    return sorted(days)


def resolve_window(config: AppConfig) -> tuple[dt.datetime, dt.datetime]:
    """The run's [start, end): from the config, else every day that has trade data."""
    bt = config.backtest
    return data_window(config.data.root, (bt.start, "backtest.start"), (bt.end, "backtest.end"))


def data_window(
    data_root: str, start: tuple[str | None, str], end: tuple[str | None, str]
) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) from ISO 8601 texts, each given with its config field's name, defaulting to
    the first day with trade data / the end of the last one (for backtests and the replay)."""
    (start_text, start_field), (end_text, end_field) = start, end
    first = parse_time(start_text, start_field) if start_text else None
    last = parse_time(end_text, end_field) if end_text else None
    if first is None or last is None:
        days = available_days(data_root)
        if first is None:
            first = dt.datetime.combine(days[0], dt.time(), dt.UTC)
        if last is None:
            last = dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time(), dt.UTC)
    if first >= last:
        raise ConfigError(
            f"{start_field} {first.isoformat()} is not before {end_field} {last.isoformat()}"
        )
    return first, last


def prepare_inputs(config: AppConfig) -> BacktestInputs:
    """Resolve and validate everything a run needs (see module docstring)."""
    start, end = resolve_window(config)
    days = days_between(start, end)
    specs_by_day = {day: load_instrument_specs(config.data.instruments, day) for day in days}
    specs = specs_by_day[days[0]]
    instrument_ids = list(config.backtest.instruments) or sorted(specs)
    for day, day_specs in specs_by_day.items():
        for instrument_id in instrument_ids:
            if instrument_id not in day_specs:
                raise DataError(
                    f"instrument {instrument_id} is not in the instruments file of "
                    f"{day.isoformat()}"
                )
    valuation = config.strategy.valuation_currency
    for i, venue in enumerate(config.venues):
        for balance in venue.starting_balances:
            if parse_balance(balance)[1] != valuation:
                raise ConfigError(
                    f"venues.{i}.starting_balances: '{balance}' is not in the valuation "
                    f"currency {valuation} (strategy.valuation_currency)"
                )
    venues = {venue.name for venue in config.venues}
    for instrument_id in instrument_ids:
        if specs[instrument_id].venue not in venues:
            raise ConfigError(
                f"venues: no venue '{specs[instrument_id].venue}' configured for {instrument_id}"
            )
    return BacktestInputs(
        start=start,
        end=end,
        days=days,
        instrument_ids=instrument_ids,
        specs=specs,
        schedule=_schedule(config, start, end, set(specs), set(instrument_ids)),
    )


def _schedule(
    config: AppConfig,
    start: dt.datetime,
    end: dt.datetime,
    known: set[str],
    traded: set[str],
) -> list[ScheduledTargets]:
    """Target sets in time order, restricted to the instruments this run trades."""
    if config.backtest.targets != "signals":
        target_file = load_target_file(config.backtest.targets, known, config.targets)
        when = max(target_file.as_of.astimezone(dt.UTC), start)
        if when >= end:
            raise DataError(
                f"as_of {target_file.as_of.isoformat()} is after the backtest's end",
                config.backtest.targets,
            )
        weights = {k: w for k, w in target_file.weights.items() if k in traded}
        return [ScheduledTargets(to_ns(when), "target-file", weights)]
    schedule = []
    for target_set in load_signals(config.data.root, start, end, known):
        weights = {k: w for k, w in target_set.weights.items() if k in traded}
        if weights:
            schedule.append(ScheduledTargets(target_set.ts_event, target_set.signal_id, weights))
    return schedule
