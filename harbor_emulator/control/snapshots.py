"""`/_control/snapshots`: save the whole state under a name, list, restore, delete.

Saving and restoring hold the state gate exclusively (gate.py): a save is a consistent
copy, and a restore is one step for every other caller. A restore also pauses delivery:
attempts in flight are abandoned, and the restored state's due deliveries go out again.
"""

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
from ..store.backups import NAME_PATTERN, SnapshotInfo, SnapshotStore
from . import clock_routes, determinism
from .auth import control


def render(info: SnapshotInfo) -> dict[str, Any]:
    return {
        "object": "snapshot",
        "name": info.name,
        "created_at": format_ms(info.created_ms),
        "size_bytes": info.size_bytes,
    }


def check_name(value: object) -> str:
    if value is None:
        raise HarborError("missing_parameter", "'name' is required.", param="name")
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise HarborError(
            "invalid_parameter",
            "'name' is 1-64 of letters, digits, '_', '.' and '-', starting with a letter or digit.",
            param="name",
        )
    return value


def _not_found(name: str) -> HarborError:
    return HarborError("not_found", f"No snapshot {name[:100]!r}.")


def store_of(state: Any) -> SnapshotStore:
    return SnapshotStore(state.db)


async def save_snapshot(state: Any, name: str) -> SnapshotInfo:
    return await store_of(state).save(name, state.clock.now_ms(), determinism.dump_memory(state))


async def restore_snapshot(state: Any, name: str) -> SnapshotInfo:
    """Put snapshot `name` back: database, clock, sinks, faults, generators; the caches
    that mirror the database are reloaded as after a reset."""
    store = store_of(state)
    info = await store.get(name)
    if info is None:
        raise _not_found(name)
    async with state.scheduler.paused():
        memory = await store.restore(name)
        if memory is None:  # deleted meanwhile
            raise _not_found(name)
        await determinism.load_memory(state, memory)
        await clock_routes.persist_clock(state)
        determinism.apply_mode(state)
    state.limiter.reset()
    state.idempotency.reset()
    state.cursors = await determinism.cursor_codec(state)
    await state.keys.reload(state.db)
    return info


@control
async def create(request: Request) -> Response:
    body = parse_json_object(await read_body(request))
    check_fields(body, ("name",))
    info = await save_snapshot(request.app.state, check_name(body.get("name")))
    return json_response(render(info), 201)


@control
async def list_all(request: Request) -> Response:
    infos = await store_of(request.app.state).list()
    return whole_list_response([render(info) for info in infos])


@control
async def restore(request: Request) -> Response:
    name = str(request.path_params["name"])
    if not NAME_PATTERN.fullmatch(name):
        raise _not_found(name)
    info = await restore_snapshot(request.app.state, name)
    return json_response(render(info))


@control
async def delete(request: Request) -> Response:
    name = str(request.path_params["name"])
    if not NAME_PATTERN.fullmatch(name) or not store_of(request.app.state).delete(name):
        raise _not_found(name)
    return Response(status_code=204)


routes = [
    Route("/_control/snapshots", create, methods=["POST"]),
    Route("/_control/snapshots", list_all, methods=["GET"]),
    Route("/_control/snapshots/{name}/restore", restore, methods=["POST"]),
    Route("/_control/snapshots/{name}", delete, methods=["DELETE"]),
]
