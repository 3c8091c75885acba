"""schemathesis against a live emulator: no 5xx, every response as documented.

Runs scripts/fuzz.py (the same run as `scripts/fuzz`, at a smaller budget) against an
emulator of this session, so CI fuzzes every change. Findings go to
tests/api/test_fuzz_regressions.py once fixed. `HARBOR_FUZZ_SEED` replays another seed.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from harbor_emulator.api.openapi import document
from harbor_emulator.delivery.sender import Sender

ROOT = Path(__file__).resolve().parent.parent
# About 50 s on an idle machine: 58 operations x 30 examples in each phase, plus the
# stateful sequences the document's links allow (create -> get -> patch -> delete). It was
# 50 examples, the suite's longest test at 78 s; `scripts/fuzz` runs 100 (or more) apart.
# The timeout only guards against a hang: a loaded 2-core machine may take several times
# longer.
MAX_EXAMPLES = 30
TIMEOUT_SECONDS = 900


def _fuzz_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz", ROOT / "scripts" / "fuzz.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_schemathesis_finds_nothing(
    emulator_factory: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Deliveries answered 200 without the network, as scripts/fuzz's own emulator has them.
    monkeypatch.setattr(Sender, "_transport", _fuzz_script().receiver_everywhere)
    # Its own emulator: the fuzzer fills it with thousands of objects.
    emulator = emulator_factory()
    seed = os.environ.get("HARBOR_FUZZ_SEED", "20260525")
    command = [
        sys.executable,
        str(ROOT / "scripts" / "fuzz.py"),
        "--url",
        emulator.url,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        seed,
        # One worker: schemathesis's worker threads hit CPython 3.11's thread-unsafe
        # ast.parse ("AST constructor recursion depth mismatch", fixed in 3.12).
        "--",
        "--workers",
        "1",
    ]
    # The emulator runs in this process, so its log is caplog's: a bug behind a good
    # answer (a delivery attempt that raises, a background task that dies) shows there.
    with caplog.at_level(logging.ERROR, logger="harbor_emulator"):
        run = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
        )
        drained = emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 30})
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, f"schemathesis found problems (seed {seed}):\n{report}"
    # Every documented route, /_control included: none is left out.
    operations = sum(
        method in ("get", "put", "post", "delete", "patch")
        for item in document()["paths"].values()
        for method in item
    )
    assert f"{operations} selected / {operations} total" in run.stdout, report
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, f"the emulator logged errors while fuzzed (seed {seed}): {errors[:5]}"
    assert drained.json()["drained"], drained.text
