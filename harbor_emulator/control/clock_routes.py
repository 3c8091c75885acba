"""/_control/clock: read, advance, set, freeze and unfreeze the emulator clock."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api.common import check_fields, json_response, parse_json_object, read_body
from ..core.clock import (
    MAX_MS,
    ClockState,
    check_in_range,
    format_ms,
    parse_duration,
    parse_timestamp,
)
from ..core.errors import HarborError
from ..store import meta
from ..store.db import Database, Tx
from .auth import control

CLOCK_META_KEY = "clock"
# Past this no advance can stay in the clock's range; the range check gives the real answer.
MAX_ADVANCE_SECONDS = MAX_MS // 1000


def render_clock(state: Any) -> dict[str, Any]:
    clock = state.clock
    return {
        "now": format_ms(clock.now_ms()),
        "frozen": clock.frozen,
        "offset_seconds": clock.offset_seconds(),
    }


async def load_clock_state(db: Database) -> ClockState | None:
    raw = await meta.get(db, CLOCK_META_KEY)
    if raw is None:
        return None
    stored = json.loads(raw)
    return ClockState(float(stored["offset_seconds"]), stored["frozen_at_ms"])


async def persist_clock(state: Any) -> None:
    """Write the clock's offset so a restart with --db keeps emulator time."""
    snapshot = state.clock.state()
    value = json.dumps(
        {"offset_seconds": snapshot.offset_seconds, "frozen_at_ms": snapshot.frozen_at_ms}
    )

    async def work(tx: Tx) -> None:
        await meta.put(tx, CLOCK_META_KEY, value)

    await state.db.write(work)


async def move_clock_to(state: Any, target_ms: int, param: str = "now") -> None:
    """Move the clock forward to `target_ms`, running every delivery attempt that falls due
    on the way, each at its own scheduled time, before returning.

    Callers hold the state gate exclusively (gate.py), so concurrent moves add up exactly.
    """
    check_in_range(target_ms, param)
    if target_ms < state.clock.now_ms():
        raise HarborError(
            "invalid_parameter", "The clock only moves forward; now is earlier.", param="now"
        )
    await state.time_travel(target_ms)
    await persist_clock(state)


async def _body(request: Request) -> dict[str, Any]:
    return parse_json_object(await read_body(request))


@control
async def get_clock(request: Request) -> Response:
    return json_response(render_clock(request.app.state))


def parse_advance(body: dict[str, Any]) -> float:
    """Seconds to advance by, from `{"seconds": n}` or `{"duration": "1h30m"}`."""
    check_fields(body, ("seconds", "duration"))
    if "seconds" in body and "duration" in body:
        # Both present: nothing is missing, the two conflict.
        raise HarborError(
            "invalid_parameter",
            "Send 'seconds' or 'duration', not both.",
            param="seconds",
        )
    if "seconds" not in body and "duration" not in body:
        raise HarborError(
            "missing_parameter", "Send one of 'seconds' or 'duration'.", param="seconds"
        )
    if "seconds" in body:
        seconds = body["seconds"]
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or not 0 <= seconds <= MAX_ADVANCE_SECONDS
        ):
            raise HarborError(
                "invalid_parameter", "'seconds' must be a number of seconds >= 0.", param="seconds"
            )
    else:
        duration = body["duration"]
        try:
            seconds = parse_duration(duration) if isinstance(duration, str) else -1
        except ValueError:
            seconds = -1
        if not 0 <= seconds <= MAX_ADVANCE_SECONDS:
            raise HarborError(
                "invalid_parameter",
                "'duration' must look like 90s, 5m, 1h30m or 2d.",
                param="duration",
            )
    return float(seconds)


@control
async def advance_clock(request: Request) -> Response:
    body = await _body(request)
    seconds = parse_advance(body)
    state = request.app.state
    param = "seconds" if "seconds" in body else "duration"
    await move_clock_to(state, state.clock.now_ms() + round(seconds * 1000), param)
    return json_response(render_clock(state))


@control
async def set_clock(request: Request) -> Response:
    body = await _body(request)
    check_fields(body, ("now",))
    if "now" not in body:
        raise HarborError("missing_parameter", "'now' is required.", param="now")
    state = request.app.state
    await move_clock_to(state, parse_timestamp(body["now"], "now"))
    return json_response(render_clock(state))


@control
async def freeze_clock(request: Request) -> Response:
    state = request.app.state
    state.clock.freeze()
    await persist_clock(state)
    return json_response(render_clock(state))


@control
async def unfreeze_clock(request: Request) -> Response:
    state = request.app.state
    state.clock.unfreeze()
    await persist_clock(state)
    return json_response(render_clock(state))


routes = [
    Route("/_control/clock", get_clock, methods=["GET"]),
    Route("/_control/clock/advance", advance_clock, methods=["POST"]),
    Route("/_control/clock/set", set_clock, methods=["POST"]),
    Route("/_control/clock/freeze", freeze_clock, methods=["POST"]),
    Route("/_control/clock/unfreeze", unfreeze_clock, methods=["POST"]),
]
