"""What every /v1 handler shares: the request pipeline, body parsing and the write path.

Pipeline of a /v1 request, in this order: authenticate (401s touch no bucket), take a
rate-limit token, check the scope, read and parse the body, claim the Idempotency-Key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import wraps
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from ..core import jsontext
from ..core.errors import HarborError
from ..core.fast_state import AttributeState
from ..domain import idempotency, pagination
from ..domain.auth import Principal, named_workspace
from ..store.db import Tx

Handler = Callable[[Request], Awaitable[Response]]

MAX_BODY_BYTES = 1024 * 1024
JSON_MEDIA_TYPE = "application/json"
# A \uD800-\uDFFF escape may be a lone surrogate, which no UTF-8 text can hold.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def v1(scope: str) -> Callable[[Handler], Handler]:
    """Wrap a /v1 handler in the API pipeline; `scope` is the one the route needs."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def run(request: Request) -> Response:
            # Starlette caches `request.state` here; this one reads at attribute speed.
            # (Locals for it and the method: Starlette's properties are calls each time.)
            request._state = request_state = AttributeState(request.scope.setdefault("state", {}))
            method = request.method
            state = request.app.state
            # Injected faults come first: they stand for an outage in front of the API.
            # scope["path"], not request.url.path: building the URL costs ~6% of a request.
            if fault := await state.faults.take_api_fault(method, request.scope["path"]):
                raise fault
            principal = state.keys.authenticate(request.headers.get("authorization"))
            state.limiter.take(principal.key)
            principal.require(scope)
            request_state.claim = None
            body, raw = None, b""
            if method in ("POST", "PATCH", "PUT"):
                raw = await read_body(request)
                request_state.json = body = parse_json_object(raw)
            if principal.adopts:  # an open-sandbox key's first use or first workspace named
                # Most requests have no query string: skip parsing an empty one.
                query = request.query_params if request.scope["query_string"] else {}
                named = named_workspace(body, query)
                principal = await state.keys.adopt(state.db, state.clock.now_ms(), principal, named)
            request_state.principal = principal
            if method == "POST" and idempotency.HEADER in request.headers:
                return await _idempotent(request, handler, principal, raw)
            return await handler(request)

        return run

    return decorate


async def _idempotent(
    request: Request, handler: Handler, principal: Principal, raw: bytes
) -> Response:
    state = request.app.state
    key = idempotency.validate_key(request.headers[idempotency.HEADER])
    outcome = await state.idempotency.claim(
        state.db,
        api_key=principal.key,
        key=key,
        fingerprint=idempotency.fingerprint(request.method, request.scope["path"], raw),
        now_ms=state.clock.now_ms(),
    )
    if isinstance(outcome, idempotency.Replay):
        return Response(
            outcome.body,
            status_code=outcome.status,
            media_type=JSON_MEDIA_TYPE,
            headers={"Idempotent-Replayed": "true"},
        )
    request.state.claim = outcome
    try:
        return await handler(request)
    finally:
        state.idempotency.release(outcome)


