"""/_control/events, /_control/deliveries, /_control/endpoints: lists across every workspace;
/_control/deliveries/{id}: one delivery with its attempts; /_control/attempts: attempts in
the order they are recorded, for `harbor-emulator tail` and `listen`.

An API key sees one workspace at a time; the control plane sees them all, as the dashboard's
"All workspaces" does. These are what `harbor-emulator events` and `deliveries` show unless
narrowed, and how `trigger` finds the endpoint created last. Paginated like `/v1` lists,
newest first, both modes unless `livemode` narrows them. A control delivery carries its last
attempt (with the cause of a failure in words), which `/v1` leaves to `/attempts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api.common import json_response, list_response
from ..api.deliveries import STATUSES
from ..core.errors import HarborError
from ..domain import pagination, render
from ..store import deliveries, endpoints, events
from ..store.rows import Attempt, Delivery
from .auth import control

ENDPOINT_KINDS = ("webhook", "destination")
ENDPOINT_STATUSES = ("active", "paused")
ATTEMPTS_SHOWN = 100


def _livemode(query: Mapping[str, str]) -> bool | None:
    raw = query.get("livemode")
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise HarborError(
            "invalid_parameter", "livemode must be 'true' or 'false'.", param="livemode"
        )
    return raw == "true"


def _choice(query: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = query.get(name)
    if value is not None and value not in allowed:
        raise HarborError(
            "invalid_parameter", f"{name} must be one of {', '.join(allowed)}.", param=name
        )
    return value


def render_attempt(row: Attempt) -> dict[str, Any]:
    """The /v1 attempt plus the cause of a failure in words (`connection refused`, the
    host that did not resolve...), which /v1 keeps to its `error` code, and the chaos
    faults that bent it (`ack_lost`, `duplicate`, `delay=300`), which /v1 does not show."""
    return {**render.attempt(row), "error_detail": row.error_detail, "chaos": row.chaos}


def render_delivery(row: Delivery, last_attempt: Attempt | None = None) -> dict[str, Any]:
    """The /v1 delivery plus its workspace, which a cross-workspace list has to show, and its
    last attempt, so a `pending` delivery with no response code says why."""
    return {
        **render.delivery(row),
        "workspace_id": row.workspace_id,
        "last_attempt": None if last_attempt is None else render_attempt(last_attempt),
    }


def _endpoint_filter(query: Mapping[str, str]) -> str | None:
    if query.get("webhook_id") and query.get("destination_id"):
        raise HarborError(
            "invalid_parameter",
            "Filter by webhook_id or destination_id, not both.",
            param="destination_id",
        )
    return query.get("webhook_id") or query.get("destination_id")


@control
async def list_events(request: Request) -> Response:
    state = request.app.state
    query = request.query_params
    limit = pagination.parse_limit(query)
    filters: dict[str, Any] = {
        "workspace_id": query.get("workspace_id"),
        "livemode": _livemode(query),
        "event_type": query.get("type"),
    }
    key = pagination.list_key("control_events", **filters)
    after = pagination.after_keyset(state.cursors, key, query)
    rows = await events.list_page(state.db, **filters, after=after, limit=limit + 1)
    return list_response(state, rows, limit=limit, key=key, render=render.event)


@control
async def list_deliveries(request: Request) -> Response:
    state = request.app.state
    query = request.query_params
    limit = pagination.parse_limit(query)
    endpoint_id = _endpoint_filter(query)
    filters: dict[str, Any] = {
        "workspace_id": query.get("workspace_id"),
        "livemode": _livemode(query),
        "status": _choice(query, "status", STATUSES),
        "event_id": query.get("event_id"),
        "endpoint_id": endpoint_id,
    }
    key = pagination.list_key("control_deliveries", **filters)
    after = pagination.after_keyset(state.cursors, key, query)
    rows = await deliveries.list_page(state.db, **filters, after=after, limit=limit + 1)
    last = await deliveries.last_attempts(state.db, [row.id for row in rows[:limit]])
    return list_response(
        state, rows, limit=limit, key=key, render=lambda row: render_delivery(row, last.get(row.id))
    )


@control
async def get_delivery(request: Request) -> Response:
    db = request.app.state.db
    delivery_id = request.path_params["id"]
    row = await deliveries.get(db, delivery_id, False) or await deliveries.get(
        db, delivery_id, True
    )
    if row is None:
        raise HarborError("delivery_not_found")
    attempts = await deliveries.attempts_page(db, row.id, after=None, limit=ATTEMPTS_SHOWN)
    return json_response(
        {
            **render_delivery(row, attempts[0] if attempts else None),
            "attempts": [render_attempt(attempt) for attempt in attempts],
        }
    )


def _sequence(query: Mapping[str, str], latest: int) -> int:
    raw = query.get("after_sequence", "0")
    if raw == "latest":
        return latest
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise HarborError(
            "invalid_parameter",
            "after_sequence must be a non-negative integer or 'latest'.",
            param="after_sequence",
        )
    return int(raw)


@control
async def list_attempts(request: Request) -> Response:
    """Attempts recorded after `after_sequence`, oldest first: poll with the last one's
    `sequence` to follow deliveries as they happen."""
    db = request.app.state.db
    query = request.query_params
    limit = pagination.parse_limit(query)
    endpoint_id = _endpoint_filter(query)
    _, latest = await deliveries.change_marker(db)
    after = _sequence(query, latest)
    found = await deliveries.attempts_after(db, after, endpoint_id=endpoint_id, limit=limit + 1)
    return json_response(
        {
            "object": "list",
            "data": [
                {
                    **render_attempt(item.attempt),
                    "sequence": item.sequence,
                    "event_id": item.delivery.event_id,
                    "event_type": item.delivery.event_type,
                    "endpoint_id": item.delivery.endpoint_id,
                    "workspace_id": item.delivery.workspace_id,
                    "livemode": item.delivery.livemode,
                    "delivery_status": item.delivery.status,
                }
                for item in found[:limit]
            ],
            "has_more": len(found) > limit,
            "latest_sequence": latest,
        }
    )


@control
async def list_endpoints(request: Request) -> Response:
    state = request.app.state
    query = request.query_params
    limit = pagination.parse_limit(query)
    filters: dict[str, Any] = {
        "kind": _choice(query, "kind", ENDPOINT_KINDS),
        "workspace_id": query.get("workspace_id"),
        "livemode": _livemode(query),
        "status": _choice(query, "status", ENDPOINT_STATUSES),
    }
    key = pagination.list_key("control_endpoints", **filters)
    after = pagination.after_keyset(state.cursors, key, query)
    rows = await endpoints.list_page(state.db, **filters, after=after, limit=limit + 1)
    return list_response(state, rows, limit=limit, key=key, render=render.endpoint)


routes = [
    Route("/_control/events", list_events, methods=["GET"]),
    Route("/_control/deliveries", list_deliveries, methods=["GET"]),
    Route("/_control/deliveries/{id}", get_delivery, methods=["GET"]),
    Route("/_control/attempts", list_attempts, methods=["GET"]),
    Route("/_control/endpoints", list_endpoints, methods=["GET"]),
]
