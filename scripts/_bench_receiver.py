"""The webhook receiver for scripts/bench_delivery.py: as little work per request as possible.

A raw ASGI app on uvicorn (uvloop, httptools, no access log). Every request has its body
read to the end and is answered `--status` with the body "ok", except `GET /health` (always
200) and `GET /stats`, which reports how many other requests arrived, so the bench can
check that attempts really reached a receiver.

Run: python scripts/_bench_receiver.py --port 8001 --status 500
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

OK_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"2")]


def build_app(status: int) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    received = 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal received
        if scope["type"] != "http":
            return
        # Read the whole body: a receiver that answers before reading it would measure
        # a cheaper exchange than any real webhook handler does.
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        path = scope["path"]
        if scope["method"] == "GET" and path == "/stats":
            body = json.dumps({"requests": received}).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        code = 200
        if not (scope["method"] == "GET" and path == "/health"):
            received += 1
            code = status
        await send({"type": "http.response.start", "status": code, "headers": OK_HEADERS})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--status", type=int, default=200, help="answer to deliveries")
    args = parser.parse_args()
    uvicorn.run(
        build_app(args.status),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        # Senders keep their connections between the bench's phases; uvicorn's default
        # of 5 s would close them under an idle client and add reconnects to a run.
        timeout_keep_alive=120,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
