"""``LaunchForm``: what to backtest, and with what, checked as it is typed.

The first row is what an operator changes every time (instruments, window, mode); the
strategy parameters, the first venue and the execution algorithm sit in a "more" row that
stays collapsed to one line (its title shows their values) so the form fits 80x24 with the
runs below it; it opens itself when one of its fields is wrong.

The fields are the ``trade-console backtest`` options, and they are checked by the same code
(``apply_overrides``, then the config's ``validate``), so the console refuses exactly what the
command line refuses, with the same words. Each field shows its own message under the form.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import msgspec
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Collapsible, Input, Label, Static

from console.commands.backtest import SOURCE, apply_overrides
from core.config import AppConfig
from core.errors import ConfigError

MODES = ("full", "signals")
MAIN_FIELDS = ("instruments", "start", "end", "mode", "window")
"""The first row's fields, left to right (each an ``Input`` with this id)."""
MORE_FIELDS = ("min_notional", "tolerance", "cash_buffer", "balance", "account", "latency", "algo")
"""The "more" row's fields: strategy parameters, the first venue, the execution algorithm."""
FIELDS = MAIN_FIELDS + MORE_FIELDS
_CONFIG_FIELDS = {
    "backtest.instruments": "instruments",
    "backtest.start": "start",
    "backtest.end": "end",
    "backtest.mode": "mode",
    "backtest.window_secs": "window",
    "strategy.min_trade_notional": "min_notional",
    "strategy.weight_tolerance": "tolerance",
    "strategy.cash_buffer": "cash_buffer",
    "venues.0.starting_balances": "balance",
    "venues.0.account_type": "account",
    "venues.0.latency_ms": "latency",
    "execution.algorithm": "algo",
}
"""The config field a message names -> the form field it is shown for."""
_OPTIONS = {
    "min_notional": "min_trade_notional",
    "tolerance": "weight_tolerance",
    "cash_buffer": "cash_buffer",
    "balance": "starting_balances",
    "account": "account_type",
    "latency": "latency_ms",
    "algo": "algorithm",
}
"""The "more" fields -> the ``trade-console backtest`` option (argparse dest) they fill."""
_LABELS = {
    "window": "window secs",
    "min_notional": "min notional",
    "tolerance": "tolerance",
    "cash_buffer": "cash buffer",
    "balance": "balance",
    "account": "account",
    "latency": "latency ms",
    "algo": "algorithm",
}
_HINTS = {
    "instruments": "empty: every instrument in the data (or BTCUSDT.BINANCE, ...)",
    "start": "empty: the data's first day",
    "end": "empty: the end of its last day",
    "mode": "full or signals",
    "window": "seconds (signals mode)",
    "min_notional": "e.g. 10",
    "tolerance": "e.g. 0.0005",
    "cash_buffer": "e.g. 0.002",
    "balance": "100000 USDT",
    "account": "cash or margin",
    "latency": "e.g. 20",
    "algo": "market, twap, vwap, iceberg",
}


