"""`harbor-emulator start`: build a Config from the options and serve it until a signal."""

from __future__ import annotations

import dataclasses
import gc
import ipaddress
import logging
import shutil
import socket
import sys
from typing import TYPE_CHECKING, Any

import click
import uvicorn

from .. import __version__
from ..server.config import DEFAULT_HOST, DEFAULT_PORT, LOG_FORMATS, Config
from ..server.lifecycle import OPEN_RESPONSE_SECONDS, StoppingServer
from ..server.sockets import bind_problem, bind_socket
from .remote import setting

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
# A start that cannot serve (port taken, unusable --db, invalid fixtures), like a usage error.
EXIT_CANNOT_START = 2


@click.command()
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    envvar="HARBOR_EMULATOR_HOST",
    help="Address to listen on.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    envvar="HARBOR_EMULATOR_PORT",
    help="Port to serve on; 0 picks a free one.",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    envvar="HARBOR_EMULATOR_DB",
    help="SQLite file that keeps all state across restarts. Default: a fresh state for each start.",
)
@click.option(
    "--fixtures",
    "fixtures",
    type=click.Path(exists=True, dir_okay=False),
    multiple=True,
    envvar="HARBOR_EMULATOR_FIXTURES",
    help="YAML or JSON fixtures loaded at start and after each reset; repeatable, loaded in order.",
)
@click.option(
    "--strict",
    is_flag=True,
    default=False,
    envvar="HARBOR_EMULATOR_STRICT",
    help="Only keys and workspaces that fixtures define exist.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0),
    default=100.0,
    show_default=True,
    envvar="HARBOR_EMULATOR_RATE_LIMIT",
    help="Requests per second per API key (burst equal); 0 switches it off.",
)
@click.option(
    "--control-token",
    default=None,
    envvar="HARBOR_EMULATOR_CONTROL_TOKEN",
    help="Require 'Authorization: Bearer TOKEN' on /_control routes.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    envvar="HARBOR_EMULATOR_ALLOWED_HOST",
    callback=lambda _ctx, _param, values: _host_names(values),
    help="Also answer requests whose Host is NAME (a tunnel's or cloud IDE's); repeatable, "
    "'*' for any. Default: loopback and --host (any Host when --host is 0.0.0.0 or ::).",
)
@click.option(
    "--max-endpoints",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    envvar="HARBOR_EMULATOR_MAX_ENDPOINTS",
    help="Webhooks plus destinations allowed per workspace.",
)
@click.option(
    "--delivery-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    envvar="HARBOR_EMULATOR_DELIVERY_TIMEOUT",
    help="Seconds a receiver has to answer one delivery attempt.",
)
@click.option(
    "--delivery-concurrency",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    envvar="HARBOR_EMULATOR_DELIVERY_CONCURRENCY",
    help="Delivery attempts in flight at once.",
)
@click.option(
    "--seed",
    type=click.IntRange(-(2**63), 2**63 - 1),
    default=None,
    envvar="HARBOR_EMULATOR_SEED",
    help="Deterministic run: ids, secrets and fault draws from this seed, the clock frozen at "
    "--start-time, Harbor-Timestamp in emulator time; same requests, same bytes.",
)
@click.option(
    "--start-time",
    default=None,
    metavar="RFC3339",
    envvar="HARBOR_EMULATOR_START_TIME",
    callback=lambda _ctx, _param, value: _start_time(value),
    help="Start with the clock frozen at this instant (with --seed: default 2026-01-01T00:00:00Z).",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS),
    default="info",
    show_default=True,
    envvar="HARBOR_EMULATOR_LOG_LEVEL",
    help="Server log verbosity: info logs one line per request and per delivery attempt.",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    envvar="HARBOR_EMULATOR_LOG_FORMAT",
    help="text for a terminal (colour on a TTY unless NO_COLOR is set); json: one object a line.",
)
@click.option(
    "--exit-with-stdin",
    is_flag=True,
    default=False,
    envvar="HARBOR_EMULATOR_EXIT_WITH_STDIN",
    help="Stop (within 2 s) when stdin reaches end of file: a parent that holds a pipe to it "
    "takes the emulator along when it dies, even by SIGKILL.",
)
def start(
    host: str,
    port: int,
    db_path: str | None,
    fixtures: tuple[str, ...],
    strict: bool,
    rate_limit: float,
    control_token: str | None,
    allowed_hosts: tuple[str, ...],
    max_endpoints: int,
    delivery_timeout: float,
    delivery_concurrency: int,
    seed: int | None,
    start_time: str | None,
    log_level: str,
    log_format: str,
    exit_with_stdin: bool,
) -> None:
    """Serve the emulator (default http://127.0.0.1:4280)."""
    # `harbor-emulator --control-token T start` means the same as `start --control-token T`.
    control_token = control_token or setting(click.get_current_context(), "control_token")
    config = Config(
        host=host,
        port=port,
        db_path=db_path,
        fixtures=tuple(fixtures),
        strict=strict,
        rate_limit=rate_limit,
        control_token=control_token or None,
        allowed_hosts=allowed_hosts,
        log_level=log_level,
        log_format=log_format,
        max_endpoints=max_endpoints,
        delivery_timeout_seconds=delivery_timeout,
        delivery_concurrency=delivery_concurrency,
        seed=seed,
        start_time=start_time,
    )
    if not config.control_token and not _is_loopback(host):
        click.echo(
            f"warning: serving on {host} without --control-token: anyone who can reach this "
            "address can reset the emulator and read its secrets.",
            err=True,
        )
    sys.exit(serve(config, exit_with_stdin=exit_with_stdin))


def serve(config: Config, *, exit_with_stdin: bool = False) -> int:
    """Run the server until SIGINT/SIGTERM (or the end of stdin); return the exit status.

    Whatever it is doing, the process ends within the contract's time (lifecycle.py).
    """
    from ..core.logs import configure_logging
    from ..server.app import create_app  # imported late so `--help` and `--version` stay fast

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
    frozen out of collections instead of being traversed by each one.

    Only `harbor-emulator start` does this: an emulator embedded in a test process (the
    pytest plugin, `harbor_emulator.testing`) leaves that process's collector alone.
    """
    gc.collect()
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


def _start_time(value: str | None) -> str | None:
    if value is None:
        return None
    from ..core.clock import parse_timestamp
    from ..core.errors import HarborError

    try:
        parse_timestamp(value, "start_time")
    except HarborError:
        raise click.BadParameter(
            f"{value!r} is not an RFC 3339 time such as 2026-01-01T00:00:00Z"
        ) from None
    return value


def _host_names(values: tuple[str, ...]) -> tuple[str, ...]:
    """`--allowed-host a --allowed-host b,c` and `HARBOR_EMULATOR_ALLOWED_HOST="a b,c"`."""
    return tuple(name for value in values for name in value.replace(",", " ").split())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
