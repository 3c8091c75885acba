"""/_control/fixtures (load) and /_control/export (dump)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api.common import json_response
from ..errors import HarborError
from . import fixtures
from .auth import control
from .export import export_state


@control
async def load_fixtures(request: Request) -> Response:
    media_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    media_type = media_type.lower()
    if media_type in fixtures.YAML_MEDIA_TYPES:
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
    )
    return json_response(summary, 201)


@control
async def export(request: Request) -> Response:
    state = request.app.state
    document = await export_state(state.db, state.clock)
    wants = request.query_params.get("format") or request.headers.get("accept", "")
    if "yaml" in wants:
        import yaml  # only exports as YAML need it; keep it off the start-up path

        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        return Response(text, media_type="application/yaml")
    return json_response(document)


routes = [
    Route("/_control/fixtures", load_fixtures, methods=["POST"]),
    Route("/_control/export", export, methods=["GET"]),
]
