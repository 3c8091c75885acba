"""The bare sender for scripts/bench_delivery.py: the emulator's deliveries without the emulator.

N asyncio workers take (url, body, secrets, …) items from one shared list and POST each
once with the headers of the contract, signed with harbor_emulator.signing like the
emulator signs them, and nothing else: no queue, no database, no retries. `client`:
"own" (the default): each worker owns an httpx.AsyncClient, created before the clock
starts; "shared": all workers share one, with httpx's default pool limits; "lean": each
worker owns the emulator's own transport (harbor_emulator.delivery.plainhttp), so the
emulator can be compared with a sender that has its HTTP client and nothing else.

Reads a job (JSON) from the file named by its only argument:
    {"concurrency": 16, "client": "own", "timeout_seconds": 10,
     "requests": [{"url", "body", "delivery_id", "event_type", "secrets": [...]}, ...]}
and prints one line of JSON: {"count", "elapsed_s", "durations_ms", "statuses", "errors"}.
It runs on uvloop, as the emulator does under uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvloop

from harbor_emulator.delivery.plainhttp import DeliveryTransport
from harbor_emulator.delivery.sender import KEEPALIVE_EXPIRY_SECONDS, USER_AGENT
from harbor_emulator.signing import signature_header


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
    if mode == "shared":
        clients = [new_client()] * concurrency
    elif mode == "lean":
        clients = [new_lean() for _ in range(concurrency)]
    else:
        clients = [new_client() for _ in range(concurrency)]
    durations: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    # One iterator shared by every worker: next() never awaits, so no item goes twice.
    work: Iterator[int] = iter(range(len(items)))

    async def worker(client: httpx.AsyncClient | LeanClient) -> None:
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

    started = time.perf_counter()
    await asyncio.gather(*(worker(client) for client in clients))
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(client.aclose() for client in set(clients)))
    return {
        "count": len(items),
        "elapsed_s": elapsed,
        "durations_ms": durations,
        "statuses": statuses,
        "errors": errors,
    }


def main() -> None:
    with open(sys.argv[1]) as job_file:
        job = json.load(job_file)
    result = uvloop.run(run(job))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
