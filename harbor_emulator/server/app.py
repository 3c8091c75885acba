"""create_app(config): routes, middleware, error handlers and the lifespan that builds state."""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..api import deliveries as deliveries_api
from ..api import destinations as destinations_api
from ..api import events as events_api
from ..api import openapi as openapi_api
from ..api import replays as replays_api
from ..api import subscriptions as subscriptions_api
from ..api import webhooks as webhooks_api
from ..api.common import parse_json_object, read_body
from ..control import (
    clock_routes,
    delivery_routes,
    determinism,
    faults,
    listings,
    settings,
    sinks,
    snapshots,
)
from ..control.auth import control
from ..core.clock import Clock, HostTime, format_ms
from ..core.errors import HarborError
from ..core.fast_state import AttributeState
from ..core.ids import IdFactory
from ..core.randomness import Randomness
from ..delivery.scheduler import Scheduler
from ..delivery.sender import Sender
from ..domain.auth import KeyRegistry
from ..domain.idempotency import IdempotencyGuard
from ..domain.ratelimit import RateLimiter
from ..store import backups
from ..store.db import Database, Tx
from .config import Config
from .edge import EdgeMiddleware
from .gate import StateGate

log = logging.getLogger("harbor_emulator")


class HarborApp(Starlette):
    """Starlette, less the two layers that only repeat what another layer does.

    For a small request they were ~4% of its instructions:

    - ServerErrorMiddleware, outermost, answers an exception with a plain 500 unless a
      response has started. `EdgeMiddleware` inside it answers every exception of a request
      with a 500 `internal_error` already (or, should it fail itself before, with that plain
      500), and lets one through only once the response has started, when
      ServerErrorMiddleware only lets it through as well.
    - `request_response`, which makes each function endpoint an ASGI app, catches its
      exceptions by the app's handlers again, with a second `Request` and two closures.
      ExceptionMiddleware, around the router, already does so with the same handlers (it
      puts them in the scope, where the per-route wrapper reads them), so async endpoints
      here are called without it. (No route here takes `middleware=`, which this would
      drop.)
    """

    def __init__(self, *, routes: list[BaseRoute], **kwargs: Any) -> None:
        super().__init__(routes=[_direct(route) for route in routes], **kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        assert isinstance(stack, ServerErrorMiddleware)
        return stack.app


def _direct(route: BaseRoute) -> BaseRoute:
    """A copy of an async function endpoint's route that calls it without Starlette's
    per-route exception handling (see `HarborApp`); other routes as they are. A copy: the
    API modules' route lists are shared by every app in the process."""
    if not (isinstance(route, Route) and inspect.iscoroutinefunction(route.endpoint)):
        return route
    endpoint: Callable[[Request], Awaitable[Response]] = route.endpoint

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)

    direct = copy.copy(route)
    direct.app = app
    return direct


class LazyRoutes(BaseRoute):
    """A module's `routes`, imported when a request first gets as far as them.

    Starlette tries routes in order and stops at the first that matches in full, so routes
    listed last are imported by the first request no earlier route serves (or any 404).
    The dashboard goes there: test suites never open it, and its pages and templates'
    helpers were ~10 ms of every start, a fifth of what the emulator added to a bare
    Starlette app's start. So do fixtures loads and exports (~5 ms: the document checks).
    """

    # Where `matches` leaves the route it chose, for `handle` (the scope is per request).
    _CHOSEN = "harbor_emulator.lazy_route"

    def __init__(self, module: str) -> None:
        self.module = module
        self._routes: list[BaseRoute] | None = None

    @property
    def routes(self) -> list[BaseRoute]:
        if self._routes is None:
            loaded = importlib.import_module(self.module).routes
            self._routes = [_direct(route) for route in loaded]
        return self._routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # As Starlette's Router chooses: the first full match, else the first partial one
        # (a path served with other methods: 405).
        partial: tuple[Match, Scope] | None = None
        for route in self.routes:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return match, {**child_scope, self._CHOSEN: route}
            if match is Match.PARTIAL and partial is None:
                partial = match, {**child_scope, self._CHOSEN: route}
        return partial or (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: BaseRoute = scope.pop(self._CHOSEN)
        await route.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise NoMatchFound(name, path_params)


def _request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "req_unknown")


