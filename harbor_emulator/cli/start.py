"""`harbor-emulator start`: build a Config from the options, then serve it (serving.py).

Only the options live here, so `harbor-emulator --help` shows them without importing the
server; the server is imported once the options are read.
"""

from __future__ import annotations

import ipaddress
import sys

import click

from ..server.config import DEFAULT_HOST, DEFAULT_PORT, LOG_FORMATS, Config
from .remote import setting

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


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
    from .serving import serve

    sys.exit(serve(config, exit_with_stdin=exit_with_stdin))


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


COMMANDS: tuple[click.Command, ...] = (start,)
