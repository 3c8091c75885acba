"""The emulator as a real process, and the small disk it may fill, for scripts/soak.py."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

READY_LINE = re.compile(rb"listening on (http://\S+)")
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0


def start_command(db_path: Path, *options: str) -> list[str]:
    """`harbor-emulator start` on a free port and `db_path`, logging warnings only."""
    return [
        sys.executable,
        "-m",
        "harbor_emulator.cli",
        "start",
        "--port",
        "0",
        "--db",
        str(db_path),
        "--log-level",
        "warning",
        *options,
    ]


def clean_env() -> dict[str, str]:
    """This environment less HARBOR_EMULATOR_*: a user's control token or strict mode must
    not shape the run."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_EMULATOR_")}


class EmulatorFailed(RuntimeError):
    """The emulator could not be started (the soak cannot go on)."""


class Emulator:
    """`python -m harbor_emulator.cli start --port 0 --db FILE` that the soak kills at will.

    `up` is set while a started process is believed to serve; it is cleared around every
    kill and restart so that writers wait instead of spinning on refused connections.
    """

    def __init__(self, db_path: Path, log_path: Path, delivery_timeout: float) -> None:
        self.db_path = db_path
        self.log_path = log_path
        self.delivery_timeout = delivery_timeout
        self.url = ""
        self.up = asyncio.Event()
        self.starts = 0
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def exited_on_its_own(self) -> int | None:
        """The exit status of a process that ended although nobody stopped it, else None."""
        if self._process is None:
            return None
        return self._process.returncode

    async def start(self) -> str:
        with self.log_path.open("ab") as log:
            log.write(f"--- soak: start #{self.starts + 1}\n".encode())
            log.flush()
            self._process = await asyncio.create_subprocess_exec(
                *start_command(
                    self.db_path,
                    "--delivery-timeout",
                    str(self.delivery_timeout),
                    "--rate-limit",
                    "0",
                ),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=clean_env(),
            )
        assert self._process.stdout is not None
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                while line := await self._process.stdout.readline():
                    if match := READY_LINE.search(line):
                        self.url = match.group(1).decode()
                        self.starts += 1
                        self.up.set()
                        return self.url
        except TimeoutError:
            pass
        await self.kill()
        raise EmulatorFailed(
            f"the emulator did not print its ready line (start #{self.starts + 1}):\n"
            + self.log_tail()
        )

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no checkpoint, whatever was in flight is cut off."""
        self.up.clear()
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
        await process.wait()
        self._process = None

    async def stop(self) -> int | None:
        """SIGTERM and wait; returns the exit status, or None if it had to be killed."""
        self.up.clear()
        process = self._process
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                status = await process.wait()
        except TimeoutError:
            await self.kill()
            return None
        self._process = None
        return status

    def kill_now(self) -> None:
        """For the last cleanup, outside any event loop."""
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._process.pid, 0)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class SmallDisk:
    """A tmpfs of a few MB holding the database, and a filler file that takes its free space."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"
        self.mounted = True

    @classmethod
    def mount(cls, path: Path, size_mb: int) -> tuple[SmallDisk | None, str]:
        """Mount one, or return None and the reason it can't be done here."""
        if not sys.platform.startswith("linux"):
            return None, f"tmpfs needs Linux (this is {sys.platform})"
        if os.geteuid() != 0:
            return None, "mounting a tmpfs needs root (run as root, or in a privileged container)"
        if shutil.which("mount") is None:
            return None, "no `mount` command"
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            why = (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"
            return None, f"mount -t tmpfs failed: {why}"
        return cls(path), ""

    def fill(self) -> int:
        """Write the filler until the file system refuses; returns the bytes written."""
        written = 0
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            # Big chunks first, then a page at a time: tmpfs allocates whole pages.
            for chunk in (b"\0" * (1 << 20), b"\0" * 4096, b"\0"):
                while True:
                    try:
                        written += os.write(fd, chunk)
                    except OSError as error:
                        if error.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        return written

    def free(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.filler.unlink()

    def usage(self) -> tuple[int, int]:
        """(used, total) bytes."""
        stats = os.statvfs(self.path)
        return (stats.f_blocks - stats.f_bfree) * stats.f_frsize, stats.f_blocks * stats.f_frsize

    def unmount(self) -> str:
        """Unmount (lazily if something still holds it); returns an error, or ''."""
        if not self.mounted:
            return ""
        self.free()
        result = subprocess.run(["umount", str(self.path)], capture_output=True, text=True)
        if result.returncode != 0:
            lazy = subprocess.run(["umount", "-l", str(self.path)], capture_output=True, text=True)
            if lazy.returncode != 0:
                return (lazy.stderr or result.stderr).strip()
        self.mounted = False
        return ""
