"""docs/chaos.md's pytest example runs as written, with the plugin's `harbor` fixture."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harbor_emulator.client import Emulator

PAGE = Path(__file__).resolve().parents[2] / "docs" / "chaos.md"
PYTHON_BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```$", re.S | re.M)


def test_the_pytest_example_runs(harbor: Emulator) -> None:
    [block] = PYTHON_BLOCK.findall(PAGE.read_text())
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs/chaos.md", "exec"), namespace)
    [test] = [value for name, value in namespace.items() if name.startswith("test_")]
    test(harbor)
    # The chaos really happened: some attempt was bent each way.
    bent: set[str] = set()
    for delivery in harbor.deliveries(limit=100):
        shown = harbor.delivery_with_attempts(delivery["id"])
        bent.update(
            word.split("=")[0] for a in shown["attempts"] for word in (a["chaos"] or "").split()
        )
    assert bent == {"ack_lost", "duplicate", "delay"}
