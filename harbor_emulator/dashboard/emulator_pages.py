"""What only an emulator has: its clock, the built-in sinks and injected faults."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..control import clock_routes
from ..control.sinks import parse_script
from ..core.clock import MAX_MS, MIN_MS
from ..core.errors import HarborError
from ..store import deliveries
from .web import (
    dashboard,
    given,
    json_field,
    number_field,
    page,
    read_form,
    redirect,
    safe_next,
    selection,
)

FELL_DUE_SHOWN = 200
FAULT_FIELDS = (
    "target",
    "method",
    "path",
    "error_code",
    "endpoint_id",
    "outcome",
    "count",
    "probability",
    "seed",
)
NUMERIC_FAULT_FIELDS = ("count", "probability", "seed")


# -- clock -------------------------------------------------------------------------------


def _window(request: Request) -> tuple[int, int] | None:
    """The (from, to) of the last advance, from the page's query; junk shows nothing."""
    try:
        since_ms = int(request.query_params.get("from", ""))
        until_ms = int(request.query_params.get("to", ""))
    except ValueError:
        return None
    # Only times the clock can read: others could not be queried or shown.
    return (since_ms, until_ms) if MIN_MS <= since_ms <= until_ms <= MAX_MS else None


async def _clock(request: Request, **context: Any) -> Response:
    state = request.app.state
    _, livemode = selection(request)
    window = _window(request)
    fell_due = []
    if window is not None:
        fell_due = await deliveries.attempts_between(
            state.db,
            livemode=livemode,
            since_ms=window[0],
            until_ms=window[1],
            limit=FELL_DUE_SHOWN,
        )
    context.setdefault("error", None)
    context.setdefault("form", {})
    return await page(
        request,
        "clock.html",
        context.pop("status_code", 200),
        clock=clock_routes.render_clock(state),
        window=window,
        fell_due=fell_due,
        **context,
    )


@dashboard
async def show_clock(request: Request) -> Response:
    return await _clock(request)


@dashboard
async def advance_clock(request: Request) -> Response:
    """Advance by `seconds` or a `duration` such as 1h30m, running what falls due, then show
    it: back on the clock page, or on the page the header's button was pressed on."""
    state = request.app.state
    form = await read_form(request)
    body: dict[str, Any] = given(form, "duration")
    if form.get("seconds", "").strip():
        body["seconds"] = number_field(form["seconds"].strip())
    try:
        seconds = clock_routes.parse_advance(body)
    except HarborError as exc:
        return await _clock(request, form=dict(form.items()), error=exc, status_code=exc.status)
    since_ms = state.clock.now_ms()
    await clock_routes.move_clock_to(state, since_ms + round(seconds * 1000))
    back = form.get("next")
    if back:
        return RedirectResponse(safe_next(back, "/clock"), status_code=303)
    return redirect(request, "/clock", **{"from": since_ms, "to": state.clock.now_ms()})


@dashboard
async def freeze_clock(request: Request) -> Response:
    state = request.app.state
    form = await read_form(request)
    if form.get("frozen") == "false":
        state.clock.unfreeze()
    else:
        state.clock.freeze()
    await clock_routes.persist_clock(state)
    return redirect(request, "/clock")


# -- sinks -------------------------------------------------------------------------------


async def _sinks(request: Request, name: str | None = None, **context: Any) -> Response:
    registry = request.app.state.sinks
    name = name or request.query_params.get("name") or None
    received = list(reversed(await registry.requests(name))) if name else []
    context.setdefault("error", None)
    context.setdefault("form", {})
    return await page(
        request,
        "sinks.html",
        context.pop("status_code", 200),
        sinks=await registry.summaries(),
        name=name,
        received=received[:200],
        received_count=len(received),
        script=await registry.pending_script(name) if name else [],
        base_url=f"{request.url.scheme}://{request.url.netloc}",
        **context,
    )


@dashboard
async def show_sinks(request: Request) -> Response:
    return await _sinks(request)


@dashboard
async def script_sink(request: Request) -> Response:
    """PUT /_control/sinks/{name} from a form: the next answers, as that JSON body."""
    form = await read_form(request)
    name = str(request.path_params["name"])
    try:
        responses = json_field(form, "responses")
        body: dict[str, Any] = {} if responses is None else {"responses": responses}
        await request.app.state.sinks.script(name, parse_script(body))
    except HarborError as exc:
        return await _sinks(
            request, name, form=dict(form.items()), error=exc, status_code=exc.status
        )
    return redirect(request, "/sinks", name=name)


@dashboard
async def clear_sink(request: Request) -> Response:
    await request.app.state.sinks.clear(str(request.path_params["name"]))
    return redirect(request, "/sinks")


# -- faults ------------------------------------------------------------------------------


async def _faults(request: Request, **context: Any) -> Response:
    context.setdefault("error", None)
    context.setdefault("form", {"target": "delivery"})
    return await page(
        request,
        "faults.html",
        context.pop("status_code", 200),
        faults=request.app.state.faults.list(),
        **context,
    )


@dashboard
async def show_faults(request: Request) -> Response:
    return await _faults(request)


@dashboard
async def add_fault(request: Request) -> Response:
    """POST /_control/faults from a form; blank fields are left out, numbers sent as numbers."""
    form = await read_form(request)
    spec: dict[str, Any] = given(form, *FAULT_FIELDS)
    for name in NUMERIC_FAULT_FIELDS:
        if name in spec:
            spec[name] = number_field(spec[name])
    if "outcome" in spec and spec["outcome"].isdigit():
        spec["outcome"] = int(spec["outcome"])
    # The form has fields for both targets; only the chosen target's are sent.
    other = {"api": ("endpoint_id", "outcome"), "delivery": ("method", "path", "error_code")}
    for name in other.get(spec.get("target", ""), ()):
        spec.pop(name, None)
    try:
        await request.app.state.faults.add(spec)
    except HarborError as exc:
        return await _faults(request, form=dict(form.items()), error=exc, status_code=exc.status)
    return redirect(request, "/faults")


@dashboard
async def delete_fault(request: Request) -> Response:
    fault_id = str(request.path_params["id"])
    if not await request.app.state.faults.remove(fault_id):
        raise HarborError("not_found", f"No fault {fault_id[:100]}.")
    return redirect(request, "/faults")


@dashboard
async def clear_faults(request: Request) -> Response:
    await request.app.state.faults.clear()
    return redirect(request, "/faults")


routes = [
    Route("/clock", show_clock, methods=["GET"]),
    Route("/clock/advance", advance_clock, methods=["POST"]),
    Route("/clock/freeze", freeze_clock, methods=["POST"]),
    Route("/sinks", show_sinks, methods=["GET"]),
    Route("/sinks/{name}/script", script_sink, methods=["POST"]),
    Route("/sinks/{name}/clear", clear_sink, methods=["POST"]),
    Route("/faults", show_faults, methods=["GET"]),
    Route("/faults", add_fault, methods=["POST"]),
    Route("/faults/clear", clear_faults, methods=["POST"]),
    Route("/faults/{id}/delete", delete_fault, methods=["POST"]),
]
