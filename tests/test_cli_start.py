"""`harbor-emulator start` as a process: env vars, the bind warning, state kept by --db."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def running(
    *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "harbor_emulator.cli", "start", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line
        yield match.group(1), process
    finally:
        process.terminate()
        process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_options_come_from_environment_variables() -> None:
    env = {
        "HARBOR_EMULATOR_PORT": "0",
        "HARBOR_EMULATOR_RATE_LIMIT": "2",
        "HARBOR_EMULATOR_LOG_LEVEL": "warning",
    }
    with running(env=env) as (url, _process):
        assert not url.endswith(":4280")
        headers = {"Authorization": "Bearer hb_test_env"}
        with httpx.Client(base_url=url, headers=headers) as api:
            codes = [api.get("/v1/events").status_code for _ in range(4)]
        assert codes[:2] == [200, 200] and 429 in codes[2:]


def test_warns_when_serving_beyond_loopback_without_a_token() -> None:
    with running("--host", "0.0.0.0", "--port", "0", "--log-level", "warning") as (url, process):
        assert (
            httpx.get(url.replace("0.0.0.0", "127.0.0.1") + "/_control/health").status_code == 200
        )
        process.terminate()
        process.wait(timeout=30)
        assert process.stderr is not None
        assert "without --control-token" in process.stderr.read()


def test_db_keeps_state_and_emulator_time_across_restarts(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    headers = {"Authorization": "Bearer hb_test_persist"}
    args = ("--port", "0", "--db", db, "--log-level", "warning")
    with running(*args) as (url, _), httpx.Client(base_url=url, headers=headers) as api:
        event = api.post("/v1/events", json={"type": "kept", "payload": {"n": 1}}).json()
        api.post("/_control/clock/advance", json={"duration": "1h"})
    with running(*args) as (url, _), httpx.Client(base_url=url, headers=headers) as api:
        assert api.get(f"/v1/events/{event['id']}").json() == event
        clock = api.get("/_control/clock").json()
        assert 3590 <= clock["offset_seconds"] <= 3610
