"""Golden files: the deliveries a test caused, compared with (or written to) a JSON file."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..client import Emulator

# Headers that differ between runs whatever the seed: the emulator's port is in Host.
GOLDEN_IGNORED_HEADERS = frozenset({"host"})


class GoldenMismatch(AssertionError):
    """What the sinks received differs from the golden file."""


class GoldenFile:
    """The deliveries a test caused, compared with (or written to) a JSON file.

    `check()` reads every sink's requests (method, path, headers, body) in arrival order.
    The file is written when it does not exist or `update` is set; otherwise a difference
    raises GoldenMismatch with a diff. Run the emulator seeded (`seed=...`) so ids,
    secrets, signatures and timestamps repeat.
    """

    def __init__(
        self,
        emulator: Emulator,
        path: Path,
        *,
        update: bool = False,
        ignore_headers: Iterable[str] = GOLDEN_IGNORED_HEADERS,
    ) -> None:
        self.emulator = emulator
        self.path = path
        self.update = update
        self.ignore_headers = {name.lower() for name in ignore_headers}

    def recorded(self, sinks: Iterable[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        if sinks is None:
            sinks = [s["name"] for s in self.emulator.control("GET", "/sinks")["data"]]
        recorded: dict[str, list[dict[str, Any]]] = {}
        for name in sinks:
            recorded[name] = [
                {
                    "method": r.method,
                    "path": r.path,
                    "headers": {
                        k: v for k, v in sorted(r.headers.items()) if k not in self.ignore_headers
                    },
                    "body": r.body,
                }
                for r in self.emulator.sink(name).requests
            ]
        return recorded

    def check(self, sinks: Iterable[str] | None = None) -> None:
        """Compare the sinks' requests (all sinks, or those named) with the file."""
        text = json.dumps(self.recorded(sinks), indent=2, ensure_ascii=False) + "\n"
        if self.update or not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(text, encoding="utf-8")
            return
        expected = self.path.read_text(encoding="utf-8")
        if expected != text:
            import difflib

            diff = "".join(
                difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    str(self.path),
                    "this run",
                )
            )
            raise GoldenMismatch(
                f"deliveries differ from {self.path} (rerun with --harbor-update-golden "
                f"to accept them):\n{diff}"
            )
