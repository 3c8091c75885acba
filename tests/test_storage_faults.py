"""A full disk under a real emulator: 503 storage_unavailable with Retry-After, no
acknowledged write lost, a consistent database, and service again once space is back.

Twice: a real full file system (an 8 MB tmpfs, root only), and, on any machine, a real
SQLITE_FULL from SQLite's `max_page_count` on the emulator's own writer connection
(`Database.limit_pages`): the same error code through the same path, without a mount.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import pytest

from harbor_emulator.server.app import create_app
from harbor_emulator.server.config import Config
from harbor_emulator.store.db import storage_error
from harbor_emulator.testing import ServerThread
from tests import skip_policy
from tests.waiting import rounds

KEY = {"Authorization": "Bearer hb_test_disk"}
# More pages than any test writes: the cap lifted, as if the disk had room again.
NO_PAGE_LIMIT = 2**30
# Far more pages than any listing here needs: a cursor that never ends fails, not hangs.
MAX_PAGES_LISTED = 100

T = TypeVar("T")


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
    """Write until the file system says it is full (an 8 MB one: 128 chunks at most)."""
    chunk = b"\0" * 65536
    written: list[int] = []
    with path.open("wb") as filler:
        try:
            for n in rounds(1000, written):
                filler.write(chunk)
                filler.flush()
                written.append(n)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc


class _Writes:
    """Events posted through the API, and the payload of each one answered 201."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api
        self.acknowledged: dict[str, dict[str, object]] = {}

    def create(self, n: int) -> httpx.Response:
        # 20 KB: each event needs pages of its own (overflow pages), so a full file refuses it.
        payload = {"n": n, "pad": "p" * 20_000}
        response = self.api.post("/v1/events", json={"type": "disk.x", "payload": payload})
        if response.status_code == 201:
            self.acknowledged[response.json()["id"]] = payload
        return response

    def fill_refused(self, numbers: range) -> int:
        """Post one event per number while the disk is full; how many were refused."""
        refused = 0
        for n in numbers:
            response = self.create(n)
            assert response.status_code in (201, 503), response.text
            if response.status_code == 503:
                refused += 1
                assert response.json()["error"]["code"] == "storage_unavailable"
                assert response.headers["retry-after"] == "1"
        return refused

    def check_all_readable(self) -> None:
        for event_id, payload in self.acknowledged.items():
            read = self.api.get(f"/v1/events/{event_id}")
            assert read.status_code == 200, read.text
            assert read.json()["payload"] == payload


def listed_event_ids(api: httpx.Client) -> set[str]:
    """Every event id the key sees, following the cursor (a bounded walk)."""
    listed: set[str] = set()
    params: dict[str, str | int] = {"limit": 100}
    for _ in range(MAX_PAGES_LISTED):
        page = api.get("/v1/events", params=params).json()
        listed |= {event["id"] for event in page["data"]}
        if not page["has_more"]:
            return listed
        params = {"limit": 100, "cursor": page["next_cursor"]}
    pytest.fail(f"the listing still had more after {MAX_PAGES_LISTED} pages ({len(listed)} ids)")


