"""/_control/deliveries/drain: wait until the delivery queue is quiet."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api.common import check_fields, json_response, parse_json_object, read_body
from ..core.errors import HarborError
from .auth import control

MAX_DRAIN_SECONDS = 600


@control
async def drain(request: Request) -> Response:
    body = parse_json_object(await read_body(request))
    check_fields(body, ("timeout_seconds",))
    timeout = body.get("timeout_seconds", 10)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or not 0 <= timeout <= MAX_DRAIN_SECONDS
    ):
        raise HarborError(
            "invalid_parameter",
            f"'timeout_seconds' must be a number from 0 to {MAX_DRAIN_SECONDS}.",
            param="timeout_seconds",
        )
    pending = await request.app.state.scheduler.drain(float(timeout))
    return json_response({"drained": pending == 0, "pending": pending})


routes = [Route("/_control/deliveries/drain", drain, methods=["POST"])]
