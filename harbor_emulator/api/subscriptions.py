"""/v1/subscriptions: which event types (exact, `*` or `prefix.*`) a destination receives.

Decision: subscribing a destination to a pattern it already has answers 200 with the
existing subscription instead of creating a second one, so a set-up script (the
quickstart) can run twice. A new subscription is 201.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..core.errors import HarborError
from ..domain import pagination, render
from ..domain.auth import Principal
from ..domain.idempotency import Claim
from ..domain.patterns import validate_pattern
from ..store import subscriptions
from ..store.db import Database, Tx
from ..store.rows import Endpoint, Subscription
from .common import (
    check_fields,
    commit,
    json_response,
    list_response,
    path_id,
    raw_json,
    required,
    v1,
)
from .endpoint_common import DESTINATIONS, SCOPE, load

CREATE_FIELDS = ("destination_id", "event_type")


class _Raced(Exception):
    """Another write subscribed or unsubscribed the same pattern between read and write."""


async def _destination(
    state: Any, principal: Principal, value: object, db: Database | Tx
) -> Endpoint:
    """The destination a `destination_id` names; a webhook id, another mode's, a deleted
    or an unknown destination are all 404 destination_not_found."""
    if not isinstance(value, str):
        raise HarborError(
            "invalid_parameter", "destination_id must be a string.", param="destination_id"
        )
    return await load(state, principal, DESTINATIONS, value, db)


async def subscribe(
    state: Any, principal: Principal, body: dict[str, Any], claim: Claim | None = None
) -> tuple[dict[str, Any], int]:
    """The subscription and its status: 201 when new, 200 when the pattern was there."""
    check_fields(body, CREATE_FIELDS)
    destination_value = required(body, "destination_id")
    event_type = validate_pattern(required(body, "event_type"), "event_type")
    destination = await _destination(state, principal, destination_value, state.db)
    now_ms = state.clock.now_ms()
    new = Subscription(
        id=state.ids.new("sub", now_ms),
        destination_id=destination.id,
        workspace_id=destination.workspace_id,
        livemode=destination.livemode,
        event_type=event_type,
        created_ms=now_ms,
        deleted_ms=None,
    )

    def work_expecting(
        existing: bool, *, tolerate_race: bool
    ) -> Callable[[Tx], Awaitable[dict[str, Any]]]:
        async def work(tx: Tx) -> dict[str, Any]:
            await _destination(state, principal, destination.id, tx)
            found = await subscriptions.find_live(tx, destination.id, event_type)
            if (found is not None) != existing and not tolerate_race:
                raise _Raced()
            if found is not None:
                return render.subscription(found)
            await subscriptions.insert(tx, new)
            return render.subscription(new)

        return work

    # The status (200 or 201) is stored with an Idempotency-Key in the same transaction,
    # so it is chosen before the write and confirmed inside it.
    existing = await subscriptions.find_live(state.db, destination.id, event_type) is not None
    try:
        status = 200 if existing else 201
        work = work_expecting(existing, tolerate_race=False)
        return await commit(state, work, claim=claim, status_code=status), status
    except _Raced:
        existing = not existing
        status = 200 if existing else 201
        work = work_expecting(existing, tolerate_race=True)
        return await commit(state, work, claim=claim, status_code=status), status


@v1(SCOPE)
async def create_subscription(request: Request) -> Response:
    state, principal = request.app.state, request.state.principal
    rendered, status = await subscribe(state, principal, request.state.json, request.state.claim)
    return raw_json(rendered, status)


async def _load(state: Any, principal: Principal, subscription_id: str) -> Subscription:
    found = await subscriptions.get(state.db, subscription_id, principal.livemode)
    if found is None or not state.keys.may_use(principal, found.workspace_id):
        raise HarborError("subscription_not_found", f"No subscription {subscription_id[:100]}.")
    return found


@v1(SCOPE)
async def get_subscription(request: Request) -> Response:
    state = request.app.state
    found = await _load(state, request.state.principal, path_id(request))
    return json_response(render.subscription(found))


@v1(SCOPE)
async def list_subscriptions(request: Request) -> Response:
    state = request.app.state
    principal = request.state.principal
    query = request.query_params
    limit = pagination.parse_limit(query)
    destination_id = query.get("destination_id")
    if destination_id is not None:
        # Filtering by a destination selects its workspace (contract, Details fixed here).
        destination = await _destination(state, principal, destination_id, state.db)
        workspace_id = destination.workspace_id
        if "workspace_id" in query:
            workspace_id = state.keys.workspace_for(principal, query["workspace_id"])
    else:
        workspace_id = state.keys.workspace_for(principal, query.get("workspace_id"))
    key = pagination.list_key(
        "subscriptions", workspace_id=workspace_id, destination_id=destination_id
    )
    after = pagination.after_keyset(state.cursors, key, query)
    rows = await subscriptions.list_page(
        state.db,
        workspace_id=workspace_id,
        livemode=principal.livemode,
        destination_id=destination_id,
        after=after,
        limit=limit + 1,
    )
    return list_response(state, rows, limit=limit, key=key, render=render.subscription)


async def unsubscribe(state: Any, principal: Principal, subscription_id: str) -> None:
    await _load(state, principal, subscription_id)
    now_ms = state.clock.now_ms()

    async def work(tx: Tx) -> bool:
        return await subscriptions.delete(tx, subscription_id, now_ms)

    if not await state.db.write(work):
        raise HarborError("subscription_not_found", f"No subscription {subscription_id[:100]}.")


@v1(SCOPE)
async def delete_subscription(request: Request) -> Response:
    await unsubscribe(request.app.state, request.state.principal, path_id(request))
    return Response(status_code=204)


routes = [
    Route("/v1/subscriptions", create_subscription, methods=["POST"]),
    Route("/v1/subscriptions", list_subscriptions, methods=["GET"]),
    Route("/v1/subscriptions/{id}", get_subscription, methods=["GET"]),
    Route("/v1/subscriptions/{id}", delete_subscription, methods=["DELETE"]),
]
