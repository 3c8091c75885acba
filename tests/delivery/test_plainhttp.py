"""The lean http:// transport (harbor_emulator/delivery/plainhttp.py) against scripted servers.

Each server is a raw asyncio server on loopback in the test's own event loop: it reads
whole requests (head and Content-Length body), records their bytes and answers each
with the bytes a test gives it, so framings no framework would produce on purpose
(interim responses, close-delimited bodies, garbage) are on the wire exactly.
Then the same through the emulator: what an attempt records from such answers.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from harbor_emulator.delivery import plainhttp
from harbor_emulator.delivery.plainhttp import DeliveryTransport
from tests.conftest import Emulator
from tests.waiting import async_wait_until

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
Answerer = Callable[[asyncio.StreamWriter, int], Awaitable[bool]]


class ScriptedServer:
    """Answers the n-th request (from 0) with `answers[n]` (the last one repeats): bytes
    to write, or a coroutine function given the writer that returns False to close."""

    def __init__(self, *answers: bytes | Answerer) -> None:
        self.answers = answers
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed_by_client = 0
        self.server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> ScriptedServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook?q=1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        # Connections still open (kept alive by a client) end with the server.
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*(w.wait_closed() for w in self._writers), return_exceptions=True)
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    self.closed_by_client += 1
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                index = len(self.requests)
                self.requests.append(request)
                answer = self.answers[min(index, len(self.answers) - 1)]
                if isinstance(answer, bytes):
                    writer.write(answer)
                    await writer.drain()
                elif not await answer(writer, index):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            self.closed_by_client += 1
        finally:
            writer.close()


def _request(url: str, **extensions: Any) -> httpx.Request:
    headers = [(b"Content-Type", b"application/json"), (b"Harbor-Event-Type", "café".encode())]
    return httpx.Request("POST", url, content=b'{"a":1}', headers=headers, extensions=extensions)


def _transport(expiry: float = 60.0, fallback: Any = None) -> DeliveryTransport:
    def no_fallback() -> httpx.AsyncBaseTransport:
        raise AssertionError("an http:// request went to httpx's transport")

    return DeliveryTransport(keepalive_expiry=expiry, fallback=fallback or no_fallback)


async def _exchange(transport: httpx.AsyncBaseTransport, url: str) -> tuple[httpx.Response, bytes]:
    response = await transport.handle_async_request(_request(url))
    body = await response.aread()
    await response.aclose()
    return response, body


def test_the_request_on_the_wire_is_byte_for_byte_what_httpx_sends() -> None:
    async def main() -> list[bytes]:
        async with ScriptedServer(OK) as server:
            for transport in (_transport(), httpx.AsyncHTTPTransport()):
                await _exchange(transport, server.url)
                await transport.aclose()
            return server.requests

    ours, theirs = asyncio.run(main())
    assert ours == theirs
    assert ours.startswith(b"POST /hook?q=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Harbor-Event-Type: caf\xc3\xa9\r\n" in ours and ours.endswith(b'\r\n\r\n{"a":1}')


FRAMINGS = {
    "content-length": (OK, b"ok", True),
    "chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n3\r\n!!!\r\n0\r\n\r\n",
        b"ok!!!",
        True,
    ),
    "interim responses first": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK,
        b"ok",
        True,
    ),
    "no body": (b"HTTP/1.1 204 No Content\r\n\r\n", b"", True),
    "Connection: close": (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"ok",
        False,
    ),
    "HTTP/1.0 keep-alive": (
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        b"ok",
        True,
    ),
}


@pytest.mark.parametrize(("answer", "body", "reused"), FRAMINGS.values(), ids=FRAMINGS.keys())
def test_response_framings_and_whether_the_connection_is_kept(
    answer: bytes, body: bytes, reused: bool
) -> None:
    async def main() -> tuple[list[bytes], int]:
        async with ScriptedServer(answer) as server:
            transport = _transport()
            bodies = [(await _exchange(transport, server.url))[1] for _ in range(3)]
            await transport.aclose()
            return bodies, server.connections

    bodies, connections = asyncio.run(main())
    assert bodies == [body] * 3
    assert connections == (1 if reused else 3)


def test_a_body_delimited_by_the_close_ends_there() -> None:
    async def close_delimited(writer: asyncio.StreamWriter, index: int) -> bool:
        writer.write(b"HTTP/1.0 500 Oops\r\nContent-Type: text/plain\r\n\r\nall of ")
        await writer.drain()
        writer.write(b"this")
        return False

    async def main() -> tuple[httpx.Response, bytes, int]:
        async with ScriptedServer(close_delimited) as server:
            transport = _transport()
            response, body = await _exchange(transport, server.url)
            await _exchange(transport, server.url)
            await transport.aclose()
            return response, body, server.connections

    response, body, connections = asyncio.run(main())
    assert (response.status_code, response.reason_phrase, body) == (500, "Oops", b"all of this")
    assert response.http_version == "HTTP/1.0" and connections == 2


def test_headers_are_kept_as_received_and_bodies_decoded() -> None:
    packed = gzip.compress(b"compressed answer")
    answer = (
        b"HTTP/1.1 202 Accepted\r\nX-Trace: a\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
        b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed) + packed
    )

    async def main() -> tuple[httpx.Response, bytes]:
        async with ScriptedServer(answer) as server:
            transport = _transport()
            response, body = await _exchange(transport, server.url)
            await transport.aclose()
            return response, body

    response, body = asyncio.run(main())
    assert body == b"compressed answer"
    assert response.headers.raw[:4] == [
        (b"X-Trace", b"a"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
        (b"Content-Encoding", b"gzip"),
    ]


def test_a_response_read_in_part_gives_up_its_connection() -> None:
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 4000000\r\n\r\n" + b"x" * 4_000_000

    async def main() -> tuple[int, int, int]:
        async with ScriptedServer(big, OK) as server:
            transport = _transport()
            response = await transport.handle_async_request(_request(server.url))
            async for chunk in response.aiter_bytes():
                assert chunk.startswith(b"x")
                break
            await response.aclose()
            _, body = await _exchange(transport, server.url)
            await transport.aclose()
            await async_wait_until(
                lambda: server.closed_by_client >= 1,
                lambda: f"the client never closed a connection ({server.connections} opened)",
            )
            return len(body), server.connections, server.closed_by_client

    assert asyncio.run(main()) == (2, 2, 1)


def test_a_connection_left_by_a_cancelled_request_is_not_reused() -> None:
    release = asyncio.Event()

    async def late(writer: asyncio.StreamWriter, index: int) -> bool:
        await release.wait()
        return False

    async def main() -> int:
        async with ScriptedServer(late, OK) as server:
            transport = _transport()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await transport.handle_async_request(_request(server.url))
            # The late answer would arrive on that connection now; it must not be read
            # as the answer to the next request.
            release.set()
            _, body = await _exchange(transport, server.url)
            await transport.aclose()
            assert body == b"ok"
            return server.connections

    assert asyncio.run(main()) == 2


def test_an_idle_connection_past_its_expiry_is_replaced() -> None:
    async def main() -> int:
        async with ScriptedServer(OK) as server:
            transport = _transport(expiry=0.0)
            for _ in range(3):
                await _exchange(transport, server.url)
            await transport.aclose()
            return server.connections

    assert asyncio.run(main()) == 3


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _garbage(writer: asyncio.StreamWriter, index: int) -> bool:
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    return True


async def _hang_up(writer: asyncio.StreamWriter, index: int) -> bool:
    return False


async def _write_then_reset(writer: asyncio.StreamWriter, data: bytes) -> bool:
    """Send `data`, then close with a reset (SO_LINGER 0) rather than a clean FIN."""
    writer.write(data)
    await writer.drain()
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    return False


async def _reset_mid_body(writer: asyncio.StreamWriter, index: int) -> bool:
    return await _write_then_reset(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")


async def _close_short_of_its_length(writer: asyncio.StreamWriter, index: int) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 100\r\n\r\nshort")
    return False


async def _reset_a_body_delimited_by_the_close(writer: asyncio.StreamWriter, index: int) -> bool:
    return await _write_then_reset(writer, b"HTTP/1.0 200 OK\r\n\r\npartial")


async def _interim_then_close(writer: asyncio.StreamWriter, index: int) -> bool:
    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    return False


@pytest.mark.parametrize(
    ("answer", "error", "cause"),
    [
        (_garbage, httpx.RemoteProtocolError, None),
        (_hang_up, httpx.RemoteProtocolError, None),
        (_reset_mid_body, httpx.ReadError, ConnectionResetError),
        (_close_short_of_its_length, httpx.RemoteProtocolError, None),
        (_reset_a_body_delimited_by_the_close, httpx.ReadError, ConnectionResetError),
        (_interim_then_close, httpx.RemoteProtocolError, None),
    ],
    ids=[
        "garbage",
        "closed without an answer",
        "reset mid-body",
        "closed short of Content-Length",
        "reset before the close ends the body",
        "closed after an interim response",
    ],
)
def test_a_broken_exchange_raises_httpx_errors_naming_the_cause(
    answer: Answerer, error: type[Exception], cause: type[Exception] | None
) -> None:
    async def main() -> BaseException:
        async with ScriptedServer(answer) as server:
            transport = _transport()
            with pytest.raises(httpx.HTTPError) as caught:
                await _exchange(transport, server.url)
            await transport.aclose()
            return caught.value

    raised = asyncio.run(main())
    assert type(raised) is error
    if cause is not None:
        assert isinstance(raised.__cause__, cause)


@pytest.mark.parametrize(
    ("host", "cause"),
    [("127.0.0.1", ConnectionRefusedError), ("no-such-host.invalid", socket.gaierror)],
)
def test_connect_failures_are_connect_errors_from_the_os_error(
    host: str, cause: type[Exception]
) -> None:
    async def main() -> BaseException:
        transport = _transport()
        with pytest.raises(httpx.ConnectError) as caught:
            await _exchange(transport, f"http://{host}:{_closed_port()}/hook")
        return caught.value

    assert isinstance(asyncio.run(main()).__cause__, cause)


def test_localhost_tries_each_address_and_names_the_first_failure() -> None:
    async def main() -> tuple[bytes, BaseException]:
        async with ScriptedServer(OK) as server:
            transport = _transport()
            # localhost may resolve to ::1 first, where nothing listens: the next address.
            _, body = await _exchange(transport, f"http://localhost:{server.port}/")
            await transport.aclose()
        with pytest.raises(httpx.ConnectError) as caught:
            await _exchange(_transport(), f"http://localhost:{_closed_port()}/")
        return body, caught.value

    body, error = asyncio.run(main())
    assert body == b"ok" and isinstance(error.__cause__, ConnectionRefusedError)


def test_a_header_value_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    async def main() -> int:
        async with ScriptedServer(OK) as server:
            transport = _transport()
            request = httpx.Request(
                "POST", server.url, content=b"{}", headers={"X-Evil": "a\r\nX-Injected: 1"}
            )
            with pytest.raises(httpx.LocalProtocolError):
                await transport.handle_async_request(request)
            await _exchange(transport, server.url)
            await transport.aclose()
            return len(server.requests)

    assert asyncio.run(main()) == 1


class CountingFallback(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(str(request.url))
        return httpx.Response(299)


def test_https_and_every_url_without_httptools_go_to_httpx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fallback = CountingFallback()
    built: list[CountingFallback] = []

    def make() -> CountingFallback:
        built.append(fallback)
        return fallback

    async def main() -> list[int]:
        transport = _transport(fallback=make)
        codes = []
        async with ScriptedServer(OK) as server:
            codes.append((await _exchange(transport, server.url))[0].status_code)
            codes.append((await _exchange(transport, "https://127.0.0.1:1/x"))[0].status_code)
            monkeypatch.setattr(plainhttp, "httptools", None)
            codes.append((await _exchange(transport, server.url))[0].status_code)
            await transport.aclose()
        return codes

    assert asyncio.run(main()) == [200, 299, 299]
    assert len(built) == 1 and fallback.seen[0] == "https://127.0.0.1:1/x"


# -- through the emulator -------------------------------------------------------------------


class ThreadedScriptedServer:
    """A ScriptedServer on its own thread's loop, for an emulator in another process."""

    def __init__(self, *answers: bytes | Answerer) -> None:
        self.server = ScriptedServer(*answers)
        self._loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            self._loop.run_until_complete(self.server.__aenter__())
            started.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self.server.__aexit__())
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert started.wait(10)
        self.url = self.server.url

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def interim_gzip_server() -> Iterator[ThreadedScriptedServer]:
    packed = gzip.compress(b'{"received": true}')
    answer = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(packed[:10])
        + packed[:10]
        + b"\r\n"
        + b"%x\r\n" % len(packed[10:])
        + packed[10:]
        + b"\r\n0\r\n\r\n"
    )
    server = ThreadedScriptedServer(answer)
    yield server
    server.close()


