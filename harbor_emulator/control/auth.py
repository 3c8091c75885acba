"""The optional --control-token that guards /_control."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response

from ..errors import HarborError

Handler = Callable[[Request], Awaitable[Response]]


def control(handler: Handler) -> Handler:
    """Require `Authorization: Bearer <token>` when the emulator runs with a control token."""

    @wraps(handler)
    async def run(request: Request) -> Response:
        check_token(request)
        return await handler(request)

    return run


def check_token(request: Request) -> None:
    token = request.app.state.config.control_token
    if not token:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Constant-time, so the token can't be guessed a byte at a time from response times.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), token.encode("utf-8")
    ):
        raise HarborError(
            "authentication_required",
            "This emulator runs with --control-token: send 'Authorization: Bearer <token>'.",
        )
