"""`harbor-emulator start` as a process that ends when it is told to, whatever it is doing.

Contract (Limits): SIGTERM or SIGINT ends it within 5 s (a second signal at once), exit
status 0 when it stopped cleanly; an emulator a helper started ends within 2 s when the
process that started it dies, even by SIGKILL. Every wait here is bounded: an emulator
still running at the deadline is killed (-9) and the test fails with what it printed.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests import skip_policy
from tests.receiver import Answer, Receiver

STOP_SECONDS = 5.0  # the contract: a signal ends the process within 5 s
PARENT_DEATH_SECONDS = 2.0  # the contract: a helper's emulator outlives its parent by 2 s
READY_SECONDS = 30.0
READY_LINE = re.compile(r"listening on (http://\S+)")
# Billion laughs: ten levels of ten aliases, 10^10 strings once expanded. Under a key the
# document format does not know, as a user's notes might be.
ALIAS_BOMB = (
    "x-notes:\n  l0: &l0 ["
    + ", ".join(['"lol"'] * 10)
    + "]\n"
    + "".join(f"  l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 10) + "]\n" for n in range(1, 10))
)


class Started:
    """`harbor-emulator start --port 0 ARGS` as a child process, its stdout read by a thread."""

    def __init__(
        self, tmp_path: Path, *args: str, stdin: int | IO[Any] = subprocess.DEVNULL
    ) -> None:
        self.stderr_path = tmp_path / f"stderr-{time.monotonic_ns()}.log"
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "harbor_emulator.cli", "start", "--port", "0", *args],
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def url(self) -> str:
        """The URL of the ready line; fails if there is none within READY_SECONDS."""
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                pytest.fail(f"no ready line within {READY_SECONDS} s\n{self.stderr()}")
            if line is None:
                pytest.fail(f"exited with {self.process.wait()} before ready\n{self.stderr()}")
            if match := READY_LINE.search(line):
                return match.group(1)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def close(self) -> None:
        self.kill()
        if self.process.stdin is not None:
            self.process.stdin.close()
        # The pump ends at EOF; closing the pipe while it still reads would block on it.
        self._pump_thread.join(timeout=10)
        if not self._pump_thread.is_alive():
            assert self.process.stdout is not None
            self.process.stdout.close()

    def exit_status_within(self, seconds: float, what: str) -> int:
        """The exit status, if the process ends within `seconds`; else kill it and fail."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.process.wait(timeout=seconds)
        self.kill()
        pytest.fail(f"still running {seconds} s after {what}; killed\n{self.stderr()}")


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[..., Started]]:
    """Start emulators; any still running at the end is killed."""
    processes: list[Started] = []

    def start(*args: str, **kwargs: Any) -> Started:
        processes.append(Started(tmp_path, *args, **kwargs))
        return processes[-1]

    yield start
    for process in processes:
        process.close()


def in_background(call: Callable[[], object]) -> threading.Thread:
    """Run a request that is not expected to end before the emulator does."""

    def run() -> None:
        with contextlib.suppress(httpx.HTTPError):
            call()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# -- what keeps it busy ---------------------------------------------------------------


def busy_with_a_fixtures_document(url: str, keep: contextlib.ExitStack) -> None:
    """POST /_control/fixtures with an alias bomb: the event loop expands it, in Python."""
    in_background(
        lambda: httpx.post(
            f"{url}/_control/fixtures",
            content=ALIAS_BOMB,
            headers={"Content-Type": "application/yaml"},
            timeout=60,
        )
    )
    time.sleep(0.5)


def busy_with_a_live_stream(url: str, keep: contextlib.ExitStack) -> None:
    """The dashboard's live stream open, as a browser tab keeps it."""
    opened = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{url}/live", timeout=60) as response:
            for _ in response.iter_bytes():
                opened.set()

    in_background(listen)
    assert opened.wait(10), "the live stream sent nothing"


def busy_with_idle_connections(url: str, keep: contextlib.ExitStack) -> None:
    """Keep-alive connections left open after a request, and one with half a request."""
    for _ in range(4):
        client = keep.enter_context(httpx.Client(base_url=url))
        assert client.get("/_control/health").status_code == 200  # the connection stays
    address = httpx.URL(url)
    half = keep.enter_context(socket.create_connection((address.host, address.port)))
    half.sendall(b"GET /_control/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")


def _webhook_to(url: str, receiver_url: str) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": "Bearer hb_test_life"}) as api:
        made = api.post("/v1/webhooks", json={"url": receiver_url, "events": ["*"]})
        assert made.status_code in (200, 201), made.text
        sent = api.post("/v1/events", json={"type": "order.paid", "payload": {"n": 1}})
        assert sent.status_code in (200, 201), sent.text


