"""scripts/soak.py in the suite: a short run against a real emulator process must find
nothing, and its verdict must be able to say otherwise.

The run (about 15 s of load, then the final checks) SIGKILLs and restarts the emulator,
resets it under writers, moves its clock, loads fixtures, points webhooks at receivers that
hang, reset, answer 500, trickle or are hostile (endless headers, endless status line,
100 Continue for ever, a split response), throws YAML alias bombs, starts a second process
on its database, parks its clock at the end of time, and fills its disk for a few seconds
where a tmpfs can be mounted (root). Not marked slow: like tests/test_fuzz.py it is the
suite's guard against whole classes of bugs, and takes about as long.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "soak.py"
SOAK_SECONDS = 15
# Load phase, final drain of up to 8 attempts per delivery, read-back, restarts: bounded.
TIMEOUT_SECONDS = 300


def _run_soak(*args: str) -> tuple[int, dict[str, Any] | None, str]:
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: the script then stops its emulator and unmounts its tmpfs.
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        raise AssertionError(
            f"the soak did not end in {TIMEOUT_SECONDS} s:\n{err[-3000:]}"
        ) from None
    try:
        summary = json.loads(out)
    except ValueError:
        summary = None
    return process.returncode, summary, err


def test_a_short_soak_finds_nothing() -> None:
    status, summary, err = _run_soak("--seconds", str(SOAK_SECONDS), "--json")
    assert summary is not None, f"no JSON summary (exit {status}):\n{err[-3000:]}"
    report = json.dumps(
        {k: summary[k] for k in ("violations", "samples", "failures_5xx", "answers")}, indent=1
    )
    assert status == 0, f"the soak found violations:\n{report}"
    assert summary["violations"] == [], report

    # Every fault was applied, and there was load to lose.
    # (a floor, not a throughput target: a machine loaded 8x over still acknowledges ~60)
    assert summary["acknowledged_events"] > 20, report
    assert summary["acknowledged_fixture_events"] > 0, report
    assert summary["acknowledged_endpoint_changes"] > 0, report
    assert summary["kills"] >= 1 and summary["restarts"] == summary["kills"], report
    assert summary["emulator_died"] == 0, report
    assert summary["resets"] >= 1 and summary["clock_advances"] >= 1, report
    assert summary["fixture_loads"] >= 1, report
    assert set(summary["receiver_requests"]) == {
        "healthy",
        "error500",
        "hang",
        "reset",
        "trickle",
        "endless_headers",
        "endless_status",
        "interim",
        "split",
    }, report
    # The contract's Limits were probed, not only loaded: bombs refused, a second process
    # on the same file turned away, the clock parked at its end, memory sampled.
    assert sum(summary["alias_bombs_refused"].values()) >= 1, report
    assert summary["second_process"].get("refused", 0) >= 1, report
    assert set(summary["second_process"]) == {"refused"}, report
    assert (
        summary["clock_end_moves"].get("done", 0) + summary["clock_end_moves"].get("cut off", 0)
        >= 1
    ), report
    assert summary["rss_mb_max"] > 0 and summary["health_ms"]["n"] > 0, report

    # Nothing lost: every checked write was found, through the export and the API.
    assert summary["lost"] == 0 and summary["corrupted"] == 0, report
    assert summary["unverified"] == 0, report
    checked = summary["events_checked"] + summary["endpoints_checked"]
    assert checked > 0 and summary["found"] == checked, report
    assert summary["read_back_through_api"] > 0, report
    assert summary["idempotent_replays"] > 0 and summary["idempotency_broken"] == 0, report

    # No 5xx but a proper 503, no stuck delivery, a sound file, an exact clock.
    assert summary["status_5xx_other"] == 0 and summary["unexpected_4xx"] == 0, report
    assert summary["deliveries_stuck"] == 0, report
    assert summary["deliveries_with_inconsistent_attempts"] == 0, report
    assert summary["integrity_check"] == "ok", report
    assert summary["graceful_stop_exit_status"] == 0, report
    clock = summary["clock_check"]
    assert clock["done"] and clock["moved_seconds"] == clock["expected_seconds"] == 960, report

    disk = summary["disk_full"]
    if disk["status"] == "done":
        assert disk["writes_other_5xx"] == 0 and disk["recovered_without_restart"], report
    else:
        assert disk["status"] == "skipped" and disk["reason"], report


def _soak_module() -> ModuleType:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location("soak_under_test", SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # dataclasses resolve the script's string annotations through sys.modules.
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPT.parent))
        sys.modules.pop("soak_under_test", None)


def _clean_summary() -> dict[str, Any]:
    return {
        "acknowledged_writes": 10,
        "lost": 0,
        "corrupted": 0,
        "unverified": 0,
        "status_5xx_other": 0,
        "unexpected_4xx": 0,
        "idempotency_broken": 0,
        "deliveries_stuck": 0,
        "deliveries_with_inconsistent_attempts": 0,
        "clock_check": {
            "done": True,
            "advances_acked": 16,
            "expected_seconds": 960,
            "moved_seconds": 960,
        },
        "integrity_check": "ok",
        "graceful_stop_exit_status": 0,
    }


def test_the_verdict_names_each_broken_guarantee() -> None:
    judge = _soak_module().judge
    assert judge(_clean_summary()) == []
    broken = {
        "lost": 1,
        "status_5xx_other": 3,
        "deliveries_stuck": 2,
        "integrity_check": "*** in database main ***",
        "clock_check": {
            "done": True,
            "advances_acked": 16,
            "expected_seconds": 960,
            "moved_seconds": 780,
        },
    }
    for name, value in broken.items():
        verdict = judge(_clean_summary() | {name: value})
        assert len(verdict) == 1, (name, verdict)


def test_attempts_to_hostile_receivers_are_judged() -> None:
    """A split answer's 200 must count; the endless ones must fail, never succeed."""
    module = _soak_module()
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from _soak_limits import Limits
    finally:
        sys.path.remove(str(SCRIPT.parent))

    class Soak:
        seconds = 0.0

    def state(split: dict[str, Any], endless: dict[str, Any]) -> dict[str, Any]:
        return {
            "webhooks": [
                {"id": "wh_s", "url": "http://127.0.0.1:1/hooks/split"},
                {"id": "wh_e", "url": "http://127.0.0.1:2/hooks/endless_headers"},
            ],
            "deliveries": [
                {"id": "dlv_s", "webhook_id": "wh_s", "status": "succeeded", "attempts": [split]},
                {"id": "dlv_e", "webhook_id": "wh_e", "status": "pending", "attempts": [endless]},
            ],
        }

    good_split = {"id": "a1", "response_code": 200, "error": None}
    good_endless = {"id": "a2", "response_code": None, "error": "connection_error"}
    limits = Limits(Soak(), max_rss_mb=400)  # type: ignore[arg-type]
    counts = limits.check_hostile_deliveries(state(good_split, good_endless))
    assert counts == {"split": 1, "endless_headers": 1} and limits.violations == []
    for split, endless in (
        ({**good_split, "response_code": 500}, good_endless),
        (good_split, {**good_endless, "response_code": 200, "error": None}),
    ):
        limits = Limits(Soak(), max_rss_mb=400)  # type: ignore[arg-type]
        limits.check_hostile_deliveries(state(split, endless))
        assert len(limits.violations) == 1, limits.violations
    assert module.judge(_clean_summary()) == []
