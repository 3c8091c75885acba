"""docs/testing.md shows the worked example exactly as it runs here, its first test runs, and
its other Python snippets at least parse: the page cannot drift from the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from harbor_emulator.client import Emulator

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "testing.md"
INCLUDE = re.compile(r"<!-- include: (?P<path>\S+) -->\n```python\n(?P<code>.*?)^```$", re.S | re.M)
PYTHON_BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```$", re.S | re.M)
EXAMPLE = ["tests/plugin/example/orders_webhook.py", "tests/plugin/example/test_orders_webhook.py"]


def includes() -> dict[str, str]:
    return {match["path"]: match["code"] for match in INCLUDE.finditer(PAGE.read_text())}


def test_the_page_shows_the_whole_worked_example() -> None:
    assert sorted(includes()) == EXAMPLE


@pytest.mark.parametrize("path", EXAMPLE)
def test_each_included_file_is_shown_verbatim(path: str) -> None:
    shown = includes().get(path)
    assert shown == (ROOT / path).read_text(), (
        f"docs/testing.md no longer shows {path} as it is: copy the file into its block"
    )


def test_every_python_snippet_parses() -> None:
    blocks = [match["code"] for match in PYTHON_BLOCK.finditer(PAGE.read_text())]
    assert len(blocks) >= 5
    for code in blocks:
        ast.parse(code)


def test_the_first_test_runs(harbor: Emulator) -> None:
    section = PAGE.read_text().split("## A first test\n", 1)[1]
    code = PYTHON_BLOCK.search(section)
    assert code is not None, "docs/testing.md's A first test has no python block"
    namespace: dict[str, Any] = {}
    exec(compile(code["code"], "docs/testing.md", "exec"), namespace)
    [test] = [value for name, value in namespace.items() if name.startswith("test_")]
    test(harbor)