def busy_with_a_silent_receiver(url: str, keep: contextlib.ExitStack) -> None:
    """An attempt in flight to a receiver that never answers, and a drain waiting on it."""
    receiver = Receiver()
    keep.callback(receiver.close)
    receiver.always(Answer(kind="hang"))
    _webhook_to(url, receiver.url)
    receiver.wait_for(1, timeout=10)
    in_background(
        lambda: httpx.post(
            f"{url}/_control/deliveries/drain", json={"timeout_seconds": 600}, timeout=700
        )
    )
    time.sleep(0.3)


def _headers_forever() -> str:
    """A receiver that answers with a status line, then one header after another, forever."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    def trickle(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while True:
                conn.sendall(b"X-More: yes\r\n")
                time.sleep(0.01)

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/"


def busy_with_a_receiver_sending_headers_forever(url: str, keep: contextlib.ExitStack) -> None:
    """An attempt reading a head that never ends, and a clock advance waiting on it."""
    _webhook_to(url, _headers_forever())
    in_background(
        lambda: httpx.post(f"{url}/_control/clock/advance", json={"duration": "72h"}, timeout=700)
    )
    time.sleep(0.5)


BUSY = {
    "fixtures document blocking the loop": busy_with_a_fixtures_document,
    "live stream open": busy_with_a_live_stream,
    "idle keep-alive connections": busy_with_idle_connections,
    "attempt to a silent receiver": busy_with_a_silent_receiver,
    "receiver sending headers forever": busy_with_a_receiver_sending_headers_forever,
}
# Attempts that never end: only the contract's 5 s, not this timeout, may stop them.
START_ARGS = ("--log-level", "warning", "--delivery-timeout", "600")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("busy", list(BUSY.values()), ids=list(BUSY))
def test_a_signal_ends_it_within_five_seconds_whatever_it_is_doing(
    started: Callable[..., Started],
    request: pytest.FixtureRequest,
    busy: Callable[[str, contextlib.ExitStack], None],
    signum: signal.Signals,
) -> None:
    emulator = started(*START_ARGS)
    keep = contextlib.ExitStack()
    request.addfinalizer(keep.close)
    busy(emulator.url(), keep)
    state = private_state_of(emulator.process.pid)
    assert emulator.process.poll() is None, emulator.stderr()
    emulator.process.send_signal(signum)
    sent_at = time.monotonic()
    status = emulator.exit_status_within(STOP_SECONDS, signum.name)
    took = time.monotonic() - sent_at
    assert status == 0, f"exit status {status} after {took:.1f} s\n{emulator.stderr()}"
    # Responses cut short by the stop are expected: no traceback in the log.
    assert "Traceback" not in emulator.stderr()
    # The fresh state of a run without --db goes with it, even when the watchdog ended it.
    assert state is None or not state.exists(), f"{state} left behind"


def test_a_signal_ends_it_while_nobody_reads_its_log() -> None:
    """A parent that stops reading stderr: once the pipe is full, writing a log line blocks
    the event loop, and the watchdog's own last line cannot be written either."""
    emulator = subprocess.Popen(
        [sys.executable, "-m", "harbor_emulator.cli", "start", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        ready = READY_LINE.search(emulator.stdout.readline())
        assert ready, "no ready line"
        url = ready.group(1)
        blocked = False
        # One access-log line per request: a pipe holds 64 KB, about 900 of them.
        with httpx.Client(base_url=url, timeout=2) as client:
            for _ in range(20_000):
                try:
                    client.get("/_control/health")
                except httpx.TimeoutException:
                    blocked = True
                    break
        assert blocked, "the log never filled the pipe"
        emulator.send_signal(signal.SIGTERM)
        try:
            status = emulator.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            status = None
        assert status == 0, f"exit status {status} ({STOP_SECONDS} s after SIGTERM)"
    finally:
        emulator.kill()
        emulator.wait(timeout=10)
        for stream in (emulator.stdout, emulator.stderr):
            if stream is not None:
                stream.close()


def test_a_signal_ends_a_start_still_loading_its_fixtures(
    started: Callable[..., Started], tmp_path: Path
) -> None:
    """`start --fixtures` of an alias bomb: the start itself is what keeps it busy."""
    if not Path("/proc/self/fd").is_dir():
        skip_policy.skip(
            "no /proc to see the start loading its fixtures", install="run it on Linux"
        )
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB)
    emulator = started("--fixtures", str(bomb))
    # Its state open: the lifespan (and with it the fixtures load) has begun.
    deadline = time.monotonic() + READY_SECONDS
    while private_state_of(emulator.process.pid) is None and emulator.process.poll() is None:
        assert time.monotonic() < deadline, f"no state opened\n{emulator.stderr()}"
        time.sleep(0.05)
    emulator.process.send_signal(signal.SIGTERM)
    status = emulator.exit_status_within(STOP_SECONDS, "SIGTERM")
    # 2: the document was refused before the signal came (a start that cannot serve).
    assert status == 0 or (status == 2 and "invalid_fixtures" in emulator.stderr()), (
        f"exit status {status}\n{emulator.stderr()}"
    )


def private_state_of(pid: int) -> Path | None:
    """The private state directory a process without --db has open (Linux: /proc)."""
    with contextlib.suppress(OSError):  # no /proc, or the process is gone
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = Path(os.readlink(fd))
                if target.name == "state.db":
                    return target.parent
    return None


def test_a_second_signal_ends_it_at_once(started: Callable[..., Started]) -> None:
    # The second signal must land after SAME_SIGNAL_SECONDS (else it is a copy of the first)
    # and before the clean stop ends OPEN_RESPONSE_SECONDS later. A host too loaded to send
    # it inside that window lets the clean stop win (exit 0): that round proves nothing, so
    # it is tried again, a bounded number of times.
    rounds = []
    for _ in range(3):
        emulator = started(*START_ARGS)
        with contextlib.ExitStack() as keep:
            busy_with_a_silent_receiver(emulator.url(), keep)
            emulator.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # a second signal, not a copy of the first
            emulator.process.send_signal(signal.SIGTERM)
            status = emulator.exit_status_within(STOP_SECONDS, "the second SIGTERM")
        rounds.append(status)
        if status != 0:
            break
    # The status of death by SIGTERM, not the clean stop's 0.
    assert status == 128 + signal.SIGTERM, f"exit statuses {rounds}\n{emulator.stderr()}"
    assert "second signal (SIGTERM): exiting at once" in emulator.stderr()


def test_copies_of_one_signal_are_one_request_to_stop(started: Callable[..., Started]) -> None:
    """A terminal's Ctrl-C reaches the whole process group and is relayed by npx's wrapper
    and the one-file bootloader: the emulator gets it two or three times at once."""
    emulator = started(*START_ARGS)
    with contextlib.ExitStack() as keep:
        busy_with_a_silent_receiver(emulator.url(), keep)
        for _ in range(3):
            emulator.process.send_signal(signal.SIGINT)
        status = emulator.exit_status_within(STOP_SECONDS, "SIGINT")
    assert status == 0, emulator.stderr()


# -- the process that started it dies -------------------------------------------------


def test_the_end_of_stdin_stops_it_cleanly(started: Callable[..., Started]) -> None:
    emulator = started("--exit-with-stdin", stdin=subprocess.PIPE)
    emulator.url()
    assert emulator.process.stdin is not None
    emulator.process.stdin.write("anything a parent writes is ignored\n")
    emulator.process.stdin.flush()
    time.sleep(0.3)
    assert emulator.process.poll() is None, emulator.stderr()
    emulator.process.stdin.close()
    assert emulator.exit_status_within(PARENT_DEATH_SECONDS, "stdin closed") == 0
    assert "stdin closed" in emulator.stderr()


# The parent: starts the emulator with a pipe to its stdin, makes it busy, says its pid.
PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    emulator = subprocess.Popen(
        [sys.executable, "-m", "harbor_emulator.cli", "start", "--port", "0",
         "--log-level", "warning", "--delivery-timeout", "600", "--exit-with-stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
    )
    print(emulator.pid, emulator.stdout.readline().split()[-1], flush=True)
    time.sleep(600)
    """
)


def alive(pid: int) -> bool:
    """Whether `pid` still runs: a zombie waiting for its reaper does not (Linux: /proc)."""
    if not Path("/proc/self/stat").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


PARENT_BUSY = {
    "idle": lambda url, keep: None,
    "fixtures document blocking the loop": busy_with_a_fixtures_document,
    "attempt to a silent receiver": busy_with_a_silent_receiver,
}


@pytest.mark.parametrize("busy", list(PARENT_BUSY.values()), ids=list(PARENT_BUSY))
def test_it_ends_within_two_seconds_of_a_parent_killed_by_sigkill(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    busy: Callable[[str, contextlib.ExitStack], None],
) -> None:
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        parent = subprocess.Popen(
            [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    request.addfinalizer(parent.kill)
    assert parent.stdout is not None
    line = parent.stdout.readline()  # the emulator's ready line or its exit ends the wait
    parent.stdout.close()
    assert len(line.split()) == 2, f"{line!r}\n{stderr_path.read_text(errors='replace')}"
    emulator_pid, url = int(line.split()[0]), line.split()[1]

    @request.addfinalizer
    def kill_the_emulator() -> None:
        if alive(emulator_pid):
            os.kill(emulator_pid, signal.SIGKILL)

    keep = contextlib.ExitStack()
    request.addfinalizer(keep.close)
    busy(url, keep)

    parent.kill()
    parent.wait(timeout=10)
    if not gone_within(emulator_pid, PARENT_DEATH_SECONDS):
        os.kill(emulator_pid, signal.SIGKILL)
        pytest.fail(
            f"the emulator ({emulator_pid}) still ran {PARENT_DEATH_SECONDS} s after its "
            f"parent was killed; killed it\n{stderr_path.read_text(errors='replace')}"
        )