def test_attempts_record_what_a_chunked_compressed_answer_after_early_hints_said(
    emulator: Emulator, api: httpx.Client, interim_gzip_server: ThreadedScriptedServer
) -> None:
    api.post("/v1/webhooks", json={"url": interim_gzip_server.url, "events": ["*"]})
    for n in range(3):
        api.post("/v1/events", json={"type": "order.created", "payload": {"n": n}})
    drained = emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 20})
    assert drained.json()["drained"] is True
    deliveries = api.get("/v1/deliveries").json()["data"]
    assert [d["status"] for d in deliveries] == ["succeeded"] * 3
    attempt = api.get(f"/v1/deliveries/{deliveries[0]['id']}/attempts").json()["data"][0]
    assert (attempt["response_code"], attempt["response_body"]) == (201, '{"received": true}')
    # (Connection reuse through the emulator is tests/delivery/test_keepalive.py's: these
    # three attempts may run at once, each on a connection of its own.)
    assert len(interim_gzip_server.server.requests) == 3
    # docs/api.md, "On the wire": these headers, in this order.
    head = interim_gzip_server.server.requests[0].split(b"\r\n\r\n")[0].decode()
    request_line, *lines = head.split("\r\n")
    fields = [line.split(": ", 1) for line in lines]
    assert request_line == "POST /hook?q=1 HTTP/1.1"
    assert [name for name, _ in fields] == [
        "Host", "Accept", "Accept-Encoding", "Connection", "Content-Type", "User-Agent",
        "Harbor-Delivery-Id", "Harbor-Event-Type", "Harbor-Attempt", "Harbor-Timestamp",
        "Harbor-Signature", "Content-Length",
    ]  # fmt: skip
    assert dict(fields)["Accept-Encoding"] == "gzip, deflate"
    assert dict(fields)["Connection"] == "keep-alive"
