"""An httpx transport that sends plain-http attempts over one lean HTTP/1.1 connection.

httpx's own transport (httpcore over h11, both pure Python) spends ~450 us of CPU on an
exchange with a receiver on the same machine, about ten times what the exchange needs:
it was most of what a delivery cost, and more than the rest of the engine together. This
transport writes the request's head itself and parses the response with llhttp through
httptools (the parser uvicorn serves requests with), on an asyncio protocol.

It is still httpx around it: requests and responses are httpx's models, its decoders
read compressed bodies, failures raise httpx's exceptions from the OS error behind them,
and the trace extension reports the events the sender's stale-connection check reads.
https (and anything but http) goes to httpx's transport; so does everything when
httptools is not installed.

The wire is what httpx's transport sends: the request line, the headers of the
httpx.Request in their order (Host first, Content-Length last), then the body. One
connection per transport, kept alive between attempts unless the receiver says
otherwise; idle ones are dropped after `keepalive_expiry`, and one the receiver closed
while idle is replaced without an error. A response read only in part (its excerpt)
closes the connection. Timeouts are the caller's: the sender bounds each attempt as a
whole, so this transport does not read the per-phase timeouts of the request;
`response_begun` tells it whether a cut-off attempt had begun to be answered.

Limits (contract, "Limits: Receivers"), each a ReceiverLimitError naming it, raised as the
byte that crosses it arrives: a response head (status line, headers, blank line) over
MAX_HEAD_BYTES or MAX_HEAD_LINES lines, more than MAX_INTERIM_RESPONSES interim (1xx)
responses. Parsing stops at the end of the final response: a second response, or garbage,
after it is never read as part of it, and the connection is not reused. Before these
limits an endless status line cost quadratic time (its reason phrase grew by `+=`, 21 ms
per 64 KB chunk after 25 MB), endless headers grew memory without end (1.1 GB in one
attempt), and an interim flood kept llhttp busy for the whole timeout: every other request
waited seconds behind them. With them each costs at most one 64 KiB head of parsing.

Why not a maintained client with limits built in (issue 25; `scripts/bench_delivery.py
--candidates`, 2,000 deliveries at 1, 16 and 64 concurrent senders, medians of 3, the
sender's CPU per request, two runs): this transport 141-180 us, aiohttp's client (C
parser) 1.1-1.4x that, h11 driven directly 1.1-1.7x, httpx's transport 5.2-6.5x (on a
busier machine 1.0-1.1x, 1.1-1.6x and 4.3-5.5x: aiohttp at best ties). Neither has the
contract's limits: aiohttp bounds a line, a field and the header count but not a head,
h11 the head's bytes but not its lines, and neither counts interim responses. Against an
endless `100 Continue` with a 2 s timeout, aiohttp burned 1.83 s of CPU and httpx (h11)
1.47 s, this transport under 0.01 s. Both would need the same counting written around
them, and aiohttp a sender written anew for its models plus eight packages, for no
speed this transport lacks. The limits cost it 2.5 us a response (4.1 -> 6.6 us to
parse a typical answer), under 1% of an attempt.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httpx

try:
    import httptools
except ImportError:  # pragma: no cover - uvicorn[standard] installs it everywhere
    httptools = None

__all__ = [
    "MAX_HEAD_BYTES",
    "MAX_HEAD_LINES",
    "MAX_INTERIM_RESPONSES",
    "DeliveryTransport",
    "ReceiverLimitError",
    "lean_http_available",
]

# The contract's limits on what a receiver may send before its answer (Limits: Receivers).
# A response head: the status line, the header lines and the blank line, CRLFs included.
MAX_HEAD_BYTES = 64 * 1024
# Lines of one head: its status line and its header lines (the blank line not counted).
MAX_HEAD_LINES = 1000
# Interim (1xx) responses before the final one, e.g. 100 Continue or 103 Early Hints.
MAX_INTERIM_RESPONSES = 16

# Received body bytes held before the socket stops being read: the sender keeps a 4 KB
# excerpt, so a receiver streaming megabytes must not fill memory while it is read.
_READ_HIGH_WATER = 64 * 1024


class ReceiverLimitError(httpx.RemoteProtocolError):
    """The receiver crossed one of the limits above; the message names which."""


class _ResponseEnded(Exception):
    """Raised when a message begins after the final response: llhttp stops there."""


def lean_http_available() -> bool:
    return httptools is not None


class DeliveryTransport(httpx.AsyncBaseTransport):
    """One sender slot's transport: http:// over its lean connection, the rest via httpx.

    `fallback` builds httpx's transport the first time a request needs it, so a sender
    that only ever posts to http:// never loads a CA bundle.
    """

    def __init__(
        self, *, keepalive_expiry: float, fallback: Callable[[], httpx.AsyncBaseTransport]
    ) -> None:
        self._keepalive_expiry = keepalive_expiry
        self._make_fallback = fallback
        self._fallback: httpx.AsyncBaseTransport | None = None
        self._connection: _Connection | None = None
        # What `response_begun` reads: the last request's connection, or whether httpx's
        # transport returned a head for it.
        self._last: _Connection | None = None
        self._fallback_answered = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._last, self._fallback_answered = None, False
        if request.url.scheme != "http" or httptools is None:
            if self._fallback is None:
                self._fallback = self._make_fallback()
            response = await self._fallback.handle_async_request(request)
            self._fallback_answered = True
            return response
        host = request.url.raw_host.decode("ascii")
        port = request.url.port or 80
        connection = self._reusable(host, port)
        trace = request.extensions.get("trace")
        if connection is None:
            if trace is not None:
                await trace("connection.connect_tcp.started", {"host": host, "port": port})
            connection = self._connection = await _connect(host, port)
        self._last = connection
        try:
            head = _head(request)
            connection.send(head, request.content)
            response_head = await connection.response_head()
        except BaseException:
            # Timed out, cancelled or failed mid-exchange: what the connection holds next
            # is unknown, so it is never reused.
            self._discard(connection)
            raise
        if trace is not None:
            await trace("http11.receive_response_headers.complete", {})
        status, reason, version, headers = response_head
        return httpx.Response(
            status,
            headers=headers,
            stream=_Body(self, connection),
            extensions={"http_version": version, "reason_phrase": reason},
        )

    def response_begun(self) -> bool:
        """Whether any of the answer to the last request arrived (a cut-off attempt then
        failed mid-response, not for want of one): over http, any byte of it; over
        httpx's transport, which shows nothing sooner, its head."""
        if self._last is not None:
            return self._last.received > 0
        return self._fallback_answered

    def _reusable(self, host: str, port: int) -> _Connection | None:
        connection = self._connection
        if connection is None:
            return None
        if connection.reusable(host, port, self._keepalive_expiry):
            return connection
        self._discard(connection)
        return None

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        if self._connection is connection:
            self._connection = None

    async def aclose(self) -> None:
        if self._connection is not None:
            self._discard(self._connection)
        if self._fallback is not None:
            fallback, self._fallback = self._fallback, None
            await fallback.aclose()


