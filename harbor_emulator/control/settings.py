"""/_control/api_keys and /_control/workspaces: what Harbor's dashboard does under Settings."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api.common import (
    check_fields,
    json_response,
    parse_json_object,
    read_body,
    whole_list_response,
)
from ..core.clock import format_ms
from ..core.errors import HarborError
from ..domain.auth import (
    KEY_PATTERN,
    SCOPES,
    WORKSPACE_ID_PATTERN,
    key_livemode,
)
from ..store import api_keys, workspaces
from ..store.db import Tx
from ..store.rows import ApiKey, Workspace
from .auth import control


def render_workspace(row: Workspace) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "workspace",
        "name": row.name,
        "created_at": format_ms(row.created_ms),
    }


def render_api_key(row: ApiKey) -> dict[str, Any]:
    return {
        "id": row.key,
        "object": "api_key",
        "key": row.key,
        "workspace_id": row.workspace_id,
        "scopes": sorted(row.scopes),
        "livemode": row.livemode,
        "created_at": format_ms(row.created_ms),
        "revoked_at": format_ms(row.revoked_ms),
    }


def validate_scopes(value: object, param: str = "scopes") -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise HarborError("invalid_parameter", f"'{param}' must be a list of scopes.", param=param)
    unknown = [s for s in value if s not in SCOPES]
    if unknown:
        raise HarborError(
            "invalid_parameter",
            f"Unknown scope '{unknown[0][:100]}'; scopes are {', '.join(SCOPES)}.",
            param=param,
        )
    return frozenset(value)


def validate_workspace_id(value: object, param: str = "workspace_id") -> str:
    if not isinstance(value, str) or not WORKSPACE_ID_PATTERN.fullmatch(value):
        raise HarborError(
            "invalid_parameter", "Workspace ids are 'ws_' and 1-64 letters or digits.", param=param
        )
    return value


def validate_name(value: object, param: str = "name") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 200 or "\x00" in value:
        raise HarborError("invalid_parameter", f"'{param}' must be a short string.", param=param)
    return value


@control
async def list_workspaces(request: Request) -> Response:
    rows = await workspaces.list_all(request.app.state.db)
    return whole_list_response([render_workspace(row) for row in rows])


async def create_workspace_from(state: Any, body: dict[str, Any]) -> Workspace:
    """The core of POST /_control/workspaces, shared with the dashboard."""
    check_fields(body, ("id", "name"))
    now_ms = state.clock.now_ms()
    # Left out, a new id is made; null is not an id (the document allows only a string).
    workspace_id = (
        validate_workspace_id(body["id"], "id")
        if "id" in body
        else "ws_" + state.random.token_hex(8)
    )
    name = validate_name(body.get("name"))

    async def work(tx: Tx) -> Workspace:
        return await workspaces.upsert(tx, workspace_id, name, now_ms)

    row: Workspace = await state.db.write(work)
    state.keys.note_workspace(row.id)
    return row


@control
async def create_workspace(request: Request) -> Response:
    body = parse_json_object(await read_body(request))
    row = await create_workspace_from(request.app.state, body)
    return json_response(render_workspace(row), 201)


@control
async def list_api_keys(request: Request) -> Response:
    rows = await api_keys.list_all(request.app.state.db)
    return whole_list_response([render_api_key(row) for row in rows])


async def create_api_key_from(state: Any, body: dict[str, Any]) -> ApiKey:
    """The core of POST /_control/api_keys, shared with the dashboard."""
    check_fields(body, ("mode", "workspace_id", "scopes", "key", "dialect"))
    mode = body.get("mode", "test")
    if mode not in ("test", "live"):
        raise HarborError("invalid_parameter", "'mode' must be 'test' or 'live'.", param="mode")
    dialect = body.get("dialect", "hb")
    if dialect not in ("hb", "hk"):
        raise HarborError("invalid_parameter", "'dialect' must be 'hb' or 'hk'.", param="dialect")
    # Left out, a new key is made; null is not a key (the document allows only a string).
    key = body.get("key")
    if "key" not in body:
        key = f"{dialect}_{mode}_{state.random.token_hex(16)}"
    elif not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise HarborError("invalid_parameter", "'key' is not a well-formed API key.", param="key")
    elif key_livemode(key) != (mode == "live"):
        raise HarborError("invalid_parameter", "The key's prefix contradicts 'mode'.", param="key")
    scopes = validate_scopes(body.get("scopes", list(SCOPES)))
    workspace_id = (
        validate_workspace_id(body["workspace_id"])
        if body.get("workspace_id") is not None
        else "ws_" + state.random.token_hex(8)
    )
    now_ms = state.clock.now_ms()
    row = ApiKey(key, workspace_id, mode == "live", scopes, now_ms, None)

    async def work(tx: Tx) -> None:
        await workspaces.ensure(tx, workspace_id, now_ms)
        await api_keys.insert(tx, row)

    await state.db.write(work)
    await state.keys.reload(state.db)
    return row


@control
async def create_api_key(request: Request) -> Response:
    body = parse_json_object(await read_body(request))
    row = await create_api_key_from(request.app.state, body)
    return json_response(render_api_key(row), 201)


async def revoke(state: Any, key: str) -> None:
    """Revoke `key`; later use of it is 401 invalid_api_key. Unknown live keys: not_found."""
    if not KEY_PATTERN.fullmatch(key):
        raise HarborError("not_found", "No such API key.")
    now_ms = state.clock.now_ms()
    livemode = key_livemode(key)

    async def work(tx: Tx) -> bool:
        if await api_keys.revoke(tx, key, now_ms):
            return True
        if livemode:
            return False
        # An open-sandbox key has no row yet: record it as revoked, in its default workspace.
        workspace_id = state.keys.default_workspace(key)
        await workspaces.ensure(tx, workspace_id, now_ms)
        await api_keys.insert(tx, ApiKey(key, workspace_id, False, frozenset(SCOPES), now_ms, None))
        return await api_keys.revoke(tx, key, now_ms)

    if not await state.db.write(work):
        raise HarborError("not_found", "No such API key.")
    await state.keys.reload(state.db)


@control
async def revoke_api_key(request: Request) -> Response:
    await revoke(request.app.state, request.path_params["key"])
    return Response(status_code=204)


routes = [
    Route("/_control/workspaces", list_workspaces, methods=["GET"]),
    Route("/_control/workspaces", create_workspace, methods=["POST"]),
    Route("/_control/api_keys", list_api_keys, methods=["GET"]),
    Route("/_control/api_keys", create_api_key, methods=["POST"]),
    Route("/_control/api_keys/{key}", revoke_api_key, methods=["DELETE"]),
]
