"""The harbor-emulator command: build a Config and serve it, or drive a running emulator."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
from collections.abc import Iterator
from typing import Any

import click
import uvicorn

from . import __version__
from .cli_remote import COMMANDS as REMOTE_COMMANDS
from .config import DEFAULT_HOST, DEFAULT_PORT, LOG_FORMATS, Config

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="harbor-emulator")
def main() -> None:
    """A local emulator of the Harbor events and webhooks API."""


@main.command()
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
def start(
    host: str,
    port: int,
    db_path: str | None,
    fixtures: tuple[str, ...],
    strict: bool,
    rate_limit: float,
    control_token: str | None,
    max_endpoints: int,
    delivery_timeout: float,
    delivery_concurrency: int,
    log_level: str,
    log_format: str,
) -> None:
    """Serve the emulator (default http://127.0.0.1:4280)."""
    config = Config(
        host=host,
        port=port,
        db_path=db_path,
        fixtures=tuple(fixtures),
        strict=strict,
        rate_limit=rate_limit,
        control_token=control_token or None,
        log_level=log_level,
        log_format=log_format,
        max_endpoints=max_endpoints,
        delivery_timeout_seconds=delivery_timeout,
        delivery_concurrency=delivery_concurrency,
    )
    if not config.control_token and not _is_loopback(host):
        click.echo(
            f"warning: serving on {host} without --control-token: anyone who can reach this "
            "address can reset the emulator and read its secrets.",
            err=True,
        )
    sys.exit(serve(config))


def serve(config: Config) -> int:
    """Run the server until SIGINT/SIGTERM; return the process exit status."""
    from .app import create_app  # imported late so `--help` and `--version` stay fast
    from .logs import configure_logging, uvicorn_level

    configure_logging(config.log_level, config.log_format)
    server = _AnnouncingServer(
        uvicorn.Config(
            create_app(config),
            host=config.host,
            port=config.port,
            lifespan="on",
            # Our handler formats uvicorn's records too (JSON lines stay JSON); its startup
            # banner says what our "listening on" line says, so it shows only at debug.
            log_config=None,
            log_level=uvicorn_level(config.log_level),
            access_log=False,
            # Deliveries to our own /_sink arrive over loopback; keep connections cheap.
            timeout_keep_alive=30,
        )
    )
    server.run()
    # uvicorn leaves `started` False when the lifespan failed (e.g. invalid fixtures).
    return 0 if server.started else 1


class _AnnouncingServer(uvicorn.Server):
    """Prints one line with the URL once the server accepts connections."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown, so the process would
        # die by the signal (exit 143 in a container). A clean stop is exit status 0.
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit or not self.servers:
            return
        address: Any = self.servers[0].sockets[0].getsockname()
        host, port = address[0], address[1]
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"harbor-emulator {__version__} listening on http://{shown}:{port}")
        sys.stdout.flush()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


for _command in REMOTE_COMMANDS:
    main.add_command(_command)


if __name__ == "__main__":
    main()
