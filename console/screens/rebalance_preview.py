"""The manual rebalance: a preview of every order it implies, then send all, a selection, or
nothing.

For the pending target file (when ``[risk] require_preview`` holds new files back) or the
targets in force, with weights the operator may change on the screen, the table shows per
instrument: current and target weight, the order (side, quantity, notional), its estimated cost
(taker fee plus the fill model's expected slippage) and the pre-trade checks' verdict; a line
the checks will deny says DENY with the rule in words, and the line under the table names it
before anything is asked. What is sent is exactly what the table shows
(``NodeSession.send_preview``), less the denied lines, which the ask says will not be sent;
sending takes a choice (``a`` all, ``s`` the selected rows) and then a deliberate ``y``, and a
send large against equity a typed second confirmation (``ConfirmLargeScreen``).

Weights are typed in percent (``25`` is 25%) in a box labelled with its instrument, and checked
by the target file's rules (``NodeSession.check_targets``) before they reach the preview: a
refused one stays in the box with the reason and changes nothing. Escape in the box closes the
box only. Refused while HALTED.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from console.screens.confirm_large import ConfirmLargeScreen
from console.screens.kill_switch import operator_name
from console.screens.view_screen import ViewScreen
from console.widgets.cells import percent, price, quantity, themed
from console.widgets.key_footer import KeyFooter
from console.widgets.weight_edit import WeightEdit
from core.errors import DataError, TradeConsoleError
from core.live.strategy import denied_text

if TYPE_CHECKING:
    from core.live.session import NodeSession
    from core.live.strategy import PreviewLine

COLUMNS = ("send", "instrument", "current", "target", "side", "qty", "notional", "cost", "verdict")
_VERDICT_COLOURS = {"DENY": "severity-critical", "WARN": "severity-warning"}


class RebalancePreviewScreen(ViewScreen):
    """The preview of a manual rebalance on the embedded node, and sending it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *ViewScreen.BINDINGS,
        Binding("space", "toggle", "Select", id="rebalance.select", tooltip="Select the row"),
        Binding("e", "edit", "Edit weight", id="rebalance.edit", tooltip="Change its target, in %"),
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
        & > #denied { padding: 0 1; color: $severity-critical; height: auto; }
        & > #ask { padding: 0 1; color: $warning; height: auto; }
    }
    """

    def __init__(self, node: NodeSession) -> None:
        super().__init__()
        self.node = node
        self.edits: dict[str, float] = {}
        """Target weights (fractions) the operator changed on this screen; each passed the
        target file's rules when typed."""
        self.lines: list[PreviewLine] = []
        self.selected: set[str] = set()
        self.asked: list[PreviewLine] | None = None
        """The lines the operator chose to send (the denied ones left out), awaiting ``y``."""

    def compose(self) -> ComposeResult:
        yield Static("Rebalance preview", id="title")
        yield Static(
            "weights in % · space select · e edit target · a send all · s send selected · "
            "y confirm · Esc back",
            id="note",
        )
        yield Static("", id="source")
        table: DataTable[str | Text] = DataTable(cursor_type="row", id="preview")
        table.add_columns(*COLUMNS)
        yield table
        yield Static("", id="denied")
        yield WeightEdit(id="edit")
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
        orders = sum(1 for p in self.lines if p.line.side)
        self.query_one("#source", Static).update(
            f"{source}{edited} · trading {node.trading_state} · "
            f"{orders} order{'' if orders == 1 else 's'}"
        )
        variables = self.app.theme_variables
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for preview in self.lines:
            line = preview.line
            key = line.instrument_id
            verdict = preview.verdict
            colour = _VERDICT_COLOURS.get(verdict.split(" ", 1)[0]) if line.side else None
            table.add_row(
                "x" if key in self.selected else " ",
                key,
                percent(line.current_weight),
                percent(line.target_weight),
                line.side or "-",
                quantity(line.quantity) if line.side else "-",
                price(line.notional) if line.side else "-",
                price(preview.cost) if line.side else "-",
                themed(verdict, colour, variables, bold=colour is not None),
                key=key,
            )
        if self.lines:
            table.move_cursor(row=min(row, len(self.lines) - 1))
        denied = [p for p in self.lines if p.line.side and not p.allowed]
        self.query_one("#denied", Static).update(
            f"Will not be sent, denied by the risk checks: {denied_text(denied)}" if denied else ""
        )

    def _current(self) -> PreviewLine | None:
        table = self.query_one(DataTable)
        if not self.lines or table.cursor_row >= len(self.lines):
            return None
        return self.lines[table.cursor_row]

    def _changed(self) -> None:
        # What was asked is no longer what the table shows: ask again.
        if self.asked is not None:
            self.asked = None
            self.query_one("#ask", Static).update("The preview changed: choose again (a or s).")
        self.refresh_preview()

    def action_toggle(self) -> None:
        current = self._current()
        if current is None:
            return
        key = current.line.instrument_id
        self.selected.symmetric_difference_update({key})
        self._changed()

    def action_edit(self) -> None:
        current = self._current()
        if current is None:
            return
        self.query_one(WeightEdit).open(
            current.line.instrument_id, f"{current.line.target_weight * 100:.6g}"
        )

    @on(WeightEdit.Submitted)
    def _edited(self, event: WeightEdit.Submitted) -> None:
        box = event.edit
        instrument_id = event.instrument_id
        text = event.text.strip().removesuffix("%").strip()
        try:
            weight = float(text) / 100
        except ValueError:
            box.refuse(f"'{event.text.strip()}' is not a percentage (type 25 for 25%)")
            return
        try:
            self.node.check_targets({**self.edits, instrument_id: weight})
        except DataError as error:
            # The box names the instrument: the reason alone fits one line at 80 columns.
            box.refuse(str(error).removeprefix(f"{instrument_id}: "))
            return
        self.edits[instrument_id] = weight
        box.close()
        self.query_one(DataTable).focus()
        self._changed()

    @on(WeightEdit.Cancelled)
    def _edit_cancelled(self, event: WeightEdit.Cancelled) -> None:
        self.query_one(DataTable).focus()

    def action_send_all(self) -> None:
        self.refresh_preview()  # what is asked is priced now, and shown
        self._ask([p for p in self.lines if p.line.side])

    def action_send_selected(self) -> None:
        self.refresh_preview()
        self._ask([p for p in self.lines if p.line.side and p.line.instrument_id in self.selected])

    def _ask(self, lines: list[PreviewLine]) -> None:
        ask = self.query_one("#ask", Static)
        self.asked = None
        if not lines:
            ask.update("Nothing to send.")
            return
        if self.node.trading_state == "HALTED":
            ask.update("Nothing will be sent: trading is HALTED (re-arm first).")
            return
        allowed = [p for p in lines if p.allowed]
        denied = [p for p in lines if not p.allowed]
        if not allowed:
            ask.update(f"Nothing will be sent, denied by the risk checks: {denied_text(denied)}.")
            return
        # The denials' words are on the line above; here, plainly, what will not go.
        named = ", ".join(
            f"{p.line.instrument_id} ({p.verdict.removeprefix('DENY ').split(':', 1)[0]})"
            for p in denied
        )
        refused = f"Nothing will be sent for {named}: denied by the risk checks. " if denied else ""
        self.asked = allowed
        notional = sum(p.line.notional for p in allowed)
        large = self.node.confirmation_needed(allowed)
        second = (
            f" Then type {large.word} to confirm: {large.order_text}." if large is not None else ""
        )
        count = f"{len(allowed)} order{'s' if len(allowed) > 1 else ''}"
        ask.update(
            f"{refused}Send {count}, {price(notional)} notional, exactly as shown? "
            f"Press y to send, Esc to go back.{second}"
        )

    def action_confirm(self) -> None:
        lines = self.asked
        if lines is None:
            return
        self.asked = None
        large = self.node.confirmation_needed(lines)
        if large is None:
            self._send(lines, None)
            return

        def typed(text: str | None) -> None:
            if text is None:
                self.query_one("#ask", Static).update(
                    "Nothing sent: the confirmation was cancelled."
                )
                return
            self._send(lines, text)

        self.app.push_screen(ConfirmLargeScreen(large), callback=typed)

    def _send(self, lines: list[PreviewLine], confirmation: str | None) -> None:
        try:
            sent = self.node.send_preview(
                lines, operator_name(), "manual rebalance (console)", confirmation=confirmation
            )
        except TradeConsoleError as error:
            self.query_one("#ask", Static).update(f"Nothing sent: {error}")
            self.notify(str(error), title="Rebalance", severity="error")
            return
        self.notify(f"{sent} orders sent", title="Rebalance", timeout=5)
        self.app.pop_screen()
