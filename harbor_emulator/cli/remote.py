"""What every command that drives a running emulator shares: the connection options, the
client it gets, and how it prints (the commands are in state.py, fixtures.py, sinks.py and
traffic.py).

`--url`, `--control-token` and `--json` are accepted by every group and command, before or
after its name; the value given nearest the end of the command line wins, then the
environment, then the default. Every command prints what it did, or with `--json` (given at
any level: `harbor-emulator --json health`) the API's JSON. Server errors
print `error: <code>: <message>` on stderr and exit 1; an emulator that cannot be reached
exits 2.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from click.core import ParameterSource

from ..server.config import DEFAULT_HOST, DEFAULT_PORT

if TYPE_CHECKING:
    from ..client import Emulator

# The client's default too (harbor_emulator.client.DEFAULT_URL), written here from the
# server's defaults so that `start`, which reads --control-token through this module, does
# not import the client.
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"

EXIT_API_ERROR = 1
EXIT_UNREACHABLE = 2

F = TypeVar("F", bound=Callable[..., Any])

# Where each level's --url/--control-token/--json lands: ctx.meta is shared by the chain.
_SEEN = "harbor_emulator.connection"
_DEFAULTS: dict[str, Any] = {"url": DEFAULT_URL, "control_token": None, "json": False}


# -- shared plumbing ------------------------------------------------------------------


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(_SEEN, {})[ctx, param.name] = value
    return value


def connection_params() -> list[click.Option]:
    """`--url`, `--control-token` and `--json`, for one group or command (values read by
    `setting`)."""
    return [
        click.Option(
            ["--url"],
            default=DEFAULT_URL,
            show_default=True,
            envvar="HARBOR_EMULATOR_URL",
            show_envvar=True,
            expose_value=False,
            callback=_remember,
            help="URL of the running emulator.",
        ),
        click.Option(
            ["--control-token"],
            default=None,
            envvar="HARBOR_EMULATOR_CONTROL_TOKEN",
            show_envvar=True,
            expose_value=False,
            callback=_remember,
            help="Token of an emulator started with --control-token.",
        ),
        click.Option(
            ["--json"],
            is_flag=True,
            expose_value=False,
            callback=_remember,
            help="Print the API's JSON answer instead (one object a line for live commands).",
        ),
    ]


def connection_options(func: F) -> F:
    """Decorator form of `connection_params`, for the top-level group."""
    for option in reversed(connection_params()):
        func.__dict__.setdefault("__click_params__", []).append(option)
    return func


def setting(ctx: click.Context, name: str) -> Any:
    """`name` ("url", "control_token" or "json") as given nearest the end of the command line, else
    from the environment, else its default."""
    seen: dict[tuple[click.Context, str], Any] = ctx.meta.get(_SEEN, {})
    chain: list[click.Context] = []
    node: click.Context | None = ctx
    while node is not None:
        chain.append(node)
        node = node.parent
    for source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
        for level in chain:
            if (level, name) in seen and level.get_parameter_source(name) == source:
                return seen[level, name]
    return _DEFAULTS[name]


def fail(message: str, status: int = EXIT_API_ERROR) -> NoReturn:
    """One line on stderr and a non-zero exit."""
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(status)


class RemoteCommand(click.Command):
    """Takes --url/--control-token/--json and turns client exceptions into one line on stderr."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(connection_params())

    def invoke(self, ctx: click.Context) -> Any:
        from ..client import EmulatorUnreachable, HarborAPIError

        try:
            return super().invoke(ctx)
        except HarborAPIError as exc:
            fail(f"{exc.code}: {exc.message}", EXIT_API_ERROR)
        except EmulatorUnreachable as exc:
            fail(f"{exc} (is `harbor-emulator start` running there?)", EXIT_UNREACHABLE)


class RemoteGroup(RemoteCommand, click.Group):
    command_class = RemoteCommand
    group_class = type  # sub-groups are RemoteGroups too


def connect(ctx: click.Context) -> Emulator:
    from ..client import Emulator

    emulator = Emulator(setting(ctx, "url"), control_token=setting(ctx, "control_token") or None)
    ctx.call_on_close(emulator.close)
    return emulator


def pass_emulator(func: F) -> F:
    """Pass an Emulator client as the first argument, connected once the whole command line
    (with every level's --url) has been read."""

    def run(*args: Any, **kwargs: Any) -> Any:
        return func(connect(click.get_current_context()), *args, **kwargs)

    return functools.update_wrapper(run, func)  # type: ignore[return-value]


def json_option(func: F) -> F:
    """Pass `as_json`: whether `--json` was given at any level of the command line (every
    RemoteCommand and RemoteGroup takes the option itself)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        kwargs["as_json"] = bool(setting(click.get_current_context(), "json"))
        return func(*args, **kwargs)

    return functools.update_wrapper(run, func)  # type: ignore[return-value]


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    cells = [[("-" if value is None else str(value)) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        padded = (value.ljust(width) for value, width in zip(row, widths, strict=True))
        click.echo("  ".join(padded).rstrip())


def plural(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    # "delivery" -> "deliveries", but "API key" -> "API keys" (a vowel before the y).
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "o", "u"):
        return f"{count} {noun[:-1]}ies"
    return f"{count} {noun}s"