async def harbor_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HarborError)
    return JSONResponse(exc.body(_request_id(request)), status_code=exc.status, headers=exc.headers)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's routing errors (no route, wrong method) in Harbor's error shape."""
    assert isinstance(exc, HTTPException)
    headers = exc.headers
    if exc.status_code == 405:
        error = HarborError("method_not_allowed", f"{request.method} is not allowed here.")
        headers = {"Allow": _allowed_methods(request)}
    elif exc.status_code == 404:
        error = HarborError("not_found", f"No route {request.url.path[:200]}.")
    else:
        log.error("unexpected HTTPException %s on %s", exc.status_code, request.url.path)
        error = HarborError("internal_error")
    return JSONResponse(error.body(_request_id(request)), status_code=error.status, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path, for the 405's `Allow` (RFC 9110 requires
    it). Starlette's own header names only the first route that matched the path, and a
    path here is usually served by one route per method."""
    methods: set[str] = set()
    for route in flat_routes(request.app.routes):
        if isinstance(route, Route) and route.methods and route.path_regex.match(request.url.path):
            methods |= route.methods
    return ", ".join(sorted(methods))


def flat_routes(routes: list[BaseRoute]) -> list[BaseRoute]:
    """Every route, those a `LazyRoutes` holds included (loading them)."""
    return [
        inner
        for route in routes
        for inner in (route.routes if isinstance(route, LazyRoutes) else [route])
    ]


@control
async def health(request: Request) -> Response:
    state = request.app.state
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "now": format_ms(state.clock.now_ms()),
            # The database file was removed or replaced under the process: writes answer 503.
            "storage": "ok" if state.db.storage_available else "unavailable",
        }
    )


@control
async def reset(request: Request) -> Response:
    state = request.app.state
    seed = determinism.parse_reset(parse_json_object(await read_body(request)))
    await reset_state(state, seed)
    return JSONResponse({"object": "reset", "now": format_ms(state.clock.now_ms())})


async def reset_state(state: Any, seed: int | None = None) -> None:
    """Empty state, clock back on host time and running (seeded: frozen at the start time,
    generators from the seed again; `seed` enters seeded mode), start fixtures loaded again.

    Runs under the state gate (no request writes meanwhile) with the scheduler paused, so
    no attempt of the old state reaches a receiver once the reset has begun.
    """

    async def work(tx: Tx) -> None:
        await state.db.clear_state(tx)

    async with state.scheduler.paused():
        await state.db.write(work)
        if seed is not None or state.random.seeded:
            state.random.reseed(seed if seed is not None else state.random.seed)
            state.ids.reset()
        determinism.start_clock(state)
        determinism.apply_mode(state)
        await clock_routes.persist_clock(state)
    state.cursors = await determinism.cursor_codec(state)
    state.limiter.reset()
    state.idempotency.reset()
    for hook in state.reset_hooks:
        await hook()
    await state.keys.reload(state.db)
    await _load_start_fixtures(state)


