"""The kill switch: a reason, then one deliberate key, then the desk is HALTED.

Two steps so that no single slip halts trading and no halt goes without a why: Enter on a
non-empty reason arms the switch, and only then does ``h`` halt. The screen itself writes
nothing: it returns the reason, and the app records the halt in the OMS (``record_halt``).
"""

from __future__ import annotations

import getpass
import uuid
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from core.health import NO_NODE, Health
from core.oms import AuditEntry, OmsStore, TradingStateRecord

NO_NODE_NOTE = (
    "No node is running: halting records HALTED in the OMS (a node started later must come "
    "up halted) and an audit entry. There is nothing to cancel."
)
NODE_NOTE = (
    "A node is running, but this console cannot reach it yet (issue 5): halting records "
    "HALTED in the OMS and an audit entry; stop the node from its own shell to cancel orders."
)

HALTED_NO_NODE = "Trading HALTED. No node running: nothing to cancel."
HALTED_NODE_RUNNING = (
    "HALTED recorded in the OMS. The node reads it within one heartbeat (1 s): its risk engine "
    "then denies every order and its open orders are cancelled."
)


class KillSwitchScreen(ModalScreen[str | None]):
    """Asks why, then for the confirming key; dismisses with the reason, or None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="kill.cancel", tooltip="Close without halting"),
        Binding(
            "h",
            "halt",
            "HALT",
            id="kill.halt",
            tooltip="Halt trading now (once a reason is entered)",
        ),
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
        & #note {
            color: $text-muted;
            margin: 1 0;
        }
        & #armed {
            display: none;
            text-style: bold;
            color: $state-halted;
            margin: 1 0 0 0;
        }
        &.-armed #armed {
            display: block;
        }
    }
    """

    armed: reactive[bool] = reactive(False)
    """A reason is entered: ``h`` now halts."""

    def __init__(self, health: Health | None) -> None:
        super().__init__()
        self._health = health

    def compose(self) -> ComposeResult:
        node_runs = self._health is not None and self._health.node_state != NO_NODE
        state = "unknown" if self._health is None else self._health.trading_state
        with Vertical(id="dialog"):
            yield Static(f"KILL SWITCH: halt trading (now {state})", id="title")
            yield Static(NODE_NOTE if node_runs else NO_NODE_NOTE, id="note")
            yield Input(placeholder="reason (required), then Enter", id="reason")
            yield Static("Press h to HALT trading now, Esc to cancel.", id="armed")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def watch_armed(self, armed: bool) -> None:
        self.set_class(armed, "-armed")
        self.refresh_bindings()

    @on(Input.Submitted)
    def _arm(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.notify("A reason is required to halt trading.", severity="warning")
            return
        # Disabled, the input lets go of the focus, so the next key is the screen's.
        event.input.disabled = True
        self.armed = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "halt":
            return self.armed
        return True

    def action_halt(self) -> None:
        self.dismiss(self.query_one(Input).value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


async def record_halt(
    store: OmsStore, reason: str, actor: str, now_ns: int, node_running: bool
) -> None:
    """Record in the OMS that ``actor`` halted trading at ``now_ns`` because of ``reason``.

    The HALTED state persists (a node or console started later finds it), and the audit log
    says who, when and why. Until the node's kill API exists (issue 5) this is all a kill
    does: nothing is cancelled at a venue from here.
    """
    store.submit(TradingStateRecord(ts_event=now_ns, state="HALTED", actor=actor, reason=reason))
    store.submit(
        AuditEntry(
            entry_id=uuid.uuid4().hex,
            ts=now_ns,
            actor=actor,
            action="kill",
            reason=reason,
            details={"source": "console", "node_running": node_running},
        )
    )
    await store.flush()


def operator_name() -> str:
    """Who is at the keyboard, for the audit log (the login name; ``operator`` if unknown)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no such user entry in a container
        return "operator"
