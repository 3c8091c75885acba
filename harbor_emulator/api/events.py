"""/v1/events: create, read and list events."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..core.errors import HarborError
from ..delivery import fanout
from ..domain import pagination, render
from ..domain.auth import Principal
from ..domain.idempotency import Claim
from ..domain.patterns import validate_event_type
from ..store import events, workspaces
from ..store.db import Tx
from ..store.rows import Event
from .common import (
    check_fields,
    commit,
    compact_json,
    json_response,
    list_response,
    path_id,
    raw_json,
    required,
    utf8_size,
    v1,
)

MAX_PAYLOAD_BYTES = 256 * 1024
CREATE_FIELDS = ("type", "payload", "body", "workspace_id")


async def create(
    state: Any, principal: Principal, body: dict[str, Any], claim: Claim | None = None
) -> dict[str, Any]:
    """Validate, store the event and its deliveries in one transaction, wake the scheduler.

    The core of POST /v1/events, shared with the dashboard's "Send event" form.
    """
    check_fields(body, CREATE_FIELDS)
    if "payload" in body and "body" in body:
        raise HarborError(
            "invalid_parameter", "Send 'payload' or its alias 'body', not both.", param="body"
        )
    payload_param = "body" if "body" in body else "payload"
    event_type = validate_event_type(required(body, "type"))
    payload = required(body, payload_param)
    if not isinstance(payload, dict):
        raise HarborError(
            "invalid_parameter", f"'{payload_param}' must be a JSON object.", param=payload_param
        )
    payload_json = compact_json(payload, payload_param)
    if utf8_size(payload_json, payload_param) > MAX_PAYLOAD_BYTES:
        raise HarborError(
            "payload_too_large",
            f"'{payload_param}' is larger than 262,144 bytes of compact JSON.",
            param=payload_param,
        )
    workspace_id = state.keys.workspace_for(principal, body.get("workspace_id"))
    now_ms = state.clock.now_ms()
    event = Event(
        id=state.ids.new("evt", now_ms),
        workspace_id=workspace_id,
        livemode=principal.livemode,
        type=event_type,
        payload_json=payload_json,
        created_ms=now_ms,
    )
    new_workspace = not state.keys.workspace_known(workspace_id)

    delivers = False

    async def work(tx: Tx) -> dict[str, object]:
        nonlocal delivers
        if new_workspace:
            await workspaces.ensure(tx, workspace_id, now_ms)
        delivers = bool(await fanout.deliver_new_event(tx, state.ids, event, now_ms))
        return render.event(event, payload)

    # Inline: SQL, ids (locked) and rendering only, so it runs on the database thread,
    # a whole batch of event creations in one trip there.
    rendered = await commit(state, work, claim=claim, inline=True)
    if new_workspace:
        state.keys.note_workspace(workspace_id)
    if delivers:  # else there is nothing new for the scheduler to look at
        state.scheduler.wake()
    return rendered


@v1("events:write")
async def create_event(request: Request) -> Response:
    state = request.app.state
    rendered = await create(state, request.state.principal, request.state.json, request.state.claim)
    return raw_json(rendered, 201)


@v1("events:read")
async def get_event(request: Request) -> Response:
    state = request.app.state
    event = await events.get(state.db, path_id(request), request.state.principal.livemode)
    if event is None or not state.keys.may_use(request.state.principal, event.workspace_id):
        raise HarborError("event_not_found", f"No event {path_id(request)[:100]}.")
    return json_response(render.event(event))


@v1("events:read")
async def list_events(request: Request) -> Response:
    state = request.app.state
    principal = request.state.principal
    query = request.query_params
    limit = pagination.parse_limit(query)
    workspace_id = state.keys.workspace_for(principal, query.get("workspace_id"))
    event_type = query.get("type")
    key = pagination.list_key("events", workspace_id=workspace_id, type=event_type)
    after = pagination.after_keyset(state.cursors, key, query)
    rows = await events.list_page(
        state.db,
        workspace_id=workspace_id,
        livemode=principal.livemode,
        event_type=event_type,
        after=after,
        limit=limit + 1,
    )
    return list_response(state, rows, limit=limit, key=key, render=render.event)


routes = [
    Route("/v1/events", create_event, methods=["POST"]),
    Route("/v1/events", list_events, methods=["GET"]),
    Route("/v1/events/{id}", get_event, methods=["GET"]),
]
