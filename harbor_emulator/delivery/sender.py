"""One signed delivery attempt over HTTP, its outcome returned as data."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from .. import signing

USER_AGENT = "Harbor-Webhooks/1.0"
RESPONSE_EXCERPT_BYTES = 4096


@dataclass(frozen=True, slots=True)
class AttemptRequest:
    url: str
    body: bytes
    delivery_id: str
    event_type: str
    attempt_number: int
    secrets: Sequence[str]


@dataclass(frozen=True, slots=True)
class AttemptResult:
    response_code: int | None
    response_body: str | None
    error: str | None  # None | "timeout" | "connection_error" | "redirect"
    duration_ms: int
    # The headers sent, signature included; None when no request was made (a fault).
    request_headers: dict[str, str] | None = None

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
        headers["Harbor-Signature"] = signing.signature_header(
            list(request.secrets), timestamp, request.body
        )
    return headers


class Sender:
    """Sends attempts with a pool of httpx clients, one per concurrent attempt.

    One AsyncClient shared by many concurrent senders collapses under load (its connection
    pool serialises them, encode/httpx#3215); a client per slot keeps each attempt on its
    own keep-alive connection.
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
        self._timeout = httpx.Timeout(timeout_seconds)
        self._idle: list[httpx.AsyncClient] = []
        self._all: list[httpx.AsyncClient] = []
        self._limit = concurrency
        self._ssl_context: ssl.SSLContext | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._idle:
            return self._idle.pop()
        if self._ssl_context is None:
            # Built once and shared: each client building its own (httpx's default) loads
            # the CA bundle again, tens of ms of blocked event loop per client, which the
            # first burst of N attempts paid N times over. Same settings as httpx's default
            # with trust_env=False; an SSLContext is safe to share between connections.
            self._ssl_context = httpx.create_ssl_context(trust_env=False)
        client = httpx.AsyncClient(
            verify=self._ssl_context,
            timeout=self._timeout,
            follow_redirects=False,
            # Each client serves one attempt at a time: one connection is all it needs.
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            trust_env=False,
        )
        self._all.append(client)
        return client

    async def send(self, request: AttemptRequest) -> AttemptResult:
        # Harbor-Timestamp is host time by contract, not emulator time, so receivers'
        # five-minute tolerance holds after the emulator clock has been advanced; seeded
        # runs use emulator time instead, so signatures repeat byte for byte.
        timestamp = int(self._timestamp())
        headers = headers_for(request, timestamp)
        client = self._client()
        started = self._timer()
        try:
            # httpx's timeouts are per phase; a receiver trickling bytes needs a total bound.
            async with asyncio.timeout(self.timeout_seconds):
                return await self._exchange(client, request, headers, started)
        except (TimeoutError, httpx.TimeoutException):
            return AttemptResult(None, None, "timeout", self._elapsed_ms(started), headers)
        except (httpx.HTTPError, httpx.InvalidURL, OSError):
            # Refused, reset, invalid HTTP, a URL httpx cannot send to: the receiver
            # was not reached properly, whatever the detail.
            return AttemptResult(None, None, "connection_error", self._elapsed_ms(started), headers)
        finally:
            if len(self._idle) < self._limit:
                self._idle.append(client)
            else:
                self._all.remove(client)
                await client.aclose()

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        request: AttemptRequest,
        headers: dict[str, str],
        started: float,
    ) -> AttemptResult:
        # Event types may be any non-space Unicode; httpx encodes str header values as
        # ASCII and raised on `café.créé`, which left the delivery pending and retried in
        # a hot loop. UTF-8 bytes are valid field content (RFC 9110 obs-text).
        wire = {name: value.encode("utf-8") for name, value in headers.items()}
        async with client.stream(
            "POST", request.url, content=request.body, headers=wire
        ) as response:
            excerpt = bytearray()
            # Read only what the attempt record keeps, so a 50 MB answer costs 4 KB.
            async for chunk in response.aiter_bytes():
                excerpt += chunk
                if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
                    break
            body = bytes(excerpt[:RESPONSE_EXCERPT_BYTES]).decode("utf-8", "replace")
            code = response.status_code
        error = "redirect" if 300 <= code < 400 else None
        return AttemptResult(code, body, error, self._elapsed_ms(started), headers)

    def _elapsed_ms(self, started: float) -> int:
        return int((self._timer() - started) * 1000)

    async def close(self) -> None:
        clients, self._all, self._idle = self._all, [], []
        await asyncio.gather(*(client.aclose() for client in clients), return_exceptions=True)
