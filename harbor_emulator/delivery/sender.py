"""One signed delivery attempt over HTTP, its outcome returned as data.

httpx (and plainhttp.py, built on it) is imported by the first attempt, not with this
module: the server imports this module at start, and a run that never delivers, or an
emulator's first health check, need not pay the ~25-60 ms httpx's import costs. Functions
that use it import it locally; after the first attempt that is a dictionary lookup.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from .. import signing

if TYPE_CHECKING:
    import httpx

    from .plainhttp import DeliveryTransport

USER_AGENT = "Harbor-Webhooks/1.0"
RESPONSE_EXCERPT_BYTES = 4096
# Response headers kept with an attempt for the dashboard: enough to debug, bounded.
RESPONSE_HEADERS_KEPT = 64
RESPONSE_HEADER_VALUE_CHARS = 1024


class AttemptRequest(NamedTuple):
    url: str
    body: bytes
    delivery_id: str
    event_type: str
    attempt_number: int
    secrets: Sequence[str]
    # The bytes the signature covers when they are not `body`: only the receiver check's
    # tampered_body sends other bytes than it signed.
    signed_body: bytes | None = None


class AttemptResult(NamedTuple):
    response_code: int | None
    response_body: str | None
    error: str | None  # None | "timeout" | "connection_error" | "redirect"
    duration_ms: int
    # The headers sent, signature included; None when no request was made (a fault).
    request_headers: dict[str, str] | None = None
    # Why a timeout or connection error happened, for people ("Connection refused by
    # 127.0.0.1:9 …"); `error` keeps the contract's fixed values.
    error_detail: str | None = None
    timeout_ms: int | None = None
    # (name, value) pairs as received, duplicates kept; None when no response came.
    response_headers: list[tuple[str, str]] | None = None

    @property
    def succeeded(self) -> bool:
        return (
            self.error is None
            and self.response_code is not None
            and 200 <= self.response_code < 300
        )


def headers_for(request: AttemptRequest, timestamp: int) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Harbor-Delivery-Id": request.delivery_id,
        "Harbor-Event-Type": request.event_type,
        "Harbor-Attempt": str(request.attempt_number),
        "Harbor-Timestamp": str(timestamp),
    }
    if request.secrets:
        signed = request.body if request.signed_body is None else request.signed_body
        headers["Harbor-Signature"] = signing.signature_header(
            list(request.secrets), timestamp, signed
        )
    return headers


# Idle keep-alive connections are closed after this long, before receivers close them:
# Node and uvicorn drop an idle connection after 5 s (httpx's own default expiry, so the
# two raced), gunicorn after 2 s. A request written as the receiver closes is lost.
KEEPALIVE_EXPIRY_SECONDS = 1.5
# What httpx's client sends besides ours, in its order, so receivers see the same request.
_CLIENT_HEADERS = ("Accept", "Accept-Encoding", "Connection")


class _Probe:
    """httpcore's trace hook, per attempt: did it open a connection, did a response head
    come back. Together they tell a stale pooled connection from a receiver that failed."""

    __slots__ = ("answered", "connected")

    def __init__(self) -> None:
        self.connected = False
        self.answered = False

    async def __call__(self, name: str, info: dict[str, object]) -> None:
        if name == "connection.connect_tcp.started":
            self.connected = True
        elif name == "http11.receive_response_headers.complete":
            self.answered = True

    def stale(self, exc: BaseException) -> bool:
        """True when a reused connection was reset before any response head: the receiver
        closed it with the request unread (its kernel answers a closed socket, or one
        closed with unread data, with a reset), so it cannot have processed it. A plain
        close (no response, no reset) is not retried: the receiver may have read the
        request before closing."""
        if self.connected or self.answered:
            return False
        return any(
            isinstance(cause, ConnectionResetError | BrokenPipeError) for cause in _causes(exc)
        )


class Sender:
    """Sends attempts with a pool of httpx transports, one per concurrent attempt.

    One AsyncClient shared by many concurrent senders collapses under load (its connection
    pool serialises them, encode/httpx#3215); a transport per slot keeps each attempt on
    its own keep-alive connection. Transports, not clients: a client's per-request work
    (URL parsing, header merging, its cookie jar, auth and redirect flows) cost as much as
    the exchange itself, and its cookie jar sent a receiver's cookies back with later
    attempts, which a webhook sender must not do.
    """

    def __init__(
        self,
        *,
        concurrency: int,
        timeout_seconds: float,
        timestamp: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        """`timestamp` gives Harbor-Timestamp's seconds and `timer` measures `duration_ms`:
        host time, or the emulator clock in seeded mode, where both must repeat exactly."""
        self.timeout_seconds = timeout_seconds
        self._timestamp = timestamp
        self._timer = timer
        # httpx's per-phase timeouts, set with the first transport.
        self._timeout: dict[str, float | None] = {}
        self._idle: list[DeliveryTransport] = []
        self._all: list[DeliveryTransport] = []
        self._limit = concurrency
        self._ssl_context: ssl.SSLContext | None = None
        self._client_headers: list[tuple[bytes, bytes]] = []
        # Parsed once per endpoint URL: httpx parses a str URL on every request.
        self._urls: dict[str, httpx.URL] = {}

    def _transport(self) -> DeliveryTransport:
        if self._idle:
            return self._idle.pop()
        import httpx

        from .plainhttp import DeliveryTransport

        if not self._client_headers:
            self._timeout = httpx.Timeout(self.timeout_seconds).as_dict()
            # verify=False: the client is built only to read its default headers, and a
            # verifying one would load the CA bundle for nothing.
            defaults = httpx.AsyncClient(verify=False, trust_env=False).headers
            self._client_headers = [
                (name.encode("ascii"), defaults[name].encode("ascii")) for name in _CLIENT_HEADERS
            ]
        transport = DeliveryTransport(
            keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS, fallback=self._httpx_transport
        )
        self._all.append(transport)
        return transport

    def _httpx_transport(self) -> httpx.AsyncHTTPTransport:
        """httpx's own transport, for https (and all URLs without httptools)."""
        import httpx

        if self._ssl_context is None:
            # Built once and shared: each transport building its own (httpx's default)
            # loads the CA bundle again, tens of ms of blocked event loop per transport,
            # which the first burst of N attempts paid N times over. Same settings as
            # httpx's default with trust_env=False; an SSLContext is safe to share.
            self._ssl_context = httpx.create_ssl_context(trust_env=False)
        return httpx.AsyncHTTPTransport(
            verify=self._ssl_context,
            # Each transport serves one attempt at a time: one connection is all it needs.
            limits=httpx.Limits(
                max_connections=1,
                max_keepalive_connections=1,
                keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
            ),
            trust_env=False,
        )

    def _url(self, url: str) -> httpx.URL:
        parsed = self._urls.get(url)
        if parsed is None:
            import httpx

            if len(self._urls) >= 1024:
                self._urls.clear()
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

    async def send(self, request: AttemptRequest) -> AttemptResult:
        # Harbor-Timestamp is host time by contract, not emulator time, so receivers'
        # five-minute tolerance holds after the emulator clock has been advanced; seeded
        # runs use emulator time instead, so signatures repeat byte for byte.
        timestamp = int(self._timestamp())
        headers = headers_for(request, timestamp)
        transport = self._transport()
        import httpx  # imported by _transport()

        started = self._timer()
        timeout_ms = int(self.timeout_seconds * 1000)
        try:
            # httpx's timeouts are per phase; a receiver trickling bytes needs a total bound.
            async with asyncio.timeout(self.timeout_seconds):
                url = self._url(request.url)
                return await self._exchange(transport, url, request, headers, started)
        except (TimeoutError, httpx.TimeoutException):
            address, seconds = _address(request.url), _seconds(self.timeout_seconds)
            error = "timeout"
            detail = (
                f"No complete response from {address} within {seconds} s (the delivery timeout)."
            )
            if transport.response_begun():
                # The receiver answered in part (a trickle, an endless head): the contract
                # makes that a broken exchange, not a slow one.
                error = "connection_error"
                detail = (
                    f"{address} sent part of a response but not all of it within {seconds} s, "
                    "the delivery timeout (wall time, however the bytes trickle in)."
                )
            return AttemptResult(
                None, None, error, self._elapsed_ms(started), headers, detail, timeout_ms
            )
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            # Refused, reset, invalid HTTP, a URL httpx cannot send to: the receiver
            # was not reached properly; the detail says which of these it was.
            detail = connection_error_detail(exc, request.url)
            elapsed_ms = self._elapsed_ms(started)
            return AttemptResult(
                None, None, "connection_error", elapsed_ms, headers, detail, timeout_ms
            )
        finally:
            if len(self._idle) < self._limit:
                self._idle.append(transport)
            else:
                self._all.remove(transport)
                await transport.aclose()

    async def _exchange(
        self,
        transport: DeliveryTransport,
        url: httpx.URL,
        request: AttemptRequest,
        headers: dict[str, str],
        started: float,
        *,
        first_try: bool = True,
    ) -> AttemptResult:
        # Event types may be any non-space Unicode; httpx encodes str header values as
        # ASCII and raised on `café.créé`, which left the delivery pending and retried in
        # a hot loop. UTF-8 bytes are valid field content (RFC 9110 obs-text).
        import httpx

        wire = self._client_headers + [
            (name.encode("ascii"), value.encode("utf-8")) for name, value in headers.items()
        ]
        probe = _Probe()
        outgoing = httpx.Request(
            "POST",
            url,
            content=request.body,
            headers=wire,
            extensions={"timeout": self._timeout, "trace": probe},
        )
        try:
            response = await transport.handle_async_request(outgoing)
        except (httpx.ReadError, httpx.WriteError) as exc:
            if not (first_try and probe.stale(exc)):
                raise
            # The receiver closed the pooled connection as this attempt reused it, and
            # never read the request: send it once more, at once, on a new connection, as
            # browsers do. It is still one attempt.
            return await self._exchange(transport, url, request, headers, started, first_try=False)
        response.request = outgoing
        try:
            excerpt = bytearray()
            # Read only what the attempt record keeps, so a 50 MB answer costs 4 KB.
            async for chunk in response.aiter_bytes():
                excerpt += chunk
                if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
                    break
        finally:
            await response.aclose()
        body = bytes(excerpt[:RESPONSE_EXCERPT_BYTES]).decode("utf-8", "replace")
        code = response.status_code
        received = [
            (name.decode("latin-1"), value.decode("latin-1")[:RESPONSE_HEADER_VALUE_CHARS])
            for name, value in response.headers.raw[:RESPONSE_HEADERS_KEPT]
        ]
        error = "redirect" if 300 <= code < 400 else None
        detail = None
        if error == "redirect":
            location = response.headers.get("location", "")[:RESPONSE_HEADER_VALUE_CHARS]
            detail = f"Redirected to {location or '(no Location)'}; redirects are not followed."
        timeout_ms = int(self.timeout_seconds * 1000)
        return AttemptResult(
            code, body, error, self._elapsed_ms(started), headers, detail, timeout_ms, received
        )

    def _elapsed_ms(self, started: float) -> int:
        return int((self._timer() - started) * 1000)

    async def close(self) -> None:
        transports, self._all, self._idle = self._all, [], []
        await asyncio.gather(*(t.aclose() for t in transports), return_exceptions=True)


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it was raised from, outermost first (httpx wraps httpcore,
    which wraps the OS error that names the cause)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _address(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or "?"
    except ValueError:
        return url[:200]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _seconds(value: float) -> str:
    return f"{value:g}"


def connection_error_detail(exc: BaseException, url: str) -> str:
    """One sentence naming the cause of a connection error and the address tried."""
    import httpx

    from .plainhttp import ReceiverLimitError

    address = _address(url)
    causes = _causes(exc)
    innermost = str(causes[-1]) or type(causes[-1]).__name__
    for cause in causes:
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed for {address}: {cause}."
        if isinstance(cause, ConnectionRefusedError):
            return f"Connection refused by {address} ({cause})."
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake with {address} failed: {cause}."
        if isinstance(cause, ConnectionResetError | BrokenPipeError):
            return f"Connection reset by {address} before a complete response ({cause})."
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return f"The URL cannot be sent to: {innermost}."
    if isinstance(exc, ReceiverLimitError):
        return f"{address} {exc}; the attempt was cut off there."
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{address} broke the HTTP exchange: {innermost}."
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return f"Connection to {address} failed mid-exchange: {innermost or 'closed'}."
    return f"Connecting to {address} failed: {type(causes[-1]).__name__}: {innermost}."
