"""Webhooks → Endpoints: webhooks and destinations, their subscriptions, status and keys."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api import endpoint_common, signing_keys, subscriptions
from ..api import events as events_api
from ..api.endpoint_common import DESTINATIONS, WEBHOOKS, Dialect
from ..core.errors import HarborError
from ..store import deliveries, endpoints
from ..store import signing_keys as signing_key_store
from ..store import subscriptions as subscription_store
from ..store.rows import Attempt, Endpoint
from .delivery_pages import delivery_causes
from .web import (
    PAGE_SIZE,
    dashboard,
    given,
    json_field,
    number_field,
    operator,
    page,
    read_form,
    redirect,
    selection,
)

ENDPOINT_FORM_FIELDS = ("kind", "url", "events", "description", "name", "workspace_id")
TEST_PAYLOAD = '{\n  "test": true,\n  "sent_from": "dashboard"\n}'
TEST_FIELDS = ("type", "payload")
VERIFY_ATTEMPTS_OFFERED = 20
VERIFY_DELIVERIES_SEARCHED = 10


def test_event_type(patterns: list[str]) -> str:
    """A concrete type the endpoint receives, to prefill "send test event" with: the first
    exact type, else `order.test` for `order.*`, else `test.event` (matches `*`)."""
    for pattern in patterns:
        if pattern != "*" and not pattern.endswith(".*"):
            return pattern
    for pattern in patterns:
        if pattern.endswith(".*"):
            return pattern[:-1] + "test"
    return "test.event"


def dialect_of(endpoint_id: str) -> Dialect:
    if endpoint_id.startswith("wh_"):
        return WEBHOOKS
    if endpoint_id.startswith("dest_"):
        return DESTINATIONS
    raise HarborError("not_found", f"No webhook or destination {endpoint_id[:100]}.")


def split_patterns(text: str) -> list[str]:
    """`order.*, invoice.paid` or one per line: the form's way of writing a list."""
    return [item for item in text.replace(",", " ").split() if item]


async def _list_page(request: Request, **context: Any) -> Response:
    state = request.app.state
    workspace_id, livemode = selection(request)
    lists = {
        dialect.kind: await endpoints.list_page(
            state.db,
            kind=dialect.kind,
            workspace_id=workspace_id,
            livemode=livemode,
            status=None,
            after=None,
            limit=PAGE_SIZE,
        )
        for dialect in (WEBHOOKS, DESTINATIONS)
    }
    context.setdefault("form", {"kind": "webhook", "workspace_id": workspace_id or ""})
    context.setdefault("error", None)
    return await page(
        request,
        "endpoints.html",
        context.pop("status_code", 200),
        webhooks=lists["webhook"],
        destinations=lists["destination"],
        **context,
    )


@dashboard
async def list_endpoints(request: Request) -> Response:
    return await _list_page(request)


@dashboard
async def create_endpoint(request: Request) -> Response:
    """One form for both dialects; the secret is shown on the page it returns, only once."""
    state = request.app.state
    form = await read_form(request)
    _, livemode = selection(request)
    dialect = DESTINATIONS if form.get("kind") == "destination" else WEBHOOKS
    filled = given(form, "url", dialect.label_field, "workspace_id")
    body: dict[str, Any] = {name: value for name, value in filled.items() if name != "workspace_id"}
    if dialect.has_events and form.get("events", "").strip():
        body["events"] = split_patterns(form["events"])
    try:
        if "workspace_id" not in filled:
            raise HarborError(
                "missing_parameter", "'workspace_id' is required.", param="workspace_id"
            )
        body["workspace_id"] = filled["workspace_id"]
        created = await endpoint_common.create_endpoint(
            state, operator(livemode, filled["workspace_id"]), dialect, body
        )
    except HarborError as exc:
        return await _list_page(request, form=dict(form.items()), error=exc, status_code=exc.status)
    secret = created.get("secret") or created.get("signing_secret")
    return await detail(request, created["id"], secret=secret)


