"""MkDocs hook: the parts of the docs that are generated from the code, so they cannot drift.

- ``<!-- config-reference -->`` (in configuration.md) becomes one table per TOML table of the
  configuration, walked from ``core.config.AppConfig`` and every msgspec struct under it, in
  the structs' field order: each key with its type, its default and its doc. A field's doc is
  its attribute docstring (the string literal right after the field in the class body), read
  by parsing ``core/config.py`` with ``ast``; a table's intro is its struct's class docstring.
- ``<!-- layers -->`` (in architecture.md) becomes the table of ``core.ALLOWED_IMPORTS`` when
  ``core/__init__.py`` defines it, else a line pointing at that file.

Fields without a doc are rendered with an empty doc and listed on stderr. That is printed, not
logged through MkDocs, on purpose: ``mkdocs build --strict`` fails on any MkDocs warning, and a
missing doc should prompt someone to add one, not break the build.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import logging
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

REPO = Path(__file__).resolve().parents[2]
CONFIG_SOURCE = REPO / "core" / "config.py"
CORE_INIT = REPO / "core" / "__init__.py"
CONFIG_MARKER = "<!-- config-reference -->"
LAYERS_MARKER = "<!-- layers -->"
LAYERS_FALLBACK = "See `core/__init__.py`."


# --- MkDocs events -------------------------------------------------------------------------


def on_config(config):
    # `mkdocs` runs from its script's folder: make the checkout importable whatever is installed.
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    # `--quiet` raises the `mkdocs` logger to ERROR, so warnings never reach the counter that
    # `--strict` reads and a broken link passes (mkdocs issue #4126). Under strict, keep warnings:
    # a quiet strict build (what .ci/run does) then prints only what fails it.
    mkdocs_logger = logging.getLogger("mkdocs")
    if config.strict and mkdocs_logger.getEffectiveLevel() > logging.WARNING:
        mkdocs_logger.setLevel(logging.WARNING)
    return config


def on_page_markdown(markdown, page, config, files):
    if CONFIG_MARKER in markdown:
        markdown = markdown.replace(CONFIG_MARKER, config_reference())
    if LAYERS_MARKER in markdown:
        markdown = markdown.replace(LAYERS_MARKER, layers_table())
    return markdown


def on_serve(server, config, builder):
    # `mkdocs serve` rebuilds when the sources of the generated parts change too.
    server.watch(str(CONFIG_SOURCE))
    server.watch(str(CORE_INIT))
    return server


# --- the configuration reference ------------------------------------------------------------


@dataclass
class Table:
    """One TOML table of the reference: its header, its struct, its rows."""

    header: str
    struct: type
    intro_extra: str = ""
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)


def _fresh(module_name: str):
    """The module as its source is now (``mkdocs serve`` rebuilds in one process)."""
    if module_name in sys.modules:
        return importlib.reload(sys.modules[module_name])
    return importlib.import_module(module_name)


def _docs(source: Path) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Class docstrings by class name, and attribute docstrings by (class name, field name)."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    class_docs: dict[str, str] = {}
    field_docs: dict[tuple[str, str], str] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        class_docs[node.name] = ast.get_docstring(node) or ""
        for statement, following in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                field_docs[(node.name, statement.target.id)] = inspect.cleandoc(
                    following.value.value
                )
    return class_docs, field_docs


def _is_struct(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _struct_of_sequence(tp: object) -> type | None:
    """``X`` for ``tuple[X, ...]`` / ``list[X]`` of a struct (a TOML array of tables)."""
    if typing.get_origin(tp) in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if len(args) == 1 and _is_struct(args[0]):
            return args[0]
    return None


def _struct_of_mapping(tp: object) -> type | None:
    """``X`` for ``dict[str, X]`` of a struct (a table of named tables)."""
    if typing.get_origin(tp) is dict:
        _, value = typing.get_args(tp)
        if _is_struct(value):
            return value
    return None


_SCALARS = {str: "string", int: "integer", float: "float", bool: "boolean"}


def _type_text(tp: object) -> str:
    """A field's type in TOML's words."""
    if tp in _SCALARS:
        return _SCALARS[tp]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{json.dumps(a)}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        optional = type(None) in args
        parts = [_type_text(a) for a in args if a is not type(None)]
        text = " or ".join(parts)
        return f"{text} (optional)" if optional else text
    if origin in (tuple, list):
        items = [a for a in args if a is not Ellipsis]
        return "array of " + (_type_text(items[0]) if len(items) == 1 else "values")
    if origin is dict:
        key, value = args
        return f"table of {_type_text(key)} → {_type_text(value)}"
    if _is_struct(tp):
        return "table"
    return getattr(tp, "__name__", str(tp))


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, msgspec.Struct):
        return "a table of its defaults"
    return str(value)


def _default(info: msgspec.structs.FieldInfo) -> object:
    if info.default is not msgspec.NODEFAULT:
        return info.default
    if info.default_factory is not msgspec.NODEFAULT:
        return info.default_factory()
    return msgspec.NODEFAULT


def _default_text(info: msgspec.structs.FieldInfo) -> str:
    value = _default(info)
    if value is msgspec.NODEFAULT:
        return "required"
    if value is None:
        return "unset"
    return f"`{_toml_value(value)}`"


_RST_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)


def _markdown(text: str) -> str:
    """A docstring's reStructuredText literals as Markdown code."""
    return _RST_LITERAL.sub(lambda m: "`" + m.group(1).replace("\n", " ") + "`", text)


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell: one line, pipes outside code escaped.

    (A pipe inside a code span does not split the cell, and a backslash there would show.)
    """
    pieces = " ".join(_markdown(text).split()).split("`")
    return "`".join(p if i % 2 else p.replace("|", "\\|") for i, p in enumerate(pieces))


def _walk(
    struct: type,
    header: str,
    key_prefix: str,
    field_docs: dict[tuple[str, str], str],
    tables: list[Table],
    missing: list[str],
    intro_extra: str = "",
) -> None:
    """Append the table of ``struct`` (under ``header``) and then its sub-tables, in order."""
    table = Table(header, struct, intro_extra)
    tables.append(table)
    later: list[tuple[type, str, str, str]] = []
    for info in msgspec.structs.fields(struct):
        name = info.encode_name
        dotted = f"{key_prefix}.{name}" if key_prefix else name
        doc = field_docs.get((struct.__name__, info.name), "")
        if _is_struct(info.type):
            later.append((info.type, f"[{dotted}]", dotted, ""))
            continue
        element = _struct_of_sequence(info.type)
        if element is not None:
            count = len(_default(info) or ())
            note = (
                "Default: none."
                if count == 0
                else f"Default: {count} entr{'y' if count == 1 else 'ies'} with the defaults below."
            )
            later.append((element, f"[[{dotted}]]", dotted, note))
            continue
        value_struct = _struct_of_mapping(info.type)
        if value_struct is not None:
            if not doc:
                missing.append(dotted)
            table.rows.append(
                (
                    f"`{header} {name}`",
                    f"table of `[{dotted}.NAME]`",
                    _default_text(info),
                    _cell(doc),
                )
            )
            later.append((value_struct, f"[{dotted}.NAME]", f"{dotted}.NAME", ""))
            continue
        if not doc:
            missing.append(dotted)
        table.rows.append(
            (f"`{header} {name}`", _cell(_type_text(info.type)), _default_text(info), _cell(doc))
        )
    for sub, sub_header, sub_prefix, note in later:
        _walk(sub, sub_header, sub_prefix, field_docs, tables, missing, note)


def config_reference() -> str:
    """The Markdown of every configuration table, from ``core.config`` as it is now."""
    config_module = _fresh("core.config")
    class_docs, field_docs = _docs(CONFIG_SOURCE)
    tables: list[Table] = []
    missing: list[str] = []
    root = config_module.AppConfig
    _walk(root, "", "", field_docs, tables, missing)
    root_table, *rest = tables
    out: list[str] = []
    if root_table.rows:  # keys at the top level of the file, outside any table
        rest.insert(0, Table("(top level)", root, "", root_table.rows))
    for table in rest:
        header = table.header
        out.append(f"### `{header}`")
        out.append("")
        intro = _markdown(class_docs.get(table.struct.__name__, "")).strip()
        if intro:
            out.append(intro)
            out.append("")
        if table.intro_extra:
            out.append(table.intro_extra)
            out.append("")
        out.append("| key | type | default | doc |")
        out.append("|---|---|---|---|")
        for row in table.rows:
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    if missing:
        print(
            "config reference: fields without a doc in core/config.py (rendered with an empty "
            "doc; add an attribute docstring): " + ", ".join(missing),
            file=sys.stderr,
        )
    return "\n".join(out)


# --- the allowed imports between packages ---------------------------------------------------


def layers_table() -> str:
    """``core.ALLOWED_IMPORTS`` as a table, or a pointer to core/__init__.py without it."""
    core = _fresh("core")
    allowed = getattr(core, "ALLOWED_IMPORTS", None)
    if not isinstance(allowed, dict):
        return LAYERS_FALLBACK
    order = {package: i for i, package in enumerate(allowed)}

    def qualified(package: str) -> str:
        return f"`{package}`" if "." in package else f"`core.{package}`"

    out = [
        "Generated from `ALLOWED_IMPORTS` in `core/__init__.py` (lowest layer first).",
        "",
        "| package | may import |",
        "|---|---|",
    ]
    for package, targets in allowed.items():
        names = [targets] if isinstance(targets, str) else list(targets)
        names.sort(key=lambda name: (order.get(name, len(order)), name))
        shown = ", ".join(qualified(name) for name in names) or "nothing"
        out.append(f"| {qualified(package)} | {shown} |")
    return "\n".join(out) + "\n"
