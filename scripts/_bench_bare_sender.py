"""The bare sender for scripts/bench_delivery.py: the emulator's deliveries without the emulator.

N asyncio workers take (url, body, secrets, …) items from one shared list and POST each
once with the headers of the contract, signed with harbor_emulator.signing like the
emulator signs them, and nothing else: no queue, no database, no retries. `client`:
"own" (the default): each worker owns an httpx.AsyncClient, created before the clock
starts; "shared": all workers share one, with httpx's default pool limits; "lean": each
worker owns the emulator's own transport (harbor_emulator.delivery.plainhttp), so the
emulator can be compared with a sender that has its HTTP client and nothing else.
Two more are the maintained clients that could replace that transport, each set to the
contract's receiver limits as closely as it allows (issue 25): "aiohttp": each worker owns
an aiohttp.ClientSession (C parser, max_line_size / max_field_size / max_headers);
"h11": each worker owns one connection driven by h11 directly, without httpcore
(max_incomplete_event_size, interim responses counted here).

Reads a job (JSON) from the file named by its first argument:
    {"concurrency": 16, "client": "own", "timeout_seconds": 10,
     "requests": [{"url", "body", "delivery_id", "event_type", "secrets": [...]}, ...]}
and writes its result as JSON to the file named by its second: {"count", "elapsed_s",
"cpu_s", "durations_ms", "statuses", "errors"}; cpu_s is this process's CPU time over the
run, all of it the sender's. A file, not stdout: 8,000 durations are ~150 KB, and printed
to a pipe that a busy parent drained slowly they came back cut at a multiple of 64 KiB.
It runs on uvloop, as the emulator does under uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import h11
import httpx
import uvloop

from harbor_emulator.delivery.plainhttp import (
    MAX_HEAD_BYTES,
    MAX_HEAD_LINES,
    MAX_INTERIM_RESPONSES,
    DeliveryTransport,
)
from harbor_emulator.delivery.sender import KEEPALIVE_EXPIRY_SECONDS, USER_AGENT
from harbor_emulator.signing import signature_header


class Answer:
    """What the workers read of a response: its status."""

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


class LeanClient:
    """`post` over one transport, read to the end, as the emulator's sender does."""

    def __init__(self, transport: DeliveryTransport) -> None:
        self._transport = transport

    async def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> httpx.Response:
        request = httpx.Request("POST", url, content=content, headers=headers)
        response = await self._transport.handle_async_request(request)
        await response.aread()
        await response.aclose()
        return response

    async def aclose(self) -> None:
        await self._transport.aclose()


class AiohttpClient:
    """One aiohttp.ClientSession per worker, its limits as near the contract's as it has."""

    def __init__(self, timeout_seconds: float) -> None:
        import aiohttp  # only this mode needs it: pip install aiohttp

        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            connector=aiohttp.TCPConnector(limit=1, keepalive_timeout=KEEPALIVE_EXPIRY_SECONDS),
            cookie_jar=aiohttp.DummyCookieJar(),  # a webhook sender sends no cookies back
            # Per line and per field, not per head: 64 KiB each bounds one line, and
            # max_headers the count; nothing bounds the head as a whole, or interim answers.
            max_line_size=MAX_HEAD_BYTES,
            max_field_size=MAX_HEAD_BYTES,
            max_headers=MAX_HEAD_LINES,
        )
        self._errors: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError)

    async def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> Answer:
        try:
            async with self._session.post(url, data=content, headers=headers) as response:
                await response.read()
                return Answer(response.status)
        except self._errors as exc:
            raise httpx.TransportError(str(exc)) from exc

    async def aclose(self) -> None:
        await self._session.close()


