"""Broken: no dedupe. A redelivery inserts the same payment again; the unique key refuses
it, the handler answers 500, and Harbor retries a delivery that was already processed."""

import sqlite3

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from harbor_emulator.signing import SignatureVerificationError, verify


def create_app(secret: str) -> Starlette:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.execute("CREATE TABLE payments (event_id TEXT PRIMARY KEY, payload TEXT)")

    async def harbor_webhook(request: Request) -> PlainTextResponse:
        body = await request.body()
        try:
            verify(body, request.headers, secret)
        except SignatureVerificationError:
            return PlainTextResponse("invalid signature", status_code=400)
        event = (await request.json())["data"]
        try:
            with db:  # the side effect runs for every delivery, redeliveries included
                db.execute("INSERT INTO payments VALUES (?, ?)", (event["id"], str(event)))
        except sqlite3.IntegrityError:
            return PlainTextResponse("duplicate key", status_code=500)
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/harbor/webhooks", harbor_webhook, methods=["POST"])])