class LaunchForm(Vertical):
    """The launcher's fields over ``config``; posts ``Launch`` on Enter when all are valid."""

    DEFAULT_CSS = """
    LaunchForm {
        height: auto;
        padding: 0 1;
        & Horizontal { height: auto; }
        & Vertical { height: auto; width: 1fr; }
        & #instruments-field { width: 2fr; }
        & #balance-field { width: 2fr; }
        & Label { color: $text-muted; }
        & > #problems { color: $error; height: auto; }
        & > Collapsible {
            border-top: none;
            padding: 0;
            background: $background;
            & > Contents { padding: 0 0 0 2; }
            & Vertical { margin-right: 1; }
        }
    }
    """

    @dataclass
    class Launch(Message):
        """The operator asked to launch a backtest of ``config`` (already validated)."""

        form: LaunchForm
        config: AppConfig

        @property
        def control(self) -> LaunchForm:
            return self.form

    def __init__(self, config: AppConfig, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.config = config
        self.problems: dict[str, str] = {}
        """Each field's message (fields that are fine are absent)."""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield from self._fields(MAIN_FIELDS)
        # The "more" fields are borderless (one line each) in two rows: open, the row takes
        # five lines, not eight, and each field is wide enough to show its value at 80 columns.
        with Collapsible(title=self._title(self._initial()), collapsed=True, id="more"):
            with Horizontal():
                yield from self._fields(MORE_FIELDS[:3] + MORE_FIELDS[-1:], compact=True)
            with Horizontal():
                yield from self._fields(MORE_FIELDS[3:-1], compact=True)
        yield Static("", id="problems")

    def _fields(self, names: tuple[str, ...], *, compact: bool = False) -> ComposeResult:
        values = self._initial()
        for name in names:
            with Vertical(id=f"{name}-field"):
                yield Label(_LABELS.get(name, name))
                yield Input(values[name], placeholder=_HINTS[name], id=name, compact=compact)

    def _initial(self) -> dict[str, str]:
        """Each field's text for ``config`` (the venue fields: its first venue)."""
        bt, st = self.config.backtest, self.config.strategy
        venue = self.config.venues[0] if self.config.venues else None
        return {
            "instruments": ", ".join(bt.instruments),
            "start": bt.start or "",
            "end": bt.end or "",
            "mode": bt.mode,
            "window": str(bt.window_secs),
            "min_notional": str(st.min_trade_notional),
            "tolerance": str(st.weight_tolerance),
            "cash_buffer": str(st.cash_buffer),
            "balance": ", ".join(venue.starting_balances) if venue else "",
            "account": venue.account_type if venue else "",
            "latency": str(venue.latency_ms) if venue else "",
            "algo": self.config.execution.algorithm,
        }

    @staticmethod
    def _title(values: dict[str, str]) -> str:
        """The "more" row's one line: its values, so a collapsed row still says what runs."""
        return (
            f"more: min {values['min_notional']}, tol {values['tolerance']}, buf "
            f"{values['cash_buffer']} | {values['balance']} {values['account']} "
            f"{values['latency']}ms | {values['algo']}"
        )

    def on_mount(self) -> None:
        self.check()

    @property
    def values(self) -> dict[str, str]:
        """What each field holds now, stripped."""
        return {name: self.query_one(f"#{name}", Input).value.strip() for name in FIELDS}

    def check(self) -> AppConfig | None:
        """Check every field; show their messages; the config to launch, or None."""
        values = self.values
        problems: dict[str, str] = {}
        # Empty means what the config means by it (every instrument, the data's whole window):
        # what ``trade-console backtest`` runs without the options. Commas alone name none.
        if values["instruments"] and not [i for i in values["instruments"].split(",") if i.strip()]:
            problems["instruments"] = (
                "instruments: none named, e.g. BTCUSDT.BINANCE, ETHUSDT.BINANCE"
            )
        if values["mode"] not in MODES:
            problems["mode"] = f"mode: full or signals, got {values['mode']!r}"
        window: int | None = None
        try:
            window = int(values["window"]) if values["window"] else None
        except ValueError:
            problems["window"] = f"window secs: a whole number of seconds, got {values['window']!r}"
        # Each field alone first (no window to compare with), so each gets its own message...
        bare = msgspec.structs.replace(
            self.config,
            backtest=msgspec.structs.replace(self.config.backtest, start=None, end=None),
        )
        for name in ("instruments", "start", "end", "window", *MORE_FIELDS):
            if name not in problems:
                alone = {name: window if name == "window" else values[name]}
                self._try(bare, alone, problems, name)
        config = None
        if not problems:  # ...then together: start before end is a rule of the pair
            # What the form shows is what runs: a field emptied is unset, not the config's.
            bt = self.config.backtest
            shown = msgspec.structs.replace(
                self.config,
                backtest=msgspec.structs.replace(
                    bt,
                    instruments=bt.instruments if values["instruments"] else (),
                    start=bt.start if values["start"] else None,
                    end=bt.end if values["end"] else None,
                ),
            )
            config = self._try(shown, values | {"window": window}, problems, "start")
        self.problems = problems
        self.query_one("#problems", Static).update(
            "\n".join(problems[n] for n in FIELDS if n in problems)
        )
        for name in FIELDS:
            self.query_one(f"#{name}", Input).set_class(name in problems, "-invalid")
        more = self.query_one("#more", Collapsible)
        more.title = self._title(values)
        if more.collapsed and any(name in problems for name in MORE_FIELDS):
            more.collapsed = False  # a wrong field the operator cannot see would be a riddle
        return config

    def _try(
        self, base: AppConfig, values: dict[str, object], problems: dict[str, str], field: str
    ) -> AppConfig | None:
        args = argparse.Namespace(
            instruments=values.get("instruments") or None,
            start=values.get("start") or None,
            end=values.get("end") or None,
            mode=values.get("mode") or None,
            window_secs=values.get("window"),
            targets=None,
            data_root=None,
            results_root=None,
            **{option: values.get(name) or None for name, option in _OPTIONS.items()},
        )
        try:
            return apply_overrides(base, args)
        except ConfigError as error:
            text = str(error).removeprefix(f"{SOURCE}: ")
            named = _CONFIG_FIELDS.get(text.split(":", 1)[0], field)
            problems.setdefault(named, text)
            return None

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self.check()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        """Launch, if every field is valid (otherwise their messages say why not)."""
        config = self.check()
        if config is not None:
            self.post_message(self.Launch(self, config))
