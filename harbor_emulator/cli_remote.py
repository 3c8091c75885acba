"""Commands that drive a running emulator through client.py: clock, reset, fixtures,
deliveries, trigger, sinks, faults, health.

Server errors print `error: <code>: <message>` and exit 1; an emulator that cannot be
reached exits 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import click

from .client import DEFAULT_URL, ClockReading, Emulator, EmulatorUnreachable, HarborAPIError

DEFAULT_CLI_KEY = "hb_test_cli"
EXIT_API_ERROR = 1
EXIT_UNREACHABLE = 2

F = TypeVar("F", bound=Callable[..., Any])


# -- shared plumbing ------------------------------------------------------------------


class _ReportsErrors(click.Command):
    """Turns client exceptions into one line on stderr and an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HarborAPIError as exc:
            _fail(ctx, f"{exc.code}: {exc.message}", EXIT_API_ERROR)
        except EmulatorUnreachable as exc:
            _fail(ctx, f"{exc} (is `harbor-emulator start` running there?)", EXIT_UNREACHABLE)


class _RemoteGroup(_ReportsErrors, click.Group):
    pass


def _fail(ctx: click.Context, message: str, status: int) -> None:
    click.echo(f"error: {message}", err=True)
    ctx.exit(status)


def connection_options(func: F) -> F:
    """`--url` and `--control-token`, on every group and top-level command."""
    func = click.option(
        "--control-token",
        default=None,
        envvar="HARBOR_EMULATOR_CONTROL_TOKEN",
        help="Token of an emulator started with --control-token.",
    )(func)
    return click.option(
        "--url",
        default=DEFAULT_URL,
        show_default=True,
        envvar="HARBOR_EMULATOR_URL",
        help="URL of the running emulator.",
    )(func)


def _connect(ctx: click.Context, url: str, control_token: str | None) -> Emulator:
    emulator = Emulator(url, control_token=control_token or None)
    ctx.call_on_close(emulator.close)
    ctx.obj = emulator
    return emulator


pass_emulator = click.make_pass_decorator(Emulator)

