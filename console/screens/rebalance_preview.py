"""The manual rebalance: a preview of every order it implies, then send all, a selection, or
nothing.

For the pending target file (when ``[risk] require_preview`` holds new files back) or the
targets in force, with weights the operator may change on the screen, the table shows per
instrument: current and target weight, the order (side, quantity, notional), its estimated cost
(taker fee plus the fill model's expected slippage) and the pre-trade checks' verdict. What is
sent is exactly what the table shows (``NodeSession.send_preview``); sending takes a choice
(``a`` all, ``s`` the selected rows) and then a deliberate ``y``. Refused while HALTED.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from console.screens.kill_switch import operator_name
from console.screens.view_screen import ViewScreen
from console.widgets.cells import percent, price, quantity
from console.widgets.key_footer import KeyFooter
from core.errors import TradeConsoleError

if TYPE_CHECKING:
    from core.live.session import NodeSession
    from core.live.strategy import PreviewLine

COLUMNS = ("send", "instrument", "current", "target", "side", "qty", "notional", "cost", "verdict")


class RebalancePreviewScreen(ViewScreen):
    """The preview of a manual rebalance on the embedded node, and sending it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *ViewScreen.BINDINGS,
        Binding("space", "toggle", "Select", id="rebalance.select", tooltip="Select the row"),
        Binding("e", "edit", "Edit weight", id="rebalance.edit", tooltip="Change its target"),
        Binding("a", "send_all", "Send all", id="rebalance.send_all", tooltip="Send every order"),
        Binding(
            "s",
            "send_selected",
            "Send sel.",
            id="rebalance.send_selected",
            tooltip="Send the selected",
        ),
        Binding("y", "confirm", "Confirm", id="rebalance.confirm", tooltip="Confirm the send"),
    ]

    DEFAULT_CSS = """
    RebalancePreviewScreen {
        & > #source { padding: 0 1; text-style: bold; }
        & > DataTable { height: 1fr; }
        & > #ask { padding: 0 1; color: $warning; height: auto; }
        & > Input { display: none; }
        & > Input.editing { display: block; }
    }
    """

    def __init__(self, node: NodeSession) -> None:
        super().__init__()
        self.node = node
        self.edits: dict[str, float] = {}
        """Target weights the operator changed on this screen."""
        self.lines: list[PreviewLine] = []
        self.selected: set[str] = set()
        self.asked: list[PreviewLine] | None = None
        """The lines the operator chose to send, awaiting ``y``."""

    def compose(self) -> ComposeResult:
        yield Static("Rebalance preview", id="title")
        yield Static(
            "space select · e edit target · a send all · s send selected · y confirm · Esc back",
            id="note",
        )
        yield Static("", id="source")
        table: DataTable[str] = DataTable(cursor_type="row", id="preview")
        table.add_columns(*COLUMNS)
        yield table
        yield Input(placeholder="target weight, e.g. 0.25 or 25%", id="weight")
        yield Static("", id="ask")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.refresh_preview()
        self.query_one(DataTable).focus()

    def refresh_preview(self) -> None:
        """Compute the preview again (prices, holdings and edits as they are now)."""
        node = self.node
        self.lines = node.preview(self.edits)
        pending = node.pending
        source = (
            f"pending target file as of {pending.as_of:%Y-%m-%d %H:%M:%S} UTC"
            if pending is not None
            else "the targets in force"
        )
        edited = f", {len(self.edits)} edited here" if self.edits else ""
        self.query_one("#source", Static).update(
            f"{source}{edited} · trading {node.trading_state} · "
            f"{sum(1 for p in self.lines if p.line.side)} orders"
        )
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for preview in self.lines:
            line = preview.line
            key = line.instrument_id
            table.add_row(
                "x" if key in self.selected else " ",
                key,
                percent(line.current_weight),
                percent(line.target_weight),
                line.side or "-",
                quantity(line.quantity) if line.side else "-",
                price(line.notional) if line.side else "-",
                price(preview.cost) if line.side else "-",
                preview.verdict,
                key=key,
            )
        if self.lines:
            table.move_cursor(row=min(row, len(self.lines) - 1))

    def _current(self) -> PreviewLine | None:
        table = self.query_one(DataTable)
        if not self.lines or table.cursor_row >= len(self.lines):
            return None
        return self.lines[table.cursor_row]

    def action_toggle(self) -> None:
        current = self._current()
        if current is None:
            return
        key = current.line.instrument_id
        self.selected.symmetric_difference_update({key})
        self.refresh_preview()

    def action_edit(self) -> None:
        current = self._current()
        if current is None:
            return
        field = self.query_one("#weight", Input)
        field.value = f"{current.line.target_weight:g}"
        field.add_class("editing")
        field.focus()

    @on(Input.Submitted, "#weight")
    def _edited(self, event: Input.Submitted) -> None:
        current = self._current()
        field = self.query_one("#weight", Input)
        text = event.value.strip()
        try:
            weight = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            self.notify(f"'{text}' is not a weight (e.g. 0.25 or 25%)", severity="error")
            return
        if not math.isfinite(weight):
            self.notify(f"'{text}' is not a finite weight", severity="error")
            return
        if current is not None:
            self.edits[current.line.instrument_id] = weight
        field.remove_class("editing")
        self.query_one(DataTable).focus()
        self.refresh_preview()

    def action_send_all(self) -> None:
        self._ask([p for p in self.lines if p.line.side])

    def action_send_selected(self) -> None:
        self._ask([p for p in self.lines if p.line.side and p.line.instrument_id in self.selected])

    def _ask(self, lines: list[PreviewLine]) -> None:
        ask = self.query_one("#ask", Static)
        if not lines:
            self.asked = None
            ask.update("Nothing to send.")
            return
        self.asked = lines
        notional = sum(p.line.notional for p in lines)
        ask.update(
            f"Send {len(lines)} orders, {price(notional)} notional, exactly as shown? "
            "Press y to send, Esc to go back."
        )

    def action_confirm(self) -> None:
        lines = self.asked
        if lines is None:
            return
        self.asked = None
        try:
            sent = self.node.send_preview(lines, operator_name(), "manual rebalance (console)")
        except TradeConsoleError as error:
            self.query_one("#ask", Static).update(str(error))
            self.notify(str(error), title="Rebalance", severity="error")
            return
        self.notify(f"{sent} orders sent", title="Rebalance", timeout=5)
        self.app.pop_screen()
