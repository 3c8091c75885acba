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
whole, so this transport does not read the per-phase timeouts of the request.
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

__all__ = ["DeliveryTransport", "lean_http_available"]

# Received body bytes held before the socket stops being read: the sender keeps a 4 KB
# excerpt, so a receiver streaming megabytes must not fill memory while it is read.
_READ_HIGH_WATER = 64 * 1024


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

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http" or httptools is None:
            if self._fallback is None:
                self._fallback = self._make_fallback()
            return await self._fallback.handle_async_request(request)
        host = request.url.raw_host.decode("ascii")
        port = request.url.port or 80
        connection = self._reusable(host, port)
        trace = request.extensions.get("trace")
        if connection is None:
            if trace is not None:
                await trace("connection.connect_tcp.started", {"host": host, "port": port})
            connection = self._connection = await _connect(host, port)
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
    """One TCP connection: a request written, its response parsed as it arrives."""

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

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._busy:
            # Bytes nobody asked for (a second response, garbage): not reusable.
            self._fail(httpx.RemoteProtocolError("Received data while no request was made."))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"Invalid HTTP response: {exc}"))

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        # A body with neither Content-Length nor chunking ends where the connection does,
        # cleanly; a reset, or a close short of a declared length, is a broken exchange.
        until_close = self._head is not None and self._until_close
        if self._lost is None and exc is None and until_close and not self._complete:
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

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive()
        self._until_close = not self._keep_alive and not any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self._headers
        )
        if 100 <= status < 200:
            return  # informational (100 Continue, 103 Early Hints): the answer follows
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
