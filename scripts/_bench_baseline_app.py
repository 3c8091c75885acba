"""The durable ceiling for scripts/bench_events.py.

The least a server can do and still honour the contract's durability promise for
POST /v1/events: parse the body, INSERT one row, commit to a WAL database with
synchronous=FULL, then answer 201. No validation, no deliveries, no routing tables.
The emulator is judged as a fraction of this, so it must stay this small.

Run: python scripts/_bench_baseline_app.py --port 8000 --db /tmp/baseline.db
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator

import aiosqlite
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def build_app(db_path: str) -> Starlette:
    db: aiosqlite.Connection | None = None

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        nonlocal db
        db = await aiosqlite.connect(db_path)
        await db.execute("PRAGMA journal_mode=WAL")
        # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power
        # loss, which would make this a faster ceiling than the contract allows.
        await db.execute("PRAGMA synchronous=FULL")
        await db.execute(
            "CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, type TEXT, payload TEXT)"
        )
        await db.commit()
        try:
            yield
        finally:
            await db.close()

    async def create_event(request: Request) -> JSONResponse:
        assert db is not None
        body = await request.json()
        event_id = "evt_" + uuid.uuid4().hex
        payload = body.get("payload", {})
        # One shared connection: concurrent requests may land in the same
        # transaction, so one fsync can cover several rows. Every response still
        # follows a commit that includes its row, which is the durability promise,
        # and that free group commit is part of what makes this a ceiling.
        await db.execute(
            "INSERT INTO events (id, type, payload) VALUES (?, ?, ?)",
            (event_id, body["type"], json.dumps(payload)),
        )
        await db.commit()
        return JSONResponse(
            {
                "id": event_id,
                "object": "event",
                "type": body["type"],
                "payload": payload,
                "created_at": int(time.time()),
            },
            status_code=201,
        )

    async def health(_request: Request) -> JSONResponse:
        # Not part of the ceiling: lets the bench wait for readiness the same way it
        # does for the emulator, and lets this app stand in for it in a self-test.
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/events", create_event, methods=["POST"]),
            Route("/_control/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    uvicorn.run(
        build_app(args.db),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
