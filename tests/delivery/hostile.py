"""Hostile webhook receivers on loopback, over raw sockets: answers no framework sends.

Each reads a request (head and Content-Length body), then answers as its `kind` says:

- `headers`: a status line, then header lines (128 bytes each) that never end;
- `lines`: the same with short lines (`X: y`), so the line count crosses its limit first;
- `status`: a status line that never ends;
- `interim`: `100 Continue` responses, one after another, never a final one;
- `trickle`: a response one byte every 100 ms, never complete;
- `split`: a complete `200 OK` and a `500` after it in the same write;
- `ok`: a plain `200 OK` (a healthy receiver, to compare with);
- `raw`: the bytes given as `answer`, to each request on the connection.

The floods (`headers`, `status`, `interim`) write as fast as the socket takes them, and stop
when the emulator closes the connection, after `flood_bytes`, or after FLOOD_SECONDS, so an
emulator without limits (main before issue 25) cannot take a test run's memory with it.

In a process of its own (`python -m tests.delivery.hostile KIND...`) they print one line of
JSON, the URLs in the order given, and serve until stdin closes: a flood then competes with
the emulator for CPU as a real receiver on the same machine would, not for its GIL.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time

FLOOD_SECONDS = 30.0
FLOOD_BYTES = 256 * 1024 * 1024
TRICKLE_INTERVAL_SECONDS = 0.1
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
SPLIT = OK + b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nerror"

_CHUNK = 64 * 1024
_FLOODS = {
    "headers": (b"HTTP/1.1 200 OK\r\n", (b"X-Flood: " + b"h" * 117 + b"\r\n") * (_CHUNK // 128)),
    "lines": (b"HTTP/1.1 200 OK\r\n", b"X: y\r\n" * (_CHUNK // 6)),
    "status": (b"HTTP/1.1 200 ", b"s" * _CHUNK),
    "interim": (b"", b"HTTP/1.1 100 Continue\r\n\r\n" * (_CHUNK // 25)),
}
KINDS = (*_FLOODS, "trickle", "split", "ok", "raw")


class HostileReceiver:
    """One listening socket on 127.0.0.1; a thread per connection."""

    def __init__(self, kind: str, *, flood_bytes: int = FLOOD_BYTES, answer: bytes = b"") -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self.kind = kind
        self.answer = {"ok": OK, "split": SPLIT}.get(kind, answer)
        self.flood_bytes = flood_bytes
        self.connections = 0
        self.requests = 0
        self.arrived: list[float] = []  # time.perf_counter() of each request's arrival
        self._lock = threading.Condition()
        self._closed = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self._accept, daemon=True).start()

    def wait_for(self, count: int, timeout: float) -> float:
        """Block until `count` requests arrived; the perf_counter time of the last one."""
        with self._lock:
            if not self._lock.wait_for(lambda: self.requests >= count, timeout):
                raise AssertionError(f"{self.requests} requests arrived, expected {count}")
            return self.arrived[count - 1]

    def close(self) -> None:
        self._closed.set()
        self._server.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(FLOOD_SECONDS)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            reader = conn.makefile("rb")
            while _read_request(reader):
                with self._lock:
                    self.requests += 1
                    self.arrived.append(time.perf_counter())
                    self._lock.notify_all()
                if self.kind in ("ok", "split", "raw"):
                    conn.sendall(self.answer)
                    continue
                if self.kind == "trickle":
                    self._trickle(conn)
                else:
                    self._flood(conn, *_FLOODS[self.kind])
                return

    def _flood(self, conn: socket.socket, first: bytes, chunk: bytes) -> None:
        conn.sendall(first)
        sent, deadline = 0, time.monotonic() + FLOOD_SECONDS
        while sent < self.flood_bytes and time.monotonic() < deadline:
            conn.sendall(chunk)  # raises once the emulator has closed the connection
            sent += len(chunk)
        self._closed.wait(FLOOD_SECONDS)  # then hang, holding the connection

    def _trickle(self, conn: socket.socket) -> None:
        endless = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"t" * 10_000
        for byte in endless[: int(FLOOD_SECONDS / TRICKLE_INTERVAL_SECONDS)]:
            conn.sendall(bytes([byte]))
            if self._closed.wait(TRICKLE_INTERVAL_SECONDS):
                return


def _read_request(reader: object) -> bool:
    length = 0
    while True:
        line = reader.readline(65536)  # type: ignore[attr-defined]
        if not line:
            return False
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return len(reader.read(length)) == length  # type: ignore[attr-defined]


def main(kinds: list[str]) -> None:
    receivers = [HostileReceiver(kind) for kind in kinds]
    print(json.dumps([r.url for r in receivers]), flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin (or dies)
    for receiver in receivers:
        receiver.close()


if __name__ == "__main__":
    main(sys.argv[1:])
