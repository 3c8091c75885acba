"""Settings → General (workspaces and their ids) and Settings → API keys."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..control import settings
from ..core.errors import HarborError
from ..domain.auth import open_workspace_id
from ..store import api_keys, open_sandbox_keys
from .web import dashboard, given, page, read_form, redirect


async def _general(request: Request, **context: Any) -> Response:
    context.setdefault("error", None)
    context.setdefault("form", {})
    return await page(request, "general.html", context.pop("status_code", 200), **context)


@dashboard
async def general(request: Request) -> Response:
    return await _general(request)


@dashboard
async def create_workspace(request: Request) -> Response:
    form = await read_form(request)
    try:
        await settings.create_workspace_from(request.app.state, given(form, "id", "name"))
    except HarborError as exc:
        return await _general(request, form=dict(form.items()), error=exc, status_code=exc.status)
    return redirect(request, "/settings/general")


async def _api_keys(request: Request, **context: Any) -> Response:
    db = request.app.state.db
    rows = await api_keys.list_all(db)
    defined = {row.key for row in rows}
    # Open-sandbox keys seen in requests, with the workspace each uses when it names none:
    # the one it adopted, else its own hashed one until it names a workspace.
    open_keys = [
        {
            "key": row.key,
            "workspace_id": row.workspace_id or open_workspace_id(row.key),
            "adopted": row.workspace_id is not None,
            "first_seen_ms": row.first_seen_ms,
        }
        for row in sorted(
            await open_sandbox_keys.list_all(db), key=lambda row: row.first_seen_ms, reverse=True
        )
        if row.key not in defined
    ]
    context.setdefault("error", None)
    context.setdefault("form", {"mode": "test", "dialect": "hb"})
    context.setdefault("created", None)
    return await page(
        request,
        "api_keys.html",
        context.pop("status_code", 200),
        keys=sorted(rows, key=lambda row: row.created_ms, reverse=True),
        open_keys=open_keys,
        **context,
    )


@dashboard
async def list_api_keys(request: Request) -> Response:
    return await _api_keys(request)


@dashboard
async def create_api_key(request: Request) -> Response:
    """POST /_control/api_keys from a form: mode, prefix dialect, workspace and scopes."""
    form = await read_form(request)
    body: dict[str, Any] = given(form, "mode", "dialect", "workspace_id")
    # Checkboxes: an unticked box is not sent, so the list is always sent (maybe empty).
    body["scopes"] = form.getlist("scopes")
    try:
        row = await settings.create_api_key_from(request.app.state, body)
    except HarborError as exc:
        values: dict[str, Any] = dict(form.items())
        values["scopes"] = form.getlist("scopes")
        return await _api_keys(request, form=values, error=exc, status_code=exc.status)
    return await _api_keys(request, created=row)


@dashboard
async def revoke_api_key(request: Request) -> Response:
    await settings.revoke(request.app.state, str(request.path_params["key"]))
    return redirect(request, "/settings/api-keys")


@dashboard
async def which_workspace(request: Request) -> Response:
    """The default workspace of an open-sandbox test key, which fixtures don't list."""
    key = request.query_params.get("key", "").strip()
    lookup = request.app.state.keys.default_workspace(key) if key else None
    return await _general(request, lookup_key=key, lookup=lookup)


routes = [
    Route("/settings/general", general, methods=["GET"]),
    Route("/settings/general", create_workspace, methods=["POST"]),
    Route("/settings/general/which", which_workspace, methods=["GET"]),
    Route("/settings/api-keys", list_api_keys, methods=["GET"]),
    Route("/settings/api-keys", create_api_key, methods=["POST"]),
    Route("/settings/api-keys/{key}/revoke", revoke_api_key, methods=["POST"]),
]
