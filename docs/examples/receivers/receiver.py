"""A minimal Harbor webhook receiver (Starlette) that passes every receiver check.

Run: HARBOR_WEBHOOK_SECRET=whsec_... python receiver.py  (serves on 127.0.0.1:3000)
"""

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from harbor_emulator.signing import SignatureVerificationError, verify

HANDLED = {"order.paid"}


def create_app(secret: str) -> Starlette:
    processed: set[str] = set()  # event ids already handled; use your database in production

    async def harbor_webhook(request: Request) -> PlainTextResponse:
        body = await request.body()  # the raw bytes: verify before parsing anything
        try:
            verify(body, request.headers, secret)  # any v1= matches; 5-minute tolerance
        except SignatureVerificationError:
            return PlainTextResponse("invalid signature", status_code=400)
        envelope = await request.json()
        event = envelope["data"]
        if event["id"] in processed:  # at least once: acknowledge a redelivery, don't redo it
            return PlainTextResponse("already processed")
        processed.add(event["id"])
        if envelope["type"] in HANDLED:
            pass  # hand the event to a queue here; answer before the slow work
        return PlainTextResponse("ok")  # 2xx for ignored types too, or Harbor retries for 72 h

    return Starlette(routes=[Route("/harbor/webhooks", harbor_webhook, methods=["POST"])])


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(os.environ["HARBOR_WEBHOOK_SECRET"]), port=3000)
