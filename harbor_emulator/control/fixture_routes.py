"""/_control/fixtures (load) and /_control/export (dump)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api.common import json_response
from ..core.errors import HarborError
from ..core.fixture_parsing import YAML_MEDIA_TYPES, collector_paused, release
from . import fixtures
from .auth import control
from .export import StateRows, build_document, read_state


@control
async def load_fixtures(request: Request) -> Response:
    media_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    media_type = media_type.lower()
    if media_type in YAML_MEDIA_TYPES:
        yaml_syntax = True
    elif media_type == "application/json" or media_type.endswith("+json"):
        yaml_syntax = False
    else:
        raise HarborError(
            "unsupported_media_type",
            "Send fixtures as application/json or application/yaml.",
        )
    # ${HARBOR_EMULATOR_URL} is the URL this request reached: what the caller can reach us by.
    summary = await fixtures.load(
        request.app.state,
        # No size limit: an export must always load back (contract: Control API), and only
        # local, same-origin callers reach this route.
        await request.body(),
        source="request body",
        yaml_syntax=yaml_syntax,
        base_url=f"{request.url.scheme}://{request.url.netloc}",
        # The server's environment is not the caller's to read: a body gets only
        # ${HARBOR_EMULATOR_URL} and ${NAME:-default}. Whoever reads a file (the CLI, the
        # client) fills in its own environment before sending it.
        env={},
        # Not gated at the edge (gate.SELF_GATED_REQUESTS): the body is read and checked
        # first, then the load runs alone.
        gate=request.app.state.gate.exclusive,
    )
    return json_response(summary, 201)


@control
async def export(request: Request) -> Response:
    state = request.app.state
    rows = await read_state(state.db, state.clock)
    wants = request.query_params.get("format") or request.headers.get("accept", "")
    # Several MB of state take seconds to build and write as YAML: on a worker thread, like
    # a fixtures load, so that the emulator answers everything else meanwhile.
    return await asyncio.to_thread(_render_export, rows, as_yaml="yaml" in wants)


def _render_export(rows: StateRows, *, as_yaml: bool) -> Response:
    with collector_paused():
        document = build_document(rows)
        try:
            return _render(document, as_yaml=as_yaml)
        finally:
            release(document)


def _render(document: dict[str, Any], *, as_yaml: bool) -> Response:
    if as_yaml:
        import yaml  # only exports as YAML need it; keep it off the start-up path

        # libyaml's emitter when PyYAML has it: 5x faster, the same YAML but for
        # characters outside the BMP, which it writes as escapes (read back the same).
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

        def dump(value: Any) -> str:
            return yaml.dump(value, Dumper=dumper, sort_keys=False, allow_unicode=True)

        return Response("".join(yaml_pieces(document, dump)), media_type="application/yaml")
    return Response(b"".join(_json_pieces(document)), media_type="application/json")


YAML_CHUNK = 64


def yaml_pieces(document: dict[str, Any], dump: Callable[[Any], str]) -> Iterator[str]:
    """The text `dump(document)` writes, written a few list entries at a time: libyaml's
    emitter holds the GIL for a whole call (measured: 190 ms for a 3,300-event export on a
    loaded 2-core machine, so every other request waited as long). A block-style list in a
    mapping is written unindented, as at the top level, so the pieces join to the same text.
    """
    for key, value in document.items():
        if isinstance(value, list) and value:
            yield f"{key}:\n"  # the export's own section names: plain words, never quoted
            for start in range(0, len(value), YAML_CHUNK):
                yield dump(value[start : start + YAML_CHUNK])
        else:
            yield dump({key: value})


def _json_pieces(document: dict[str, Any]) -> Iterator[bytes]:
    """The bytes JSONResponse renders, written one entry of each section at a time: one
    `json.dumps` of several MB holds the GIL, and so every other request, for ~0.3 s."""

    def dumps(value: Any) -> bytes:
        return json.dumps(
            value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("utf-8")

    yield b"{"
    for index, (key, value) in enumerate(document.items()):
        yield (b"," if index else b"") + dumps(key) + b":"
        if isinstance(value, list):
            yield b"[" + b",".join(dumps(item) for item in value) + b"]"
        else:
            yield dumps(value)
    yield b"}"


routes = [
    Route("/_control/fixtures", load_fixtures, methods=["POST"]),
    Route("/_control/export", export, methods=["GET"]),
]
