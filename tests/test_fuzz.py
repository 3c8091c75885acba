"""schemathesis against a live emulator: no 5xx, every response as documented.

Runs scripts/fuzz.py (the same run as `scripts/fuzz`, at a smaller budget) against an
emulator of this session, so CI fuzzes every change. Findings go to
tests/api/test_fuzz_regressions.py once fixed. `HARBOR_FUZZ_SEED` replays another seed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# About a minute on a laptop: 27 operations x 15 examples in each phase, plus the stateful
# sequences the document's links allow (create -> get -> patch -> delete).
MAX_EXAMPLES = 50
TIMEOUT_SECONDS = 170


def test_schemathesis_finds_nothing(
    emulator_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Its own emulator: the fuzzer fills it with thousands of objects. Fuzzed webhooks point
    # at made-up URLs, so attempts must give up fast for the run to stay short.
    emulator = emulator_factory(delivery_timeout_seconds=0.5)
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
        "--",
        "--workers",
        "4",
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
    assert "27 selected" in run.stdout, report
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, f"the emulator logged errors while fuzzed (seed {seed}): {errors[:5]}"
    assert drained.json()["drained"], drained.text
