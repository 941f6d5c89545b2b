"""The kill switch: a grade, then one deliberate key.

A key chooses the grade first (halt, reduce only, flatten, or re-arm when trading is not
ACTIVE); only ``y`` then carries it out, so ``k h y`` halts. The reason is optional for a halt,
a reduce or a flatten (a default such as "operator halt" goes to the audit log, under the
operator's name) and required for a re-arm. The reason box takes no key until a grade is chosen,
and then only when Tab moves to it: a single letter is never typed into it by accident. After a
flatten, a re-arm says the targets in force are 0% and ``t`` re-arms and restores the targets
the flatten replaced. A key that does nothing here is answered in words. Escape (or ``n``)
closes the dialog at any step and changes nothing.

The dialog fits an 80x24 terminal, and a small one down to 40x10 (compact: one line of choices,
no note). Under its title it says who set the state in force, from where, when and why
(``core.oms.state_origin``). It reads nothing itself: the app hands it what the OMS says
(``show_context``), and it dismisses with a ``KillDecision`` the app records
(``core.risk.trading_state``), or None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from console.screens.kill_details import KillContext, flatten_lines, rearm_lines
from console.screens.too_small import MIN_HEIGHT, MIN_WIDTH
from console.widgets.key_footer import KeyFooter, key_name
from core.oms import TargetsRecord
from core.oms.health import NO_NODE, UNKNOWN, Health
from core.oms.state_origin import full_text
from core.risk.trading_state import NODE_APPLY_NOTE, StateRequest, operator_name

__all__ = ["CHOICES", "Choice", "KillDecision", "KillSwitchScreen", "operator_name"]


@dataclass(frozen=True)
class Choice:
    """One thing the switch can do."""

    binding_id: str
    title: str
    state: str
    flatten: bool
    effect: str
    """What it does, in one line of the dialog."""
    default_reason: str | None
    """The audit log's reason when none is typed; None: a reason is required."""


CHOICES: dict[str, Choice] = {
    "halt": Choice(
        "kill.halt",
        "HALT",
        "HALTED",
        False,
        "cancel all open orders; nothing passes",
        "operator halt",
    ),
    "reduce": Choice(
        "kill.reduce",
        "REDUCE ONLY",
        "REDUCING",
        False,
        "only orders that reduce exposure pass",
        "operator reduce only",
    ),
    "flatten": Choice(
        "kill.flatten",
        "FLATTEN",
        "HALTED",
        True,
        "cancel all, close positions (risk-checked), halt",
        "operator flatten",
    ),
    "rearm": Choice(
        "kill.rearm", "RE-ARM", "ACTIVE", False, "back to ACTIVE: orders pass again", None
    ),
}
"""The choices by action parameter, in the order shown."""


@dataclass(frozen=True)
class KillDecision:
    """What the operator confirmed: the change, and the targets to restore after a re-arm."""

    request: StateRequest
    restore: TargetsRecord | None = None


_STATE_CLASSES = {"ACTIVE": "-active", "REDUCING": "-reducing", "HALTED": "-halted"}
_NAMED = {"esc": "Esc", "escape": "Esc", "tab": "Tab"}
"""Keys named in the dialog's sentences as an operator reads them on the keyboard."""
_DIALOG_WIDTH = 76
ORIGIN_REASON_CHARS = 120
"""The reason of the change in force, cut to two lines of the dialog (``status`` has it all)."""
_COMPACT_ROWS = 5
"""Rows a compact dialog (no top or bottom border) takes besides the flatten's lines: title,
choices, reason, prompt, and the footer (plus the message, when one shows)."""
_FULL_DETAIL_ROWS = 9
"""The flatten's lines in a full-size dialog: the heading and up to 8 positions (80x24 fits
them with the message line)."""


