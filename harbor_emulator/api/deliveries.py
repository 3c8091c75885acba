"""/v1/deliveries: read deliveries and their attempts, replay one delivery."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..core.errors import HarborError
from ..domain import pagination, render
from ..domain.auth import Principal
from ..domain.idempotency import Claim
from ..store import deliveries, endpoints, events
from ..store.db import Tx
from ..store.rows import Delivery
from .common import check_fields, commit, json_response, list_response, path_id, raw_json, v1

STATUSES = ("pending", "held", "succeeded", "failed", "cancelled")


async def visible_delivery(state: Any, principal: Principal, delivery_id: str) -> Delivery:
    found = await deliveries.get(state.db, delivery_id, principal.livemode)
    if found is None or not state.keys.may_use(principal, found.workspace_id):
        raise HarborError("delivery_not_found", f"No delivery {delivery_id[:100]}.")
    return found


async def _filter_workspace(request: Request) -> str:
    """The workspace a list covers: the filtered object's, else workspace_id or the default.

    A filtered object the key cannot see answers that object's 404 (contract: lists), as
    reading it by id would.
    """
    state = request.app.state
    principal = request.state.principal
    query = request.query_params
    livemode = principal.livemode
    if query.get("event_id"):
        event_id = query["event_id"]
        event = await events.get(state.db, event_id, livemode)
        if event is None or not state.keys.may_use(principal, event.workspace_id):
            raise HarborError("event_not_found", f"No event {event_id[:100]}.", param="event_id")
        return event.workspace_id
    for param, kind in (("webhook_id", "webhook"), ("destination_id", "destination")):
        endpoint_id = query.get(param)
        if not endpoint_id:
            continue
        # A deleted endpoint's deliveries stay readable, so the filter finds it too.
        found = await endpoints.get_any(state.db, endpoint_id)
        if (
            found is None
            or found.livemode != livemode
            or not state.keys.may_use(principal, found.workspace_id)
        ):
            raise HarborError(f"{kind}_not_found", f"No {kind} {endpoint_id[:100]}.", param=param)
        return found.workspace_id
    return state.keys.workspace_for(principal, query.get("workspace_id"))


@v1("events:read")
async def list_deliveries(request: Request) -> Response:
    state = request.app.state
    query = request.query_params
    limit = pagination.parse_limit(query)
    status = query.get("status")
    if status is not None and status not in STATUSES:
        raise HarborError(
            "invalid_parameter", f"status must be one of {', '.join(STATUSES)}.", param="status"
        )
    if query.get("webhook_id") and query.get("destination_id"):
        raise HarborError(
            "invalid_parameter",
            "Filter by webhook_id or destination_id, not both.",
            param="destination_id",
        )
    endpoint_id = query.get("webhook_id") or query.get("destination_id")
    workspace_id = await _filter_workspace(request)
    key = pagination.list_key(
        "deliveries",
        workspace_id=workspace_id,
        status=status,
        event_id=query.get("event_id"),
        endpoint_id=endpoint_id,
    )
    after = pagination.after_keyset(state.cursors, key, query)
    rows = await deliveries.list_page(
        state.db,
        workspace_id=workspace_id,
        livemode=request.state.principal.livemode,
        status=status,
        event_id=query.get("event_id"),
        endpoint_id=endpoint_id,
        after=after,
        limit=limit + 1,
    )
    return list_response(state, rows, limit=limit, key=key, render=render.delivery)


@v1("events:read")
async def get_delivery(request: Request) -> Response:
    found = await visible_delivery(request.app.state, request.state.principal, path_id(request))
    return json_response(render.delivery(found))


@v1("events:read")
async def list_attempts(request: Request) -> Response:
    state = request.app.state
    delivery = await visible_delivery(state, request.state.principal, path_id(request))
    query = request.query_params
    limit = pagination.parse_limit(query)
    key = pagination.list_key("attempts", delivery_id=delivery.id)
    after = pagination.after_keyset(state.cursors, key, query)
    rows = await deliveries.attempts_page(state.db, delivery.id, after=after, limit=limit + 1)
    return list_response(
        state,
        rows,
        limit=limit,
        key=key,
        render=render.attempt,
        keyset=lambda row: (row.attempt_number, row.id),
    )


async def replay(
    state: Any, principal: Principal, delivery_id: str, claim: Claim | None = None
) -> dict[str, Any]:
    """One more attempt now, whatever the status but cancelled; same delivery id."""
    delivery = await visible_delivery(state, principal, delivery_id)
    now_ms = state.clock.now_ms()

    async def work(tx: Tx) -> dict[str, object]:
        if not await deliveries.replay(tx, delivery.id, now_ms):
            raise HarborError(
                "delivery_cancelled", f"Delivery {delivery.id} is cancelled; it cannot be replayed."
            )
        replayed = await deliveries.get_in(tx, delivery.id)
        assert replayed is not None
        return render.delivery(replayed)

    rendered = await commit(state, work, claim=claim, status_code=202)
    state.scheduler.wake()
    return rendered


@v1("webhooks:manage")
async def replay_delivery(request: Request) -> Response:
    state, principal = request.app.state, request.state.principal
    check_fields(request.state.json, ())
    rendered = await replay(state, principal, path_id(request), request.state.claim)
    return raw_json(rendered, 202)


routes = [
    Route("/v1/deliveries", list_deliveries, methods=["GET"]),
    Route("/v1/deliveries/{id}", get_delivery, methods=["GET"]),
    Route("/v1/deliveries/{id}/attempts", list_attempts, methods=["GET"]),
    Route("/v1/deliveries/{id}/replay", replay_delivery, methods=["POST"]),
]
