"""What the benchmarks in scripts/ share: starting servers pinned to a core, stopping them
whatever happens, and reporting.

Imported as `_bench_common` by scripts run as `python scripts/bench_….py` (their own folder
is then first on sys.path).
"""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 30.0


class BenchError(RuntimeError):
    """The bench could not produce figures (as opposed to producing bad ones)."""


class Processes:
    """Every server a bench starts, so that any exit path can stop them."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        with open(log_path, "ab") as log:
            # A session of its own: Ctrl-C in the terminal then reaches only us,
            # and we stop the whole group (a server may fork workers) in order.
            proc = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        # Even when the leader has exited, a child it forked may still hold the port.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc in self._procs:
            self._procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self._procs):
            self.stop(proc)

    def start_server(
        self,
        name: str,
        argv: list[str],
        *,
        port: int,
        log_path: Path,
        health_path: str,
        core: str | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a server (pinned to `core` when given) and return once it answers
        `health_path` with 200 on `port`; stop it and raise BenchError if it never does."""
        if core is not None:
            argv = ["taskset", "-c", core, *argv]
        proc = self.spawn(argv, log_path)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with {proc.returncode}:\n" + tail(log_path))
            if health_ok(port, health_path):
                return proc
            time.sleep(0.005)
        self.stop(proc)
        raise BenchError(f"{name} not healthy after {READY_TIMEOUT_S:g} s:\n" + tail(log_path))


def command(template: str, values: dict[str, str]) -> list[str]:
    # Split first, then fill in: a path with spaces stays one argument.
    return [part.format(**values) for part in shlex.split(template)]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health_ok(port: int, path: str) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def filesystem_type(path: Path) -> str:
    # On tmpfs fsync costs nothing and synchronous=FULL measures no durability
    # at all, so the report says where the databases lived.
    best, fstype = "", "?"
    with contextlib.suppress(OSError), open("/proc/mounts") as mounts:
        for line in mounts:
            _dev, mount_point, kind, *_ = line.split()
            prefix = mount_point.rstrip("/") + "/"
            if str(path).startswith(prefix) and len(prefix) > len(best):
                best, fstype = prefix, kind
    return fstype


def check_cores(layout: str) -> None:
    """Two cores and taskset, or BenchError; `layout` says what goes where, for the message."""
    if shutil.which("taskset") is None:
        raise BenchError("taskset not found (package util-linux)")
    if (os.cpu_count() or 1) < 2:
        raise BenchError(f"need at least 2 cores: {layout}")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (the value below which `pct` % of samples lie); 0 if none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def mark(met: bool) -> str:
    return "ok" if met else "MISSED"


def _raise_interrupt(signum: int, _frame: Any) -> None:
    # SIGTERM (a CI timeout, `kill`) must clean up exactly like Ctrl-C does.
    raise KeyboardInterrupt


def handle_interrupts() -> None:
    # Set both explicitly: a shell starts background jobs with SIGINT ignored,
    # and Python then never turns it into KeyboardInterrupt.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)


# The baseline every start-up figure is a ratio to: the smallest app uvicorn serves with the
# emulator's health route, run by the same Python.
HELLO_APP = """\
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def health(request):
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/_control/health", health)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    # "{port}" in an argument is replaced with the port to serve on.
    command: list[str]
    # What the size column measures: the file, the folder, or None for a venv.
    size_of: Path | None = None
    cwd: Path | None = None
