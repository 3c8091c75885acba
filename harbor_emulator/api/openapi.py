"""GET /openapi.json: the API's OpenAPI document (harbor_emulator/openapi.yaml) as JSON.

The YAML file is the one source of truth: the test suite validates every response it sees
against it and the fuzzer generates requests from it, so it is served as written, not
generated from the routes.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DOCUMENT_NAME = "openapi.yaml"


@functools.cache
def document() -> dict[str, Any]:
    """The parsed document, read from the package on first use (not at import: most runs
    never ask for it, and parsing costs ~50 ms). Treat it as read-only."""
    import yaml  # here, not at the top: the server imports this module at start

    text = importlib.resources.files("harbor_emulator").joinpath(DOCUMENT_NAME).read_text("utf-8")
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


@functools.lru_cache(maxsize=8)
def _rendered(server_url: str) -> bytes:
    # `servers` names the address the client reached, so Postman, Prism or a generated SDK
    # imported from a running emulator talk to that emulator, whatever its port.
    served = {**document(), "servers": [{"url": server_url, "description": "this emulator"}]}
    return json.dumps(served, ensure_ascii=False).encode("utf-8")


async def openapi_json(request: Request) -> Response:
    server_url = str(request.base_url).rstrip("/")
    return Response(_rendered(server_url), media_type="application/json")


routes = [Route("/openapi.json", openapi_json, methods=["GET"])]
