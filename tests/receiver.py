"""A real webhook receiver on loopback whose answers tests script, misbehaviour included.

It speaks HTTP/1.1 over raw sockets so it can also hang, trickle, reset and answer garbage,
which no well-behaved server framework will do on purpose.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    received_at: float


@dataclass
class Answer:
    """How to answer one request. `kind`: status | hang | big | close | trickle | garbage.

    `before`, if given, runs in the receiver's thread before the answer is sent: a test's
    way to act while the emulator waits on this attempt (e.g. in the middle of an advance).
    """

    kind: str = "status"
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    before: Callable[[], None] | None = None


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._script: list[Answer] = []
        self._default = Answer()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._release = threading.Event()
        self._connections: set[socket.socket] = set()
        receiver = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                receiver._serve(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # -- scripting -----------------------------------------------------------------------
    def respond_with(self, *answers: Answer | int) -> None:
        """Answer the next requests in this order, then as `always` says (200 by default)."""
        with self._lock:
            self._script = [a if isinstance(a, Answer) else Answer(status=a) for a in answers]

    def always(self, answer: Answer | int) -> None:
        with self._lock:
            self._default = answer if isinstance(answer, Answer) else Answer(status=answer)

    def wait_for(self, count: int, timeout: float = 30) -> None:
        """Block until `count` requests have arrived (for work the emulator does on its own)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests arrived, expected {count}")

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self._default = Answer()

    def close(self) -> None:
        """Stop as a real server's process would: its open connections end too.

        Left open, a keep-alive connection to a closed receiver would outlive it; a later
        receiver given the same port by the OS would then miss requests that the emulator
        sends down that old connection (seen as a test waiting for an attempt that the old
        receiver's thread answered)."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    # -- serving -------------------------------------------------------------------------
    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)
        try:
            self._serve_requests(conn)
        finally:
            with self._lock:
                self._connections.discard(conn)

    def _serve_requests(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        reader = conn.makefile("rb")
        while True:
            request = _read_request(reader)
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
                self._arrived.notify_all()
                answer = self._script.pop(0) if self._script else self._default
            if not self._answer(conn, answer):
                return

    def _answer(self, conn: socket.socket, answer: Answer) -> bool:
        """Send the answer; False when the connection must end."""
        if answer.before is not None:
            answer.before()
        if answer.kind == "hang":
            self._release.wait(60)
            return False
        if answer.kind == "close":
            conn.shutdown(socket.SHUT_RDWR)
            return False
        if answer.kind == "garbage":
            conn.sendall(b"this is not HTTP at all\r\n\r\n")
            return False
        if answer.kind == "big":
            size = 50 * 1024 * 1024
            head = f"HTTP/1.1 {answer.status} X\r\nContent-Length: {size}\r\n\r\n".encode()
            try:
                conn.sendall(head)
                chunk = b"x" * 65536
                for _ in range(size // len(chunk)):
                    conn.sendall(chunk)
            except OSError:
                pass  # the sender stopped reading after its 4 KB excerpt, as it should
            return False
        if answer.kind == "trickle":
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                for _ in range(1000):
                    conn.sendall(b"x")
                    time.sleep(0.05)
            except OSError:
                pass
            return False
        headers = {"Content-Length": str(len(answer.body)), **answer.headers}
        head = f"HTTP/1.1 {answer.status} X\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        conn.sendall(head.encode() + b"\r\n" + answer.body)
        return True


def _read_request(reader: object) -> Received | None:
    line = reader.readline()  # type: ignore[attr-defined]
    if not line:
        return None
    method, path, _version = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = reader.readline().decode("latin-1")  # type: ignore[attr-defined]
        if header in ("\r\n", "\n", ""):
            break
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0")))  # type: ignore[attr-defined]
    return Received(method, path, headers, body, time.time())
