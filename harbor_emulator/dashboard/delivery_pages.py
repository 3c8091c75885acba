"""Webhooks → Deliveries: the list with a status filter, one delivery's attempts, replay.

Both pages poll themselves every 2 s with htmx (the fragment only), so new deliveries and
attempts show up without a reload; docs/dashboard.md says why polling and not SSE.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api import deliveries as deliveries_api
from ..api.deliveries import STATUSES
from ..core.clock import parse_timestamp
from ..core.errors import HarborError
from ..domain import pagination
from ..signing import SIGNATURE_HEADER
from ..store import deliveries, endpoints, events
from ..store.db import Database
from ..store.rows import Attempt, Delivery
from .web import PAGE_SIZE, dashboard, link, operator, page, partial, redirect, render, selection

ATTEMPTS_SHOWN = 100


FILTERS = ("status", "event_type", "endpoint_id", "event_id", "from", "to")


def _filters(request: Request) -> dict[str, str | None]:
    """The list's filters as given (blank: not filtered); validated by `_query`."""
    query = request.query_params
    return {name: (query.get(name) or "").strip() or None for name in FILTERS}


def _query(filters: dict[str, str | None]) -> dict[str, Any]:
    """The filters as store arguments. Times are emulator time, RFC 3339 (no offset: UTC),
    `from` inclusive and `to` exclusive."""
    status = filters["status"]
    if status is not None and status not in STATUSES:
        raise HarborError(
            "invalid_parameter", f"status must be one of {', '.join(STATUSES)}.", param="status"
        )
    event_type = filters["event_type"]
    if event_type is not None and (len(event_type) > 200 or any(c.isspace() for c in event_type)):
        raise HarborError(
            "invalid_parameter",
            "event_type is a type or a pattern such as order.* (no spaces).",
            param="event_type",
        )
    created_from = None if filters["from"] is None else parse_timestamp(filters["from"], "from")
    created_before = None if filters["to"] is None else parse_timestamp(filters["to"], "to")
    if created_from is not None and created_before is not None and created_before <= created_from:
        raise HarborError("invalid_parameter", "'to' must be later than 'from'.", param="to")
    return {
        "status": status,
        "event_type": event_type,
        "event_id": filters["event_id"],
        "endpoint_id": filters["endpoint_id"],
        "created_from_ms": created_from,
        "created_before_ms": created_before,
    }


def attempt_cause(attempt: Attempt) -> str | None:
    """Why the attempt failed, in words where recorded (`Connection refused by ...`); None
    for a 2xx answer. The list shows it so a `pending` row with no code says why."""
    if attempt.error is not None:
        return attempt.error_detail or attempt.error
    code = attempt.response_code
    if code is not None and not 200 <= code < 300:
        return f"HTTP {code}"
    return None


# What each chaos outcome did to an attempt, as the dashboard says it (docs/chaos.md).
_CHAOS_TITLES = {
    "ack_lost": "Chaos: the receiver's answer was dropped; recorded as a timeout.",
    "duplicate": "Chaos: this attempt was sent twice at once; the first answer is shown.",
    "delay": "Chaos: this attempt went out {seconds} s of emulator time after it fell due.",
}


def chaos_marks(attempt: Attempt) -> list[tuple[str, str]]:
    """(label, explanation) for each chaos fault that bent the attempt (its `chaos`
    column: "delay=300 ack_lost"); empty for attempts chaos left alone."""
    marks = []
    for token in (attempt.chaos or "").split():
        outcome, _, seconds = token.partition("=")
        label = f"delayed {seconds} s" if outcome == "delay" else outcome.replace("_", " ")
        title = _CHAOS_TITLES.get(outcome, "Chaos: {seconds}").format(seconds=seconds)
        marks.append((label, title))
    return marks


async def delivery_causes(db: Database, rows: Sequence[Delivery]) -> dict[str, str | None]:
    """Each listed delivery's last cause (`_deliveries.html`'s "Last cause" column)."""
    last = await deliveries.last_attempts(db, [row.id for row in rows])
    return {delivery_id: attempt_cause(attempt) for delivery_id, attempt in last.items()}


