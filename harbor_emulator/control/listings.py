"""/_control/events, /_control/deliveries, /_control/endpoints: lists across every workspace.

An API key sees one workspace at a time; the control plane sees them all, as the dashboard's
"All workspaces" does. These are what `harbor-emulator events` and `deliveries` show unless
narrowed, and how `trigger` finds the endpoint created last. Paginated like `/v1` lists,
newest first, both modes unless `livemode` narrows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api.common import list_response
from ..api.deliveries import STATUSES
from ..core.errors import HarborError
from ..domain import pagination, render
from ..store import deliveries, endpoints, events
from ..store.rows import Delivery
from .auth import control

ENDPOINT_KINDS = ("webhook", "destination")
ENDPOINT_STATUSES = ("active", "paused")


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


def render_delivery(row: Delivery) -> dict[str, Any]:
    """The /v1 delivery plus its workspace, which a cross-workspace list has to show."""
    return {**render.delivery(row), "workspace_id": row.workspace_id}


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
    if query.get("webhook_id") and query.get("destination_id"):
        raise HarborError(
            "invalid_parameter",
            "Filter by webhook_id or destination_id, not both.",
            param="destination_id",
        )
    filters: dict[str, Any] = {
        "workspace_id": query.get("workspace_id"),
        "livemode": _livemode(query),
        "status": _choice(query, "status", STATUSES),
        "event_id": query.get("event_id"),
        "endpoint_id": query.get("webhook_id") or query.get("destination_id"),
    }
    key = pagination.list_key("control_deliveries", **filters)
    after = pagination.after_keyset(state.cursors, key, query)
    rows = await deliveries.list_page(state.db, **filters, after=after, limit=limit + 1)
    return list_response(state, rows, limit=limit, key=key, render=render_delivery)


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
    Route("/_control/endpoints", list_endpoints, methods=["GET"]),
]