async def recent_attempts(state: Any, endpoint: Endpoint) -> list[tuple[Attempt, str]]:
    """The endpoint's latest attempts that sent a request: what "verify a signature" offers."""
    recent = await deliveries.list_page(
        state.db,
        workspace_id=endpoint.workspace_id,
        livemode=endpoint.livemode,
        status=None,
        event_id=None,
        endpoint_id=endpoint.id,
        after=None,
        limit=VERIFY_DELIVERIES_SEARCHED,
    )
    offered: list[tuple[Attempt, str]] = []
    for delivery in recent:
        for attempt in await deliveries.attempts_page(state.db, delivery.id, after=None, limit=100):
            if attempt.request_headers is not None:
                offered.append((attempt, delivery.event_type))
    offered.sort(key=lambda pair: (pair[0].attempted_ms, pair[0].id), reverse=True)
    return offered[:VERIFY_ATTEMPTS_OFFERED]


async def detail(request: Request, endpoint_id: str, **context: Any) -> Response:
    state = request.app.state
    _, livemode = selection(request)
    dialect = dialect_of(endpoint_id)
    principal = operator(livemode, "ws_dashboard")
    endpoint = await endpoint_common.load(state, principal, dialect, endpoint_id, state.db)
    subs = []
    if dialect is DESTINATIONS:
        subs = await subscription_store.list_page(
            state.db,
            workspace_id=endpoint.workspace_id,
            livemode=livemode,
            destination_id=endpoint.id,
            after=None,
            limit=100,
        )
    keys = await signing_key_store.list_page(
        state.db, endpoint_id=endpoint.id, now_ms=state.clock.now_ms(), after=None, limit=100
    )
    recent = await deliveries.list_page(
        state.db,
        workspace_id=endpoint.workspace_id,
        livemode=livemode,
        status=None,
        event_id=None,
        endpoint_id=endpoint.id,
        after=None,
        limit=PAGE_SIZE,
    )
    patterns = (
        list(endpoint.event_types or [])
        if dialect is WEBHOOKS
        else [sub.event_type for sub in subs]
    )
    context.setdefault("error", None)
    context.setdefault("form", {})
    context.setdefault("revealed", False)
    context.setdefault("verification", None)
    context.setdefault("verify_form", {})
    context.setdefault("verify_attempts", await recent_attempts(state, endpoint))
    context.setdefault("test_form", {"type": test_event_type(patterns), "payload": TEST_PAYLOAD})
    return await page(
        request,
        "endpoint.html",
        context.pop("status_code", 200),
        endpoint=endpoint,
        dialect=dialect,
        subscriptions=subs,
        signing_keys=keys,
        deliveries=recent,
        causes=await delivery_causes(state.db, recent),
        **context,
    )


@dashboard
async def show_endpoint(request: Request) -> Response:
    return await detail(request, str(request.path_params["id"]))


async def endpoint_of(request: Request) -> tuple[Endpoint, Dialect]:
    state = request.app.state
    _, livemode = selection(request)
    endpoint_id = str(request.path_params["id"])
    dialect = dialect_of(endpoint_id)
    found = await endpoint_common.load(
        state, operator(livemode, "ws_dashboard"), dialect, endpoint_id, state.db
    )
    return found, dialect


@dashboard
async def set_status(request: Request) -> Response:
    """Pause or resume: PATCH {"status": ...}; resuming sends the held deliveries."""
    form = await read_form(request)
    endpoint, dialect = await endpoint_of(request)
    principal = operator(endpoint.livemode, endpoint.workspace_id)
    body = {"status": form.get("status", "")}
    await endpoint_common.update_endpoint(request.app.state, principal, dialect, endpoint.id, body)
    return redirect(request, f"/webhooks/{endpoint.id}")


@dashboard
async def rotate_secret(request: Request) -> Response:
    form = await read_form(request)
    endpoint, dialect = await endpoint_of(request)
    principal = operator(endpoint.livemode, endpoint.workspace_id)
    body: dict[str, Any] = {}
    if form.get("expire_previous_in_seconds", "").strip():
        body["expire_previous_in_seconds"] = number_field(
            form["expire_previous_in_seconds"].strip()
        )
    try:
        rotated = await signing_keys.rotate(
            request.app.state, principal, dialect, endpoint.id, body
        )
    except HarborError as exc:
        return await detail(
            request, endpoint.id, error=exc, form=dict(form.items()), status_code=exc.status
        )
    return await detail(request, endpoint.id, secret=rotated["secret"])


