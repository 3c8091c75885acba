"""Built-in receivers: `/_sink/{name}` records every request; `/_control/sinks` reads and scripts.

A webhook pointed at `http://127.0.0.1:4280/_sink/orders` needs no receiver of its own:
tests read what arrived from `GET /_control/sinks/orders` and script failures with `PUT`.
Sinks are state like any other, in the database (store/sinks.py): `--db` keeps them across
restarts, snapshots and reset cover them, and a request is stored before it is answered.
"""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..api.common import (
    check_fields,
    json_response,
    parse_json_object,
    read_body,
    whole_list_response,
)
from ..core.clock import Clock, format_ms
from ..core.errors import HarborError
from ..store import sinks as stored
from ..store.db import Database, Tx
from ..store.rows import ScriptedResponse, SinkRequest, StoredSink
from .auth import control

# Bounds: a sink keeps its newest requests, and each body's first megabyte.
MAX_REQUESTS_PER_SINK = 10_000
MAX_RECORDED_BODY_BYTES = 1024 * 1024
MAX_SCRIPTED_RESPONSES = 1_000
MAX_DELAY_MS = 600_000
MAX_SCRIPTED_BODY_CHARS = 1024 * 1024

SCRIPT_FIELDS = ("responses",)
# The fields of one scripted answer in `PUT /_control/sinks/{name}`.
SCRIPT_ANSWER_FIELDS = ("status", "delay_ms", "body", "headers")

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
# Framing headers are computed from the scripted body; a scripted value would corrupt it.
_RESERVED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})

DEFAULT_RESPONSE = ScriptedResponse()


def render_request(received: SinkRequest) -> dict[str, Any]:
    return {
        "method": received.method,
        "path": received.path,
        "headers": received.headers,
        "body": received.text,
        "truncated": received.truncated,
        "received_at": format_ms(received.received_ms),
    }


def render_answer(answer: ScriptedResponse) -> dict[str, Any]:
    return {
        "status": answer.status,
        "delay_ms": answer.delay_ms,
        "body": answer.body,
        "headers": answer.headers,
    }


class SinkRegistry:
    """The sinks of one app, over its database. Lives on `app.state.sinks`."""

    def __init__(self, clock: Clock, db: Database) -> None:
        self._clock = clock
        self._db = db
        # Created lazily: an asyncio.Condition binds to the loop that first uses it.
        self._arrived: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._arrived is None:
            self._arrived = asyncio.Condition()
        return self._arrived

    async def record(
        self, name: str, method: str, path: str, headers: dict[str, str], body: bytes, size: int
    ) -> ScriptedResponse:
        """Store one received request and return the answer it gets."""
        received = SinkRequest(
            method=method,
            path=path,
            headers=headers,
            body=body,
            received_ms=self._clock.now_ms(),
            truncated=size > len(body),
        )
        answer = await self._db.write_inline(
            lambda tx: stored.record(tx, name, received, MAX_REQUESTS_PER_SINK)
        )
        condition = self._condition()
        async with condition:
            condition.notify_all()
        return answer or DEFAULT_RESPONSE

    async def requests(self, name: str) -> list[SinkRequest]:
        return await stored.requests(self._db, name)

    async def request_count(self, name: str) -> int:
        return await stored.request_count(self._db, name)

    async def summaries(self) -> list[dict[str, Any]]:
        return [
            {
                "object": "sink",
                "name": sink.name,
                "request_count": sink.request_count,
                "scripted_responses": sink.scripted_responses,
            }
            for sink in await stored.summaries(self._db)
        ]

    async def script(self, name: str, responses: list[ScriptedResponse]) -> None:
        """Replace the sink's queue of scripted answers."""
        await self._db.write(lambda tx: stored.script(tx, name, responses))

    async def pending_script(self, name: str) -> list[ScriptedResponse]:
        return await stored.pending_script(self._db, name)

    async def clear(self, name: str) -> None:
        await self._db.write(lambda tx: stored.clear(tx, name))

    async def clear_all(self) -> None:
        await self._db.write(stored.clear_all)

    async def load_dumped(self, dumped: dict[str, Any]) -> None:
        """Replace every sink with `dumped`: what a snapshot saved by an older version, from
        before sinks were in the database, held in its JSON."""
        sinks = [
            StoredSink(
                name=name,
                received_count=entry["received_count"],
                requests=tuple(
                    SinkRequest(
                        r["method"],
                        r["path"],
                        r["headers"],
                        base64.b64decode(r["body"]),
                        r["received_ms"],
                        r["truncated"],
                    )
                    for r in entry["requests"]
                ),
                script=tuple(ScriptedResponse(**answer) for answer in entry["script"]),
            )
            for name, entry in dumped.items()
        ]

        async def work(tx: Tx) -> None:
            await stored.clear_all(tx)
            for sink in sinks:
                await stored.put(tx, sink)

        await self._db.write(work)

    async def wait_for(
        self, name: str, count: int, timeout_seconds: float | None = None
    ) -> list[SinkRequest]:
        """Wait until `name` has received `count` requests (since it was last cleared).

        Raises TimeoutError if they have not all arrived within `timeout_seconds`.
        """
        condition = self._condition()
        async with asyncio.timeout(timeout_seconds), condition:
            # The count is read holding the condition, which each arrival notifies only
            # once committed: an arrival between the read and the wait still wakes it.
            while await stored.received_count(self._db, name) < count:
                await condition.wait()
        return await self.requests(name)