class KillSwitchScreen(ModalScreen[KillDecision | None]):
    """Asks for a grade, then for the confirming key; dismisses with the decision, or None."""

    AUTO_FOCUS = None
    """Nothing has the focus as the dialog opens: every key is the dialog's, none the box's."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # The confirming keys first: where the footer is cut (80 columns), the grades go, which
        # the dialog lists with their keys anyway.
        Binding("y", "confirm", "Confirm", id="kill.confirm", tooltip="Carry out the choice"),
        Binding(
            "t",
            "restore",
            "Restore",
            id="kill.restore",
            tooltip="Re-arm and restore the targets in force before the flatten",
        ),
        Binding(
            "tab",
            "toggle_reason",
            "Reason",
            id="kill.reason",
            tooltip="Type a reason for the audit log, or leave the box (Enter leaves it too)",
        ),
        Binding("escape", "cancel", "Cancel", id="kill.cancel", tooltip="Close; nothing changes"),
        Binding("n", "cancel", "No", id="kill.no", tooltip="Close; nothing changes", show=False),
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
            tooltip="Choose RE-ARM: back to ACTIVE (a reason is required; then confirm)",
        ),
    ]

    DEFAULT_CSS = """
    KillSwitchScreen {
        align: center middle;
        & > #dialog {
            width: 76;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: heavy $state-halted;
            background: $surface;
            padding: 0 1;
        }
        & #heading {
            height: 1;
        }
        & #title {
            width: auto;
            text-style: bold;
            color: $state-halted;
            padding: 0 2 0 0;
        }
        & #state {
            width: auto;
            text-style: bold;
            &.-active { color: $state-active; }
            &.-reducing { color: $state-reducing; }
            &.-halted { color: $state-halted; }
        }
        & #note {
            color: $text-muted;
        }
        & #origin {
            text-style: bold;
        }
        & #choices {
            height: auto;
            margin: 1 0 0 0;
        }
        & .choice {
            color: $foreground;
        }
        &.-chosen .choice {
            color: $text-muted;
        }
        & .choice.-chosen {
            text-style: bold reverse;
            color: $state-halted;
        }
        & #details {
            margin: 1 0 0 0;
            display: none;
        }
        &.-details #details {
            display: block;
        }
        & #reason {
            height: 1;
            border: none;
            padding: 0 1;
            background: $boost;
            &:focus {
                background: $primary-muted;
            }
        }
        & #message {
            color: $warning;
            text-style: bold;
            display: none;
        }
        &.-message #message {
            display: block;
        }
        & #prompt {
            text-style: bold;
            margin: 1 0 0 0;
        }
        &.-chosen #prompt {
            color: $state-halted;
        }
        &.-compact {
            & > #dialog {
                width: 100%;
                border-top: none;
                border-bottom: none;
            }
            & .choice, & #message, & #prompt {
                text-wrap: nowrap;
                text-overflow: ellipsis;
            }
            & #note, & #origin {
                display: none;
            }
            & #choices {
                layout: horizontal;
                margin: 0;
            }
            & .choice {
                width: auto;
                padding: 0 1 0 0;
            }
            & #details, & #prompt {
                margin: 0;
            }
        }
    }
    """

    choice: reactive[str | None] = reactive(None)
    """The chosen action (a key of ``CHOICES``); ``y`` now carries it out."""
    compact: reactive[bool] = reactive(False)
    """The terminal is below 80x24: one line of choices, no note, fewer position lines."""

    def __init__(
        self, health: Health | None, *, can_restore: bool = False, grade: str | None = None
    ) -> None:
        super().__init__()
        self._grade = grade
        """A grade already chosen (from the palette: "risk: flatten..."); ``y`` still decides."""
        self._health = health
        self._state = UNKNOWN if health is None else health.trading_state
        """The trading state when the screen opened (the node's, or the persisted one)."""
        self._can_restore = can_restore
        """The node runs in this console, so restored targets can be traded from here."""
        self._kill_context: KillContext | None = None
        """What the OMS says (positions, the targets a flatten replaced); None until read."""

    @property
    def offered(self) -> tuple[str, ...]:
        """The choices on offer: re-arm only when trading is not (known to be) ACTIVE."""
        return tuple(name for name in CHOICES if name != "rearm" or self._state != "ACTIVE")

    @property
    def restorable(self) -> TargetsRecord | None:
        """The targets ``t`` would restore with a re-arm; None when there are none to offer."""
        context = self._kill_context
        if not self._can_restore or context is None or context.offer is None:
            return None
        return context.offer.previous

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            with Horizontal(id="heading"):
                yield Static("KILL SWITCH", id="title")
                state = Static(f"trading now {self._state}", id="state")
                state.set_class(True, _STATE_CLASSES.get(self._state, "-halted"))
                yield state
            # Plain text: the reason was typed by an operator, in a console or a shell.
            origin = Static(self._origin_line(), id="origin", markup=False)
            origin.display = bool(self._origin_line())
            yield origin
            yield Static(self._node_note(), id="note")
            with Vertical(id="choices"):
                for name in self.offered:
                    yield Static(self._choice_line(name), id=f"choice-{name}", classes="choice")
            yield Static("", id="details")
            yield Input(placeholder=self._placeholder(), id="reason", disabled=True)
            yield Static("", id="message")
            yield Static(self._prompt(), id="prompt")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.compact = self._is_small()
        if self._grade in self.offered:
            self.choice = self._grade

    def on_resize(self, event: events.Resize) -> None:
        self.compact = self._is_small()

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        self._show()

    def watch_choice(self, choice: str | None) -> None:
        if not self.is_mounted:
            return  # read by compose: nothing chosen, which compose shows
        self.set_class(choice is not None, "-chosen")
        for name in self.offered:
            self.query_one(f"#choice-{name}", Static).set_class(name == choice, "-chosen")
        reason = self.query_one(Input)
        reason.disabled = choice is None
        reason.placeholder = self._placeholder()
        self._say("")
        self._show()

    def show_context(self, context: KillContext) -> None:
        """Show what the OMS says: the positions a flatten closes, the targets it replaced."""
        self._kill_context = context
        self._show()

    # -- keys ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose":
            return parameters[0] in self.offered
        if action in ("confirm", "toggle_reason"):
            # Shown, greyed, until a grade is chosen: the footer says what comes next.
            return True if self.choice is not None else None
        if action == "restore":
            return self.choice == "rearm" and self.restorable is not None
        return True

    def on_key(self, event: events.Key) -> None:
        # Not a dispatcher: the bound keys act through their bindings once this returns. A key
        # no binding takes here would otherwise vanish; the dialog says so instead. Typing in the
        # reason box is the box's.
        if self.focused is self.query_one(Input):
            return
        active = self.active_bindings.get(event.key)
        if active is not None and active.enabled:
            return
        name = key_name(event)
        if event.key == "a" and "rearm" not in self.offered:
            self._say(f"a: trading is {self._state}, there is nothing to re-arm.")
        elif event.key == "y":
            self._say(f"y: choose first ({self._choice_keys()}).")
        else:
            self._say(f"{name} does nothing here: {self._keys_hint()}.")

    def on_descendant_focus(self) -> None:
        self._show()  # the prompt says what Enter does in the box

    def on_descendant_blur(self) -> None:
        self._show()

    def action_choose(self, name: str) -> None:
        self.choice = name

    def action_toggle_reason(self) -> None:
        reason = self.query_one(Input)
        if self.focused is reason:
            self.set_focus(None)
        else:
            reason.focus()

    @on(Input.Submitted)
    def _reason_entered(self, event: Input.Submitted) -> None:
        if self.choice is not None and self._reason() is None:
            self._say("A re-arm needs a reason: type it here, then Enter.")
            return
        # The box lets go of the focus: the next key (y) is the dialog's.
        self.set_focus(None)
        self._say("")

    def action_confirm(self) -> None:
        self._decide(restore=False)

    def action_restore(self) -> None:
        self._decide(restore=True)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _decide(self, restore: bool) -> None:
        if self.choice is None:
            return
        chosen = CHOICES[self.choice]
        reason = self._reason()
        if reason is None:
            self._say(f"A re-arm needs a reason: {self._key('kill.reason')}, type it, Enter.")
            return
        request = StateRequest(state=chosen.state, reason=reason, flatten=chosen.flatten)
        self.dismiss(KillDecision(request, self.restorable if restore else None))

    def _reason(self) -> str | None:
        """The reason typed (on one line), else the grade's default; None when one is needed."""
        typed = " ".join(self.query_one(Input).value.split())
        if typed:
            return typed
        return None if self.choice is None else CHOICES[self.choice].default_reason

    # -- what the dialog says -----------------------------------------------------------------

    def _show(self) -> None:
        if not self.is_mounted:
            return
        self.refresh_bindings()
        for name in self.offered:
            self.query_one(f"#choice-{name}", Static).update(self._choice_line(name))
        details = self._details()
        self.query_one("#details", Static).update("\n".join(details))
        self.set_class(bool(details), "-details")
        self.query_one("#prompt", Static).update(self._prompt())

    def _say(self, message: str) -> None:
        """One line at the reason box (a refusal, a key that does nothing); "" clears it."""
        self.query_one("#message", Static).update(message)
        self.set_class(bool(message), "-message")
        if self.choice == "flatten":
            self._show()  # a line fewer for the positions in a small terminal

    def _details(self) -> list[str]:
        width = min(_DIALOG_WIDTH, self.app.size.width) - 4  # border and padding
        if self.choice == "flatten":
            return flatten_lines(self._kill_context, self._position_rows(), width)
        if self.choice == "rearm":
            restore = self._key("kill.restore")
            return rearm_lines(self._kill_context, self._can_restore, restore, width)
        return []

    def _position_rows(self) -> int:
        if not self.compact:
            # The line saying who set the state takes rows the positions would have had.
            width = min(_DIALOG_WIDTH, self.app.size.width) - 4
            origin = -(-len(self._origin_line()) // width)
            return max(3, _FULL_DETAIL_ROWS - origin)
        message = 1 if self.has_class("-message") else 0
        return max(2, self.app.size.height - _COMPACT_ROWS - message)

    def _is_small(self) -> bool:
        width, height = self.app.size
        return width < MIN_WIDTH or height < MIN_HEIGHT

    def _origin_line(self) -> str:
        """Who set the state in force, from where, when and why; "" when nobody ever did."""
        change = None if self._health is None else self._health.trading_change
        if change is None:
            return ""
        return f"Set: {full_text(change, ORIGIN_REASON_CHARS)}"

    def _node_note(self) -> str:
        health = self._health
        if health is None or health.trading_state == UNKNOWN:
            return "The OMS has not been read: the change is recorded there all the same."
        if health.node_state == NO_NODE:
            return (
                "No node is running: the change is recorded, and a node started later comes "
                "up in it."
            )
        if health.node_silent:
            return (
                f"NODE {health.node_state} ({health.mode}): it is silent and applies nothing "
                "now. The change is recorded; a node that comes back, or starts, comes up in "
                "it. Orders it left at a venue are not cancelled from here."
            )
        return f"Node {health.node_state} ({health.mode}): {NODE_APPLY_NOTE}."

    def _choice_line(self, name: str) -> str:
        choice = CHOICES[name]
        key = self._key(choice.binding_id)
        if self.compact:
            return f"{key} {choice.title.split()[0]}"
        return f" {key:>3}  {choice.title:<12} {choice.effect}"

    def _placeholder(self) -> str:
        if self.choice is None:
            return "reason: choose first"
        default = CHOICES[self.choice].default_reason
        tab = self._key("kill.reason")
        if default is None:
            return f"reason (required): {tab} to type, then Enter"
        return f"reason ({tab} to type; else '{default}')"

    def _prompt(self) -> str:
        cancel = self._key("kill.cancel")
        if self.choice is None:
            if self.compact:
                return f"Choose {self._choice_keys()} · {cancel} cancels"
            return f"Choose {self._choice_keys()}.  {cancel} cancels."
        title = CHOICES[self.choice].title
        confirm = self._key("kill.confirm")
        if self.focused is self.query_one(Input):
            return f"Type the reason, then Enter (then {confirm} to {title})."
        if self.restorable is not None and self.choice == "rearm":
            restore = self._key("kill.restore")
            if self.compact:
                return f"{confirm} {title} · {restore} + targets · {cancel}"
            return f"Press {confirm} to {title} now, {restore} to {title} and restore the targets."
        if self.compact:
            return f"{confirm} to {title} · {cancel} cancels"
        return f"Press {confirm} to {title} now.  {cancel} cancels."

    def _choice_keys(self) -> str:
        keys = [self._key(CHOICES[name].binding_id) for name in self.offered]
        return ", ".join(keys[:-1]) + f" or {keys[-1]}"

    def _keys_hint(self) -> str:
        cancel = self._key("kill.cancel")
        if self.choice is None:
            return f"choose {self._choice_keys()}, or {cancel} to cancel"
        confirm = [self._key("kill.confirm")]
        if self.restorable is not None and self.choice == "rearm":
            confirm.append(self._key("kill.restore"))
        reason = self._key("kill.reason")
        if self.compact:
            return ", ".join([*confirm, reason]) + f" or {cancel}"
        return f"{' or '.join(confirm)} confirms, {reason} types a reason, {cancel} cancels"

    def _key(self, binding_id: str) -> str:
        # The key bound now (a keymap may have moved it); the default for a binding not on
        # offer now (before the dialog is mounted, or re-arm's restore key before a re-arm).
        if self.is_mounted:
            for active in self.active_bindings.values():
                if active.binding.id == binding_id:
                    shown = active.binding.key_display or self.app.get_key_display(active.binding)
                    return _NAMED.get(shown, shown)
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.id == binding_id:
                return _NAMED.get(binding.key, binding.key)
        return "?"