async def read_body(request: Request) -> bytes:
    """The body, refused with 413 past 1 MB without buffering more than that."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HarborError("payload_too_large", "The request body is larger than 1 MB.")
    body = await _receive_body(request)
    if body.strip():
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != JSON_MEDIA_TYPE and not media_type.endswith("+json"):
            raise HarborError(
                "unsupported_media_type",
                "Send the body as JSON with 'Content-Type: application/json'.",
            )
    return body


async def _receive_body(request: Request) -> bytes:
    """The body straight from ASGI `receive`: Starlette's `request.stream()` is an async
    generator, which the event loop tracks in a WeakSet (~1% of a request)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HarborError("payload_too_large", "The request body is larger than 1 MB.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    # What Starlette's own reading would leave: a later request.body() gets the same bytes.
    request._body = body
    request._stream_consumed = True
    return body


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        # 1e400 parses as inf, which no JSON text can hold: storing it would make every
        # later read of the object fail to serialize (contract: Numbers).
        raise ValueError(f"the number {text[:40]} does not fit a finite double")
    return value


def loads_json(text: str) -> Any:
    """json.loads that refuses NaN, Infinity and numbers too large for a finite double."""
    return jsontext.loads(text, _strict_loads)


def _strict_loads(text: str) -> Any:
    return json.loads(text, parse_constant=_no_constants, parse_float=_finite_float)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a request body; an empty body is an empty object."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
        value = loads_json(text)
        if _SURROGATE_ESCAPE.search(text):
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeError:
        raise HarborError("invalid_json", "The body is not valid UTF-8 JSON.") from None
    except (ValueError, RecursionError) as exc:
        raise HarborError("invalid_json", f"The body is not valid JSON: {_short(exc)}") from None
    if not isinstance(value, dict):
        raise HarborError("invalid_json", "The body must be a JSON object.")
    return value


def _short(exc: BaseException) -> str:
    return str(exc)[:200] or type(exc).__name__


def check_fields(body: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Unknown fields are refused, as Stripe does, so a typo never passes silently."""
    allowed = set(allowed)
    for name in body:
        if name not in allowed:
            raise HarborError(
                "invalid_parameter",
                f"Unknown parameter '{name[:100]}'. Allowed: {', '.join(sorted(allowed))}.",
                param=name[:100],
            )


def required(body: Mapping[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None:
        raise HarborError("missing_parameter", f"'{name}' is required.", param=name)
    return value


def optional_str(body: Mapping[str, Any], name: str, max_length: int = 1024) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        raise HarborError(
            "invalid_parameter",
            f"'{name}' must be a string of at most {max_length} characters.",
            param=name,
        )
    return value


def compact_json(value: Any, param: str) -> str:
    """The compact form sizes are measured on: no spaces, UTF-8, non-ASCII unescaped."""
    try:
        return jsontext.dumps_compact(value, allow_nan=False)
    except ValueError:
        # A non-finite float that reached here by another path than a parsed body.
        raise HarborError(
            "invalid_json", f"'{param}' holds a number that is not finite.", param=param
        ) from None
    except (RecursionError, TypeError):
        raise HarborError(
            "invalid_parameter", f"'{param}' cannot be stored.", param=param
        ) from None


def utf8_size(text: str, param: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise HarborError(
            "invalid_json", f"'{param}' holds text that is not valid Unicode."
        ) from None


def dumps(value: Any) -> bytes:
    return jsontext.dumps_compact_bytes(value)


async def commit(
    state: Any,
    work: Callable[[Tx], Awaitable[Any]],
    *,
    claim: idempotency.Claim | None = None,
    status_code: int = 201,
    inline: bool = False,
) -> Any:
    """Run `work` as one transaction and return what it returns (a rendered object).

    With an Idempotency-Key `claim`, the response body is stored in the same transaction.
    The dashboard calls the handlers' cores with no claim. `inline`: `work` qualifies for
    `Database.write_inline` (it awaits only its Tx and touches no event-loop object).
    """

    async def transaction(tx: Tx) -> Any:
        value = await work(tx)
        if claim is not None:
            await idempotency.record(tx, claim, status_code, dumps(value), state.clock.now_ms())
        return value

    if inline:
        return await state.db.write_inline(transaction)
    return await state.db.write(transaction)


async def commit_write(
    request: Request,
    work: Callable[[Tx], Awaitable[Any]],
    status_code: int = 201,
) -> Response:
    """`commit` for a /v1 handler: its claim in, the rendered value out as JSON."""
    value = await commit(
        request.app.state, work, claim=request.state.claim, status_code=status_code
    )
    return raw_json(value, status_code)


def raw_json(value: Any, status_code: int = 200) -> Response:
    """Compact JSON, byte-identical to what an Idempotency-Key stored for the same value."""
    return Response(dumps(value), status_code=status_code, media_type=JSON_MEDIA_TYPE)


def list_response(
    state: Any,
    rows: Sequence[Any],
    *,
    limit: int,
    key: str,
    render: Callable[[Any], dict[str, Any]],
    keyset: Callable[[Any], pagination.Keyset] = lambda row: (row.created_ms, row.id),
) -> Response:
    """A list page (rows fetched with `limit + 1`) as the response of a list route."""
    return json_response(
        pagination.page(
            rows, limit=limit, codec=state.cursors, key=key, keyset=keyset, render=render
        )
    )


def whole_list_response(data: list[Any]) -> Response:
    """A list object holding everything there is (control lists are not paginated)."""
    return json_response({"object": "list", "data": data, "has_more": False, "next_cursor": None})


def json_response(value: Any, status_code: int = 200) -> Response:
    return JSONResponse(value, status_code=status_code)


def path_id(request: Request, name: str = "id") -> str:
    return str(request.path_params[name])