async def _connect(host: str, port: int) -> _Connection:
    loop = asyncio.get_running_loop()
    try:
        if _is_ip(host):
            _, connection = await loop.create_connection(
                lambda: _Connection(host, port), host, port
            )
            return connection
        # Each address in turn (localhost: ::1, then 127.0.0.1); when all fail, the first
        # failure names the cause ("Connection refused", not asyncio's "Multiple
        # exceptions", which the attempt's detail could not classify).
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        first: OSError | None = None
        for *_, address in infos:
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(host, port), address[0], address[1]
                )
                return connection
            except OSError as exc:
                first = first or exc
        raise first or OSError(f"no address for {host}")
    except OSError as exc:
        raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _head(request: httpx.Request) -> bytes:
    lines = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        # h11 refuses these, and so must we: a CR or LF would let a value add headers.
        if b"\r" in value or b"\n" in value or b"\0" in value:
            raise httpx.LocalProtocolError(f"Illegal header value {value!r}")
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class _Connection(asyncio.Protocol):
    """One TCP connection: a request written, its response parsed as it arrives.

    Until the final response's head is complete, bytes are cut at each blank line and fed
    to llhttp one head at a time, after they are counted against MAX_HEAD_BYTES and
    MAX_HEAD_LINES; so no head is parsed, or held, beyond the limits, and a flood of
    interim responses stops at the one past MAX_INTERIM_RESPONSES, not at the end of the
    chunk that carried it. Parsing stops at the end of the final response: what follows
    is never read as part of it, and the connection is not reused.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpResponseParser(self)
        self._lost: BaseException | None = None  # why the connection ended
        self._closed = False
        self._idle_since = self._loop.time()
        self._busy = False  # a request written, its response not read to the end
        self._head_waiter: asyncio.Future[Any] | None = None
        self._body_waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._chunks: deque[bytes] = deque()
        self.received = 0  # bytes of the response to the last request, as received
        self._new_response()

    def _new_response(self) -> None:
        """Forget the last response: the next bytes start another."""
        self._head: tuple[int, bytes, bytes, list[tuple[bytes, bytes]]] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._reason = b""
        self._keep_alive = False
        self._until_close = False  # the body ends where the connection does
        self._complete = False
        self._chunks.clear()
        self._buffered = 0
        self.received = 0
        self._interim = 0  # interim (1xx) responses so far
        self._new_head()

    def _new_head(self) -> None:
        self._in_head = True  # until the final response's head is complete
        self._head_bytes = 0
        self._head_lines = 0
        self._head_tail = b""  # the last bytes of a head cut mid-chunk: a CRLF may span

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._busy:
            # Bytes nobody asked for (a second response, garbage): not reusable.
            self._fail(httpx.RemoteProtocolError("Received data while no request was made."))
            return
        if self._complete:
            self._ignore_the_rest()
            return
        self.received += len(data)
        start = 0
        try:
            while self._in_head and start < len(data):
                start = self._feed_head(data, start)
            if start < len(data) and not self._closed:
                self._parser.feed_data(memoryview(data)[start:] if start else data)
        except httptools.HttpParserError as exc:
            if self._complete:
                self._ignore_the_rest()  # a next response, or garbage, after this one
            else:
                self._fail(httpx.RemoteProtocolError(f"Invalid HTTP response: {exc}"))
        except ReceiverLimitError as exc:
            # Without its traceback: kept, it would hold this chunk in a reference cycle
            # (connection, error, frame) until the collector's next full pass.
            self._fail(exc.with_traceback(None))

    def _feed_head(self, data: bytes, start: int) -> int:
        """Feed data[start:] up to the blank line that ends a head; return where it ended
        (len(data) when it did not)."""
        tail = self._head_tail
        end = -1
        if tail:
            found = (tail + data[start : start + 3]).find(b"\r\n\r\n")
            if found >= 0:
                end = start + found + 4 - len(tail)
        if end < 0:
            found = data.find(b"\r\n\r\n", start)
            end = found + 4 if found >= 0 else -1
        stop = len(data) if end < 0 else end
        # Lines are counted only within the bytes the head may still take, so the limit
        # named is the one crossed first.
        room = MAX_HEAD_BYTES - self._head_bytes
        self._head_lines += data.count(b"\n", start, min(stop, start + room))
        # A complete head's last line break is the blank line's, which is not a line.
        if self._head_lines - (end >= 0 and stop - start <= room) > MAX_HEAD_LINES:
            raise ReceiverLimitError(
                f"sent a response head over {MAX_HEAD_LINES:,} lines, the limit for a "
                "status line and headers"
            )
        if stop - start > room:
            raise ReceiverLimitError(
                f"sent a response head over {MAX_HEAD_BYTES // 1024} KiB, the limit for a "
                "status line and headers"
            )
        self._head_bytes += stop - start
        if end < 0:
            self._head_tail = (tail + data[start:])[-3:] if stop - start < 3 else data[-3:]
        whole = start == 0 and stop == len(data)
        self._parser.feed_data(data if whole else memoryview(data)[start:stop])
        if end >= 0 and self._in_head:
            # An interim response's head (or empty lines before a status line): the
            # next bytes start another head.
            if self._interim > MAX_INTERIM_RESPONSES:
                raise ReceiverLimitError(
                    f"sent more than {MAX_INTERIM_RESPONSES} interim (1xx) responses, the "
                    "limit before a final one"
                )
            self._new_head()
        return stop

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._complete:
            return  # read to its end: whatever ends the connection now is not an error
        # A body with neither Content-Length nor chunking ends where the connection does,
        # cleanly; a reset, or a close short of a declared length, is a broken exchange.
        until_close = self._head is not None and self._until_close
        if self._lost is None and exc is None and until_close:
            self._finish_message()
            return
        if exc is None:
            if self._head is None:
                error: BaseException = httpx.RemoteProtocolError(
                    "Server disconnected without sending a response."
                )
            else:
                error = httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                )
        else:
            error = httpx.ReadError(str(exc) or type(exc).__name__)
            error.__cause__ = exc
        self._fail(error)

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            raise _ResponseEnded  # a second response: not ours to read

    def on_status(self, reason: bytes) -> None:
        self._reason += reason  # at most MAX_HEAD_BYTES: heads are fed only within it

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive()
        self._until_close = not self._keep_alive and not any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self._headers
        )
        if 100 <= status < 200:
            self._interim += 1
            return  # informational (100 Continue, 103 Early Hints): the answer follows
        self._in_head = False
        version = f"HTTP/{self._parser.get_http_version()}".encode("ascii")
        self._head = (status, self._reason, version, self._headers)
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self._head is None:
            return  # an informational response's (empty) body
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _READ_HIGH_WATER and not self._paused and self._transport:
            self._paused = True
            self._transport.pause_reading()
        self._wake_body()

    def on_message_complete(self) -> None:
        if self._head is None:
            # The end of an informational response: start over for the final one.
            self._headers = []
            self._reason = b""
            return
        self._keep_alive = self._parser.should_keep_alive()
        self._finish_message()

    # -- used by the transport -------------------------------------------------------------

    def reusable(self, host: str, port: int, expiry: float) -> bool:
        return (
            not self._closed
            and self._transport is not None
            and not self._transport.is_closing()
            and not self._busy
            and self.host == host
            and self.port == port
            and self._loop.time() - self._idle_since < expiry
        )

    def send(self, head: bytes, body: bytes) -> None:
        assert self._transport is not None
        self._busy = True
        self._new_response()
        self._transport.writelines((head, body))

    async def response_head(self) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
        if self._head is None:
            if self._lost is not None:
                raise self._lost
            self._head_waiter = self._loop.create_future()
            try:
                await self._head_waiter
            finally:
                self._head_waiter = None
        assert self._head is not None
        return self._head

    async def body(self) -> AsyncIterator[bytes]:
        while True:
            while self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered <= _READ_HIGH_WATER // 2 and self._transport:
                    self._paused = False
                    self._transport.resume_reading()
                yield chunk
            if self._complete:
                return
            if self._lost is not None:
                raise self._lost
            self._body_waiter = self._loop.create_future()
            try:
                await self._body_waiter
            finally:
                self._body_waiter = None

    def done_reading(self) -> bool:
        """The response was read to its end; True when the connection can serve another."""
        if not self._complete:
            return False
        self._busy = False
        self._idle_since = self._loop.time()
        return self._keep_alive and not self._closed

    def close(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.close()

    # -- internals ----------------------------------------------------------------------

    def _finish_message(self) -> None:
        self._complete = True
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        self._wake_body()

    def _ignore_the_rest(self) -> None:
        """Bytes after the final response: never read, and the connection is not reused
        (what they were, a second response or garbage, says the receiver is confused)."""
        self._keep_alive = False
        self.close()

    def _fail(self, error: BaseException) -> None:
        if self._lost is None:
            self._lost = error
        self.close()
        for waiter in (self._head_waiter, self._body_waiter):
            if waiter is not None and not waiter.done():
                waiter.set_exception(error)

    def _wake_body(self) -> None:
        waiter = self._body_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Body(httpx.AsyncByteStream):
    """A response's body as httpx reads it; closing it early gives up the connection."""

    def __init__(self, transport: DeliveryTransport, connection: _Connection) -> None:
        self._transport = transport
        self._connection = connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._connection.body():
            yield chunk

    async def aclose(self) -> None:
        if not self._connection.done_reading():
            self._transport._discard(self._connection)
