"""One endpoint model behind two dialects: /v1/webhooks (SDK) and /v1/destinations (REST).

The dialects differ only in names: a webhook has `events` inline and a `description`, and
answers with `secret`; a destination has `name`, gets its event types from subscriptions,
and answers with `signing_secret`. Everything else, validation, limits, pausing and
deletion, is this module, parametrised by a `Dialect`.

Decisions beyond the contract (docs/api.md, "Webhooks, destinations and subscriptions"):
- PATCH replaces `metadata` and `events` as a whole; `null` clears `metadata` to `{}`,
  `retry_policy` back to the default and `name`/`description` to null. `url`, `events`
  and `status` cannot be null.
- A webhook's `events` keeps the order given, without repeats.
- Each dialect takes only its own label field (`description` or `name`); the other is an
  unknown parameter, so a mix-up is reported rather than dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..core.errors import HarborError
from ..domain import pagination, render
from ..domain.auth import Principal
from ..domain.idempotency import Claim
from ..domain.metadata import validate_metadata
from ..domain.patterns import validate_pattern
from ..domain.retry import parse_retry_policy, policy_to_json
from ..domain.urls import validate_url
from ..signing import new_secret
from ..store import deliveries, endpoints, workspaces
from ..store.db import Database, Tx
from ..store.rows import Endpoint
from .common import (
    check_fields,
    commit,
    compact_json,
    json_response,
    list_response,
    optional_str,
    path_id,
    raw_json,
    required,
    v1,
)

SCOPE = "webhooks:manage"
SIGNING_KEY_PREFIX = "key"
MAX_LABEL_LENGTH = 1024
_COMMON_FIELDS = ("url", "metadata", "retry_policy")


class Dialect(NamedTuple):
    kind: str  # the `kind` column and the `object` field
    id_prefix: str
    label_field: str
    path: str

    @property
    def has_events(self) -> bool:
        return self.kind == "webhook"

    @property
    def not_found_code(self) -> str:
        return f"{self.kind}_not_found"

    @property
    def patch_fields(self) -> tuple[str, ...]:
        events = ("events",) if self.has_events else ()
        return (*_COMMON_FIELDS, self.label_field, "status", *events)

    @property
    def create_fields(self) -> tuple[str, ...]:
        events = ("events",) if self.has_events else ()
        return (*_COMMON_FIELDS, self.label_field, "workspace_id", *events)


WEBHOOKS = Dialect(kind="webhook", id_prefix="wh", label_field="description", path="/v1/webhooks")
DESTINATIONS = Dialect(
    kind="destination", id_prefix="dest", label_field="name", path="/v1/destinations"
)


def parse_events(value: object) -> tuple[str, ...]:
    """A webhook's `events`: a non-empty list of patterns, repeats dropped."""
    if not isinstance(value, list) or not value:
        raise HarborError(
            "invalid_parameter",
            "events must be a non-empty list of event types or patterns ('order.*', '*').",
            param="events",
        )
    patterns = [validate_pattern(item, "events") for item in value]
    return tuple(dict.fromkeys(patterns))


def parse_status(value: object, param: str = "status") -> str:
    if not isinstance(value, str) or value not in endpoints.STATUSES:
        raise HarborError("invalid_parameter", "status must be 'active' or 'paused'.", param=param)
    return value


def _metadata_json(value: object) -> str:
    metadata = {} if value is None else validate_metadata(value)
    return compact_json(metadata, "metadata")


def _retry_policy_json(value: object) -> str | None:
    policy = parse_retry_policy(value)
    return None if policy is None else compact_json(policy_to_json(policy), "retry_policy")


async def _url(state: Any, principal: Principal, value: object) -> str:
    """Checked last of all the fields: in live mode it may wait on DNS."""
    return await validate_url(
        value,
        livemode=principal.livemode,
        resolve_timeout_seconds=state.config.resolve_timeout_seconds,
    )


