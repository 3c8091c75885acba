"""`harbor-emulator start` as a process: env vars, the bind warning, state kept by --db."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def running(
    *args: str, env: dict[str, str] | None = None, top: tuple[str, ...] = ()
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`harbor-emulator [TOP...] start ARGS...` until the block ends; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harbor_emulator.cli", *top, "start", *args],
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


def _start_fails(*args: str) -> str:
    """Run a `start` that cannot serve; return its stderr, checked to be one line."""
    result = subprocess.run(
        [sys.executable, "-m", "harbor_emulator.cli", "start", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "listening" not in result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_port_in_use_is_one_line_with_the_fix() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _start_fails("--port", str(port))
    assert line.startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert "--port 0" in line


def test_a_db_that_is_not_sqlite_is_one_line_with_the_fix(tmp_path: Path) -> None:
    db = tmp_path / "notes.txt"
    db.write_text("these are my notes, not a database\n" * 200)
    line = _start_fails("--port", "0", "--db", str(db))
    assert line == (
        f"error: cannot use --db {db}: it is not a SQLite database; pass another path "
        "(in a writable directory), or leave --db out for a fresh state"
    )
    assert db.read_text().startswith("these are my notes")  # left as it was


def test_a_db_in_a_directory_that_cannot_exist_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    line = _start_fails("--port", "0", "--db", str(blocker / "state.db"))
    assert line.startswith(f"error: cannot use --db {blocker / 'state.db'}: ")
    assert line.endswith(
        "pass another path (in a writable directory), or leave --db out for a fresh state"
    )


def test_an_invalid_fixtures_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("webhooks:\n  - url: http://127.0.0.1:9/\n")
    line = _start_fails("--port", "0", "--fixtures", str(path))
    assert line.startswith(f"error: invalid_fixtures: {path}: webhooks[0]: ")
    assert "'events'" in line


def test_a_host_that_does_not_resolve_is_one_line() -> None:
    line = _start_fails("--host", "no-such-host.invalid", "--port", "0", "--control-token", "t")
    assert line.startswith("error: cannot listen on no-such-host.invalid:0 ")
    assert "--host 127.0.0.1" in line
