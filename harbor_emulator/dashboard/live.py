"""Live updates for the dashboard by server-sent events: `GET /live`.

The stream says *that* something changed (a new delivery or attempt), not what: the page
then fetches its own fragments, the same ones the 2-second poll fetches, so there is one
way to render a list. Each event's id is the change marker, so a reconnecting
EventSource (which sends `Last-Event-ID`) hears at once about what it missed.

A stream lasts STREAM_SECONDS, then the browser reconnects after `retry` ms: uvicorn
waits for open responses when it stops, so an endless stream would keep Ctrl-C (and a
test server's stop) waiting for as long as a dashboard tab is open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..store import deliveries
from .web import dashboard, marker_id

STREAM_SECONDS = 3.0
CHECK_SECONDS = 0.25
RETRY_MS = 250


@dashboard
async def live(request: Request) -> Response:
    db = request.app.state.db
    # A reconnect sends Last-Event-ID; a page's first connect sends the marker it was
    # rendered at, so a change in between is not lost.
    last_seen = (request.headers.get("last-event-id") or request.query_params.get("since") or "")[
        :64
    ]

    async def stream() -> AsyncIterator[str]:
        nonlocal last_seen
        yield f"retry: {RETRY_MS}\n\n"
        checks = int(STREAM_SECONDS / CHECK_SECONDS)
        for _ in range(checks):
            marker = marker_id(await deliveries.change_marker(db))
            if marker != last_seen:
                # Without a marker to compare with, the first event is "ready": it only
                # hands the browser a marker.
                kind = "change" if last_seen else "ready"
                yield f"event: {kind}\nid: {marker}\ndata: {marker}\n\n"
                last_seen = marker
            if await request.is_disconnected():
                return
            await asyncio.sleep(CHECK_SECONDS)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


routes = [Route("/live", live, methods=["GET"])]