def check_kept_after_restart(db: Path, acknowledged: dict[str, dict[str, object]]) -> None:
    """The file is consistent, and a new process on it lists exactly the acknowledged
    events: nothing was half-written, nothing refused was kept."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with emulator_process(db) as url, httpx.Client(base_url=url, headers=KEY) as api:
        assert listed_event_ids(api) == set(acknowledged)


def test_a_full_disk_answers_503_and_recovers_without_restart(small_disk: Path) -> None:
    db = small_disk / "state.db"
    with emulator_process(db) as url, httpx.Client(base_url=url, headers=KEY, timeout=30) as api:
        writes = _Writes(api)
        for n in range(10):
            assert writes.create(n).status_code == 201
        fill(small_disk / "filler")
        assert writes.fill_refused(range(10, 110)) > 0, "the disk never filled up"
        # Reads keep working while the disk is full.
        assert api.get("/v1/events", params={"limit": 5}).status_code == 200
        (small_disk / "filler").unlink()
        # Space is back: the same process serves writes again, no restart.
        assert writes.create(1000).status_code == 201
        writes.check_all_readable()
    check_kept_after_restart(db, writes.acknowledged)


class HeldEmulator:
    """A real emulator on loopback with a real --db file, whose database the test can
    reach: `limit_pages` runs on the server's own event loop, as every write does."""

    def __init__(self, db: Path) -> None:
        self.app = create_app(Config(port=0, db_path=str(db), rate_limit=0))
        self._loop: asyncio.AbstractEventLoop | None = None

        async def keep_loop(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                self._loop = asyncio.get_running_loop()
            await self.app(scope, receive, send)

        self._server = ServerThread(keep_loop, lifespan="on")

    def limit_pages(self, max_pages: int) -> int:
        """Cap the database file (never below what it holds); the cap now in force."""
        return self._on_loop(self.app.state.db.limit_pages(max_pages))

    def _on_loop(self, work: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "the server is not running"
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=30)

    def __enter__(self) -> str:
        return self._server.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.stop()


def test_a_full_database_answers_503_and_recovers_without_root(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    held = HeldEmulator(db)
    with held as url, httpx.Client(base_url=url, headers=KEY, timeout=30) as api:
        writes = _Writes(api)
        for n in range(10):
            assert writes.create(n).status_code == 201
        # The cap never goes below the pages in use: 1 means "full as it stands".
        in_use = held.limit_pages(1)
        assert in_use > 1
        assert writes.fill_refused(range(10, 30)) == 20, "a full file took a write"
        assert api.get("/v1/events", params={"limit": 5}).status_code == 200
        assert held.limit_pages(NO_PAGE_LIMIT) == NO_PAGE_LIMIT
        # Space is back: the same process serves writes again, no restart.
        assert writes.create(1000).status_code == 201
        writes.check_all_readable()
    check_kept_after_restart(db, writes.acknowledged)


def _bulk_document(events: int) -> dict[str, Any]:
    """A workspace with its key and `events` events of 20 KB each (~5 pages apiece)."""
    return {
        "workspaces": [{"id": "ws_bulk", "name": "bulk"}],
        "api_keys": [{"key": "hk_test_bulk", "workspace_id": "ws_bulk"}],
        "events": [
            {
                "id": f"evt_bulk{n}",
                "workspace_id": "ws_bulk",
                "type": "bulk.loaded",
                "payload": {"n": n, "pad": "b" * 20_000},
            }
            for n in range(events)
        ],
    }


def _exported(control: httpx.Client) -> dict[str, Any]:
    exported = control.get("/_control/export").json()
    exported.pop("clock")
    return dict(exported)


def test_a_fixtures_load_that_runs_out_of_space_midway_leaves_nothing(tmp_path: Path) -> None:
    """All or nothing when the write itself fails: the document is valid, the first rows
    fit, the disk fills part-way through its one transaction."""
    held = HeldEmulator(tmp_path / "state.db")
    bulk = {"Authorization": "Bearer hk_test_bulk"}
    with (
        held as url,
        httpx.Client(base_url=url, timeout=30) as control,
        httpx.Client(base_url=url, headers=KEY, timeout=30) as api,
    ):
        writes = _Writes(api)
        assert writes.create(1).status_code == 201
        before = _exported(control)
        # Room for ~3 of the document's 50 events: its transaction has begun writing when
        # the file fills.
        in_use = held.limit_pages(1)
        assert held.limit_pages(in_use + 16) == in_use + 16
        document = _bulk_document(50)

        refused = control.post("/_control/fixtures", json=document)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "storage_unavailable"
        assert refused.headers["retry-after"] == "1"
        assert _exported(control) == before
        assert listed_event_ids(api) == set(writes.acknowledged)
        writes.check_all_readable()
        # The 16 pages the load had begun to fill are free again: a write fits in them.
        assert writes.create(2).status_code == 201

        held.limit_pages(NO_PAGE_LIMIT)
        loaded = control.post("/_control/fixtures", json=document)
        assert loaded.status_code == 201, loaded.text
        assert loaded.json()["events"] == 50
        with httpx.Client(base_url=url, headers=bulk, timeout=30) as bulk_api:
            assert listed_event_ids(bulk_api) == {f"evt_bulk{n}" for n in range(50)}


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
