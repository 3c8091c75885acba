"""Commands that drive a running emulator through client.py: clock, reset, drain, health,
fixtures, sinks, faults (events, deliveries and trigger are in cli_traffic.py).

`--url` and `--control-token` are accepted by every group and command, before or after its
name; the value given nearest the end of the command line wins, then the environment, then
the default. Every command prints what it did, or with `--json` the API's JSON. Server errors
print `error: <code>: <message>` on stderr and exit 1; an emulator that cannot be reached
exits 2.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote

import click
from click.core import ParameterSource

from .client import DEFAULT_URL, ClockReading, Emulator, EmulatorUnreachable, HarborAPIError

EXIT_API_ERROR = 1
EXIT_UNREACHABLE = 2

F = TypeVar("F", bound=Callable[..., Any])

# Where each level's --url/--control-token lands: ctx.meta is shared by the whole chain.
_SEEN = "harbor_emulator.connection"


# -- shared plumbing ------------------------------------------------------------------


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(_SEEN, {})[ctx, param.name] = value
    return value


def connection_params() -> list[click.Option]:
    """`--url` and `--control-token`, for one group or command (values read by `setting`)."""
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
    ]


def connection_options(func: F) -> F:
    """Decorator form of `connection_params`, for the top-level group."""
    for option in reversed(connection_params()):
        func.__dict__.setdefault("__click_params__", []).append(option)
    return func


def setting(ctx: click.Context, name: str) -> Any:
    """`name` ("url" or "control_token") as given nearest the end of the command line, else
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
    return DEFAULT_URL if name == "url" else None


def fail(message: str, status: int = EXIT_API_ERROR) -> NoReturn:
    """One line on stderr and a non-zero exit."""
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(status)


class RemoteCommand(click.Command):
    """Takes --url/--control-token and turns client exceptions into one line on stderr."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(connection_params())

    def invoke(self, ctx: click.Context) -> Any:
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
    emulator = Emulator(setting(ctx, "url"), control_token=setting(ctx, "control_token") or None)
    ctx.call_on_close(emulator.close)
    return emulator


def pass_emulator(func: F) -> F:
    """Pass an Emulator client as the first argument, connected once the whole command line
    (with every level's --url) has been read."""

    def run(*args: Any, **kwargs: Any) -> Any:
        return func(connect(click.get_current_context()), *args, **kwargs)

    return functools.update_wrapper(run, func)  # type: ignore[return-value]


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the API's JSON answer instead."
)


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


# -- clock ----------------------------------------------------------------------------


def _show_clock(body: dict[str, Any], as_json: bool, did: str = "") -> None:
    if as_json:
        print_json(body)
        return
    reading = ClockReading.from_json(body)
    state = "frozen" if reading.frozen else "running"
    # `+ 0.0` turns a -0.0 (the clock a hair behind host time, just after a reset) into 0.
    line = f"{rfc3339(reading.now)}  {state}  offset {round(reading.offset_seconds, 2) + 0.0:+g}s"
    click.echo(f"{line}  ({did})" if did else line)


@click.group(cls=RemoteGroup)
def clock() -> None:
    """Read or move the emulator clock."""


@clock.command("show")
@json_option
@pass_emulator
def clock_show(emulator: Emulator, as_json: bool) -> None:
    """Print the emulator's time, whether it is frozen and its offset from host time."""
    _show_clock(emulator.control("GET", "/clock"), as_json)


@clock.command("advance")
@click.argument("duration")
@json_option
@pass_emulator
def clock_advance(emulator: Emulator, duration: str, as_json: bool) -> None:
    """Move forward by DURATION (90s, 5m, 1h30m, 2d, or plain seconds), running every
    delivery attempt that falls due on the way."""
    try:
        body: dict[str, Any] = {"seconds": float(duration)}
    except ValueError:
        body = {"duration": duration}
    _show_clock(
        emulator.control("POST", "/clock/advance", json=body), as_json, f"advanced {duration}"
    )


@clock.command("set")
@click.argument("time")
@json_option
@pass_emulator
def clock_set(emulator: Emulator, time: str, as_json: bool) -> None:
    """Move forward to TIME, e.g. 2026-05-25T12:00:00Z (never backwards)."""
    _show_clock(emulator.control("POST", "/clock/set", json={"now": time}), as_json, "set")


@clock.command("freeze")
@json_option
@pass_emulator
def clock_freeze(emulator: Emulator, as_json: bool) -> None:
    """Stop the clock; it moves only when advanced or set."""
    _show_clock(emulator.control("POST", "/clock/freeze"), as_json)


@clock.command("unfreeze")
@json_option
@pass_emulator
def clock_unfreeze(emulator: Emulator, as_json: bool) -> None:
    """Let the clock run with host time again, from where it stands."""
    _show_clock(emulator.control("POST", "/clock/unfreeze"), as_json)