@dashboard
async def list_deliveries(request: Request) -> Response:
    state = request.app.state
    workspace_id, livemode = selection(request)
    filters = _filters(request)
    try:
        query = _query(filters)
    except HarborError as exc:
        if partial(request):
            raise
        return await page(
            request,
            "deliveries.html",
            exc.status,
            deliveries=[],
            next_cursor=None,
            filters=filters,
            statuses=STATUSES,
            error=exc,
        )
    key = pagination.list_key(
        "dashboard-deliveries", workspace_id=workspace_id, livemode=livemode, **query
    )
    rows = await deliveries.list_page(
        state.db,
        workspace_id=workspace_id,
        livemode=livemode,
        after=pagination.after_keyset(state.cursors, key, request.query_params),
        limit=PAGE_SIZE + 1,
        **query,
    )
    listed = pagination.page(
        rows,
        limit=PAGE_SIZE,
        codec=state.cursors,
        key=key,
        keyset=lambda row: (row.created_ms, row.id),
        render=lambda row: {"row": row},
    )
    shown = [item["row"] for item in listed["data"]]
    context: dict[str, Any] = {
        "deliveries": shown,
        "causes": await delivery_causes(state.db, shown),
        "next_cursor": listed["next_cursor"],
        "filters": filters,
        "statuses": STATUSES,
        "error": None,
    }
    # Only the first page refreshes itself: an older page stays as it was read.
    if request.query_params.get("cursor") is None:
        context["poll_url"] = link(request, "/webhooks/deliveries", **filters)
    if partial(request):
        return render(request, "_deliveries.html", **context)
    return await page(request, "deliveries.html", **context)


def curl_command(headers: dict[str, str], body: bytes, url: str) -> str:
    """A shell command that sends what the attempt sent: the same headers (signature and
    timestamp included) and the same body bytes. `Accept:` and `Expect:` stop curl adding
    headers of its own; it still adds Host and Content-Length, as httpx did."""
    lines = ["curl -sS -X POST"]
    lines += [f"  -H {shlex.quote(f'{name}: {value}')}" for name, value in headers.items()]
    lines += ["  -H 'Accept:' -H 'Expect:'"]
    lines += [f"  --data-binary {shlex.quote(body.decode('utf-8', 'replace'))}"]
    lines += [f"  {shlex.quote(url)}"]
    return " \\\n".join(lines)


def _signature_of(headers: dict[str, str] | None) -> str | None:
    return None if headers is None else headers.get(SIGNATURE_HEADER)


@dashboard
async def show_delivery(request: Request) -> Response:
    return await _detail(request)


async def _detail(request: Request, **context: Any) -> Response:
    state = request.app.state
    _, livemode = selection(request)
    delivery = await deliveries_api.visible_delivery(
        state, operator(livemode, "ws_dashboard"), str(request.path_params["id"])
    )
    attempts = await deliveries.attempts_page(
        state.db, delivery.id, after=None, limit=ATTEMPTS_SHOWN
    )
    endpoint = await endpoints.get_any(state.db, delivery.endpoint_id)
    url = endpoint.url if endpoint is not None else ""

    def curl_of(attempt: Attempt) -> str | None:
        if attempt.request_headers is None:
            return None
        return curl_command(attempt.request_headers, delivery.envelope, url)

    context.update(
        delivery=delivery,
        attempts=attempts,
        signature_of=_signature_of,
        curl_of=curl_of,
        chaos_marks=chaos_marks,
        endpoint_url=url,
        poll_url=link(request, f"/webhooks/deliveries/{delivery.id}"),
    )
    if partial(request):
        return render(request, "_attempts.html", **context)
    event = await events.get(state.db, delivery.event_id, livemode)
    context.setdefault("error", None)
    return await page(
        request,
        "delivery.html",
        context.pop("status_code", 200),
        endpoint=endpoint,
        event=event,
        **context,
    )


@dashboard
async def replay_delivery(request: Request) -> Response:
    """POST /v1/deliveries/{id}/replay: one more attempt now, same delivery id."""
    _, livemode = selection(request)
    delivery_id = str(request.path_params["id"])
    try:
        await deliveries_api.replay(
            request.app.state, operator(livemode, "ws_dashboard"), delivery_id
        )
    except HarborError as exc:
        if exc.code == "delivery_not_found":
            raise
        return await _detail(request, error=exc, status_code=exc.status)
    return redirect(request, f"/webhooks/deliveries/{delivery_id}")


routes = [
    Route("/webhooks/deliveries", list_deliveries, methods=["GET"]),
    Route("/webhooks/deliveries/{id}", show_delivery, methods=["GET"]),
    Route("/webhooks/deliveries/{id}/replay", replay_delivery, methods=["POST"]),
]
