"""Every name users import keeps working, wherever the package keeps it inside.

The documented imports are read from the README and docs/ (a page that shows
`from harbor_emulator.x import y` promises it), and the entry points from the installed
package's metadata: the `harbor-emulator` command and the pytest plugin.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FROM_IMPORT = re.compile(r"^\s*from (harbor_emulator[\w.]*) import ([\w, ]+?)\s*(?:#.*)?$", re.M)

# What users were shown before the layout by role, and must not lose with it.
PUBLIC = {
    "harbor_emulator": ["__version__"],
    "harbor_emulator.client": [
        "DEFAULT_URL",
        "ClockReading",
        "Emulator",
        "EmulatorUnreachable",
        "HarborAPIError",
        "Sink",
        "SinkRequest",
    ],
    "harbor_emulator.testing": [
        "EmulatorFactory",
        "EmulatorServer",
        "GoldenFile",
        "GoldenMismatch",
        "ServerStartError",
        "ServerThread",
    ],
    "harbor_emulator.signing": ["SignatureVerificationError", "signature_header", "verify"],
    "harbor_emulator.testcontainers": ["HarborContainer"],
    "harbor_emulator.cli": ["main"],
}


def documented_imports() -> set[tuple[str, str]]:
    found = set()
    for page in PAGES:
        for module, names in FROM_IMPORT.findall(page.read_text(encoding="utf-8")):
            found |= {(module, name.strip()) for name in names.split(",") if name.strip()}
    return found


def test_the_docs_show_imports() -> None:
    assert ("harbor_emulator.testing", "EmulatorServer") in documented_imports()


@pytest.mark.parametrize(
    ("module", "name"),
    sorted(documented_imports() | {(m, n) for m, names in PUBLIC.items() for n in names}),
)
def test_a_public_name_imports(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name), f"from {module} import {name}"


def test_the_command_and_the_pytest_plugin_resolve() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "harbor-emulator"]
    assert script.load() is importlib.import_module("harbor_emulator.cli").main
    (plugin,) = [e for e in entry_points(group="pytest11") if e.name == "harbor_emulator"]
    assert hasattr(plugin.load(), "harbor")  # the fixture users ask for


def test_python_dash_m_runs_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harbor_emulator.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("harbor-emulator, version ")
