"""One process per database: an OS lock on `F.lock`, beside the database, from open to close.

Two emulators on one file would each believe they own it: one's reset breaks the other's
writes, and their clocks drift apart. The lock is the operating system's (flock on POSIX,
msvcrt.locking on Windows), so the kernel drops it when the process ends however it ends: a
SIGKILLed emulator never leaves its database locked. The file holds its holder's pid, so a
refused start can name the process to stop.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

LOCK_SUFFIX = ".lock"
# The holder writes its pid right after taking the lock; a refused start reading the file
# in between waits this long for it before naming no pid.
PID_WAIT_SECONDS = 0.5
# The pid, padded so that rewriting it never needs a truncate (Windows refuses to truncate a
# file with a locked range); the lock itself is on the byte after it.
_PID_WIDTH = 32


class DatabaseInUse(Exception):
    """Another process holds the database's lock."""

    def __init__(self, db_path: str, pid: int | None) -> None:
        holder = f"harbor-emulator pid {pid}" if pid is not None else "another process"
        super().__init__(
            f"--db {db_path} is in use by {holder}: stop it first, or pass another --db"
        )
        self.db_path = db_path
        self.pid = pid


class DatabaseLock:
    """The held lock of one database. Take it with `DatabaseLock.acquire(db_path)`."""

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, db_path: str) -> DatabaseLock:
        """Lock `db_path` for this process; raises DatabaseInUse if another holds it."""
        path = db_path + LOCK_SUFFIX
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
            try:
                locked = _try_lock(fd)
                if not locked:
                    raise DatabaseInUse(db_path, _holder_pid(fd))
                # The holder before us removes the file as it lets go (POSIX): a lock taken
                # on the file it removed guards nothing, so take the one at `path` again.
                if _still_at(fd, path):
                    break
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode().ljust(_PID_WIDTH))
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _unlock(fd, self.path)
        os.close(fd)


def _still_at(fd: int, path: str) -> bool:
    if sys.platform == "win32":
        return True  # Windows never removes it (an open file can't be removed there)
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _holder_pid(fd: int) -> int | None:
    deadline = time.monotonic() + PID_WAIT_SECONDS
    while True:
        os.lseek(fd, 0, os.SEEK_SET)
        words = os.read(fd, _PID_WIDTH).split()
        if words and words[0].isdigit():
            return int(words[0])
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        # A byte past the pid: a locked range can't be read by others on Windows.
        os.lseek(fd, _PID_WIDTH, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int, path: str) -> None:
        os.lseek(fd, _PID_WIDTH, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int, path: str) -> None:
        # Removed while still held, so nobody can lock the file on its way out; closing
        # the descriptor then lets go of the lock.
        with contextlib.suppress(OSError):
            os.unlink(path)
