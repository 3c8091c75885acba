"""docs/architecture.md's rules, enforced: no import in harbor_emulator/ runs upward.

The page's table ("What each folder owns") names each room and the rooms it may import.
The test reads that table, builds the import graph of the package from its source (every
import, at module level or inside a function or a TYPE_CHECKING block), and fails naming
each import the table does not allow, and each room the table and the tree disagree on.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "harbor_emulator"
PAGE = REPO / "docs" / "architecture.md"


def documented_rules(text: str) -> dict[str, set[str]]:
    """Room -> the rooms it may import, from the page's table of rooms."""
    section = text.split("## What each folder owns", 1)[1].split("\n## ", 1)[0]
    rules: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        room = cells[0].strip("`").removesuffix("/").removesuffix(".py")
        rules[room] = set(re.findall(r"`([a-z_]+)`", cells[2]))
    return rules


def room_of(module: str) -> str:
    """`harbor_emulator.api.events` -> `api`; the package itself -> ``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports_of(path: Path) -> Iterable[str]:
    """The harbor_emulator modules `path` imports, as absolute names."""
    relative = path.relative_to(REPO).with_suffix("")
    # Relative imports resolve against the file's package: for an __init__.py, the package
    # it starts; for a module, the package it is in. Either way, its parts but the last.
    package = list(relative.parts)[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield target
            # `from .. import render` imports a module of that package.
            for alias in node.names:
                if (REPO / Path(*target.split("."), alias.name)).with_suffix(".py").exists():
                    yield f"{target}.{alias.name}"


def package_rooms() -> set[str]:
    rooms = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    rooms |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return rooms


def violations(rules: dict[str, set[str]], edges: Iterable[tuple[str, str]]) -> list[str]:
    found = []
    for source, target in edges:
        if not target.startswith("harbor_emulator"):
            continue
        here, there = room_of(source), room_of(target)
        if there in ("", here):  # the package face (__version__), or its own room
            continue
        if there not in rules.get(here, set()):
            found.append(f"{source} imports {target}: {here} may not import {there}")
    return sorted(set(found))


def package_edges() -> list[tuple[str, str]]:
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(REPO).with_suffix("")
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        edges.extend((".".join(parts), target) for target in imports_of(path))
    return edges


def test_the_page_names_every_room_of_the_package_and_no_other() -> None:
    rules = documented_rules(PAGE.read_text(encoding="utf-8"))
    assert set(rules) == package_rooms(), (
        f"rooms only in the tree: {sorted(package_rooms() - set(rules))}; "
        f"only on docs/architecture.md: {sorted(set(rules) - package_rooms())}"
    )
    for room, allowed in rules.items():
        assert allowed <= set(rules), f"{room} may import unknown rooms {allowed - set(rules)}"


def test_no_import_runs_upward() -> None:
    rules = documented_rules(PAGE.read_text(encoding="utf-8"))
    edges = package_edges()
    assert len(edges) > 300, "the import graph came out empty: the reader is broken"
    assert violations(rules, edges) == []


def test_the_rules_are_a_ladder_without_cycles() -> None:
    rules = documented_rules(PAGE.read_text(encoding="utf-8"))
    done: set[str] = set()

    def visit(room: str, path: tuple[str, ...]) -> None:
        assert room not in path, f"the rules let rooms import in a circle: {(*path, room)}"
        if room in done:
            return
        for lower in rules[room]:
            visit(lower, (*path, room))
        done.add(room)

    for room in rules:
        visit(room, ())


def test_an_upward_import_is_caught() -> None:
    """The checker itself: the import the layout removed (the engine rendering with the
    HTTP layer) would be named, and so would an import from a room the page doesn't know."""
    rules = {"api": {"delivery"}, "delivery": set()}
    edges = [
        ("harbor_emulator.delivery.fanout", "harbor_emulator.api.render"),
        ("harbor_emulator.api.events", "harbor_emulator.delivery.fanout"),
        ("harbor_emulator.newroom.thing", "harbor_emulator.api.common"),
        ("harbor_emulator.delivery.scheduler", "harbor_emulator"),
    ]
    assert violations(rules, edges) == [
        "harbor_emulator.delivery.fanout imports harbor_emulator.api.render: "
        "delivery may not import api",
        "harbor_emulator.newroom.thing imports harbor_emulator.api.common: "
        "newroom may not import api",
    ]
