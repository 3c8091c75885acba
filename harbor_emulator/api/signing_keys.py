"""`/signing-keys` under /v1/webhooks/{id} and /v1/destinations/{id}: rotate and list.

Rotating makes a new current key (its secret shown once) and gives every older key an
expiry `expire_previous_in_seconds` from now on the emulator clock; until then deliveries
carry a signature for each valid key. Listing shows only keys still valid.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..core.errors import HarborError
from ..domain import pagination, render
from ..domain.auth import Principal
from ..domain.idempotency import Claim
from ..signing import new_secret
from ..store import signing_keys
from ..store.db import Tx
from ..store.rows import SigningKey
from .common import check_fields, commit, list_response, path_id, raw_json, v1
from .endpoint_common import SCOPE, SIGNING_KEY_PREFIX, Dialect, load

DEFAULT_EXPIRE_PREVIOUS_SECONDS = 86_400
MAX_EXPIRE_PREVIOUS_SECONDS = 604_800


def parse_expire_previous(value: object) -> int:
    if value is None:
        return DEFAULT_EXPIRE_PREVIOUS_SECONDS
    # JSON true/false arrive as bool, a subclass of int; they are not durations.
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 0 <= value <= MAX_EXPIRE_PREVIOUS_SECONDS
    ):
        raise HarborError(
            "invalid_parameter",
            f"expire_previous_in_seconds must be an integer from 0 to "
            f"{MAX_EXPIRE_PREVIOUS_SECONDS:,}.",
            param="expire_previous_in_seconds",
        )
    return value


async def rotate(
    state: Any,
    principal: Principal,
    dialect: Dialect,
    endpoint_id: str,
    body: dict[str, Any],
    claim: Claim | None = None,
) -> dict[str, Any]:
    """A new current key for the endpoint, its secret in the result (shown only here)."""
    check_fields(body, ("expire_previous_in_seconds",))
    expire_seconds = parse_expire_previous(body.get("expire_previous_in_seconds"))
    now_ms = state.clock.now_ms()
    new_key = SigningKey(
        id=state.ids.new(SIGNING_KEY_PREFIX, now_ms),
        endpoint_id=endpoint_id,
        secret=new_secret(state.random),
        created_ms=now_ms,
        expires_ms=None,
    )

    async def work(tx: Tx) -> dict[str, Any]:
        await load(state, principal, dialect, endpoint_id, tx)
        await signing_keys.rotate(tx, new_key, now_ms + expire_seconds * 1000)
        return render.signing_key(new_key, with_secret=True)

    return await commit(state, work, claim=claim)


async def list_keys(request: Request, dialect: Dialect) -> Response:
    state = request.app.state
    endpoint_id = path_id(request)
    await load(state, request.state.principal, dialect, endpoint_id, state.db)
    query = request.query_params
    limit = pagination.parse_limit(query)
    key = pagination.list_key("signing_keys", endpoint_id=endpoint_id)
    after = pagination.after_keyset(state.cursors, key, query)
    rows = await signing_keys.list_page(
        state.db,
        endpoint_id=endpoint_id,
        now_ms=state.clock.now_ms(),
        after=after,
        limit=limit + 1,
    )
    return list_response(state, rows, limit=limit, key=key, render=render.signing_key)


def routes_for(dialect: Dialect) -> list[Route]:
    @v1(SCOPE)
    async def rotate_key(request: Request) -> Response:
        state, principal = request.app.state, request.state.principal
        rendered = await rotate(
            state, principal, dialect, path_id(request), request.state.json, request.state.claim
        )
        return raw_json(rendered, 201)

    @v1(SCOPE)
    async def list_all(request: Request) -> Response:
        return await list_keys(request, dialect)

    path = dialect.path + "/{id}/signing-keys"
    return [
        Route(path, rotate_key, methods=["POST"]),
        Route(path, list_all, methods=["GET"]),
    ]
