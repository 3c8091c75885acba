"""Named snapshots of the whole database, made and put back with SQLite's backup API.

Each snapshot is one SQLite file, `NAME.db`, in a directory beside the database (`--db
state.db` keeps them in `state.db.snapshots/`, so they survive restarts) or in the private
temporary state (tmpfs where there is one; gone at exit). Besides the tables, a snapshot's
`meta` table holds one row, `snapshot`, with what lives in memory (clock, the seeded
generators) as JSON: the file is the whole state.

A save writes `NAME.partial` (and SQLite's `NAME.partial-journal` beside it) and renames it
to `NAME.db` once complete. A crash in between leaves those two behind: the next start
removes them (`remove_leftovers`), and a save removes its own before it begins, since a
journal left beside a new partial file would be played back into it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any, NamedTuple

from .db import Database, Tx

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SUFFIX = ".db"
PARTIAL_SUFFIX = ".partial"
# What SQLite may keep beside a file it writes: a save's are left behind by a crash.
_SIDE_FILES = ("", "-journal", "-wal", "-shm")
META_KEY = "snapshot"


class SnapshotInfo(NamedTuple):
    name: str
    created_ms: int
    size_bytes: int


def directory_for(db: Database) -> Path:
    if db.temp_dir is not None:
        return Path(db.temp_dir) / "snapshots"
    return Path(f"{db.path}.snapshots")


class SnapshotStore:
    """The snapshot files of one database. Saves and restores run under the state gate
    (exclusively), so they never race each other."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.directory = directory_for(db)
        # --db promises durability: a saved snapshot is on disk before the answer.
        self._durable = db.temp_dir is None

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}{SUFFIX}"

    async def save(self, name: str, created_ms: int, memory: dict[str, Any]) -> SnapshotInfo:
        """Copy the database and `memory` (JSON-able) into snapshot `name`, replacing any
        snapshot of that name only once the new one is complete."""
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f"{name}{PARTIAL_SUFFIX}"
        _remove_partial(partial)
        try:
            await self._db.backup_to(str(partial))
            row = json.dumps({"name": name, "created_ms": created_ms, "memory": memory})
            await asyncio.to_thread(_finish, partial, row, self._durable)
            os.replace(partial, self._path(name))
        except BaseException:
            _remove_partial(partial)
            raise
        if self._durable:
            _fsync_directory(self.directory)
        return SnapshotInfo(name, created_ms, self._path(name).stat().st_size)

    async def restore(self, name: str) -> dict[str, Any] | None:
        """Put snapshot `name` in place of the whole database; return its in-memory part,
        or None if there is no such snapshot."""
        path = self._path(name)
        if not path.is_file():
            return None
        stored = await asyncio.to_thread(_read_meta, path)
        await self._db.restore_from(str(path))

        async def forget_marker(tx: Tx) -> None:
            await tx.execute("DELETE FROM meta WHERE key = ?", (META_KEY,))

        await self._db.write(forget_marker)
        return dict(stored["memory"]) if stored else {}

    async def list(self) -> list[SnapshotInfo]:
        return await asyncio.to_thread(self._list)

    def _list(self) -> list[SnapshotInfo]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            name = path.name[: -len(SUFFIX)]
            if not NAME_PATTERN.fullmatch(name):
                continue
            try:
                stored = _read_meta(path, memory=False)
                size = path.stat().st_size
            except (sqlite3.Error, OSError):
                continue  # not one of ours, or removed meanwhile
            created_ms = int(stored["created_ms"]) if stored else int(path.stat().st_mtime * 1000)
            found.append(SnapshotInfo(name, created_ms, size))
        return found

    async def get(self, name: str) -> SnapshotInfo | None:
        return next((info for info in await self.list() if info.name == name), None)

    def delete(self, name: str) -> bool:
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            return False
        return True


def remove_leftovers(db: Database) -> list[Path]:
    """Remove what saves cut short by a crash left in the snapshot directory; returns what
    was removed. Only at start: a save running now would lose its file."""
    directory = directory_for(db)
    if not directory.is_dir():
        return []
    removed = []
    for side in _SIDE_FILES:
        for path in directory.glob(f"*{PARTIAL_SUFFIX}{side}"):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _remove_partial(partial: Path) -> None:
    for side in _SIDE_FILES:
        Path(f"{partial}{side}").unlink(missing_ok=True)


def _finish(path: Path, row: str, durable: bool) -> None:
    """One self-contained file (no -wal beside it) holding the in-memory state too."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (META_KEY, row),
        )
        conn.commit()
    finally:
        conn.close()
    if durable:
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())


def _read_meta(path: Path, memory: bool = True) -> dict[str, Any] | None:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        expression = "value" if memory else "json_remove(value, '$.memory')"
        row = conn.execute(f"SELECT {expression} FROM meta WHERE key = ?", (META_KEY,)).fetchone()
    finally:
        conn.close()
    return None if row is None else dict(json.loads(row[0]))


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_ID_TABLES = ("events", "endpoints", "signing_keys", "subscriptions", "deliveries", "attempts")


# One query for all tables: every start runs it, and each query is a trip to the
# database thread.
_NEWEST_IDS_SQL = " UNION ALL ".join(
    f"SELECT MAX(id) AS id FROM {table} GROUP BY substr(id, 1, instr(id, '_'))"
    for table in _ID_TABLES
)


async def newest_ids(db: Database) -> list[str]:
    """The greatest stored id of each prefix in each table."""
    rows = await db.fetch_all(_NEWEST_IDS_SQL)
    return [str(row["id"]) for row in rows if row["id"] is not None]