@dashboard
async def reveal_secrets(request: Request) -> Response:
    """The secrets of the keys still valid (current and rotated-out but unexpired), shown
    after a click; a POST, so a cross-site page can't trigger it and no URL or history
    entry carries them. The control plane's GET /_control/export holds the same secrets."""
    endpoint, _ = await endpoint_of(request)
    return await detail(request, endpoint.id, revealed=True)


@dashboard
async def send_test_event(request: Request) -> Response:
    """POST /v1/events in the endpoint's workspace: the normal event path, so every
    endpoint the type matches gets a delivery, not only this one."""
    form = await read_form(request)
    endpoint, _ = await endpoint_of(request)
    state = request.app.state
    test_form = {name: form.get(name, "") for name in TEST_FIELDS}
    try:
        body: dict[str, Any] = given(form, "type")
        payload = json_field(form, "payload")
        if payload is not None:
            body["payload"] = payload
        body["workspace_id"] = endpoint.workspace_id
        created = await events_api.create(
            state, operator(endpoint.livemode, endpoint.workspace_id), body
        )
        sent = await deliveries.list_page(
            state.db,
            workspace_id=endpoint.workspace_id,
            livemode=endpoint.livemode,
            status=None,
            event_id=created["id"],
            endpoint_id=endpoint.id,
            after=None,
            limit=1,
        )
    except HarborError as exc:
        return await detail(
            request, endpoint.id, error=exc, test_form=test_form, status_code=exc.status
        )
    if not sent:
        # The type matched nothing here: the event page shows where it went, if anywhere.
        return redirect(request, f"/events/{created['id']}")
    return redirect(request, f"/webhooks/deliveries/{sent[0].id}")


@dashboard
async def delete_endpoint(request: Request) -> Response:
    endpoint, dialect = await endpoint_of(request)
    principal = operator(endpoint.livemode, endpoint.workspace_id)
    await endpoint_common.delete_endpoint(request.app.state, principal, dialect, endpoint.id)
    return redirect(request, "/webhooks")


@dashboard
async def add_subscription(request: Request) -> Response:
    form = await read_form(request)
    endpoint, _ = await endpoint_of(request)
    principal = operator(endpoint.livemode, endpoint.workspace_id)
    body: dict[str, Any] = {"destination_id": endpoint.id, **given(form, "event_type")}
    try:
        await subscriptions.subscribe(request.app.state, principal, body)
    except HarborError as exc:
        return await detail(
            request, endpoint.id, error=exc, form=dict(form.items()), status_code=exc.status
        )
    return redirect(request, f"/webhooks/{endpoint.id}")


@dashboard
async def remove_subscription(request: Request) -> Response:
    endpoint, _ = await endpoint_of(request)
    principal = operator(endpoint.livemode, endpoint.workspace_id)
    await subscriptions.unsubscribe(
        request.app.state, principal, str(request.path_params["subscription_id"])
    )
    return redirect(request, f"/webhooks/{endpoint.id}")


routes = [
    Route("/webhooks", list_endpoints, methods=["GET"]),
    Route("/webhooks", create_endpoint, methods=["POST"]),
    Route("/webhooks/{id}", show_endpoint, methods=["GET"]),
    Route("/webhooks/{id}/status", set_status, methods=["POST"]),
    Route("/webhooks/{id}/rotate", rotate_secret, methods=["POST"]),
    Route("/webhooks/{id}/secrets", reveal_secrets, methods=["POST"]),
    Route("/webhooks/{id}/test-event", send_test_event, methods=["POST"]),
    Route("/webhooks/{id}/delete", delete_endpoint, methods=["POST"]),
    Route("/webhooks/{id}/subscriptions", add_subscription, methods=["POST"]),
    Route(
        "/webhooks/{id}/subscriptions/{subscription_id}/delete",
        remove_subscription,
        methods=["POST"],
    ),
]
