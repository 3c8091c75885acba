"""The database file under real `harbor-emulator start --db F` processes: one process per file
(a second start exits 2 naming the first's pid), a file removed or replaced under a running
emulator refuses writes with 503 rather than answering 201s a restart would lose, and a file
from an older version is upgraded in place."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from harbor_emulator.store.lockfile import DatabaseInUse, DatabaseLock
from harbor_emulator.store.schema import MIGRATIONS
from tests.test_cli_start import running

KEY = {"Authorization": "Bearer hb_test_dbfile"}
# A refused start is a Python start-up and a lock attempt: well under this, even on CI.
REFUSAL_SECONDS = 15


def _args(db: Path) -> tuple[str, ...]:
    return ("--port", "0", "--db", str(db), "--log-level", "error", "--rate-limit", "0")


@contextmanager
def _api(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, headers=KEY, timeout=30) as client:
        yield client


def _storage(api: httpx.Client) -> str:
    health = api.get("/_control/health")
    assert health.status_code == 200, health.text
    return str(health.json()["storage"])


def _post(api: httpx.Client, event_type: str) -> httpx.Response:
    return api.post("/v1/events", json={"type": event_type, "payload": {}})


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "storage_unavailable"
    assert "removed or replaced" in error["message"]
    assert response.headers["retry-after"] == "1"


def _types(api: httpx.Client) -> list[str]:
    listed = api.get("/v1/events", params={"limit": 100})
    assert listed.status_code == 200, listed.text
    return [event["type"] for event in listed.json()["data"]]


def test_a_second_start_on_the_same_db_exits_2_naming_the_first_pid(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    alias = tmp_path / "alias.db"
    alias.symlink_to(db)
    with running(*_args(db)) as (url, first), _api(url) as api:
        assert _post(api, "before").status_code == 201
        # By its own path and through a symlink to it: the lock is the real file's.
        for path in (db, alias):
            started = time.monotonic()
            second = subprocess.run(
                [sys.executable, "-m", "harbor_emulator.cli", "start", *_args(path)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert time.monotonic() - started < REFUSAL_SECONDS
            assert second.returncode == 2, (second.stdout, second.stderr)
            assert "listening" not in second.stdout
            assert second.stderr.splitlines() == [
                f"error: --db {db.resolve()} is in use by harbor-emulator pid {first.pid}: "
                "stop it first, or pass another --db"
            ]
        # The first goes on as if nothing happened: same clock, its writes kept.
        assert first.poll() is None
        assert _storage(api) == "ok"
        assert _post(api, "after").status_code == 201
    with running(*_args(db)) as (url, _), _api(url) as api:
        assert sorted(_types(api)) == ["after", "before"]


def test_the_lock_is_held_until_released_even_within_one_process(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    lock = DatabaseLock.acquire(db)
    with pytest.raises(DatabaseInUse) as refused:
        DatabaseLock.acquire(db)  # two apps of one process on one file: refused as well
    assert refused.value.pid == os.getpid()
    lock.release()
    assert not Path(f"{db}.lock").exists()
    DatabaseLock.acquire(db).release()


def test_the_lock_goes_with_a_killed_process(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with running(*_args(db)) as (url, process), _api(url) as api:
        assert _post(api, "kept").status_code == 201
        process.kill()
        process.wait(timeout=30)
    with running(*_args(db)) as (url, _), _api(url) as api:
        assert _types(api) == ["kept"]
    assert not Path(f"{db}.lock").exists()  # a clean stop removes its lock file


def test_a_removed_db_file_refuses_writes_and_health_says_so(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with running(*_args(db)) as (url, _), _api(url) as api:
        assert _post(api, "before").status_code == 201
        db.unlink()
        # Three writes that main answered 201 into the unlinked file, lost at the restart.
        for _ in range(3):
            _assert_refused(_post(api, "refused"))
        assert api.put("/_control/sinks/s", json={"responses": []}).status_code == 503
        assert _storage(api) == "unavailable"
        assert "refused" not in _types(api)  # nothing of a refused write is visible either
    with running(*_args(db)) as (url, _), _api(url) as api:
        assert "refused" not in _types(api)
        assert _storage(api) == "ok"


class _Writer:
    """POST /v1/events in a loop on its own thread; keeps what each answer was."""

    def __init__(self, url: str) -> None:
        self.answers: list[tuple[int, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url,))
        self._thread.start()

    def _run(self, url: str) -> None:
        with _api(url) as api:
            number = 0
            while not self._stop.is_set():
                number += 1
                response = _post(api, f"w{number}")
                body = response.json()
                self.answers.append((response.status_code, body.get("id") or body["error"]["code"]))

    def wait_for(self, status: int, count: int = 3) -> None:
        deadline = time.monotonic() + 30
        while sum(1 for code, _ in self.answers[-count:] if code == status) < count:
            assert time.monotonic() < deadline, self.answers[-10:]
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def test_a_replaced_db_file_refuses_writes_and_no_201_is_lost(tmp_path: Path) -> None:
    db, aside, other = tmp_path / "state.db", tmp_path / "aside.db", tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    with running(*_args(db)) as (url, _), _api(url) as api:
        writer = _Writer(url)
        try:
            writer.wait_for(201)
            # Another file renamed over it, with writes in flight all along.
            os.rename(db, aside)
            os.rename(other, db)
            writer.wait_for(503)
            _assert_refused(_post(api, "refused"))
            assert _storage(api) == "unavailable"
            # The file put back: writes are kept again.
            os.rename(db, other)
            os.rename(aside, db)
            writer.wait_for(201)
        finally:
            writer.stop()
        assert _storage(api) == "ok"
    accepted = [event_id for status, event_id in writer.answers if status == 201]
    refused = [code for status, code in writer.answers if status != 201]
    assert accepted and refused
    assert set(refused) == {"storage_unavailable"}
    with running(*_args(db)) as (url, _), _api(url) as api:
        for event_id in accepted:  # every 201 survives the restart
            assert api.get(f"/v1/events/{event_id}").status_code == 200, event_id
        assert "refused" not in _types(api)
    with sqlite3.connect(other) as conn:  # the other file is left as it was
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]
    conn.close()


def test_a_db_file_from_before_sinks_and_faults_were_stored_is_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    for number, script in enumerate(MIGRATIONS[:6], start=1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    conn.execute("INSERT INTO workspaces (id, name, created_ms) VALUES ('ws_old', NULL, 0)")
    conn.commit()
    conn.close()
    with running(*_args(db)) as (url, _), _api(url) as api:
        script = {"responses": [{"status": 500}]}
        assert api.put("/_control/sinks/kept", json=script).status_code == 200
        assert api.get("/v1/events", params={"workspace_id": "ws_old"}).status_code == 200
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
        assert conn.execute("SELECT id FROM workspaces WHERE id = 'ws_old'").fetchone()
        assert conn.execute("SELECT sink, status FROM sink_script").fetchall() == [("kept", 500)]
    finally:
        conn.close()
