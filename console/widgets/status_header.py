"""The header: mode badge, venues, node and trading state (who halted, when), equity, PnL, and
the UTC clock."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from console.widgets.cells import number, utc_date, utc_time
from console.widgets.label_text import set_label_text
from core.oms import PnlSnapshot
from core.oms.health import NODE_DOWN, NODE_STALE, Health
from core.oms.state_origin import short_texts


def trading_texts(health: Health) -> list[str]:
    """``trading ACTIVE``; not ACTIVE, who set it and when, ``HALTED by ops@box 14:02Z``, then
    shorter forms for a narrow line (the whole, with where from and why, is in Health)."""
    origin = health.trading_origin
    if origin is None or health.trading_state == "ACTIVE":
        return [f"trading {health.trading_state}"]
    return short_texts(origin)


def pnl_texts(pnl: PnlSnapshot | None) -> list[str]:
    """The session's and the day's PnL in cents, then in whole units for a narrow line."""
    if pnl is None:
        return []
    session, day = pnl.session_pnl, pnl.day_pnl
    return [f"PnL {session:+,.{d}f} day {day:+,.{d}f}" for d in (2, 0)]


def _label_width(label: Label) -> int:
    # One line of plain text: its length and its padding.
    return len(str(label.content)) + label.styles.padding.width


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
        self._has_currency = False
        """The equity is known, so its currency follows it (when the line has room)."""
        self._trading_texts = ["trading …"]
        """The trading state's texts, longest first: the longest the line holds is shown."""
        self._pnl_texts: list[str] = []
        """The PnL's texts, longest first (none: no node running, or no mark yet)."""

    def compose(self) -> ComposeResult:
        yield Label("…", id="mode")
        yield Label(", ".join(self._venues), id="venues")
        yield Label("node …", id="node")
        # Plain text: who halted (an OS user, a host name) is not the console's markup.
        yield Label("trading …", id="trading", markup=False)
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
        self._trading_texts = trading_texts(health)  # shown by _fit: the longest that fits
        for name in TRADING_STATES:
            trading.set_class(health.trading_state == name, f"-{name.lower()}")
        set_label_text(self.query_one("#equity", Label), f"equity {number(health.equity)}")
        self._has_currency = health.equity is not None
        self._pnl_texts = pnl_texts(health.pnl)
        pnl = self.query_one("#pnl", Label)
        pnl.set_class(bool(self._pnl_texts), "-shown")
        if health.pnl is not None:
            pnl.set_class(health.pnl.session_pnl > 0, "-up")
            pnl.set_class(health.pnl.session_pnl < 0, "-down")
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        # What must show: mode, node, the trading state (its shortest form), equity and the
        # PnL (whole units). Then, as the line has room, in this order: the clock, who halted
        # in full, the PnL in cents, the currency, the venues (Health names them). Nothing is
        # ever cut: at 80 columns, "HALTED by ops@box 14:02Z" pushed the equity under the clock.
        if not self.is_mounted:
            return
        currency = self.query_one("#currency", Label)
        venues = self.query_one("#venues", Label)
        trading = self.query_one("#trading", Label)
        pnl = self.query_one("#pnl", Label)
        clock = self.query_one("#time", Horizontal)
        optional = (currency, venues, trading, pnl)
        room = self.size.width
        used = sum(
            _label_width(label)
            for label in self.query(Label)
            if label.parent is self and label not in optional
        )
        trading_padding = trading.styles.padding.width
        pnl_padding = pnl.styles.padding.width if self._pnl_texts else 0
        pnl_least = len(self._pnl_texts[-1]) + pnl_padding if self._pnl_texts else 0
        trading_least = len(self._trading_texts[-1]) + trading_padding
        # Its width from its labels: before the first layout (a screen just opened) its
        # size is 0, and a narrow screen's rule hides the date.
        clock_width = clock.styles.padding.width + sum(
            _label_width(label) for label in clock.query(Label) if label.display
        )
        clock.display = used + trading_least + pnl_least + clock_width <= room
        used += clock_width if clock.display else 0
        text = next(
            (t for t in self._trading_texts if used + len(t) + trading_padding + pnl_least <= room),
            self._trading_texts[-1],
        )
        set_label_text(trading, text)
        used += len(text) + trading_padding
        if self._pnl_texts:
            shown = next(
                (t for t in self._pnl_texts if used + len(t) + pnl_padding <= room),
                self._pnl_texts[-1],
            )
            set_label_text(pnl, shown)
            used += len(shown) + pnl_padding
        # A class, not ``display``: an inline display would beat the screens' narrow rule
        # that hides the currency.
        shows_currency = self._has_currency and used + _label_width(currency) <= room
        currency.set_class(not shows_currency, "-hidden")
        used += _label_width(currency) if shows_currency else 0
        venues.display = used + _label_width(venues) <= room
