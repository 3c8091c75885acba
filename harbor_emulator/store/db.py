"""Opening the SQLite file, migrations, and the two ways in: reads and group-committed writes.

One writer connection runs every write. Writes are queued and the writer takes all that
queued up while the previous commit ran into one transaction, so one fsync covers many
requests and no request waits on a timer. A second connection serves reads; in WAL mode it
sees only committed data, so a read never observes a half-done write.

A database given by path is this process's alone (`lockfile.py`), and every commit checks
that the file at that path is still the one it writes: a write into a file that was removed
or replaced would be answered 201 and gone at the next start, so it answers 503 instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import aiosqlite

from ..core.errors import HarborError
from .lockfile import DatabaseLock
from .schema import MIGRATIONS, STATE_TABLES

T = TypeVar("T")
Params = Sequence[Any] | dict[str, Any]
Row = sqlite3.Row

log = logging.getLogger("harbor_emulator.store")

# SQLite's primary result codes that mean the file can't be written (or read) right now,
# not that the statement was wrong: disk full, read-only file or directory, I/O error,
# can't open, locked past busy_timeout.
_STORAGE_ERRORS = frozenset(
    {
        "SQLITE_FULL",
        "SQLITE_READONLY",
        "SQLITE_IOERR",
        "SQLITE_CANTOPEN",
        "SQLITE_BUSY",
        "SQLITE_PERM",
        "SQLITE_NOLFS",
    }
)
RETRY_AFTER_SECONDS = 1


def storage_error(exc: BaseException) -> HarborError | None:
    """The 503 a storage fault answers, or None for any other error (a bug: a 500)."""
    if not isinstance(exc, sqlite3.Error):
        return None
    name = getattr(exc, "sqlite_errorname", "") or ""
    primary = name.split("_", 2)
    base = "_".join(primary[:2])  # SQLITE_IOERR_WRITE -> SQLITE_IOERR
    if base not in _STORAGE_ERRORS and "disk is full" not in str(exc):
        return None
    log.warning("storage unavailable: %s (%s)", exc, name or "no code")
    return HarborError(
        "storage_unavailable",
        f"The emulator's database can't be written ({exc}); nothing of this request was "
        "stored. Free disk space or fix the file's permissions, then retry.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class Tx:
    """The writer connection inside a write transaction; handed to write work functions."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        # One trip to the database thread: the cursor is left to the garbage collector
        # rather than closed with a second trip (sqlite3 cursors hold no lock once done).
        cursor = await self._conn.execute(sql, params)
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self._conn.execute_fetchall(sql, params)
        return next(iter(rows), None)


