"""The header: mode badge, venues, node and trading state, equity, PnL, and the UTC clock."""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from console.widgets.cells import number, utc_date, utc_time
from console.widgets.label_text import set_label_text
from core.oms import PnlSnapshot
from core.oms.health import NODE_DOWN, NODE_STALE, Health

PNL_NARROW = 100
"""Below this many columns the PnL shows in whole units and takes the room of the venues and
the clock (80 columns hold mode, node, trading state, equity and PnL, not all of those too)."""
MODES = ("LIVE", "SHADOW", "BACKTEST")
TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")


class StatusHeader(Horizontal):
    """One line that says at a glance what runs and whether it may trade.

    The mode badge and the trading state are coloured by class (``-live``, ``-halted``...),
    which the stylesheet maps to theme variables, so LIVE can never look like SHADOW in any
    theme. Until the first health reading the header says so rather than guess.

    ``PnL`` is the running node's session PnL (since the node started), ``day`` the UTC day's
    (since 00:00 UTC, or the session's start if later), both ``equity - equity at the start``
    as the node recorded them (``core.oms.pnl_record``). The sign says up or down without
    colour. Shown only while a node runs and has marked its instruments.
    """

    DEFAULT_CSS = """
    StatusHeader {
        height: 1;
        background: $panel;
        color: $foreground;
        & > Label {
            width: auto;
            padding: 0 0 0 2;
        }
        & > #mode {
            text-style: bold;
            padding: 0 1;
        }
        & > #trading {
            text-style: bold;
        }
        & > #currency {
            padding: 0 0 0 1;
        }
        & > #currency.-hidden {
            display: none;
        }
        & > #pnl {
            display: none;
        }
        & > #pnl.-shown {
            display: block;
        }
        & > #time {
            dock: right;
            width: auto;
            padding: 0 1;
            & > Label {
                width: auto;
            }
            & > #date {
                padding: 0 1 0 0;
            }
        }
    }
    """

    def __init__(
        self,
        clock: Callable[[], int],
        venues: tuple[str, ...],
        currency: str,
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._clock = clock
        self._venues = venues
        self._currency = currency

    def compose(self) -> ComposeResult:
        yield Label("…", id="mode")
        yield Label(", ".join(self._venues), id="venues")
        yield Label("node …", id="node")
        yield Label("trading …", id="trading")
        yield Label("equity -", id="equity")
        yield Label(self._currency, id="currency")
        yield Label("", id="pnl")
        with Horizontal(id="time"):
            yield Label("", id="date")
            yield Label("", id="clock")

    def on_mount(self) -> None:
        self._tick()
        self.set_interval(1.0, self._tick)
        self.watch(self.app, "health", self._on_health)

    def _tick(self) -> None:
        now = self._clock()
        set_label_text(self.query_one("#date", Label), utc_date(now))
        set_label_text(self.query_one("#clock", Label), utc_time(now) + " UTC")

    def _on_health(self, health: Health | None) -> None:
        if health is None:
            return
        mode = self.query_one("#mode", Label)
        set_label_text(mode, health.mode)
        for name in MODES:
            mode.set_class(health.mode == name, f"-{name.lower()}")
        # No node: the configured venues, which a node started from this config would trade.
        venues = ", ".join(health.venues or self._venues)
        set_label_text(self.query_one("#venues", Label), venues)
        node = self.query_one("#node", Label)
        # A silent node is the loudest thing on the line: in words (NODE DOWN), bold and
        # reversed, so it reads without colour too.
        text = f"NODE {health.node_state}" if health.node_silent else f"node {health.node_state}"
        set_label_text(node, text)
        node.set_class(health.node_state == NODE_STALE, "-stale")
        node.set_class(health.node_state == NODE_DOWN, "-down")
        trading = self.query_one("#trading", Label)
        set_label_text(trading, f"trading {health.trading_state}")
        for name in TRADING_STATES:
            trading.set_class(health.trading_state == name, f"-{name.lower()}")
        set_label_text(self.query_one("#equity", Label), f"equity {number(health.equity)}")
        self._show_pnl(health.pnl)

    def on_resize(self, event: events.Resize) -> None:
        health: Health | None = getattr(self.app, "health", None)
        self._show_pnl(None if health is None else health.pnl)

    def _show_pnl(self, pnl: PnlSnapshot | None) -> None:
        label = self.query_one("#pnl", Label)
        label.set_class(pnl is not None, "-shown")
        narrow = pnl is not None and self.size.width < PNL_NARROW
        self.query_one("#venues", Label).display = not narrow
        self.query_one("#time", Horizontal).display = not narrow
        health: Health | None = getattr(self.app, "health", None)
        equity = health is not None and health.equity is not None
        # A class, not ``display``: an inline display would beat the screens' 80-column rule
        # that hides the currency, and the clock would cover it.
        self.query_one("#currency", Label).set_class(not equity or narrow, "-hidden")
        if pnl is None:
            return
        decimals = 0 if narrow else 2
        session, day = pnl.session_pnl, pnl.day_pnl
        set_label_text(label, f"PnL {session:+,.{decimals}f} day {day:+,.{decimals}f}")
        label.set_class(session > 0, "-up")
        label.set_class(session < 0, "-down")
