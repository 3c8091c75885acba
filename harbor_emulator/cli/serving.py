"""Serving a Config with uvicorn until a signal: what `harbor-emulator start` runs once its
options are read (start.py), imported only then."""

from __future__ import annotations

import dataclasses
import gc
import logging
import shutil
import socket
import sys
from typing import TYPE_CHECKING, Any

import click
import uvicorn

from .. import __version__
from ..core.logs import configure_logging
from ..server.app import create_app
from ..server.config import Config
from ..server.lifecycle import OPEN_RESPONSE_SECONDS, StoppingServer
from ..server.sockets import bind_problem, bind_socket

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A start that cannot serve (port taken, unusable --db, invalid fixtures), like a usage error.
EXIT_CANNOT_START = 2


def serve(config: Config, *, exit_with_stdin: bool = False) -> int:
    """Run the server until SIGINT/SIGTERM (or the end of stdin); return the exit status.

    Whatever it is doing, the process ends within the contract's time (lifecycle.py).
    """
    log_handler = configure_logging(config.log_level, config.log_format)
    # Bound here, not by uvicorn: a taken port is one clear line, and the app knows its real
    # port (for --port 0) before its lifespan loads fixtures that name ${HARBOR_EMULATOR_URL}.
    try:
        sock = bind_socket(config.host, config.port)
    except OSError as exc:
        click.echo(f"error: {bind_problem(config.host, config.port, exc)}", err=True)
        return EXIT_CANNOT_START
    config = dataclasses.replace(config, port=sock.getsockname()[1])
    harbor_app = create_app(config)
    log_handler.follow(harbor_app.state.clock)  # every line on the emulator clock
    app = _StartupWatch(harbor_app)
    server = _AnnouncingServer(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            lifespan="on",
            # No route takes a WebSocket: without this, uvicorn imports a WebSocket library
            # at every start (~10 ms), and an upgrade request gets a plain HTTP answer.
            ws="none",
            # Our handler formats uvicorn's records too, so JSON lines stay JSON.
            log_config=None,
            log_level=config.log_level,
            access_log=False,
            # The app sets Date itself (emulator time in seeded mode).
            date_header=False,
            # Deliveries to our own /_sink arrive over loopback; keep connections cheap.
            timeout_keep_alive=30,
            timeout_graceful_shutdown=OPEN_RESPONSE_SECONDS,
        ),
        before_forced_exit=lambda: _remove_private_state(harbor_app),
    )
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addFilter(_without_startup_chatter)
    uvicorn_log.addFilter(server.quiet_cut_responses)
    if exit_with_stdin:
        server.stop_at_end_of_stdin()
    try:
        server.run(sockets=[sock])
    except SystemExit:
        pass  # uvicorn exits this way when the lifespan failed; the watch knows why
    finally:
        sock.close()
    if app.failure is not None:
        click.echo(f"error: {_start_problem(config, app.failure)}", err=True)
        return EXIT_CANNOT_START
    return 0 if server.started else 1


def _start_problem(config: Config, exc: BaseException) -> str:
    import sqlite3  # only a failed start needs these

    from ..core.errors import HarborError
    from ..store.lockfile import DatabaseInUse

    if isinstance(exc, DatabaseInUse):  # names the pid holding the database
        return str(exc)
    if isinstance(exc, HarborError) and exc.code == "invalid_fixtures":
        return f"{exc.code}: {exc.message}; fix the file or leave it out"
    storage = isinstance(exc, sqlite3.Error | OSError) or (
        isinstance(exc, HarborError) and exc.code == "storage_unavailable"
    )
    if storage and config.db_path is not None:
        reason = exc.message if isinstance(exc, HarborError) else str(exc)
        if reason == "file is not a database":
            reason = "it is not a SQLite database"
        return (
            f"cannot use --db {config.db_path}: {reason}; pass another path (in a writable "
            "directory), or leave --db out for a fresh state"
        )
    return f"the emulator could not start: {type(exc).__name__}: {exc}"


# uvicorn's start-up chatter: our "listening on" line says the server is ready, and serve()
# says once, with its cause and fix, why it could not start. A failed start is one line.
_STARTUP_CHATTER = (
    "Started server process",
    "Waiting for application startup.",
    "Application startup complete.",
    "Application startup failed. Exiting.",
    "Uvicorn running on",
)


def _without_startup_chatter(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(_STARTUP_CHATTER)


# The young generation is collected every this many allocations of container objects
# (CPython's default: 700), and the older ones ten times rarer than by default.
GC_THRESHOLDS = (20_000, 50, 100)


def tune_gc_for_serving() -> None:
    """Make the cyclic garbage collector fit a long-running server, once it has started.

    Collector pauses were the tail of the latency: p99 of POST /v1/events at 64
    connections 28-31 ms with CPython's defaults, 13-23 ms like this (and 13-15 -> 5-6 ms
    at 16), for a few MB more garbage between collections. Everything built during startup
    (modules, routes, templates, the app's state) lives as long as the process, so it is
    frozen out of collections instead of being traversed by each one. Only the young
    generations are collected before: a full collection of that heap cost 15-25 ms (of a
    ~300 ms start) to find a handful of objects, which the freeze now keeps.

    Only `harbor-emulator start` does this: an emulator embedded in a test process (the
    pytest plugin, `harbor_emulator.testing`) leaves that process's collector alone.
    """
    gc.collect(1)
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class _StartupWatch:
    """Keeps why the app's lifespan failed, and keeps its traceback out of uvicorn's log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.failure: BaseException | None = None
        self._started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def quiet_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self._started = True
                tune_gc_for_serving()
            elif message["type"] == "lifespan.startup.failed":
                message = {**message, "message": ""}
            await send(message)

        try:
            await self.app(scope, receive, quiet_send)
        except BaseException as exc:
            if not self._started:
                self.failure = exc
            raise


def _remove_private_state(app: Starlette) -> None:
    """The fresh state of a run without --db, which the clean stop would have removed."""
    db = getattr(app.state, "db", None)  # None until the lifespan has opened it
    if db is not None and db.temp_dir is not None:
        shutil.rmtree(db.temp_dir, ignore_errors=True)


class _AnnouncingServer(StoppingServer):
    """Prints one line with the URL once the server accepts connections."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit or not self.servers:
            return
        address: Any = self.servers[0].sockets[0].getsockname()
        host, port = address[0], address[1]
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"harbor-emulator {__version__} listening on http://{shown}:{port}")
        sys.stdout.flush()