def not_found(dialect: Dialect, endpoint_id: str) -> HarborError:
    return HarborError(dialect.not_found_code, f"No {dialect.kind} {endpoint_id[:100]}.")


async def load(
    state: Any, principal: Principal, dialect: Dialect, endpoint_id: str, db: Database | Tx
) -> Endpoint:
    """The caller's live endpoint of this dialect, else the dialect's 404: other modes,
    other kinds, deleted ones and workspaces the key may not use all look absent."""
    found = await endpoints.get(db, endpoint_id, kind=dialect.kind, livemode=principal.livemode)
    if found is None or not state.keys.may_use(principal, found.workspace_id):
        raise not_found(dialect, endpoint_id)
    return found


async def create_endpoint(
    state: Any,
    principal: Principal,
    dialect: Dialect,
    body: Mapping[str, Any],
    claim: Claim | None = None,
) -> dict[str, Any]:
    """The core of POST /v1/webhooks and /v1/destinations, shared with the dashboard."""
    check_fields(body, dialect.create_fields)
    url_value = required(body, "url")
    event_types = parse_events(required(body, "events")) if dialect.has_events else None
    label = optional_str(body, dialect.label_field, MAX_LABEL_LENGTH)
    metadata_json = _metadata_json(body.get("metadata"))
    retry_policy_json = _retry_policy_json(body.get("retry_policy"))
    workspace_id = state.keys.workspace_for(principal, body.get("workspace_id"))
    url = await _url(state, principal, url_value)

    now_ms = state.clock.now_ms()
    endpoint = Endpoint(
        id=state.ids.new(dialect.id_prefix, now_ms),
        kind=dialect.kind,
        workspace_id=workspace_id,
        livemode=principal.livemode,
        url=url,
        label=label,
        event_types=event_types,
        metadata_json=metadata_json,
        retry_policy_json=retry_policy_json,
        status="active",
        created_ms=now_ms,
        updated_ms=now_ms,
        deleted_ms=None,
    )
    secret = new_secret(state.random)
    key_id = state.ids.new(SIGNING_KEY_PREFIX, now_ms)
    new_workspace = not state.keys.workspace_known(workspace_id)
    limit = state.config.max_endpoints

    async def work(tx: Tx) -> dict[str, Any]:
        if new_workspace:
            await workspaces.ensure(tx, workspace_id, now_ms)
        # Counted inside the write, so concurrent creates cannot overshoot the limit.
        if await endpoints.count_live(tx, workspace_id, principal.livemode) >= limit:
            raise HarborError(
                "over_destination_limit",
                f"Workspace {workspace_id} already has {limit} endpoints (webhooks and "
                "destinations together); delete one first.",
            )
        await endpoints.insert(tx, endpoint, secret=secret, key_id=key_id)
        return render.endpoint(endpoint, secret)

    rendered = await commit(state, work, claim=claim)
    if new_workspace:
        state.keys.note_workspace(workspace_id)
    return rendered


async def retrieve(request: Request, dialect: Dialect) -> Response:
    state = request.app.state
    endpoint = await load(state, request.state.principal, dialect, path_id(request), state.db)
    return json_response(render.endpoint(endpoint))


async def list_endpoints(request: Request, dialect: Dialect) -> Response:
    state = request.app.state
    principal = request.state.principal
    query = request.query_params
    limit = pagination.parse_limit(query)
    workspace_id = state.keys.workspace_for(principal, query.get("workspace_id"))
    status = parse_status(query["status"]) if "status" in query else None
    key = pagination.list_key(dialect.kind + "s", workspace_id=workspace_id, status=status)
    after = pagination.after_keyset(state.cursors, key, query)
    rows = await endpoints.list_page(
        state.db,
        kind=dialect.kind,
        workspace_id=workspace_id,
        livemode=principal.livemode,
        status=status,
        after=after,
        limit=limit + 1,
    )
    return list_response(state, rows, limit=limit, key=key, render=render.endpoint)


