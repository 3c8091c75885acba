"""The header's search box: jump to any object by its id, in whichever mode it lives.

Ids carry their kind in the prefix (`evt_`, `dlv_`, …), so one lookup by primary key
finds the object; the page it opens is the one the dashboard shows it on.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..core.errors import HarborError
from ..store import deliveries, endpoints, events, subscriptions, workspaces
from .web import dashboard

PREFIXES = ("evt_", "dlv_", "att_", "wh_", "dest_", "sub_", "ws_")
MAX_QUERY_CHARS = 200


def _at(path: str, livemode: bool, fragment: str = "") -> str:
    query = "?" + urlencode({"mode": "live"}) if livemode else ""
    return path + query + (f"#{fragment}" if fragment else "")


async def locate(state: Any, object_id: str) -> str | None:
    """The dashboard URL that shows `object_id`, or None when there is no such object."""
    db = state.db
    if object_id.startswith("evt_"):
        for livemode in (False, True):
            if await events.get(db, object_id, livemode) is not None:
                return _at(f"/events/{object_id}", livemode)
    elif object_id.startswith("dlv_"):
        for livemode in (False, True):
            if await deliveries.get(db, object_id, livemode) is not None:
                return _at(f"/webhooks/deliveries/{object_id}", livemode)
    elif object_id.startswith("att_"):
        attempt = await deliveries.get_attempt(db, object_id)
        if attempt is not None:
            for livemode in (False, True):
                if await deliveries.get(db, attempt.delivery_id, livemode) is not None:
                    return _at(
                        f"/webhooks/deliveries/{attempt.delivery_id}",
                        livemode,
                        f"attempt-{attempt.attempt_number}",
                    )
    elif object_id.startswith(("wh_", "dest_")):
        endpoint = await endpoints.get_any(db, object_id)
        if endpoint is not None and endpoint.deleted_ms is None:
            return _at(f"/webhooks/{object_id}", endpoint.livemode)
    elif object_id.startswith("sub_"):
        for livemode in (False, True):
            subscription = await subscriptions.get(db, object_id, livemode)
            if subscription is not None:
                return _at(f"/webhooks/{subscription.destination_id}", livemode)
    elif object_id.startswith("ws_") and await workspaces.get(db, object_id) is not None:
        return "/?" + urlencode({"workspace_id": object_id})
    return None


@dashboard
async def search(request: Request) -> Response:
    query = (request.query_params.get("q") or "").strip()
    if not query:
        return RedirectResponse("/", status_code=303)
    shown = query[:MAX_QUERY_CHARS]
    if query.startswith("req_"):
        raise HarborError(
            "not_found",
            f"Request ids like {shown} are not stored: find them in the request log "
            "(`start --log-level info`) or the Harbor-Request-Id response header.",
        )
    if not query.startswith(PREFIXES) or len(query) > MAX_QUERY_CHARS:
        raise HarborError(
            "invalid_parameter",
            f"Search by an id starting with {', '.join(PREFIXES)}; {shown!r} is not one.",
            param="q",
        )
    target = await locate(request.app.state, query)
    if target is None:
        raise HarborError("not_found", f"No object with id {shown}.", param="q")
    return RedirectResponse(target, status_code=303)


routes = [Route("/search", search, methods=["GET"])]
