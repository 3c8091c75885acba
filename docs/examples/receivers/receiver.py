"""A minimal Harbor webhook receiver (Starlette) that passes every receiver check.

Run: HARBOR_WEBHOOK_SECRET=whsec_... uvicorn receiver:app --port 3000
"""

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from harbor_emulator.signing import SignatureVerificationError, verify

SECRET = os.environ["HARBOR_WEBHOOK_SECRET"]
HANDLED = {"order.paid"}
processed: set[str] = set()  # event ids already handled; use your database in production


async def harbor_webhook(request: Request) -> PlainTextResponse:
    body = await request.body()  # the raw bytes: verify before parsing anything
    try:
        verify(body, request.headers, SECRET)  # signature (any v1=) and 5-minute tolerance
    except SignatureVerificationError:
        return PlainTextResponse("invalid signature", status_code=400)
    envelope = await request.json()
    event = envelope["data"]
    if event["id"] in processed:  # at least once: a redelivery is acknowledged, not redone
        return PlainTextResponse("already processed")
    processed.add(event["id"])
    if envelope["type"] in HANDLED:
        pass  # hand the event to a queue here; answer before the slow work
    return PlainTextResponse("ok")  # 2xx for ignored types too, or Harbor retries for 72 h


app = Starlette(routes=[Route("/harbor/webhooks", harbor_webhook, methods=["POST"])])