key_option = click.option(
    "--key",
    default=DEFAULT_CLI_KEY,
    show_default=True,
    envvar="HARBOR_API_KEY",
    help="API key for the /v1 call (any well-formed test key works in the open sandbox).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    cells = [[("-" if value is None else str(value)) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        padded = (value.ljust(width) for value, width in zip(row, widths, strict=True))
        click.echo("  ".join(padded).rstrip())


# -- clock ----------------------------------------------------------------------------


def _show_clock(reading: ClockReading) -> None:
    state = "frozen" if reading.frozen else "running"
    click.echo(f"{_rfc3339(reading.now)}  {state}  offset {reading.offset_seconds:+g}s")


@click.group(cls=_RemoteGroup)
@connection_options
@click.pass_context
def clock(ctx: click.Context, url: str, control_token: str | None) -> None:
    """Read or move the emulator clock."""
    _connect(ctx, url, control_token)


@clock.command("show")
@pass_emulator
def clock_show(emulator: Emulator) -> None:
    """Print the emulator's time, whether it is frozen and its offset from host time."""
    _show_clock(emulator.clock.get())


@clock.command("advance")
@click.argument("duration")
@pass_emulator
def clock_advance(emulator: Emulator, duration: str) -> None:
    """Move forward by DURATION (90s, 5m, 1h30m, 2d, or plain seconds), running every
    delivery attempt that falls due on the way."""
    try:
        by: str | float = float(duration)
    except ValueError:
        by = duration
    _show_clock(emulator.clock.advance(by))


@clock.command("set")
@click.argument("time")
@pass_emulator
def clock_set(emulator: Emulator, time: str) -> None:
    """Move forward to TIME, e.g. 2026-05-25T12:00:00Z (never backwards)."""
    _show_clock(emulator.clock.set(time))


@clock.command("freeze")
@pass_emulator
def clock_freeze(emulator: Emulator) -> None:
    """Stop the clock; it moves only when advanced or set."""
    _show_clock(emulator.clock.freeze())


@clock.command("unfreeze")
@pass_emulator
def clock_unfreeze(emulator: Emulator) -> None:
    """Let the clock run with host time again, from where it stands."""
    _show_clock(emulator.clock.unfreeze())


# -- reset, health ----------------------------------------------------------------------


@click.command(cls=_ReportsErrors)
@connection_options
@click.pass_context
def reset(ctx: click.Context, url: str, control_token: str | None) -> None:
    """Empty all state (sinks and faults too) and reload the start fixtures."""
    emulator = _connect(ctx, url, control_token)
    emulator.reset()
    click.echo(f"reset; clock at {_rfc3339(emulator.clock.now())}")


@click.command(cls=_ReportsErrors)
@connection_options
@click.option(
    "--timeout",
    "timeout_seconds",
    type=click.FloatRange(min=0, max=600),
    default=10,
    show_default=True,
    help="Give up after this many seconds.",
)
@click.pass_context
def drain(ctx: click.Context, url: str, control_token: str | None, timeout_seconds: float) -> None:
    """Wait until no delivery attempt is due or in flight; exit 1 if the timeout came first."""
    emulator = _connect(ctx, url, control_token)
    result = emulator.drain(timeout_seconds)
    if not result["drained"]:
        _fail(ctx, f"not drained: {result['pending']} attempts still due or in flight", 1)
    click.echo("drained")


@click.command(cls=_ReportsErrors)
@connection_options
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="Keep trying this many seconds until the emulator answers.",
)
@click.pass_context
def health(ctx: click.Context, url: str, control_token: str | None, wait_seconds: float) -> None:
    """Check that the emulator answers; exit 0 if it does, 2 if not (after --wait)."""
    emulator = _connect(ctx, url, control_token)
    body = emulator.wait_healthy(wait_seconds)
    click.echo(f"{body['status']}  version {body['version']}  now {body['now']}")


# -- fixtures ---------------------------------------------------------------------------


@click.group(cls=_RemoteGroup)
@connection_options
@click.pass_context
def fixtures(ctx: click.Context, url: str, control_token: str | None) -> None:
    """Load or export fixtures documents."""
    _connect(ctx, url, control_token)


@fixtures.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_emulator
@click.pass_context
def fixtures_load(ctx: click.Context, emulator: Emulator, file: Path) -> None:
    """Load a YAML or JSON fixtures FILE (all or nothing)."""
    try:
        emulator.load_fixtures(file)
    except HarborAPIError as exc:
        # The server names the entry and field; only we know which file it came from.
        _fail(ctx, f"{file}: {exc.code}: {exc.message}", EXIT_API_ERROR)
    click.echo(f"loaded {file}")


@fixtures.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@pass_emulator
def fixtures_export(emulator: Emulator, file: Path | None) -> None:
    """Write the whole state as a fixtures document to FILE (.yaml/.yml for YAML, else
    JSON), or print it as JSON."""
    document = emulator.export()
    if file is None:
        _print_json(document)
        return
    if file.suffix.lower() in (".yaml", ".yml"):
        import yaml  # only this path needs it

        file.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), "utf-8")
    else:
        file.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    click.echo(f"exported to {file}")


# -- deliveries, trigger ----------------------------------------------------------------