class H11Client:
    """One keep-alive connection per worker, parsed by h11 (pure Python) with no httpcore:
    what replacing llhttp by h11 under the lean transport would cost."""

    def __init__(self, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter, h11.Connection] | None
        self._stream = None

    async def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> Answer:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._exchange(url, content, headers)
        except (OSError, TimeoutError, h11.ProtocolError) as exc:
            await self.aclose()
            raise httpx.TransportError(str(exc)) from exc

    async def _exchange(self, url: str, content: bytes, headers: dict[str, str]) -> Answer:
        parts = urlsplit(url)
        if self._stream is None:
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
            self._stream = (reader, writer, connection)
        reader, writer, connection = self._stream
        fields = [("Host", parts.netloc), *headers.items(), ("Content-Length", str(len(content)))]
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        writer.write(connection.send(h11.Request(method="POST", target=target, headers=fields)))
        writer.write(connection.send(h11.Data(data=content)))
        writer.write(connection.send(h11.EndOfMessage()))
        status, interim = 0, 0
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await reader.read(65536))
            elif isinstance(event, h11.InformationalResponse):
                interim += 1
                if interim > MAX_INTERIM_RESPONSES:
                    raise h11.RemoteProtocolError("too many interim responses")
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("closed mid-response")
        if connection.our_state is h11.DONE and connection.their_state is h11.DONE:
            connection.start_next_cycle()
        else:
            await self.aclose()
        return Answer(status)

    async def aclose(self) -> None:
        if self._stream is not None:
            writer = self._stream[1]
            self._stream = None
            writer.close()


async def run(job: dict[str, Any]) -> dict[str, Any]:
    concurrency: int = job["concurrency"]
    mode: str = job.get("client", "own")
    timeout = httpx.Timeout(float(job.get("timeout_seconds", 10)))
    items: list[dict[str, Any]] = job["requests"]
    bodies = [item["body"].encode() for item in items]

    def new_client() -> httpx.AsyncClient:
        # Redirects not followed and no proxy from the environment, as in the emulator.
        return httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)

    def new_lean() -> LeanClient:
        return LeanClient(
            DeliveryTransport(
                keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
                # A transport, not a client: only https would take it, and the bench has none.
                fallback=lambda: httpx.AsyncHTTPTransport(trust_env=False),
            )
        )

    clients: list[Any]
    seconds = timeout.read or 10.0
    if mode == "shared":
        clients = [new_client()] * concurrency
    elif mode == "lean":
        clients = [new_lean() for _ in range(concurrency)]
    elif mode == "aiohttp":
        clients = [AiohttpClient(seconds) for _ in range(concurrency)]
    elif mode == "h11":
        clients = [H11Client(seconds) for _ in range(concurrency)]
    else:
        clients = [new_client() for _ in range(concurrency)]
    durations: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    # One iterator shared by every worker: next() never awaits, so no item goes twice.
    work: Iterator[int] = iter(range(len(items)))

    async def worker(client: Any) -> None:
        nonlocal errors
        for index in work:
            item, body = items[index], bodies[index]
            timestamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Harbor-Delivery-Id": item["delivery_id"],
                "Harbor-Event-Type": item["event_type"],
                "Harbor-Attempt": "1",
                "Harbor-Timestamp": str(timestamp),
                "Harbor-Signature": signature_header(item["secrets"], timestamp, body),
            }
            started = time.perf_counter()
            try:
                response = await client.post(item["url"], content=body, headers=headers)
            except httpx.HTTPError:
                errors += 1
                continue
            finally:
                durations.append((time.perf_counter() - started) * 1000)
            key = str(response.status_code)
            statuses[key] = statuses.get(key, 0) + 1

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(client) for client in clients))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    await asyncio.gather(*(client.aclose() for client in set(clients)))
    return {
        "count": len(items),
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "durations_ms": durations,
        "statuses": statuses,
        "errors": errors,
    }


def main() -> None:
    job_path, result_path = sys.argv[1:3]
    with open(job_path) as job_file:
        job = json.load(job_file)
    result = uvloop.run(run(job))
    with open(result_path, "w") as result_file:
        json.dump(result, result_file)


if __name__ == "__main__":
    main()
