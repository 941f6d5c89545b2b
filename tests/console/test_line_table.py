"""LineTable: rows, the cursor and its keys, and drawing only the rows that changed."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from console.widgets.line_table import LineTable

COLUMNS = (("id", 6), ("value", 8))


def rows(*ids: str) -> list[tuple[str, tuple[Text, ...]]]:
    return [(key, (Text(key), Text(f"v{key}"))) for key in ids]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LineTable(COLUMNS)


async def test_line_table_holds_rows_and_moves_its_cursor_with_keys() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(LineTable)
        table.focus()
        table.set_rows(rows(*(f"r{i:02d}" for i in range(20))))
        await pilot.pause()
        assert table.row_count == 20
        assert [c.plain for c in table.get_row_at(3)] == ["r03", "vr03"]
        await pilot.press("down", "down")
        assert table.cursor_row == 2
        await pilot.press("end")
        assert table.cursor_row == 19
        assert table.scroll_y > 0  # the cursor's row was scrolled into view
        await pilot.press("home")
        assert table.cursor_row == 0 and table.scroll_y == 0
        await pilot.press("pagedown")
        assert table.cursor_row > 1


async def test_cursor_stays_on_its_row_when_newer_rows_arrive_above() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(LineTable)
        table.focus()
        table.set_rows(rows("c", "b", "a"))
        await pilot.press("down")
        assert table.keys[table.cursor_row] == "b"
        table.set_rows(rows("e", "d", "c", "b", "a"))
        assert table.keys[table.cursor_row] == "b"
        # On the top row, the cursor follows the newest.
        await pilot.press("home")
        table.set_rows(rows("f", "e", "d", "c", "b", "a"))
        assert table.cursor_row == 0 and table.keys[0] == "f"


async def test_only_new_or_changed_rows_are_drawn_again() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(LineTable)
        first = rows("b", "a")
        table.set_rows(first)
        await pilot.pause()
        drawn = dict(table._strips)
        assert set(drawn) == {"a", "b"}
        table.set_rows([("c", (Text("c"), Text("vc"))), *first])
        await pilot.pause()
        assert table._strips["a"][1] is drawn["a"][1]
        assert table._strips["b"][1] is drawn["b"][1]
        assert "c" in table._strips
        changed = [("b", (Text("b"), Text("new"))), first[1]]
        table.set_rows(changed)
        await pilot.pause()
        assert table._strips["b"][1] is not drawn["b"][1]


async def test_a_long_cell_is_cut_with_an_ellipsis_to_its_column() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 6)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows([("k", (Text("abcdefghij"), Text("x")))])
        await pilot.pause()
        line = table.render_line(1).text
        assert "abcde…" in line and "abcdefg" not in line