@click.command(cls=_ReportsErrors)
@connection_options
@key_option
@click.option(
    "--status",
    type=click.Choice(["pending", "held", "succeeded", "failed", "cancelled"]),
    help="Only deliveries in this status.",
)
@click.option("--event-id", help="Only deliveries of this event.")
@click.option("--endpoint", help="Only deliveries to this webhook (wh_…) or destination (dest_…).")
@click.option(
    "--limit", type=click.IntRange(1, 100), default=25, show_default=True, help="How many."
)
@json_option
@click.pass_context
def deliveries(
    ctx: click.Context,
    url: str,
    control_token: str | None,
    key: str,
    status: str | None,
    event_id: str | None,
    endpoint: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List recent deliveries, newest first, with their status and attempts."""
    emulator = _connect(ctx, url, control_token)
    filters: dict[str, Any] = {"status": status, "event_id": event_id, "limit": limit}
    if endpoint is not None:
        filters["destination_id" if endpoint.startswith("dest_") else "webhook_id"] = endpoint
    rows = emulator.deliveries(key=key, **filters)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo("no deliveries")
        return
    _table(
        ("ID", "EVENT TYPE", "ENDPOINT", "STATUS", "ATTEMPTS", "CODE", "NEXT ATTEMPT"),
        (
            (
                row.get("id"),
                row.get("event_type"),
                row.get("webhook_id") or row.get("destination_id"),
                row.get("status"),
                row.get("attempt_count"),
                row.get("response_code"),
                row.get("next_attempt_at"),
            )
            for row in rows
        ),
    )


def _json_object(text: str, param_hint: str) -> dict[str, Any]:
    try:
        if text.startswith("@"):
            text = Path(text[1:]).read_text("utf-8")
        value = json.loads(text)
    except (OSError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint=param_hint) from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint=param_hint)
    return value


@click.command(cls=_ReportsErrors)
@connection_options
@click.argument("event_type", metavar="TYPE")
@click.option(
    "--data",
    default="{}",
    show_default=True,
    help="The event payload: a JSON object, or @FILE to read one.",
)
@key_option
@click.option("--workspace", "workspace_id", help="Workspace (ws_…); default: the key's own.")
@json_option
@click.pass_context
def trigger(
    ctx: click.Context,
    url: str,
    control_token: str | None,
    event_type: str,
    data: str,
    key: str,
    workspace_id: str | None,
    as_json: bool,
) -> None:
    """Create an event of TYPE, delivered to every matching endpoint."""
    payload = _json_object(data, "--data")
    emulator = _connect(ctx, url, control_token)
    event = emulator.trigger(event_type, payload, key=key, workspace_id=workspace_id)
    if as_json:
        _print_json(event)
    else:
        click.echo(f"{event['id']}  {event['type']}  {event['workspace_id']}")


# -- sinks ------------------------------------------------------------------------------


@click.group(cls=_RemoteGroup)
@connection_options
@click.pass_context
def sinks(ctx: click.Context, url: str, control_token: str | None) -> None:
    """Inspect the built-in receivers at /_sink/NAME."""
    _connect(ctx, url, control_token)


@sinks.command("list")
@pass_emulator
def sinks_list(emulator: Emulator) -> None:
    """Sinks that received requests or have scripted answers."""
    rows = emulator.control("GET", "/sinks")["data"]
    if not rows:
        click.echo("no sinks")
        return
    _table(
        ("NAME", "REQUESTS", "SCRIPTED"),
        ((row["name"], row["request_count"], row["scripted_responses"]) for row in rows),
    )


@sinks.command("show")
@click.argument("name")
@json_option
@pass_emulator
def sinks_show(emulator: Emulator, name: str, as_json: bool) -> None:
    """The requests sink NAME received, oldest first."""
    sink = emulator.sink(name)
    if as_json:
        _print_json(emulator.control("GET", f"/sinks/{quote(name, safe='')}")["data"])
        return
    received = sink.requests
    if not received:
        click.echo(f"sink {name}: no requests")
        return
    for request in received:
        body = request.body if len(request.body) <= 80 else request.body[:77] + "..."
        parts = (
            _rfc3339(request.received_at),
            f"{request.method} {request.path}",
            request.headers.get("harbor-event-type", ""),
            body,
        )
        click.echo("  ".join(part for part in parts if part))


@sinks.command("clear")
@click.argument("name")
@pass_emulator
def sinks_clear(emulator: Emulator, name: str) -> None:
    """Forget what sink NAME received and its scripted answers."""
    emulator.sink(name).clear()
    click.echo(f"cleared sink {name}")


# -- faults ----------------------------------------------------------------------------


@click.group(cls=_RemoteGroup)
@connection_options
@click.pass_context
def faults(ctx: click.Context, url: str, control_token: str | None) -> None:
    """Inject API errors and delivery failures."""
    _connect(ctx, url, control_token)


def _outcome(text: str | None) -> str | int | None:
    return int(text) if text is not None and text.isdigit() else text


def _describe(fault: dict[str, Any]) -> tuple[str, str]:
    if fault["target"] == "api":
        match = f"{fault.get('method') or '*'} {fault.get('path') or '*'}"
        return match, str(fault.get("error_code"))
    return str(fault.get("endpoint_id")), str(fault.get("outcome"))


@faults.command("add")
@click.argument("target", type=click.Choice(["api", "delivery"]))
@click.option("--method", help="api: only this HTTP method (default: any).")
@click.option("--path", help="api: this path, or a prefix ending in '*' (default: any).")
@click.option("--error-code", help="api: the error to answer, e.g. rate_limit_exceeded.")
@click.option("--retry-after-ms", type=int, help="api: retry_after_ms of rate_limit_exceeded.")
@click.option("--endpoint-id", help="delivery: the webhook (wh_…) or destination (dest_…).")
@click.option("--outcome", help="delivery: timeout, connection_error or an HTTP status.")
@click.option("--count", type=int, help="Fire this many times (default: until removed).")
@click.option("--probability", type=float, help="Fire at random with this probability.")
@click.option("--seed", type=int, help="Seed for --probability, to repeat the same failures.")
@json_option
@pass_emulator
def faults_add(
    emulator: Emulator,
    target: str,
    method: str | None,
    path: str | None,
    error_code: str | None,
    retry_after_ms: int | None,
    endpoint_id: str | None,
    outcome: str | None,
    count: int | None,
    probability: float | None,
    seed: int | None,
    as_json: bool,
) -> None:
    """Add a fault on TARGET (api or delivery)."""
    spec = {
        "target": target,
        "method": method,
        "path": path,
        "error_code": error_code,
        "retry_after_ms": retry_after_ms,
        "endpoint_id": endpoint_id,
        "outcome": _outcome(outcome),
        "count": count,
        "probability": probability,
        "seed": seed,
    }
    fault = emulator.faults.add(
        **{name: value for name, value in spec.items() if value is not None}
    )
    if as_json:
        _print_json(fault)
        return
    match, result = _describe(fault)
    click.echo(f"{fault['id']}  {fault['target']}  {match}  -> {result}")


@faults.command("list")
@json_option
@pass_emulator
def faults_list(emulator: Emulator, as_json: bool) -> None:
    """Faults in the order they are consulted, with what remains of each."""
    rows = emulator.faults.list()
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo("no faults")
        return
    _table(
        ("ID", "TARGET", "MATCH", "RESULT", "REMAINING", "FIRED"),
        (
            (
                fault["id"],
                fault["target"],
                *_describe(fault),
                "unlimited" if fault["remaining"] is None else fault["remaining"],
                fault["fired_count"],
            )
            for fault in rows
        ),
    )


@faults.command("clear")
@click.argument("fault_id", metavar="[ID]", required=False)
@pass_emulator
def faults_clear(emulator: Emulator, fault_id: str | None) -> None:
    """Remove fault ID, or every fault."""
    if fault_id is None:
        emulator.faults.clear()
        click.echo("removed every fault")
    else:
        emulator.faults.remove(fault_id)
        click.echo(f"removed {fault_id}")


COMMANDS: tuple[click.Command, ...] = (
    clock,
    reset,
    drain,
    fixtures,
    deliveries,
    trigger,
    sinks,
    faults,
    health,
)