def create_app(
    config: Config, *, clock: Clock | None = None, limiter_clock: HostTime = time.monotonic
) -> Starlette:
    """The emulator as an ASGI app. State is built by the lifespan, per app, never global.
    `limiter_clock`: the monotonic seconds rate-limit buckets refill by (tests own it)."""
    the_clock = clock or Clock()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started = time.perf_counter()
        db = await Database.open(config.db_path)
        try:
            state = app.state
            state.config = config
            state.db = db
            stored_clock = await clock_routes.load_clock_state(db)
            if stored_clock is not None:
                state.clock.restore(stored_clock)
            else:
                determinism.start_clock(state)
            state.cursors = await determinism.cursor_codec(state)
            await determinism.observe_stored_ids(state)
            state.keys = KeyRegistry(strict=config.strict)
            await state.keys.reload(db)
            state.limiter = RateLimiter(config.rate_limit, limiter_clock)
            state.idempotency = IdempotencyGuard()
            state.reset_hooks = []
            state.sinks = sinks.SinkRegistry(state.clock, db)
            state.faults = faults.FaultRegistry(state.clock, state.ids, db)
            await state.faults.reload()
            state.reset_hooks.append(state.faults.reset)
            # A snapshot save a crash cut short left its half-written file: nothing else can
            # be saving now (the database is ours alone).
            backups.remove_leftovers(db)
            state.scheduler = Scheduler(
                db,
                state.clock,
                state.ids,
                Sender(
                    concurrency=config.delivery_concurrency,
                    timeout_seconds=config.delivery_timeout_seconds,
                    timestamp=lambda: _attempt_time(app, time.time),
                    timer=lambda: _attempt_time(app, time.perf_counter),
                ),
                concurrency=config.delivery_concurrency,
                take_fault=state.faults.take_delivery_fault,
            )
            state.time_travel = state.scheduler.advance_to
            determinism.apply_mode(state)
            # An invalid file fails the startup; `harbor-emulator start` reports it in one line.
            await _load_start_fixtures(state)
            state.scheduler.start()
            log.debug("state ready in %.0f ms", (time.perf_counter() - started) * 1000)
            try:
                yield
            finally:
                await state.scheduler.stop()
        finally:
            await db.close()

    # Starlette tries routes in order: the API's hot paths first, events first of all.
    routes = [
        *events_api.routes,
        *replays_api.routes,
        *deliveries_api.routes,
        *webhooks_api.routes,
        *destinations_api.routes,
        *subscriptions_api.routes,
        Route("/_control/health", health, methods=["GET"]),
        Route("/_control/reset", reset, methods=["POST"]),
        *clock_routes.routes,
        *settings.routes,
        *delivery_routes.routes,
        *listings.routes,
        *sinks.routes,
        *faults.routes,
        *snapshots.routes,
        *openapi_api.routes,
        # Last, imported when a request first reaches them: fixtures loads and exports
        # (YAML, the document checks), receiver checks (~3 ms: their cases and report),
        # then the pages at /.
        LazyRoutes("harbor_emulator.control.fixture_routes"),
        LazyRoutes("harbor_emulator.control.receiver_check"),
        LazyRoutes("harbor_emulator.dashboard.routes"),
    ]
    app = HarborApp(
        routes=routes,
        # One layer for the access log, the request id, local security and the state
        # gate, in that order (see edge.py): four layers cost ~4% more of a small request.
        middleware=[Middleware(EdgeMiddleware, config)],
        exception_handlers={HarborError: harbor_error_handler, HTTPException: http_error_handler},
        lifespan=lifespan,
    )
    app.state = AttributeState()
    # The middleware needs ids and the clock before the lifespan has run (e.g. to stamp
    # an error); these two are cheap and stateless enough to exist from construction.
    app.state.random = Randomness(config.seed)
    app.state.ids = IdFactory(app.state.random)
    app.state.clock = the_clock
    app.state.gate = StateGate()
    return app


async def _load_start_fixtures(state: Any) -> None:
    """The --fixtures files, at start and after each reset; the loader (YAML, the
    document's checks: ~5 ms of imports) only when there are some."""
    if state.config.fixtures:
        from ..control import fixtures

        await fixtures.load_files(state, state.config.fixtures)


def _attempt_time(app: Starlette, host: Callable[[], float]) -> float:
    """Seconds for Harbor-Timestamp and attempt durations: emulator time in seeded mode."""
    state = app.state
    return state.clock.now_ms() / 1000 if state.random.seeded else host()
