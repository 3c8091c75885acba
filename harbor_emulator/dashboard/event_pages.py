"""Events: the list with a type filter, one event's payload, sending and replaying."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api import events as events_api
from ..api import replays
from ..core.errors import HarborError
from ..domain import pagination
from ..store import deliveries, endpoints, events
from .delivery_pages import delivery_causes
from .web import (
    PAGE_SIZE,
    dashboard,
    given,
    json_field,
    operator,
    page,
    read_form,
    redirect,
    selection,
)


async def _list_page(request: Request, **context: Any) -> Response:
    state = request.app.state
    workspace_id, livemode = selection(request)
    event_type = request.query_params.get("type") or None
    key = pagination.list_key(
        "dashboard-events", workspace_id=workspace_id, livemode=livemode, type=event_type
    )
    rows = await events.list_page(
        state.db,
        workspace_id=workspace_id,
        livemode=livemode,
        event_type=event_type,
        after=pagination.after_keyset(state.cursors, key, request.query_params),
        limit=PAGE_SIZE + 1,
    )
    listed = pagination.page(
        rows,
        limit=PAGE_SIZE,
        codec=state.cursors,
        key=key,
        keyset=lambda row: (row.created_ms, row.id),
        render=lambda row: {"row": row},
    )
    context.setdefault("error", None)
    context.setdefault(
        "form", {"workspace_id": workspace_id or "", "type": "", "payload": "{\n  \n}"}
    )
    return await page(
        request,
        "events.html",
        context.pop("status_code", 200),
        events=[item["row"] for item in listed["data"]],
        next_cursor=listed["next_cursor"],
        type_filter=event_type or "",
        **context,
    )


@dashboard
async def list_events(request: Request) -> Response:
    return await _list_page(request)


@dashboard
async def send_event(request: Request) -> Response:
    """POST /v1/events from a form: type, payload (JSON) and workspace."""
    form = await read_form(request)
    _, livemode = selection(request)
    filled = given(form, "type", "workspace_id")
    try:
        body: dict[str, Any] = given(form, "type")
        payload = json_field(form, "payload")
        if payload is not None:
            body["payload"] = payload
        if "workspace_id" not in filled:
            raise HarborError(
                "missing_parameter", "'workspace_id' is required.", param="workspace_id"
            )
        body["workspace_id"] = filled["workspace_id"]
        created = await events_api.create(
            request.app.state, operator(livemode, filled["workspace_id"]), body
        )
    except HarborError as exc:
        return await _list_page(request, form=dict(form.items()), error=exc, status_code=exc.status)
    return redirect(request, f"/events/{created['id']}")


async def _detail(request: Request, **context: Any) -> Response:
    state = request.app.state
    _, livemode = selection(request)
    event_id = str(request.path_params["id"])
    event = await events.get(state.db, event_id, livemode)
    if event is None:
        raise HarborError("event_not_found", f"No event {event_id[:100]}.")
    sent = await deliveries.list_page(
        state.db,
        workspace_id=event.workspace_id,
        livemode=livemode,
        status=None,
        event_id=event.id,
        endpoint_id=None,
        after=None,
        limit=100,
    )
    targets = [
        endpoint
        for kind in ("webhook", "destination")
        for endpoint in await endpoints.list_page(
            state.db,
            kind=kind,
            workspace_id=event.workspace_id,
            livemode=livemode,
            status=None,
            after=None,
            limit=100,
        )
    ]
    context.setdefault("error", None)
    return await page(
        request,
        "event.html",
        context.pop("status_code", 200),
        event=event,
        deliveries=sent,
        causes=await delivery_causes(state.db, sent),
        targets=targets,
        **context,
    )


@dashboard
async def show_event(request: Request) -> Response:
    return await _detail(request)


@dashboard
async def replay_event(request: Request) -> Response:
    """New deliveries to every matching endpoint, or to the one chosen."""
    form = await read_form(request)
    _, livemode = selection(request)
    event_id = str(request.path_params["id"])
    body: dict[str, Any] = {}
    endpoint_id = form.get("endpoint_id", "").strip()
    if endpoint_id:
        body["webhook_id" if endpoint_id.startswith("wh_") else "destination_id"] = endpoint_id
    try:
        await replays.replay(request.app.state, operator(livemode, "ws_dashboard"), event_id, body)
    except HarborError as exc:
        if exc.code == "event_not_found":
            raise
        return await _detail(request, error=exc, status_code=exc.status)
    return redirect(request, f"/events/{event_id}")


routes = [
    Route("/events", list_events, methods=["GET"]),
    Route("/events", send_event, methods=["POST"]),
    Route("/events/{id}", show_event, methods=["GET"]),
    Route("/events/{id}/replay", replay_event, methods=["POST"]),
]
