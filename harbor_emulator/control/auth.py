"""The optional --control-token that guards /_control."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response

from ..core.errors import HarborError

Handler = Callable[[Request], Awaitable[Response]]

# Set in the request's scope state by the edge's local-security check once it has checked
# the token (before routing, on every /_control path), so handlers don't check it again.
CONTROL_TOKEN_CHECKED = "control_token_checked"


def control(handler: Handler) -> Handler:
    """Require `Authorization: Bearer <token>` when the emulator runs with a control token.

    The edge's local-security check (security.LocalSecurity) already checks it for every
    /_control path; this keeps a handler guarded wherever it is mounted.
    """

    @wraps(handler)
    async def run(request: Request) -> Response:
        if not request.scope.get("state", {}).get(CONTROL_TOKEN_CHECKED):
            check_token(request)
        return await handler(request)

    return run


def check_token(request: Request) -> None:
    token = request.app.state.config.control_token
    if token and not token_matches(request.headers.get("authorization", ""), token):
        raise token_refusal()


def token_matches(authorization: str, token: str) -> bool:
    """Whether an `Authorization` header carries `Bearer <token>`."""
    scheme, _, given = authorization.partition(" ")
    # Constant-time, so the token can't be guessed a byte at a time from response times.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), token.encode("utf-8")
    )


def token_refusal() -> HarborError:
    return HarborError(
        "authentication_required",
        "This emulator runs with --control-token: send 'Authorization: Bearer <token>'.",
    )