async def _changes(
    state: Any, principal: Principal, dialect: Dialect, body: Mapping[str, Any]
) -> dict[str, Any]:
    """The Endpoint fields a PATCH body sets, validated; the URL (maybe DNS) last."""
    changes: dict[str, Any] = {}
    if dialect.has_events and "events" in body:
        changes["event_types"] = parse_events(body["events"])
    if dialect.label_field in body:
        changes["label"] = optional_str(body, dialect.label_field, MAX_LABEL_LENGTH)
    if "metadata" in body:
        changes["metadata_json"] = _metadata_json(body["metadata"])
    if "retry_policy" in body:
        changes["retry_policy_json"] = _retry_policy_json(body["retry_policy"])
    if "status" in body:
        changes["status"] = parse_status(body["status"])
    if "url" in body:
        changes["url"] = await _url(state, principal, body["url"])
    return changes


async def update_endpoint(
    state: Any,
    principal: Principal,
    dialect: Dialect,
    endpoint_id: str,
    body: Mapping[str, Any],
    claim: Claim | None = None,
) -> dict[str, Any]:
    """The core of PATCH (and the dashboard's pause/resume); resuming releases held ones."""
    check_fields(body, dialect.patch_fields)
    await load(state, principal, dialect, endpoint_id, state.db)  # 404 before any DNS
    changes = await _changes(state, principal, dialect, body)
    now_ms = state.clock.now_ms()
    resumed = False

    async def work(tx: Tx) -> dict[str, Any]:
        nonlocal resumed
        current = await load(state, principal, dialect, endpoint_id, tx)
        updated = current._replace(**changes, updated_ms=now_ms)
        await endpoints.update(tx, updated)
        if current.status == "paused" and updated.status == "active":
            resumed = await deliveries.release_held(tx, endpoint_id, now_ms) > 0
        return render.endpoint(updated)

    rendered = await commit(state, work, claim=claim, status_code=200)
    scheduler = getattr(state, "scheduler", None)
    if resumed and scheduler is not None:
        scheduler.wake()  # the released deliveries are due now
    return rendered


async def delete_endpoint(
    state: Any, principal: Principal, dialect: Dialect, endpoint_id: str
) -> None:
    now_ms = state.clock.now_ms()

    async def work(tx: Tx) -> None:
        await load(state, principal, dialect, endpoint_id, tx)
        await endpoints.soft_delete(tx, endpoint_id, now_ms)

    await state.db.write(work)


def routes_for(dialect: Dialect) -> list[Route]:
    """The five endpoint routes of one dialect."""

    @v1(SCOPE)
    async def create_one(request: Request) -> Response:
        state, principal = request.app.state, request.state.principal
        rendered = await create_endpoint(
            state, principal, dialect, request.state.json, request.state.claim
        )
        return raw_json(rendered, 201)

    @v1(SCOPE)
    async def list_all(request: Request) -> Response:
        return await list_endpoints(request, dialect)

    @v1(SCOPE)
    async def get_endpoint(request: Request) -> Response:
        return await retrieve(request, dialect)

    @v1(SCOPE)
    async def patch_endpoint(request: Request) -> Response:
        state, principal = request.app.state, request.state.principal
        rendered = await update_endpoint(
            state, principal, dialect, path_id(request), request.state.json, request.state.claim
        )
        return raw_json(rendered)

    @v1(SCOPE)
    async def delete_one(request: Request) -> Response:
        await delete_endpoint(request.app.state, request.state.principal, dialect, path_id(request))
        return Response(status_code=204)

    return [
        Route(dialect.path, create_one, methods=["POST"]),
        Route(dialect.path, list_all, methods=["GET"]),
        Route(dialect.path + "/{id}", get_endpoint, methods=["GET"]),
        Route(dialect.path + "/{id}", patch_endpoint, methods=["PATCH"]),
        Route(dialect.path + "/{id}", delete_one, methods=["DELETE"]),
    ]
