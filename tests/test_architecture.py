"""The shape of the house: no import cycles, and core's packages import only what they may.

Read from the source with ``ast`` (nothing is imported), so every import counts: those under
``if TYPE_CHECKING:`` and those inside functions too. A cycle means two modules are one module,
or that a third is missing; a package importing one it may not means the layering in
``core/__init__.py`` (``ALLOWED_IMPORTS``) is either wrong or being broken.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

import core

ROOT = Path(__file__).resolve().parents[1]
OURS = ("core", "console", "themes")


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """Every module of ours by dotted name (a package by its own name)."""
    names: dict[str, Path] = {}
    for top in OURS:
        for path in sorted((root / top).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names[".".join(parts)] = path
    return names


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that ``name`` imports, anywhere in its source.

    ``from package import submodule`` is an import of the submodule alone: Python runs the
    package's ``__init__`` on the way, but so it does for every submodule, and counting that
    would make every package that re-exports its submodules a cycle.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(_ours(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            submodules = {f"{base}.{alias.name}" for alias in node.names} & modules.keys()
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(_ours(base, modules))
    found.discard("")
    found.discard(name)
    return found


def _ours(dotted: str, modules: dict[str, Path]) -> str:
    # ``import core.risk.rules`` names a module; ``from core.x import Thing`` names core.x.
    while dotted and dotted not in modules:
        dotted = dotted.rpartition(".")[0]
    return dotted


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports."""
    modules = module_names(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of two or more modules (Tarjan), each as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                found.append(_closed_path(sorted(members), graph))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _closed_path(members: list[str], graph: dict[str, set[str]]) -> list[str]:
    # A readable cycle through the set: walk from its first member back to it (BFS).
    start, inside = members[0], set(members)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for nxt in sorted(graph[node] & inside):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if nxt not in came_from:
                came_from[nxt] = node
                frontier.append(nxt)
    return members


def core_package(module: str) -> str | None:
    """The part of core a module belongs to (``core.risk.rules`` -> ``risk``); None at the root."""
    parts = module.split(".")
    if parts[0] != "core" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in core.ALLOWED_IMPORTS else None


def forbidden_imports(graph: dict[str, set[str]]) -> list[str]:
    """Each import between core's packages that ``core.ALLOWED_IMPORTS`` does not allow."""
    broken = []
    for module, targets in sorted(graph.items()):
        if not module.startswith("core"):
            continue
        for target in sorted(targets):
            if target.split(".")[0] in ("console", "themes"):
                broken.append(f"{module} -> {target} (core never imports the console)")
                continue
            source, dest = core_package(module), core_package(target)
            if dest is None or source == dest:
                continue  # the root modules (config, errors, ...) serve every package
            if source is None:
                broken.append(f"{module} -> {target} (a root module imports no package)")
            elif dest not in core.ALLOWED_IMPORTS[source]:
                broken.append(f"{module} -> {target} ({source} may not import {dest})")
    return broken


def _lines(items: Iterable[object]) -> str:
    return "\n".join(str(item) for item in items)


def test_no_module_of_ours_imports_itself_in_a_circle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + _lines(" -> ".join(cycle) for cycle in found)


def test_core_packages_import_only_the_packages_below_them() -> None:
    broken = forbidden_imports(import_graph())
    assert not broken, "imports across core's layering:\n" + _lines(broken)


def test_allowed_imports_name_real_packages_and_never_a_circle() -> None:
    packages = {p.name for p in (ROOT / "core").iterdir() if (p / "__init__.py").exists()}
    assert set(core.ALLOWED_IMPORTS) == packages
    for allowed in core.ALLOWED_IMPORTS.values():
        assert allowed <= packages
    allowed_graph = {name: set(targets) for name, targets in core.ALLOWED_IMPORTS.items()}
    assert cycles(allowed_graph) == []


def test_every_package_says_what_it_owns_and_may_import() -> None:
    for package in sorted(core.ALLOWED_IMPORTS):
        doc = ast.get_docstring(ast.parse((ROOT / "core" / package / "__init__.py").read_text()))
        assert doc, f"core/{package}/__init__.py has no docstring"
        assert "May import" in doc, f"core/{package}/__init__.py does not say what it may import"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"a.py": "from core.b import x\n", "b.py": "import core.c\n", "c.py": "import core.a"},
            [["core.a", "core.b", "core.c", "core.a"]],
        ),
        (
            {
                "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import core.b\n",
                "b.py": "def f():\n    from core import a\n",
            },
            [["core.a", "core.b", "core.a"]],
        ),
        ({"a.py": "import core.b\n", "b.py": "import os\n"}, []),
    ],
    ids=["three-module-circle", "type-checking-and-function-imports-count", "no-circle"],
)
def test_the_cycle_check_sees_circles_however_they_are_imported(
    tmp_path: Path, files: dict[str, str], expected: list[list[str]]
) -> None:
    for folder in OURS:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    for name, text in files.items():
        (tmp_path / "core" / name).write_text(text)
    assert cycles(import_graph(tmp_path)) == expected
