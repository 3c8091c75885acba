"""Receivers that close idle keep-alive connections, as Node does after 5 s: no attempt is lost.

The receiver is a raw asyncio server: it answers each request with a keep-alive response
(no `Connection: close`) and then closes the connection on its own, either when it has
been idle for a while or the moment the next request arrives, with a reset (the race a
pooled connection runs when the receiver's idle timer fires as a request comes in: its
kernel resets a connection closed with a request unread).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import Emulator

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class ClosingReceiver:
    """Answers one request per connection, then closes it: after `idle_seconds` of
    silence, or (with `close_on_next`) as soon as a second request arrives, unread."""

    def __init__(self, *, idle_seconds: float, close_on_next: bool) -> None:
        self.idle_seconds = idle_seconds
        self.close_on_next = close_on_next
        self.answered = 0  # requests read and answered
        self.dropped = 0  # requests that arrived on a connection it then closed unread
        self.connections = 0
        self.idle_closes = 0  # connections it closed after idle_seconds of silence
        self._changed = threading.Condition()
        self._handlers: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        started.wait(10)
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        started.set()
        self._loop.run_forever()

    def _note(self, **changes: int) -> None:
        with self._changed:
            for name, step in changes.items():
                setattr(self, name, getattr(self, name) + step)
            self._changed.notify_all()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._note(connections=1)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            writer.write(ANSWER)
            await writer.drain()
            self._note(answered=1)
            if self.close_on_next:
                # At the next request's first bytes, close with a reset, as the kernel does
                # for a socket closed with data unread (asyncio has read it into its buffer
                # already, so a plain close would send a FIN instead).
                await reader.read(1)
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self._note(dropped=1)
            else:
                with_data = await asyncio.wait_for(reader.read(1), self.idle_seconds)
                assert with_data == b"", "the idle connection should have been closed first"
        except TimeoutError:
            self._note(idle_closes=1)
        finally:
            writer.close()
            self._handlers.discard(task)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        with self._changed:
            if not self._changed.wait_for(condition, timeout):
                counts = (self.answered, self.dropped, self.connections, self.idle_closes)
                raise AssertionError(
                    f"waited {timeout} s; answered, dropped, connections, idle closes: {counts}"
                )

    async def _shutdown(self) -> None:
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def closing_receiver(request: pytest.FixtureRequest) -> Iterator[ClosingReceiver]:
    receiver = ClosingReceiver(**request.param)
    yield receiver
    receiver.close()


def _deliver_one(emulator: Emulator, api: httpx.Client) -> dict[str, object]:
    event = api.post("/v1/events", json={"type": "order.paid", "payload": {}}).json()
    # The clock is frozen: the attempt is due at once, and the advance runs it.
    emulator.advance(1)
    (delivery,) = api.get("/v1/deliveries", params={"event_id": event["id"]}).json()["data"]
    return dict(delivery)


@pytest.mark.parametrize(
    "closing_receiver", [{"idle_seconds": 0.05, "close_on_next": False}], indirect=True
)
def test_a_connection_the_receiver_closed_while_idle_is_not_reused(
    emulator: Emulator, api: httpx.Client, closing_receiver: ClosingReceiver
) -> None:
    emulator.control("POST", "/clock/freeze")
    api.post("/v1/webhooks", json={"url": closing_receiver.url, "events": ["order.*"]})
    first = _deliver_one(emulator, api)
    # The receiver has closed the idle connection (no Connection: close was sent).
    closing_receiver.wait_for(lambda: closing_receiver.idle_closes >= 1)
    second = _deliver_one(emulator, api)
    assert [(d["status"], d["attempt_count"]) for d in (first, second)] == [
        ("succeeded", 1),
        ("succeeded", 1),
    ]
    assert (closing_receiver.answered, closing_receiver.connections) == (2, 2)


@pytest.mark.parametrize(
    "closing_receiver", [{"idle_seconds": 30, "close_on_next": True}], indirect=True
)
def test_a_pooled_connection_reset_as_the_request_arrives_is_retried_once_at_once(
    emulator: Emulator, api: httpx.Client, closing_receiver: ClosingReceiver
) -> None:
    """The receiver closes the kept-alive connection with the next request unread (its
    idle timer fired as the request came in): the request goes again on a new
    connection, in the same attempt, and the receiver reads it exactly once."""
    emulator.control("POST", "/clock/freeze")
    api.post("/v1/webhooks", json={"url": closing_receiver.url, "events": ["order.*"]})
    first = _deliver_one(emulator, api)
    # Two attempts milliseconds apart: the second reuses the first one's connection
    # (idle connections expire after 1.5 s).
    second = _deliver_one(emulator, api)
    assert [(d["status"], d["attempt_count"]) for d in (first, second)] == [
        ("succeeded", 1),
        ("succeeded", 1),
    ]
    closing_receiver.wait_for(lambda: closing_receiver.answered == 2)
    assert (closing_receiver.dropped, closing_receiver.connections) == (1, 2)
    (attempt,) = api.get(f"/v1/deliveries/{second['id']}/attempts").json()["data"]
    assert (attempt["response_code"], attempt["error"]) == (200, None)
