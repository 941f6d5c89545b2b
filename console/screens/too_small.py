"""What a terminal smaller than the console's minimum shows instead of a broken layout.

Small is no reason to be helpless: the screen still says, in one line, the mode, the node and
the trading state (the app's ``health``, as the header reads it), the kill switch opens from
here (its dialog fits down to 40x10), and ``q`` quits through the app. A key that does nothing
here is answered in words, with the keys that work.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Center, Horizontal, Middle, Vertical
from textual.screen import Screen
from textual.widgets import Label, Static

from console.widgets.key_footer import KeyFooter, key_name
from console.widgets.label_text import set_label_text
from core.oms.health import NODE_DOWN, NODE_STALE, Health

MIN_WIDTH = 80
MIN_HEIGHT = 24
_MODES = ("LIVE", "SHADOW", "BACKTEST")
_TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")


def too_small_message(width: int, height: int) -> str:
    """What the screen says for a ``width`` x ``height`` terminal."""
    return (
        f"Terminal too small: {width}x{height}. trade-console needs at least "
        f"{MIN_WIDTH}x{MIN_HEIGHT}; enlarge the window."
    )


class TooSmallScreen(Screen[None]):
    """Covers every other screen until the terminal is large enough again; their state stays."""

    DEFAULT_CSS = """
    TooSmallScreen {
        & Middle {
            height: 1fr;
        }
        & #body {
            width: auto;
            max-width: 100%;
            height: auto;
        }
        & #trading-line {
            width: auto;
            height: 1;
            & > Label {
                width: auto;
                padding: 0 1 0 0;
            }
            & > #mode {
                text-style: bold;
                padding: 0 1;
                margin: 0 1 0 0;
            }
            & > #trading {
                text-style: bold;
            }
        }
        & #message {
            color: $warning;
            text-style: bold;
        }
        & #hint {
            text-style: bold;
        }
    }
    """

    def __init__(self, width: int, height: int) -> None:
        super().__init__()
        self._terminal = (width, height)

    def compose(self) -> ComposeResult:
        with Middle(), Center(), Vertical(id="body"):
            with Horizontal(id="trading-line"):
                yield Label("…", id="mode")
                yield Label("node …", id="node")
                yield Label("trading …", id="trading")
            yield Static(too_small_message(*self._terminal), id="message")
            yield Static("", id="keys")
            yield Static("", id="hint")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.watch(self.app, "health", self._on_health)

    def on_screen_resume(self) -> None:
        self.query_one("#keys", Static).update(f"Keys here: {self._keys_here()}.")

    def show_size(self, width: int, height: int) -> None:
        """Say the terminal's new (still too small) size."""
        self.query_one("#message", Static).update(too_small_message(width, height))

    def on_key(self, event: events.Key) -> None:
        # Not a dispatcher: k and q act through their bindings once this returns. Any other
        # key would vanish without a word; the screen says which keys work here instead.
        active = self.active_bindings.get(event.key)
        if active is not None and active.enabled:
            self.query_one("#hint", Static).update("")
            return
        name = key_name(event)
        hint = f"{name} does nothing here (terminal too small). Keys here: {self._keys_here()}."
        self.query_one("#hint", Static).update(hint)

    def _keys_here(self) -> str:
        keys = [
            f"{active.binding.key_display or self.app.get_key_display(active.binding)} "
            f"{active.binding.description.lower()}"
            for active in self.active_bindings.values()
            if active.enabled and active.binding.show and active.binding.id is not None
        ]
        return ", ".join(keys)

    def _on_health(self, health: Health | None) -> None:
        if health is None:
            return
        mode = self.query_one("#mode", Label)
        set_label_text(mode, health.mode)
        for name in _MODES:
            mode.set_class(health.mode == name, f"-{name.lower()}")
        node = self.query_one("#node", Label)
        # As the header says it: a silent node in words (NODE DOWN), reversed.
        text = f"NODE {health.node_state}" if health.node_silent else f"node {health.node_state}"
        set_label_text(node, text)
        node.set_class(health.node_state == NODE_STALE, "-stale")
        node.set_class(health.node_state == NODE_DOWN, "-down")
        trading = self.query_one("#trading", Label)
        set_label_text(trading, f"trading {health.trading_state}")
        for name in _TRADING_STATES:
            trading.set_class(health.trading_state == name, f"-{name.lower()}")
