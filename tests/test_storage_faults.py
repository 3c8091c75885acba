"""A full disk under a real emulator process: 503 storage_unavailable with Retry-After, no
acknowledged write lost, a consistent database, and service again once space is back."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harbor_emulator.store.db import storage_error
from tests import skip_policy

KEY = {"Authorization": "Bearer hb_test_disk"}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs of our own, so the disk can be filled without touching the machine's."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        skip_policy.skip("mounting a small tmpfs needs root", install="sudo scripts/test")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        skip_policy.skip(
            f"mount -t tmpfs failed: {mounted.stderr.strip() or mounted.returncode}",
            install="root with CAP_SYS_ADMIN (in a container: --privileged)",
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@contextlib.contextmanager
def emulator_process(db: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "harbor_emulator.cli", "start", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "HARBOR_EMULATOR_RATE_LIMIT": "0", "HARBOR_EMULATOR_LOG_LEVEL": "error"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on" in line, line
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        status = process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()
        assert status == 0


def fill(path: Path) -> None:
    """Write until the file system says it is full."""
    chunk = b"\0" * 65536
    with path.open("wb") as filler:
        try:
            while True:
                filler.write(chunk)
                filler.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc


def test_a_full_disk_answers_503_and_recovers_without_restart(small_disk: Path) -> None:
    db = small_disk / "state.db"
    acknowledged: dict[str, dict[str, object]] = {}
    refused = 0
    with emulator_process(db) as url, httpx.Client(base_url=url, headers=KEY, timeout=30) as api:

        def create(n: int) -> httpx.Response:
            payload = {"n": n, "pad": "p" * 20_000}
            response = api.post("/v1/events", json={"type": "disk.x", "payload": payload})
            if response.status_code == 201:
                acknowledged[response.json()["id"]] = payload
            return response

        for n in range(10):
            assert create(n).status_code == 201
        fill(small_disk / "filler")
        for n in range(10, 110):
            response = create(n)
            assert response.status_code in (201, 503), response.text
            if response.status_code == 503:
                refused += 1
                assert response.json()["error"]["code"] == "storage_unavailable"
                assert response.headers["retry-after"] == "1"
        assert refused > 0, "the disk never filled up"
        # Reads keep working while the disk is full.
        assert api.get("/v1/events", params={"limit": 5}).status_code == 200
        (small_disk / "filler").unlink()
        # Space is back: the same process serves writes again, no restart.
        assert create(1000).status_code == 201
        for event_id, payload in acknowledged.items():
            read = api.get(f"/v1/events/{event_id}")
            assert read.status_code == 200
            assert read.json()["payload"] == payload
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # And every acknowledged write survived the stop: nothing was half-written.
    with emulator_process(db) as url, httpx.Client(base_url=url, headers=KEY) as api:
        listed: set[str] = set()
        cursor = None
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = api.get("/v1/events", params=params).json()
            listed |= {event["id"] for event in page["data"]}
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
        assert set(acknowledged) <= listed
        assert len(listed) == len(acknowledged)


def test_sqlite_storage_errors_map_to_503_and_statement_errors_do_not(tmp_path: Path) -> None:
    """The one place that reads sqlite3 errors: a read-only file is storage, a bad
    statement is a bug (a 500)."""
    db = tmp_path / "ro.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        with pytest.raises(sqlite3.OperationalError) as read_only:
            conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(sqlite3.OperationalError) as bad_statement:
            conn.execute("SELECT nope FROM t")
    mapped = storage_error(read_only.value)
    assert mapped is not None
    assert (mapped.code, mapped.status, mapped.headers) == (
        "storage_unavailable",
        503,
        {"Retry-After": "1"},
    )
    assert storage_error(bad_statement.value) is None
