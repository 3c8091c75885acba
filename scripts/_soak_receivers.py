"""Webhook receivers on 127.0.0.1 for scripts/soak.py: one healthy, eight misbehaving.

They run on the soak's own event loop and speak HTTP/1.1 over raw streams, because a
well-behaved server framework will not hang, reset or trickle on purpose
(tests/receiver.py does the same with threads, for the test suite).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import Counter

# What each receiver does with every request it reads.
KINDS = (
    "healthy",
    "error500",
    "hang",
    "reset",
    "trickle",
    # The hostile ones (contract, Limits: Receivers): each must cost the emulator a failed
    # attempt and nothing else, neither memory nor other requests' time.
    "endless_headers",
    "endless_status",
    "interim",
    "split",
)
HOSTILE = ("endless_headers", "endless_status", "interim", "split")
# No receiver keeps a connection longer than this, whatever the emulator does.
MAX_CONNECTION_SECONDS = 60.0


class Receivers:
    """One listening socket per kind; `url(kind)` is where a webhook should point."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self._servers: dict[str, asyncio.Server] = {}
        self._ports: dict[str, int] = {}

    async def start(self) -> None:
        for kind in KINDS:
            server = await asyncio.start_server(
                lambda r, w, kind=kind: self._serve(kind, r, w), "127.0.0.1", 0
            )
            self._servers[kind] = server
            self._ports[kind] = server.sockets[0].getsockname()[1]

    def url(self, kind: str) -> str:
        return f"http://127.0.0.1:{self._ports[kind]}/hooks/{kind}"

    async def close(self) -> None:
        for server in self._servers.values():
            server.close()
        for server in self._servers.values():
            # wait_closed() waits for every connection in 3.12+; bound it all the same.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _serve(self, kind: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            async with asyncio.timeout(MAX_CONNECTION_SECONDS):
                while await _read_request(reader):
                    self.requests[kind] += 1
                    if not await _answer(kind, reader, writer):
                        break
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass  # the emulator gave up on us first, as it should
        finally:
            with contextlib.suppress(OSError):
                writer.close()


async def _read_request(reader: asyncio.StreamReader) -> bool:
    """Read one request (head and body); False at the end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return False
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    await reader.readexactly(length)
    return True


async def _answer(kind: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Answer one request as `kind` does; False when the connection must end."""
    if kind in ("healthy", "error500"):
        status = b"200 OK" if kind == "healthy" else b"500 Internal Server Error"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        return True
    if kind == "hang":
        # Never answer; wait for the emulator's timeout to close the connection.
        await reader.read()
        return False
    if kind == "reset":
        # SO_LINGER 0: close() sends RST instead of FIN, a "connection reset by peer".
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return False
    if kind in HOSTILE:
        await _hostile(kind, writer)
        return False
    # trickle: a 200 whose body arrives a byte at a time, slower than any timeout allows.
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(1000):
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(0.1)
    return False


async def _hostile(kind: str, writer: asyncio.StreamWriter) -> None:
    """Answer as a hostile receiver; returns when the emulator hangs up (or after a while)."""
    if kind == "split":
        # A complete 200, then a second response on the same write: the 200 counts.
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nnope"
        )
        await writer.drain()
        return
    if kind == "endless_headers":
        writer.write(b"HTTP/1.1 200 OK\r\n")
        chunk = b"".join(b"X-Flood-%d: %s\r\n" % (i, b"y" * 200) for i in range(64))
    elif kind == "endless_status":
        writer.write(b"HTTP/1.1 200 ")
        chunk = b"O" * 16384
    else:  # interim: 100 Continue for ever, never a final response
        chunk = b"HTTP/1.1 100 Continue\r\n\r\n"
    # As fast as the emulator reads, until it hangs up; drain() raises once it has.
    while True:
        writer.write(chunk)
        await writer.drain()
        if kind == "interim":
            await asyncio.sleep(0.01)
