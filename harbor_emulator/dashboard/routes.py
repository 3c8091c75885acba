"""The dashboard's routes: home, login, the page modules and the packaged static files.

URLs follow Harbor's dashboard (Settings → General, Settings → API keys, Webhooks →
Deliveries); none collides with /v1, /_control, /_sink or /openapi.json.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..store import deliveries, endpoints
from . import (
    delivery_pages,
    emulator_pages,
    endpoint_pages,
    event_pages,
    live,
    search_pages,
    settings_pages,
    verify_pages,
)
from .delivery_pages import delivery_causes
from .web import (
    COOKIE_NAME,
    STATIC_DIR,
    dashboard,
    login_cookie_params,
    page,
    read_form,
    render,
    safe_next,
    selection,
)

RECENT_SHOWN = 10
ENDPOINTS_COUNTED = 1000


@dashboard
async def home(request: Request) -> Response:
    state = request.app.state
    workspace_id, livemode = selection(request)
    recent = await deliveries.list_page(
        state.db,
        workspace_id=workspace_id,
        livemode=livemode,
        status=None,
        event_id=None,
        endpoint_id=None,
        after=None,
        limit=RECENT_SHOWN,
    )
    endpoint_count = 0
    for kind in ("webhook", "destination"):
        rows = await endpoints.list_page(
            state.db,
            kind=kind,
            workspace_id=workspace_id,
            livemode=livemode,
            status=None,
            after=None,
            limit=ENDPOINTS_COUNTED,
        )
        endpoint_count += len(rows)
    return await page(
        request,
        "home.html",
        deliveries=recent,
        causes=await delivery_causes(state.db, recent),
        endpoint_count=endpoint_count,
        base_url=f"{request.url.scheme}://{request.url.netloc}",
        live=True,
    )


async def login_form(request: Request) -> Response:
    target = safe_next(request.query_params.get("next"), "/")
    return render(request, "login.html", next=target, error=None)


async def login(request: Request) -> Response:
    """Check the control token once and keep it in an HttpOnly cookie (a cross-site login
    is refused before routing, by the local-security check in edge.py)."""
    form = await read_form(request)
    target = safe_next(form.get("next"), "/")
    token = request.app.state.config.control_token or ""
    given = form.get("token", "")
    # Constant-time, so the token can't be guessed a byte at a time from response times.
    if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8")):
        return render(
            request,
            "login.html",
            401,
            next=target,
            error="authentication_required: that is not this emulator's --control-token.",
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE_NAME, given, **login_cookie_params())
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/login?" + urlencode({"next": "/"}), status_code=303)
    response.delete_cookie(COOKIE_NAME, **login_cookie_params())
    return response


routes: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    *settings_pages.routes,
    # Before /webhooks/{id}, which would otherwise take "deliveries" for an id.
    *delivery_pages.routes,
    *endpoint_pages.routes,
    *verify_pages.routes,
    *event_pages.routes,
    *emulator_pages.routes,
    *search_pages.routes,
    *live.routes,
    # The stylesheet and htmx carry nothing secret: served without the login.
    Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"),
]
