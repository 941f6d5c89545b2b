"""The header: mode badge, venues, node and trading state (who halted, when), equity, the UTC
clock."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from console.widgets.cells import number, utc_date, utc_time
from console.widgets.label_text import set_label_text
from core.oms.health import NODE_DOWN, NODE_STALE, Health
from core.oms.state_origin import short_texts

MODES = ("LIVE", "SHADOW", "BACKTEST")
TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")


def trading_texts(health: Health) -> list[str]:
    """``trading ACTIVE``; not ACTIVE, who set it and when, ``HALTED by ops@box 14:02Z``, then
    shorter forms for a narrow line (the whole, with where from and why, is in Health)."""
    origin = health.trading_origin
    if origin is None or health.trading_state == "ACTIVE":
        return [f"trading {health.trading_state}"]
    return short_texts(origin)


def _label_width(label: Label) -> int:
    # One line of plain text: its length and its padding.
    return len(str(label.content)) + label.styles.padding.width


class StatusHeader(Horizontal):
    """One line that says at a glance what runs and whether it may trade.

    The mode badge and the trading state are coloured by class (``-live``, ``-halted``...),
    which the stylesheet maps to theme variables, so LIVE can never look like SHADOW in any
    theme. Until the first health reading the header says so rather than guess.
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

    def compose(self) -> ComposeResult:
        yield Label("…", id="mode")
        yield Label(", ".join(self._venues), id="venues")
        yield Label("node …", id="node")
        # Plain text: who halted (an OS user, a host name) is not the console's markup.
        yield Label("trading …", id="trading", markup=False)
        yield Label("equity -", id="equity")
        yield Label(self._currency, id="currency")
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
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        # The clock is docked over the line's right end: at 80 columns, "HALTED by ops@box
        # 14:02Z" pushed the equity under it. What the line cannot hold goes first, so no
        # figure is ever cut: the venues (Health names them), the currency (a unit), then
        # words of who halted (the host, the time).
        if not self.is_mounted:
            return
        currency = self.query_one("#currency", Label)
        venues = self.query_one("#venues", Label)
        trading = self.query_one("#trading", Label)
        room = self.size.width - self.query_one("#time").outer_size.width
        shown = [label for label in self.query(Label) if label.parent is self]
        width = sum(
            _label_width(label) for label in shown if label not in (currency, venues, trading)
        )
        padding = trading.styles.padding.width
        text = next(
            (t for t in self._trading_texts if width + len(t) + padding <= room),
            self._trading_texts[-1],
        )
        set_label_text(trading, text)
        width += len(text) + padding
        venues.display = width + _label_width(venues) <= room
        width += _label_width(venues) if venues.display else 0
        currency.display = self._has_currency and width + _label_width(currency) <= room
