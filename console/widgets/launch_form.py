"""``LaunchForm``: what to backtest (instruments, window, mode), checked as it is typed.

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
from textual.widgets import Input, Label, Static

from console.commands.backtest import apply_overrides
from core.config import AppConfig
from core.errors import ConfigError

MODES = ("full", "signals")
FIELDS = ("instruments", "start", "end", "mode", "window")
"""The form's fields, left to right (each an ``Input`` with this id)."""
_CONFIG_FIELDS = {
    "backtest.instruments": "instruments",
    "backtest.start": "start",
    "backtest.end": "end",
    "backtest.mode": "mode",
    "backtest.window_secs": "window",
}
_SOURCE = "command line: "


class LaunchForm(Vertical):
    """The launcher's fields over ``config``; posts ``Launch`` on Enter when all are valid."""

    DEFAULT_CSS = """
    LaunchForm {
        height: auto;
        padding: 0 1;
        & > Horizontal { height: auto; }
        & Vertical { height: auto; width: 1fr; }
        & #instruments-field { width: 2fr; }
        & Label { color: $text-muted; }
        & > #problems { color: $error; height: auto; }
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
        bt = self.config.backtest
        values = {
            "instruments": ", ".join(bt.instruments),
            "start": bt.start or "",
            "end": bt.end or "",
            "mode": bt.mode,
            "window": str(bt.window_secs),
        }
        hints = {
            "instruments": "BTCUSDT.BINANCE, ETHUSDT.BINANCE",
            "start": "2026-01-05T00:00:00Z",
            "end": "2026-01-06T00:00:00Z",
            "mode": "full or signals",
            "window": "seconds (signals mode)",
        }
        labels = {"window": "window secs"}
        with Horizontal():
            for name in FIELDS:
                with Vertical(id=f"{name}-field"):
                    yield Label(labels.get(name, name))
                    yield Input(values[name], placeholder=hints[name], id=name)
        yield Static("", id="problems")

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
        if not [i for i in values["instruments"].split(",") if i.strip()]:
            problems["instruments"] = "instruments: at least one, comma separated"
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
        for name in ("instruments", "start", "end", "window"):
            if name not in problems:
                alone = {name: window if name == "window" else values[name]}
                self._try(bare, alone, problems, name)
        config = None
        if not problems:  # ...then together: start before end is a rule of the pair
            config = self._try(self.config, values | {"window": window}, problems, "start")
        self.problems = problems
        self.query_one("#problems", Static).update(
            "\n".join(problems[n] for n in FIELDS if n in problems)
        )
        for name in FIELDS:
            self.query_one(f"#{name}", Input).set_class(name in problems, "-invalid")
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
        )
        try:
            return apply_overrides(base, args)
        except ConfigError as error:
            text = str(error).removeprefix(_SOURCE)
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
