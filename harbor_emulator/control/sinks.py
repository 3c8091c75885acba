"""Built-in receivers: `/_sink/{name}` records every request; `/_control/sinks` reads and scripts.

A webhook pointed at `http://127.0.0.1:4280/_sink/orders` needs no receiver of its own:
tests read what arrived from `GET /_control/sinks/orders` and script failures with `PUT`.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections import deque
from dataclasses import dataclass, field
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
from ..clock import Clock, format_ms
from ..errors import HarborError
from .auth import control

# Memory bounds: a sink keeps its newest requests, and each body's first megabyte.
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


@dataclass(frozen=True, slots=True)
class SinkRequest:
    """One request a sink received. `body` is the raw bytes, cut at 1 MB."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_ms: int
    truncated: bool

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def render(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "body": self.text,
            "truncated": self.truncated,
            "received_at": format_ms(self.received_ms),
        }


@dataclass(frozen=True, slots=True)
class ScriptedResponse:
    status: int = 200
    delay_ms: int = 0
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)

    def render(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "delay_ms": self.delay_ms,
            "body": self.body,
            "headers": self.headers,
        }


DEFAULT_RESPONSE = ScriptedResponse()


@dataclass(slots=True)
class Sink:
    requests: deque[SinkRequest] = field(
        default_factory=lambda: deque(maxlen=MAX_REQUESTS_PER_SINK)
    )
    script: deque[ScriptedResponse] = field(default_factory=deque)
    # Every request ever received, including those the bound has since dropped, so
    # waiters count arrivals rather than what is still held.
    received_count: int = 0


class SinkRegistry:
    """The sinks of one app. Lives on `app.state.sinks`; never shared between apps."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._sinks: dict[str, Sink] = {}
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
        sink = self._sinks.setdefault(name, Sink())
        sink.requests.append(
            SinkRequest(
                method=method,
                path=path,
                headers=headers,
                body=body,
                received_ms=self._clock.now_ms(),
                truncated=size > len(body),
            )
        )
        sink.received_count += 1
        answer = sink.script.popleft() if sink.script else DEFAULT_RESPONSE
        condition = self._condition()
        async with condition:
            condition.notify_all()
        return answer

    def requests(self, name: str) -> list[SinkRequest]:
        sink = self._sinks.get(name)
        return list(sink.requests) if sink else []

    def summaries(self) -> list[dict[str, Any]]:
        return [
            {
                "object": "sink",
                "name": name,
                "request_count": len(sink.requests),
                "scripted_responses": len(sink.script),
            }
            for name, sink in sorted(self._sinks.items())
        ]

    def script(self, name: str, responses: list[ScriptedResponse]) -> None:
        """Replace the sink's queue of scripted answers."""
        self._sinks.setdefault(name, Sink()).script = deque(responses)

    def pending_script(self, name: str) -> list[ScriptedResponse]:
        sink = self._sinks.get(name)
        return list(sink.script) if sink else []

    def clear(self, name: str) -> None:
        self._sinks.pop(name, None)

    def clear_all(self) -> None:
        self._sinks.clear()

    async def reset(self) -> None:
        """The reset hook: POST /_control/reset empties every sink."""
        self.clear_all()

    def dump(self) -> dict[str, Any]:
        """Every sink's requests and script as JSON (snapshots); bodies in base64."""
        return {
            name: {
                "received_count": sink.received_count,
                "requests": [
                    {
                        "method": r.method,
                        "path": r.path,
                        "headers": r.headers,
                        "body": base64.b64encode(r.body).decode("ascii"),
                        "received_ms": r.received_ms,
                        "truncated": r.truncated,
                    }
                    for r in sink.requests
                ],
                "script": [answer.render() for answer in sink.script],
            }
            for name, sink in self._sinks.items()
        }

    async def load(self, dumped: dict[str, Any]) -> None:
        """Replace every sink with `dumped` (a snapshot's)."""
        sinks: dict[str, Sink] = {}
        for name, entry in dumped.items():
            sink = Sink(received_count=entry["received_count"])
            for r in entry["requests"]:
                body = base64.b64decode(r["body"])
                sink.requests.append(
                    SinkRequest(
                        r["method"], r["path"], r["headers"], body, r["received_ms"], r["truncated"]
                    )
                )
            sink.script = deque(ScriptedResponse(**answer) for answer in entry["script"])
            sinks[name] = sink
        self._sinks = sinks
        condition = self._condition()
        async with condition:
            condition.notify_all()

    async def wait_for(
        self, name: str, count: int, timeout_seconds: float | None = None
    ) -> list[SinkRequest]:
        """Wait until `name` has received `count` requests (since it was last cleared).

        Raises TimeoutError if they have not all arrived within `timeout_seconds`.
        """
        condition = self._condition()

        def arrived() -> bool:
            sink = self._sinks.get(name)
            return sink is not None and sink.received_count >= count

        async with asyncio.timeout(timeout_seconds), condition:
            await condition.wait_for(arrived)
        return self.requests(name)


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
    data = request.app.state.sinks.summaries()
    return whole_list_response(data)


@control
async def get_sink(request: Request) -> Response:
    requests = request.app.state.sinks.requests(_sink_name(request))
    return whole_list_response([received.render() for received in requests])


@control
async def script_sink(request: Request) -> Response:
    sinks: SinkRegistry = request.app.state.sinks
    name = _sink_name(request)
    sinks.script(name, parse_script(parse_json_object(await read_body(request))))
    return json_response(
        {
            "object": "sink",
            "name": name,
            "request_count": len(sinks.requests(name)),
            "responses": [answer.render() for answer in sinks.pending_script(name)],
        }
    )


@control
async def clear_sink(request: Request) -> Response:
    request.app.state.sinks.clear(_sink_name(request))
    return Response(status_code=204)


@control
async def clear_sinks(request: Request) -> Response:
    request.app.state.sinks.clear_all()
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
