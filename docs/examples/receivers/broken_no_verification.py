"""Broken: trusts every request, so anyone who finds the URL can forge events."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


def create_app(secret: str) -> Starlette:
    processed: set[str] = set()

    async def harbor_webhook(request: Request) -> PlainTextResponse:
        envelope = await request.json()  # no signature check at all: `secret` is never used
        event = envelope["data"]
        if event["id"] not in processed:
            processed.add(event["id"])
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/harbor/webhooks", harbor_webhook, methods=["POST"])])
