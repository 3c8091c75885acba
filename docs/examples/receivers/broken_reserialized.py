"""Broken: parses the JSON, then verifies the signature over the JSON serialized again.

json.dumps writes other bytes than Harbor sent (a space after each separator), so the
signature never matches and every genuine delivery is refused.
"""

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from harbor_emulator.signing import SignatureVerificationError, verify


def create_app(secret: str) -> Starlette:
    processed: set[str] = set()

    async def harbor_webhook(request: Request) -> PlainTextResponse:
        envelope = await request.json()
        try:
            verify(json.dumps(envelope), request.headers, secret)  # not the bytes Harbor signed
        except SignatureVerificationError:
            return PlainTextResponse("invalid signature", status_code=400)
        event = envelope["data"]
        if event["id"] not in processed:
            processed.add(event["id"])
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/harbor/webhooks", harbor_webhook, methods=["POST"])])