# -- /_sink: the receivers ----------------------------------------------------------


async def _read_capped(request: Request) -> tuple[bytes, int]:
    """The body's first MAX_RECORDED_BODY_BYTES and its full size; the rest is read and
    dropped so a large delivery still gets its answer."""
    kept = bytearray()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        room = MAX_RECORDED_BODY_BYTES - len(kept)
        if room > 0:
            kept += chunk[:room]
    return bytes(kept), size


def _lower_headers(request: Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in request.headers.raw:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        # Repeated headers fold into one, comma-separated, as RFC 9110 allows.
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


class SinkEndpoint:
    """The `/_sink/...` receiver as a raw ASGI app.

    Starlette routes a plain function for GET only unless told its methods; as an ASGI
    app the route accepts every method, as a receiver must.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body, size = await _read_capped(request)
        path = request.url.path
        if request.url.query:
            path = f"{path}?{request.url.query}"
        answer = await request.app.state.sinks.record(
            request.path_params["name"],
            request.method,
            path,
            _lower_headers(request),
            body,
            size,
        )
        if answer.delay_ms:
            # A slow receiver is simulated in host time: delivery timeouts are host time.
            await asyncio.sleep(answer.delay_ms / 1000)
        no_body = request.method == "HEAD" or answer.status in (204, 304)
        response = Response(
            b"" if no_body else answer.body.encode("utf-8"),
            status_code=answer.status,
            headers=answer.headers,
            # Used only when the script sets no Content-Type of its own.
            media_type="text/plain",
        )
        await response(scope, receive, send)


# -- /_control/sinks ----------------------------------------------------------------


def _int_in(value: object, low: int, high: int, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise HarborError(
            "invalid_parameter", f"'{param}' must be an integer from {low} to {high}.", param=param
        )
    return value


def _scripted_headers(value: object, param: str) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > 100:
        raise HarborError(
            "invalid_parameter", f"'{param}' must be an object of header names.", param=param
        )
    headers: dict[str, str] = {}
    for name, header_value in value.items():
        if (
            not _HEADER_NAME.fullmatch(name)
            or name.lower() in _RESERVED_HEADERS
            or not isinstance(header_value, str)
            or len(header_value) > 8192
            or any(c in header_value for c in "\r\n\x00")
            or not header_value.isascii()
        ):
            raise HarborError(
                "invalid_parameter",
                f"'{param}' holds an invalid or reserved header {name[:100]!r}.",
                param=f"{param}.{name[:100]}",
            )
        # Header names are case-insensitive; lower-case like the recorded requests.
        headers[name.lower()] = header_value
    return headers


def parse_script(body: dict[str, Any]) -> list[ScriptedResponse]:
    check_fields(body, SCRIPT_FIELDS)
    responses = body.get("responses")
    if responses is None:
        raise HarborError("missing_parameter", "'responses' is required.", param="responses")
    if not isinstance(responses, list) or len(responses) > MAX_SCRIPTED_RESPONSES:
        raise HarborError(
            "invalid_parameter",
            f"'responses' must be a list of at most {MAX_SCRIPTED_RESPONSES} answers.",
            param="responses",
        )
    script = []
    for index, item in enumerate(responses):
        param = f"responses[{index}]"
        if not isinstance(item, dict):
            raise HarborError("invalid_parameter", f"'{param}' must be an object.", param=param)
        unknown = [name for name in item if name not in SCRIPT_ANSWER_FIELDS]
        if unknown:
            allowed = ", ".join(SCRIPT_ANSWER_FIELDS)
            raise HarborError(
                "invalid_parameter",
                f"Unknown parameter '{unknown[0][:100]}'. Allowed: {allowed}.",
                param=f"{param}.{unknown[0][:100]}",
            )
        answer_body = item.get("body", DEFAULT_RESPONSE.body)
        if not isinstance(answer_body, str) or len(answer_body) > MAX_SCRIPTED_BODY_CHARS:
            raise HarborError(
                "invalid_parameter", f"'{param}.body' must be a string.", param=f"{param}.body"
            )
        script.append(
            ScriptedResponse(
                # 1xx are interim answers in HTTP: sent as final they break the exchange.
                status=_int_in(item.get("status", 200), 200, 599, f"{param}.status"),
                delay_ms=_int_in(item.get("delay_ms", 0), 0, MAX_DELAY_MS, f"{param}.delay_ms"),
                body=answer_body,
                headers=_scripted_headers(item.get("headers", {}), f"{param}.headers"),
            )
        )
    return script


def _sink_name(request: Request) -> str:
    return str(request.path_params["name"])


@control
async def list_sinks(request: Request) -> Response:
    data = await request.app.state.sinks.summaries()
    return whole_list_response(data)


@control
async def get_sink(request: Request) -> Response:
    requests = await request.app.state.sinks.requests(_sink_name(request))
    return whole_list_response([render_request(received) for received in requests])


@control
async def script_sink(request: Request) -> Response:
    sinks: SinkRegistry = request.app.state.sinks
    name = _sink_name(request)
    await sinks.script(name, parse_script(parse_json_object(await read_body(request))))
    return json_response(
        {
            "object": "sink",
            "name": name,
            "request_count": await sinks.request_count(name),
            "responses": [render_answer(answer) for answer in await sinks.pending_script(name)],
        }
    )


@control
async def clear_sink(request: Request) -> Response:
    await request.app.state.sinks.clear(_sink_name(request))
    return Response(status_code=204)


@control
async def clear_sinks(request: Request) -> Response:
    await request.app.state.sinks.clear_all()
    return Response(status_code=204)


_receiver = SinkEndpoint()

routes = [
    Route("/_sink/{name}", _receiver),
    Route("/_sink/{name}/{rest:path}", _receiver),
    Route("/_control/sinks", list_sinks, methods=["GET"]),
    Route("/_control/sinks", clear_sinks, methods=["DELETE"]),
    Route("/_control/sinks/{name}", get_sink, methods=["GET"]),
    Route("/_control/sinks/{name}", script_sink, methods=["PUT"]),
    Route("/_control/sinks/{name}", clear_sink, methods=["DELETE"]),
]