class _InlineTx(Tx):
    """The Tx API over the sqlite3 connection itself, for work run whole on the writer's
    thread (`Database.write_inline`): every method finishes without suspending, so a work
    coroutine that awaits only these runs to its end in one `send`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._sqlite = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        return self._sqlite.execute(sql, params).rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self._sqlite.executemany(sql, rows)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return self._sqlite.execute(sql, params).fetchall()

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = self._sqlite.execute(sql, params).fetchone()
        return row


def _finish(work: Awaitable[T]) -> T:
    """Run a coroutine that never suspends to its end, here and now."""
    coroutine = work.__await__()
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("an inline write awaited something other than its Tx")


WriteWork = Callable[[Tx], Awaitable[T]]
AloneWork = Callable[[aiosqlite.Connection], Awaitable[T]]


class _Alone:
    """Queued work that needs the writer connection to itself, outside any transaction
    (SQLite's backup API refuses a connection with one open)."""

    def __init__(self, work: AloneWork[Any]) -> None:
        self.work = work


class _Inline:
    """Queued work that runs whole on the writer's thread (see `Database.write_inline`)."""

    def __init__(self, work: WriteWork[Any]) -> None:
        self.work = work


class _WorkFailed(Exception):
    """A write function raised: its transaction was rolled back."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _StorageFailed(Exception):
    """The database file can't be written: the batch was rolled back, nothing stored."""

    def __init__(self, error: HarborError) -> None:
        super().__init__(str(error))
        self.error = error


class Database:
    """The store's handle on one SQLite file. Build it with `await Database.open(path)`."""

    def __init__(
        self,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        path: str,
        temp_dir: str | None,
        lock: DatabaseLock | None = None,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self.path = path
        self._temp_dir = temp_dir
        self._lock = lock
        # The file this process writes, as the file system names it (device, inode): the
        # file at `path` must still be this one for a commit to count.
        opened = os.stat(path)
        self._identity = (opened.st_dev, opened.st_ino)
        self._queue: list[tuple[WriteWork[Any] | _Alone | _Inline, asyncio.Future[Any]]] = []
        self._writer_task: asyncio.Task[None] | None = None
        self._tx = Tx(writer)
        # Running a function on aiosqlite's own thread is not public API (`_execute`,
        # `_conn`): without them inline works run the usual way, a trip per statement.
        run_on_thread = getattr(writer, "_execute", None)
        sqlite = getattr(writer, "_conn", None)
        self._run_on_thread = run_on_thread if isinstance(sqlite, sqlite3.Connection) else None
        self._inline_tx = _InlineTx(sqlite) if isinstance(sqlite, sqlite3.Connection) else None

    @property
    def temp_dir(self) -> str | None:
        """The private directory of a database opened without a path (removed at close)."""
        return self._temp_dir

    @classmethod
    async def open(cls, path: str | None) -> Database:
        """Open (creating and migrating) `path`, or a private temporary file for `None`."""
        temp_dir = None
        lock = None
        if path is None:
            # A fresh state per run: a file in tmpfs where there is one, so WAL and two
            # connections work exactly as with --db, at memory speed. Nothing of it
            # outlives the process, so there is no point in fsync.
            base = (
                "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
            )
            temp_dir = tempfile.mkdtemp(prefix="harbor-emulator-", dir=base)
            path = str(Path(temp_dir) / "state.db")
            synchronous = "OFF"
        else:
            resolved = Path(path).expanduser().resolve()
            resolved.parent.mkdir(parents=True, exist_ok=True)
            # Before SQLite touches the file: a second process must not even migrate it.
            lock = DatabaseLock.acquire(str(resolved))
            # --db promises durability: every commit reaches the disk before we answer.
            synchronous = "FULL"
        # sqlite3 opens the write transaction itself (BEGIN IMMEDIATE) in the same call as
        # a batch's first INSERT/UPDATE/DELETE: one trip to the database thread fewer.
        # check_same_thread=False: a snapshot restore runs SQLite's backup from the
        # snapshot's connection thread into this one, while this one's thread is idle.
        try:
            writer = await aiosqlite.connect(
                path, isolation_level="IMMEDIATE", check_same_thread=False
            )
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        try:
            await writer.executescript(
                "PRAGMA journal_mode=WAL;"
                f"PRAGMA synchronous={synchronous};"
                "PRAGMA foreign_keys=ON;"
                "PRAGMA busy_timeout=5000;"
            )
            await _migrate(writer)
            reader = await aiosqlite.connect(path, isolation_level=None)
            await reader.executescript("PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;")
        except BaseException:
            await writer.close()
            if lock is not None:
                lock.release()
            raise
        writer.row_factory = sqlite3.Row
        reader.row_factory = sqlite3.Row
        return cls(writer, reader, path, temp_dir, lock)

    async def close(self) -> None:
        try:
            if self._writer_task is not None:
                await asyncio.gather(self._writer_task, return_exceptions=True)
            await self._reader.close()
            await self._writer.close()
        finally:
            if self._lock is not None:
                self._lock.release()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    # -- the file itself ---------------------------------------------------------------
    @property
    def storage_available(self) -> bool:
        """False while the file at `path` is not the one this process writes: removed,
        renamed away, or another file renamed over it."""
        try:
            now = os.stat(self.path)
        except OSError:
            return False
        return (now.st_dev, now.st_ino) == self._identity

    def _file_unavailable(self) -> HarborError | None:
        """The 503 of a commit while the file at `path` is not the one this process writes,
        else None.

        One stat(2), a few microseconds: every commit pays it twice, before (so a refused
        write is rolled back, seen by no one) and after (a file removed while the commit ran
        took the commit with it: a 201 for it would be lost at the next start).
        """
        if self.storage_available:
            return None
        log.warning("storage unavailable: %s was removed or replaced", self.path)
        return HarborError(
            "storage_unavailable",
            f"The emulator's database file {self.path} was removed or replaced while it was "
            "running, so this write can't be kept. Put the file back, or restart the emulator.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    # -- reads -----------------------------------------------------------------------
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            return list(await self._reader.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise storage_error(exc) or exc from exc

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        try:
            rows = await self._reader.execute_fetchall(sql, params)
        except sqlite3.Error as exc:
            raise storage_error(exc) or exc from exc
        return next(iter(rows), None)

    # -- writes ----------------------------------------------------------------------
    async def write(self, work: WriteWork[T]) -> T:
        """Run `work(tx)` in a transaction and return its result once it is committed.

        `work` must only talk to the database: anything slow it awaits (DNS, HTTP) would
        hold up every write queued behind it. If it raises, its changes are rolled back
        and the exception is raised here; other writes of the same batch are unaffected.
        """
        return await self._enqueue(work)  # type: ignore[no-any-return]

    async def write_inline(self, work: WriteWork[T]) -> T:
        """`write(work)` for work that awaits nothing but its Tx (and is safe to run on
        another thread: no event-loop objects, only locked or immutable shared state).

        Consecutive inline works of a batch run on the database thread in one trip, with
        the commit when they end the batch: a batch of such works costs one trip to that
        thread instead of one per statement plus one for the commit. The hot paths (event
        creation) use it; anything else keeps `write`.
        """
        return await self._enqueue(_Inline(work))  # type: ignore[no-any-return]

    def write_soon(self, work: WriteWork[T]) -> asyncio.Future[T]:
        """`write_inline(work)` queued now, by code on the event loop that can't await: it
        commits before (or with) every write queued after it. The caller owns the future,
        and its exception."""
        return self._enqueue(_Inline(work))

    def _enqueue(self, item: WriteWork[Any] | _Inline | _Alone) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writer_task is None or self._writer_task.done():
            self._writer_task = asyncio.create_task(self._run_writes())
        return future

    async def _run_writes(self) -> None:
        while self._queue:
            work, future = self._queue[0]
            if isinstance(work, _Alone):
                del self._queue[0]
                await self._run_alone(work, future)
                continue
            # A batch runs up to the next work that must run alone.
            end = next(
                (i for i, (w, _f) in enumerate(self._queue) if isinstance(w, _Alone)),
                len(self._queue),
            )
            batch, self._queue = self._queue[:end], self._queue[end:]
            await self._run_batch(batch)  # type: ignore[arg-type]

    async def _run_alone(self, alone: _Alone, future: asyncio.Future[Any]) -> None:
        try:
            if unavailable := self._file_unavailable():
                raise unavailable
            result = await alone.work(self._writer)
            if unavailable := self._file_unavailable():
                raise unavailable
        except Exception as exc:
            await self._rollback_quietly()
            if not future.done():
                future.set_exception(storage_error(exc) or exc)
            return
        if not future.done():
            future.set_result(result)

    async def _alone(self, work: AloneWork[T]) -> T:
        """Run `work(writer)` between two write batches, with no transaction open."""
        return await self._enqueue(_Alone(work))  # type: ignore[no-any-return]

    async def limit_pages(self, max_pages: int) -> int:
        """Cap the file at `max_pages` pages (SQLite's `max_page_count`, on the writer
        connection only; never below the pages in use) and return the cap now in force.

        A write that needs more fails with SQLITE_FULL, exactly as on a full disk: the
        tests fill "the disk" this way without root or a mount. Raise the cap to free it.
        """

        async def set_cap(writer: aiosqlite.Connection) -> int:
            rows = await writer.execute_fetchall(f"PRAGMA max_page_count = {int(max_pages)}")
            return int(next(iter(rows))[0])

        return await self._alone(set_cap)

    # -- snapshots -------------------------------------------------------------------
    async def backup_to(self, path: str) -> None:
        """A consistent copy of the whole database into a new file (SQLite's backup API),
        taken between write batches so it holds only committed writes."""

        async def copy(writer: aiosqlite.Connection) -> None:
            target = sqlite3.connect(path, check_same_thread=False)
            try:
                await writer.backup(target)
            finally:
                target.close()

        await self._alone(copy)

    async def restore_from(self, path: str) -> None:
        """Replace the whole database with the file at `path` (SQLite's backup API, into
        the writer connection, between write batches). The reader sees it at its next
        statement: in WAL mode each read starts from the last commit."""
        source_version = await asyncio.to_thread(_user_version, path)
        if source_version > len(MIGRATIONS):
            raise ValueError(
                f"the snapshot is schema version {source_version}, newer than this emulator"
            )

        async def copy(writer: aiosqlite.Connection) -> None:
            source = await aiosqlite.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
            try:
                await source.backup(writer)
            finally:
                await source.close()
            # A snapshot from an older emulator version is brought up to this schema.
            await _migrate(writer)

        await self._alone(copy)

    async def _run_batch(self, batch: list[tuple[WriteWork[Any], asyncio.Future[Any]]]) -> None:
        """Commit the whole batch at once; if one write fails, run each on its own.

        Writes are validated before they are queued, so a failure here is rare; taking the
        batch optimistically saves a savepoint round trip per write on the hot path.
        """
        try:
            results = await self._transaction([work for work, _ in batch])
        except _StorageFailed as failed:
            # The whole batch was rolled back: each caller gets the 503, none is retried
            # alone (the disk is as full for one write as for many).
            for _work, future in batch:
                if not future.done():
                    future.set_exception(failed.error)
            return
        except _WorkFailed as failed:
            if len(batch) > 1:
                for item in batch:
                    await self._run_batch([item])
            elif not batch[0][1].done():
                batch[0][1].set_exception(failed.error)
            return
        except Exception as exc:
            log.exception("write transaction failed; %d writes rolled back", len(batch))
            for _work, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_work, future), result in zip(batch, results, strict=True):
            if not future.done():  # else the caller went away; the write still happened
                future.set_result(result)

    async def _transaction(self, works: list[WriteWork[Any] | _Inline]) -> list[Any]:
        try:
            results: list[Any] = []
            committed = False
            i = 0
            while i < len(works):
                if isinstance(works[i], _Inline) and self._run_on_thread is not None:
                    end = i
                    while end < len(works) and isinstance(works[end], _Inline):
                        end += 1
                    group = [item.work for item in works[i:end]]  # type: ignore[union-attr]
                    done, failure, committed = await self._run_on_thread(
                        self._run_inline, group, end == len(works)
                    )
                    results.extend(done)
                    if failure is not None:
                        _raise_failure(*failure)
                    i = end
                    continue
                item = works[i]
                work = item.work if isinstance(item, _Inline) else item
                try:
                    results.append(await work(self._tx))
                except Exception as exc:  # handed to the caller, who renders or raises it
                    _raise_failure("work", exc)
                i += 1
            if not committed:
                if unavailable := self._file_unavailable():
                    raise _StorageFailed(unavailable)
                try:
                    await self._writer.commit()
                except sqlite3.Error as exc:
                    _raise_failure("commit", exc)
            if unavailable := self._file_unavailable():
                raise _StorageFailed(unavailable)
        except BaseException:
            await self._rollback_quietly()
            raise
        return results

    def _run_inline(
        self, works: list[WriteWork[Any]], commit: bool
    ) -> tuple[list[Any], tuple[str, Exception] | None, bool]:
        """On the database thread: each work in turn, then the commit if `commit`.
        Returns (results so far, (where, error) of a failure or None, committed)."""
        assert self._inline_tx is not None
        results = []
        for work in works:
            try:
                results.append(_finish(work(self._inline_tx)))
            except Exception as exc:
                return results, ("work", exc), False
        if commit:
            if unavailable := self._file_unavailable():
                return results, ("file", unavailable), False
            try:
                self._inline_tx._sqlite.commit()
            except sqlite3.Error as exc:
                return results, ("commit", exc), False
        return results, None, commit

    async def _rollback_quietly(self) -> None:
        # SQLite may already have rolled back by itself (disk full, I/O error).
        if not self._writer.in_transaction:
            return
        try:
            await self._writer.rollback()
        except sqlite3.Error:
            log.exception("rollback failed")

    async def clear_state(self, tx: Tx) -> None:
        """Delete every row of the emulated state (not meta): the body of a reset."""
        for table in STATE_TABLES:
            await tx.execute(f"DELETE FROM {table}")


def _raise_failure(where: str, exc: Exception) -> NoReturn:
    """A failed work or commit as `_run_batch` expects it: a storage fault fails the whole
    batch; a work's own error is retried alone; a commit's other errors are bugs."""
    if where == "file":  # the file was removed or replaced: exc is its 503
        assert isinstance(exc, HarborError)
        raise _StorageFailed(exc)
    if (unavailable := storage_error(exc)) is not None:
        raise _StorageFailed(unavailable) from exc
    if where == "work":
        raise _WorkFailed(exc) from exc
    raise exc


def _user_version(path: str) -> int:
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


async def _migrate(conn: aiosqlite.Connection) -> None:
    rows = list(await conn.execute_fetchall("PRAGMA user_version"))
    version = int(rows[0][0]) if rows else 0
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"the database is schema version {version}, newer than this emulator "
            f"({len(MIGRATIONS)}); upgrade harbor-emulator or use another --db"
        )
    # Each migration in its own transaction (executescript commits first), all in one
    # script: one trip to the database thread instead of one each, which under load cost
    # a start ~1 ms apiece. A failing migration stops the script with those before it kept.
    script = "".join(
        f"BEGIN;\n{migration}\nPRAGMA user_version = {number};\nCOMMIT;\n"
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1)
    )
    if script:
        await conn.executescript(script)
