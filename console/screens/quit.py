"""``QuitScreen``: leaving a console that has a node inside it is a choice, never one key.

With a node embedded, quitting the console used to stop the node: one habitual ``q`` (or
``ctrl+p`` then Enter) ended the desk's trading. Here the operator picks: stop the node and
quit, detach (the console goes, the node keeps trading headless in this process, obeying
``trade-console kill`` from any shell, and a later ``trade-console`` in the folder attaches to
it), or stay. Escape stays. The screen returns the choice; the app carries it out.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from console.widgets.key_footer import KeyFooter

QuitChoice = Literal["stop", "detach"]
"""What the operator chose: stop the node and quit, or detach and leave it running."""


class QuitScreen(ModalScreen[QuitChoice | None]):
    """Asks what leaving means for the embedded node: stop it, detach from it, or stay."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "s",
            "choose('stop')",
            "Stop node and quit",
            id="quit.stop",
            tooltip="Stop the node cleanly (orders stay as the venue has them), then quit",
        ),
        Binding(
            "d",
            "choose('detach')",
            "Detach",
            id="quit.detach",
            tooltip="Quit the console; the node keeps trading headless in this process",
        ),
        Binding("escape", "choose(None)", "Stay", id="quit.cancel", tooltip="Change nothing"),
        Binding("n", "choose(None)", "Stay", show=False, id="quit.no", tooltip="Change nothing"),
    ]

    DEFAULT_CSS = """
    QuitScreen {
        align: center middle;
        & > Vertical {
            width: 76;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: thick $error;
            background: $surface;
            padding: 0 1;
        }
        & #question {
            text-style: bold;
        }
        & .choice {
            padding: 0 0 0 2;
        }
    }
    """

    def __init__(self, node_description: str) -> None:
        super().__init__()
        self.node_description = node_description
        """What runs inside this console, e.g. ``the SHADOW node``."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"QUIT: {self.node_description} runs inside this console.", id="question")
            yield Static(
                "s  STOP the node (cleanly) and quit: trading stops.", classes="choice", id="stop"
            )
            yield Static(
                "d  DETACH: the console quits, the node keeps trading headless; "
                "`trade-console status` / `kill` work from any shell, `trade-console` here "
                "attaches a console again.",
                classes="choice",
                id="detach",
            )
            yield Static("Esc  stay: change nothing.", classes="choice", id="stay")
            yield KeyFooter()

    def action_choose(self, choice: QuitChoice | None) -> None:
        self.dismiss(choice)
