"""The webhook receiver of a shop that uses Harbor: it verifies each delivery's signature
and processes each delivery once, however often Harbor sends it."""

import json
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harbor_emulator.signing import SignatureVerificationError, verify


class TemporarilyUnavailable(Exception):
    """Processing cannot happen now (the database is down, ...); Harbor should retry."""


def create_app(secret: str, process_event: Callable[[dict[str, Any]], None]) -> Starlette:
    # In production this is a table with a unique index on the delivery id, written in
    # the same transaction as the event's effects.
    processed_deliveries: set[str] = set()

    async def harbor_webhook(request: Request) -> Response:
        body = await request.body()
        try:
            verify(body, request.headers, secret)
        except SignatureVerificationError:
            return Response("invalid signature", status_code=400)

        delivery_id = request.headers["Harbor-Delivery-Id"]
        if delivery_id in processed_deliveries:
            # Harbor delivers at least once: a retry or replay of work already done.
            return Response("already processed", status_code=200)
        try:
            process_event(json.loads(body)["data"])
        except TemporarilyUnavailable:
            # Any non-2xx answer makes Harbor try again on its retry schedule.
            return Response("try again later", status_code=503)
        processed_deliveries.add(delivery_id)
        return Response("processed", status_code=200)

    return Starlette(routes=[Route("/webhooks/harbor", harbor_webhook, methods=["POST"])])
