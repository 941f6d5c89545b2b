"""The console's house rules that code review would miss: colours only through theme variables,
every key remappable and explained, and a core that knows nothing of the screen."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode

import console
import themes
from console.app import TradeConsoleApp
from themes.trade import THEMES, VARIABLES

ROOT = Path(__file__).resolve().parents[2]
HEX = re.compile(r"#[0-9a-fA-F]{3,8}\b")
COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def console_classes() -> list[type[DOMNode]]:
    """Every widget, screen and app class defined in the console's modules."""
    classes: list[type[DOMNode]] = []
    for module_info in pkgutil.walk_packages(console.__path__, "console."):
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, DOMNode) and value.__module__ == module.__name__:
                classes.append(value)
    return classes


def declaration_values(css: str) -> list[str]:
    """The value of every ``property: value;`` declaration in ``css`` (selectors left out,
    since ``#orders`` is an id, not a colour)."""
    values = []
    for block in re.findall(r"\{([^{}]*)", COMMENT.sub("", css)):
        for declaration in block.split(";"):
            name, colon, value = declaration.partition(":")
            if colon and not name.strip().startswith("&"):
                values.append(value.strip())
    return values


def stylesheets() -> dict[str, str]:
    sheets = {
        str(path.relative_to(ROOT)): path.read_text()
        for path in Path(themes.__path__[0]).glob("*.tcss")
    }
    for cls in console_classes():
        css = cls.__dict__.get("DEFAULT_CSS")
        if css:
            sheets[f"{cls.__module__}.{cls.__name__}.DEFAULT_CSS"] = css
    return sheets


def test_the_css_scanner_sees_colours_and_ignores_ids() -> None:
    values = declaration_values("#add { color: #ff0000; background: $panel; } /* #abc */")
    assert values == ["#ff0000", "$panel"]


def test_no_stylesheet_names_a_colour_by_hex() -> None:
    sheets = stylesheets()
    assert any(name.endswith(".tcss") for name in sheets)
    assert len(sheets) >= 10
    offenders = {
        name: value
        for name, css in sheets.items()
        for value in declaration_values(css)
        if HEX.search(value)
    }
    assert offenders == {}


def test_every_console_theme_defines_every_console_variable() -> None:
    assert [theme.name for theme in THEMES] == [
        "trade-dark",
        "trade-light",
        "trade-high-contrast",
    ]
    for theme in THEMES:
        assert set(VARIABLES) <= set(theme.variables), theme.name


def test_every_console_variable_a_stylesheet_uses_is_defined() -> None:
    used = {
        name
        for css in stylesheets().values()
        for value in declaration_values(css)
        for name in re.findall(r"\$([a-z0-9-]+)", value)
    }
    builtin = set(App().get_css_variables())
    assert used - builtin - set(VARIABLES) == set()


@pytest.mark.parametrize("cls", [c for c in console_classes() if c.__dict__.get("BINDINGS")])
def test_every_binding_has_an_id_and_a_tooltip(cls: type[DOMNode]) -> None:
    for binding in cls.__dict__["BINDINGS"]:
        assert isinstance(binding, Binding)
        assert binding.id is not None and binding.tooltip, (cls.__name__, binding.key)


def test_the_app_binds_the_five_keys_the_issue_names() -> None:
    keys = {binding.key: binding.id for binding in TradeConsoleApp.BINDINGS}
    assert keys == {
        "k": "risk.kill",
        "r": "rebalance.preview",
        "b": "backtest.open",
        "question_mark": "app.help",
        "q": "app.quit",
    }


def test_core_never_imports_the_screen() -> None:
    importing = re.compile(r"^\s*(from|import)\s+(textual|console|themes)\b", re.MULTILINE)
    sources = list((ROOT / "core").rglob("*.py"))
    assert len(sources) > 10
    offenders = [
        str(path.relative_to(ROOT)) for path in sources if importing.search(path.read_text())
    ]
    assert offenders == []
