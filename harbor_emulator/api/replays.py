"""Event replay and backfill: new deliveries of stored events."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..core.clock import parse_timestamp
from ..core.errors import HarborError
from ..delivery import fanout
from ..domain import render
from ..domain.auth import Principal
from ..domain.idempotency import Claim
from ..domain.patterns import validate_event_type
from ..store import deliveries, endpoints, events
from ..store.db import Tx
from .common import check_fields, commit, commit_write, path_id, raw_json, v1

REPLAY_FIELDS = ("webhook_id", "destination_id")
BACKFILL_FIELDS = ("since", "until", "type", "webhook_id", "destination_id", "workspace_id")


async def _named_endpoint(
    state: Any, principal: Principal, body: dict[str, Any]
) -> tuple[str, str] | None:
    """(endpoint_id, workspace_id) when the body aims the replay at one endpoint."""
    if body.get("webhook_id") is not None and body.get("destination_id") is not None:
        raise HarborError(
            "invalid_parameter",
            "Send webhook_id or destination_id, not both.",
            param="destination_id",
        )
    for param, prefix, code in (
        ("webhook_id", "wh_", "webhook_not_found"),
        ("destination_id", "dest_", "destination_not_found"),
    ):
        endpoint_id = body.get(param)
        if endpoint_id is None:
            continue
        if not isinstance(endpoint_id, str):
            raise HarborError("invalid_parameter", f"'{param}' must be a string.", param=param)
        found = await endpoints.get(state.db, endpoint_id, livemode=principal.livemode)
        if (
            found is None
            or not endpoint_id.startswith(prefix)
            or not state.keys.may_use(principal, found.workspace_id)
        ):
            raise HarborError(code, f"No {param[:-3]} {endpoint_id[:100]}.")
        return endpoint_id, found.workspace_id
    return None


async def replay(
    state: Any,
    principal: Principal,
    event_id: str,
    body: dict[str, Any],
    claim: Claim | None = None,
) -> dict[str, Any]:
    """New deliveries of one event to every matching endpoint, or to the one named."""
    check_fields(body, REPLAY_FIELDS)
    event = await events.get(state.db, event_id, principal.livemode)
    if event is None or not state.keys.may_use(principal, event.workspace_id):
        raise HarborError("event_not_found", f"No event {event_id[:100]}.")
    named = await _named_endpoint(state, principal, body)
    if named is not None and named[1] != event.workspace_id:
        raise HarborError(
            "invalid_parameter",
            "That endpoint is in another workspace.",
            param="webhook_id" if named[0].startswith("wh_") else "destination_id",
        )
    now_ms = state.clock.now_ms()

    async def work(tx: Tx) -> dict[str, Any]:
        if named is None:
            created = await fanout.deliver_to_matching(tx, state.ids, event, now_ms)
        else:
            status = await deliveries.endpoint_status(tx, named[0])
            created = await fanout.deliver(tx, state.ids, event, [(named[0], status)], now_ms)
        return {"object": "list", "data": [render.delivery(d) for d in created]}

    rendered = await commit(state, work, claim=claim)
    state.scheduler.wake()
    return rendered


@v1("events:write")
async def replay_event(request: Request) -> Response:
    state, principal = request.app.state, request.state.principal
    rendered = await replay(
        state, principal, path_id(request), request.state.json, request.state.claim
    )
    return raw_json(rendered, 201)


@v1("events:write")
async def backfill(request: Request) -> Response:
    """Replay every event created in [since, until) of the workspace, optionally one type."""
    state = request.app.state
    principal = request.state.principal
    body = request.state.json
    check_fields(body, BACKFILL_FIELDS)
    if body.get("since") is None:
        raise HarborError("missing_parameter", "'since' is required.", param="since")
    since_ms = parse_timestamp(body["since"], "since")
    now_ms = state.clock.now_ms()
    until_ms = now_ms if body.get("until") is None else parse_timestamp(body["until"], "until")
    event_type = None if body.get("type") is None else validate_event_type(body["type"])
    named = await _named_endpoint(state, principal, body)
    if named is not None:
        workspace_id = named[1]
    else:
        workspace_id = state.keys.workspace_for(principal, body.get("workspace_id"))
    selected = await events.in_range(
        state.db,
        workspace_id=workspace_id,
        livemode=principal.livemode,
        since_ms=since_ms,
        until_ms=until_ms,
        event_type=event_type,
    )

    async def work(tx: Tx) -> dict[str, Any]:
        count = 0
        status = None if named is None else await deliveries.endpoint_status(tx, named[0])
        for event in selected:
            if named is None:
                created = await fanout.deliver_to_matching(tx, state.ids, event, now_ms)
            else:
                assert status is not None
                created = await fanout.deliver(tx, state.ids, event, [(named[0], status)], now_ms)
            count += len(created)
        return {"object": "replay", "event_count": len(selected), "delivery_count": count}

    response = await commit_write(request, work, 202)
    state.scheduler.wake()
    return response


routes = [
    Route("/v1/events/replay", backfill, methods=["POST"]),
    Route("/v1/events/{id}/replay", replay_event, methods=["POST"]),
]
