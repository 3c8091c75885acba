"""At least once across a crash: SIGKILL mid-attempt, restart on the same --db."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.receiver import Answer, Receiver


def _start(db: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harbor_emulator.cli",
            "start",
            "--port",
            "0",
            "--db",
            str(db),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"http://\S+", line)
    assert match, line
    return process, match.group(0)


def _stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    code = process.wait(timeout=30)
    if process.stdout is not None:
        process.stdout.close()
    return code


def test_attempt_cut_off_by_a_crash_is_sent_again_and_success_is_final(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    receiver = Receiver()
    try:
        receiver.respond_with(Answer(kind="hang"))
        process, url = _start(db)
        headers = {"Authorization": "Bearer hb_test_crash"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
            api.post("/v1/webhooks", json={"url": receiver.url, "events": ["*"]})
            event = api.post("/v1/events", json={"type": "a", "payload": {}}).json()
        receiver.wait_for(1)
        assert _stop(process, signal.SIGKILL) == -signal.SIGKILL

        process, url = _start(db)
        try:
            receiver.wait_for(2)
            with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
                drained = api.post("/_control/deliveries/drain", json={"timeout_seconds": 20})
                assert drained.json()["drained"] is True
                delivery = api.get("/v1/deliveries").json()["data"][0]
                assert api.get(f"/v1/events/{event['id']}").status_code == 200
            first, second = receiver.requests
            assert first.headers["harbor-delivery-id"] == second.headers["harbor-delivery-id"]
            assert first.body == second.body
            assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 1
        finally:
            assert _stop(process) == 0

        # A delivery whose success was recorded is never sent again.
        process, url = _start(db)
        try:
            with httpx.Client(base_url=url, timeout=30) as control:
                assert control.post("/_control/deliveries/drain").json()["drained"] is True
            assert len(receiver.requests) == 2
        finally:
            _stop(process)
    finally:
        receiver.close()
