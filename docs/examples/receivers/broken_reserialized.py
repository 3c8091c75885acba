"""Broken: parses the JSON, then verifies the signature over the body serialized again.

json.dumps writes other bytes than Harbor sent (spaces after separators), so the
signature never matches and every genuine delivery is refused.
"""

import json
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from harbor_emulator.signing import SignatureVerificationError, verify

SECRET = os.environ["HARBOR_WEBHOOK_SECRET"]
processed: set[str] = set()


async def harbor_webhook(request: Request) -> PlainTextResponse:
    envelope = await request.json()
    try:
        verify(json.dumps(envelope), request.headers, SECRET)  # not the bytes Harbor signed
    except SignatureVerificationError:
        return PlainTextResponse("invalid signature", status_code=400)
    event = envelope["data"]
    if event["id"] not in processed:
        processed.add(event["id"])
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/harbor/webhooks", harbor_webhook, methods=["POST"])])
