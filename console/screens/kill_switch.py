"""The kill switch: a reason, a choice, then one deliberate key.

Three steps so that no slip changes the trading state and no change goes without a why: Enter
on a non-empty reason arms the switch; a key then chooses halt, reduce only or flatten (or
re-arm, when trading is not ACTIVE); only ``y`` then carries the choice out. Escape closes the
screen at any step and changes nothing. The screen itself writes nothing: it returns a
``StateRequest``, and the app records it in the OMS (``core.risk.trading_state``), where the node
picks it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from console.widgets.key_footer import KeyFooter
from core.oms.health import NO_NODE, UNKNOWN, Health
from core.risk.trading_state import NODE_APPLY_NOTE, StateRequest, operator_name

__all__ = ["CHOICES", "Choice", "KillSwitchScreen", "operator_name"]


@dataclass(frozen=True)
class Choice:
    """One thing the switch can do."""

    binding_id: str
    title: str
    state: str
    flatten: bool
    effect: str
    """What it does, in one line of the dialog."""


CHOICES: dict[str, Choice] = {
    "halt": Choice("kill.halt", "HALT", "HALTED", False, "cancel all open orders; nothing passes"),
    "reduce": Choice(
        "kill.reduce", "REDUCE ONLY", "REDUCING", False, "only orders that reduce exposure pass"
    ),
    "flatten": Choice(
        "kill.flatten",
        "FLATTEN",
        "HALTED",
        True,
        "cancel all, close positions (risk-checked), halt",
    ),
    "rearm": Choice("kill.rearm", "RE-ARM", "ACTIVE", False, "back to ACTIVE: orders pass again"),
}
"""The choices by action parameter, in the order shown."""

_STATE_CLASSES = {"ACTIVE": "-active", "REDUCING": "-reducing", "HALTED": "-halted"}


class KillSwitchScreen(ModalScreen[StateRequest | None]):
    """Asks why, what, then for the confirming key; dismisses with the request, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="kill.cancel", tooltip="Close; nothing changes"),
        Binding(
            "h",
            "choose('halt')",
            "Halt",
            id="kill.halt",
            tooltip="Choose HALT: cancel all open orders (then confirm)",
        ),
        Binding(
            "r",
            "choose('reduce')",
            "Reduce only",
            id="kill.reduce",
            tooltip="Choose REDUCE ONLY: only orders that reduce exposure pass (then confirm)",
        ),
        Binding(
            "f",
            "choose('flatten')",
            "Flatten",
            id="kill.flatten",
            tooltip="Choose FLATTEN: cancel all, close every position, then halt (then confirm)",
        ),
        Binding(
            "a",
            "choose('rearm')",
            "Re-arm",
            id="kill.rearm",
            tooltip="Choose RE-ARM: back to ACTIVE (then confirm)",
        ),
        Binding("y", "confirm", "Confirm", id="kill.confirm", tooltip="Carry out the choice"),
    ]

    DEFAULT_CSS = """
    KillSwitchScreen {
        align: center middle;
        & > #dialog {
            width: 76;
            max-width: 100%;
            height: auto;
            border: heavy $state-halted;
            background: $surface;
            padding: 0 1;
        }
        & #title {
            text-style: bold;
            color: $state-halted;
        }
        & #state {
            text-style: bold;
            &.-active { color: $state-active; }
            &.-reducing { color: $state-reducing; }
            &.-halted { color: $state-halted; }
        }
        & #note {
            color: $text-muted;
        }
        & #choices {
            height: auto;
            margin: 1 0 0 0;
        }
        & .choice {
            color: $text-muted;
        }
        &.-armed .choice {
            color: $foreground;
        }
        & .choice.-chosen {
            text-style: bold reverse;
            color: $state-halted;
        }
        & #prompt {
            text-style: bold;
            margin: 1 0 0 0;
        }
        &.-chosen #prompt {
            color: $state-halted;
        }
    }
    """

    armed: reactive[bool] = reactive(False)
    """A reason is entered: the choice keys now work."""
    choice: reactive[str | None] = reactive(None)
    """The chosen action (a key of ``CHOICES``); ``y`` now carries it out."""

    def __init__(self, health: Health | None) -> None:
        super().__init__()
        self._health = health
        self._state = UNKNOWN if health is None else health.trading_state
        """The trading state when the screen opened (the node's, or the persisted one)."""

    @property
    def offered(self) -> tuple[str, ...]:
        """The choices on offer: re-arm only when trading is not (known to be) ACTIVE."""
        return tuple(name for name in CHOICES if name != "rearm" or self._state != "ACTIVE")

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("KILL SWITCH", id="title")
            state = Static(f"trading now {self._state}", id="state")
            state.set_class(True, _STATE_CLASSES.get(self._state, "-halted"))
            yield state
            yield Static(self._node_note(), id="note")
            yield Input(placeholder="reason (required), then Enter", id="reason")
            with Vertical(id="choices"):
                for name in self.offered:
                    yield Static(self._choice_line(name), id=f"choice-{name}", classes="choice")
            yield Static(self._prompt(), id="prompt")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def watch_armed(self, armed: bool) -> None:
        self.set_class(armed, "-armed")
        self._show()

    def watch_choice(self, choice: str | None) -> None:
        self.set_class(choice is not None, "-chosen")
        for name in self.offered:
            self.query_one(f"#choice-{name}", Static).set_class(name == choice, "-chosen")
        self._show()

    @on(Input.Submitted)
    def _arm(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.notify("A reason is required: it goes to the audit log.", severity="warning")
            return
        # Disabled, the input lets go of the focus, so the next key is the screen's.
        event.input.disabled = True
        self.armed = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose":
            return self.armed and parameters[0] in self.offered
        if action == "confirm":
            return self.choice is not None
        return True

    def action_choose(self, name: str) -> None:
        self.choice = name

    def action_confirm(self) -> None:
        if self.choice is None:
            return
        chosen = CHOICES[self.choice]
        reason = self.query_one(Input).value.strip()
        self.dismiss(StateRequest(state=chosen.state, reason=reason, flatten=chosen.flatten))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _show(self) -> None:
        if not self.is_mounted:
            return
        self.refresh_bindings()
        for name in self.offered:
            self.query_one(f"#choice-{name}", Static).update(self._choice_line(name))
        self.query_one("#prompt", Static).update(self._prompt())

    def _node_note(self) -> str:
        health = self._health
        if health is None or health.trading_state == UNKNOWN:
            return "The OMS has not been read: the change is recorded there all the same."
        if health.node_state == NO_NODE:
            return (
                "No node is running: the change is recorded, and a node started later comes "
                "up in it."
            )
        return f"Node {health.node_state} ({health.mode}): {NODE_APPLY_NOTE}."

    def _choice_line(self, name: str) -> str:
        choice = CHOICES[name]
        return f" {self._key(choice.binding_id):>3}  {choice.title:<12} {choice.effect}"

    def _prompt(self) -> str:
        if not self.armed:
            return "Type the reason, then Enter.  Esc cancels."
        if self.choice is None:
            keys = ", ".join(self._key(CHOICES[name].binding_id) for name in self.offered)
            return f"Choose: {keys}.  Esc cancels."
        confirm = self._key("kill.confirm")
        return f"Press {confirm} to {CHOICES[self.choice].title} now.  Esc cancels."

    def _key(self, binding_id: str) -> str:
        # The key bound now (a keymap may have moved it); the default while the reason is typed,
        # as the input then holds the focus and hides the screen's letter keys.
        if self.is_mounted:
            for active in self.active_bindings.values():
                if active.binding.id == binding_id:
                    return active.binding.key_display or self.app.get_key_display(active.binding)
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.id == binding_id:
                return binding.key
        return "?"