# -- reset, drain, health ---------------------------------------------------------------


@click.command(cls=RemoteCommand)
@json_option
@pass_emulator
@click.option(
    "--seed",
    type=click.IntRange(-(2**63), 2**63 - 1),
    default=None,
    help="Enter seeded mode with this seed (same requests, same bytes).",
)
def reset(emulator: Emulator, seed: int | None, as_json: bool) -> None:
    """Empty all state (sinks and faults too) and reload the start fixtures."""
    body = emulator.reset(seed)
    if as_json:
        print_json(body)
    else:
        click.echo(f"reset; clock at {body['now']}")


@click.command(cls=RemoteCommand)
@click.option(
    "--timeout",
    "timeout_seconds",
    type=click.FloatRange(min=0, max=600),
    default=10,
    show_default=True,
    help="Give up after this many seconds.",
)
@json_option
@pass_emulator
def drain(emulator: Emulator, timeout_seconds: float, as_json: bool) -> None:
    """Wait until no delivery attempt is due or in flight; exit 1 if the timeout came first."""
    result = emulator.drain(timeout_seconds)
    if as_json:
        print_json(result)
    if not result["drained"]:
        fail(f"not drained: {result['pending']} attempts still due or in flight")
    if not as_json:
        click.echo("drained: no attempt due or in flight")


@click.command(cls=RemoteCommand)
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="Keep trying this many seconds until the emulator answers.",
)
@json_option
@pass_emulator
def health(emulator: Emulator, wait_seconds: float, as_json: bool) -> None:
    """Check that the emulator answers; exit 0 if it does, 2 if not (after --wait)."""
    body = emulator.wait_healthy(wait_seconds)
    if as_json:
        print_json(body)
    else:
        click.echo(f"{body['status']}  version {body['version']}  now {body['now']}")


# -- fixtures ---------------------------------------------------------------------------

FIXTURE_KINDS = (
    ("workspaces", "workspace"),
    ("api_keys", "API key"),
    ("webhooks", "webhook"),
    ("destinations", "destination"),
    ("subscriptions", "subscription"),
    ("events", "event"),
    ("deliveries", "delivery"),
)


def _counts(summary: dict[str, Any]) -> str:
    parts = [plural(int(summary.get(k) or 0), noun) for k, noun in FIXTURE_KINDS if summary.get(k)]
    return ", ".join(parts) or "nothing"


@click.group(cls=RemoteGroup)
def fixtures() -> None:
    """Load or export fixtures documents."""


@fixtures.command("load")
@click.argument(
    "files",
    metavar="FILE...",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@json_option
@pass_emulator
def fixtures_load(emulator: Emulator, files: tuple[Path, ...], as_json: bool) -> None:
    """Load YAML or JSON fixtures FILEs in order, each all or nothing; stop at the first
    invalid one (the files before it stay loaded)."""
    loaded: list[dict[str, Any]] = []
    for file in files:
        try:
            summary = emulator.load_fixtures(file)
        except HarborAPIError as exc:
            if as_json:
                print_json(loaded)
            # The server names the entry and field; only we know which file it came from.
            # (Errors found here, in reading the file, name it already.)
            message = exc.message.removeprefix("request body: ").removeprefix(f"{file}: ")
            fail(f"{file}: {exc.code}: {message}")
        loaded.append({"file": str(file), "loaded": summary})
        if not as_json:
            click.echo(f"loaded {file}: {_counts(summary)}")
    if as_json:
        print_json(loaded)


@fixtures.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@json_option
@pass_emulator
def fixtures_export(emulator: Emulator, file: Path | None, as_json: bool) -> None:
    """Write the whole state as a fixtures document to FILE (.yaml/.yml for YAML, else
    JSON), or print it as JSON."""
    document = emulator.export()
    if file is not None:
        if file.suffix.lower() in (".yaml", ".yml"):
            import yaml  # only this path needs it

            text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        else:
            text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        file.write_text(text, "utf-8")
    if file is None or as_json:
        print_json(document)
    else:
        counted = {kind: len(document.get(kind) or ()) for kind, _ in FIXTURE_KINDS}
        click.echo(f"exported to {file}: {_counts(counted)}")


# -- sinks ------------------------------------------------------------------------------


@click.group(cls=RemoteGroup, invoke_without_command=True)
@json_option
@click.pass_context
def sinks(ctx: click.Context, as_json: bool) -> None:
    """Inspect the built-in receivers at /_sink/NAME (no sub-command: list them)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(sinks_list, as_json=as_json)


@sinks.command("list")
@json_option
@pass_emulator
def sinks_list(emulator: Emulator, as_json: bool = False) -> None:
    """Sinks that received requests or have scripted answers."""
    body = emulator.control("GET", "/sinks")
    if as_json:
        print_json(body)
        return
    if not body["data"]:
        click.echo("no sinks")
        return
    table(
        ("NAME", "REQUESTS", "SCRIPTED"),
        ((row["name"], row["request_count"], row["scripted_responses"]) for row in body["data"]),
    )


@sinks.command("show")
@click.argument("name")
@json_option
@pass_emulator
def sinks_show(emulator: Emulator, name: str, as_json: bool) -> None:
    """The requests sink NAME received, oldest first."""
    body = emulator.control("GET", f"/sinks/{quote(name, safe='')}")
    if as_json:
        print_json(body)
        return
    if not body["data"]:
        click.echo(f"sink {name}: no requests")
        return
    for item in body["data"]:
        text = item["body"] if len(item["body"]) <= 80 else item["body"][:77] + "..."
        parts = (
            item["received_at"],
            f"{item['method']} {item['path']}",
            item["headers"].get("harbor-event-type", ""),
            text,
        )
        click.echo("  ".join(part for part in parts if part))


@sinks.command("clear")
@click.argument("name")
@json_option
@pass_emulator
def sinks_clear(emulator: Emulator, name: str, as_json: bool) -> None:
    """Forget what sink NAME received and its scripted answers."""
    emulator.sink(name).clear()
    if as_json:
        print_json({"object": "sink", "name": name, "deleted": True})
    else:
        click.echo(f"cleared sink {name}")


# -- faults ----------------------------------------------------------------------------


@click.group(cls=RemoteGroup)
def faults() -> None:
    """Inject API errors and delivery failures."""


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
        print_json(fault)
        return
    match, result = _describe(fault)
    click.echo(f"{fault['id']}  {fault['target']}  {match}  -> {result}")


@faults.command("list")
@json_option
@pass_emulator
def faults_list(emulator: Emulator, as_json: bool) -> None:
    """Faults in the order they are consulted, with what remains of each."""
    body = emulator.control("GET", "/faults")
    if as_json:
        print_json(body)
        return
    if not body["data"]:
        click.echo("no faults")
        return
    table(
        ("ID", "TARGET", "MATCH", "RESULT", "REMAINING", "FIRED"),
        (
            (
                fault["id"],
                fault["target"],
                *_describe(fault),
                "unlimited" if fault["remaining"] is None else fault["remaining"],
                fault["fired_count"],
            )
            for fault in body["data"]
        ),
    )


@faults.command("clear")
@click.argument("fault_id", metavar="[ID]", required=False)
@json_option
@pass_emulator
def faults_clear(emulator: Emulator, fault_id: str | None, as_json: bool) -> None:
    """Remove fault ID, or every fault."""
    if fault_id is None:
        emulator.faults.clear()
    else:
        emulator.faults.remove(fault_id)
    if as_json:
        print_json({"object": "fault", "id": fault_id, "deleted": True})
    else:
        click.echo("removed every fault" if fault_id is None else f"removed {fault_id}")


# -- snapshots ----------------------------------------------------------------------------


@click.group(cls=RemoteGroup)
def snapshot() -> None:
    """Save the whole state under a name and put it back (clock, sinks, faults included)."""


@snapshot.command("save")
@click.argument("name")
@json_option
@pass_emulator
def snapshot_save(emulator: Emulator, name: str, as_json: bool) -> None:
    """Save the whole state as NAME (replacing a snapshot of that name)."""
    body = emulator.snapshots.save(name)
    if as_json:
        print_json(body)
    else:
        click.echo(f"saved {body['name']} ({body['size_bytes']} bytes) at {body['created_at']}")


@snapshot.command("restore")
@click.argument("name")
@json_option
@pass_emulator
def snapshot_restore(emulator: Emulator, name: str, as_json: bool) -> None:
    """Put the state saved as NAME back."""
    body = emulator.snapshots.restore(name)
    if as_json:
        print_json(body)
    else:
        click.echo(f"restored {body['name']} (saved at {body['created_at']})")


@snapshot.command("list")
@json_option
@pass_emulator
def snapshot_list(emulator: Emulator, as_json: bool) -> None:
    """Saved snapshots."""
    data = emulator.snapshots.list()
    if as_json:
        print_json({"object": "list", "data": data, "has_more": False, "next_cursor": None})
        return
    if not data:
        click.echo("no snapshots")
        return
    table(
        ("NAME", "CREATED", "SIZE"),
        ((s["name"], s["created_at"], s["size_bytes"]) for s in data),
    )


@snapshot.command("delete")
@click.argument("name")
@json_option
@pass_emulator
def snapshot_delete(emulator: Emulator, name: str, as_json: bool) -> None:
    """Delete snapshot NAME."""
    emulator.snapshots.delete(name)
    if as_json:
        print_json({"object": "snapshot", "name": name, "deleted": True})
    else:
        click.echo(f"deleted {name}")


COMMANDS: tuple[click.Command, ...] = (
    clock,
    reset,
    drain,
    fixtures,
    sinks,
    faults,
    health,
    snapshot,
)
