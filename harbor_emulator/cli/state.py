"""`clock`, `reset`, `drain`, `health` and `snapshot`: the emulator's time and state."""

from __future__ import annotations

import json
from typing import Any

import click

from ..client import ClockReading, Emulator, EmulatorUnreachable
from ..client.errors import error_answer, poll_until_reachable
from .durations import parse_words
from .remote import (
    RemoteCommand,
    RemoteGroup,
    fail,
    json_option,
    pass_emulator,
    print_json,
    rfc3339,
    setting,
    table,
)

# The client's default timeout for one request.
HEALTH_TIMEOUT_SECONDS = 30.0


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
@click.argument("duration", nargs=-1, required=True)
@json_option
@pass_emulator
def clock_advance(emulator: Emulator, duration: tuple[str, ...], as_json: bool) -> None:
    """Move forward by DURATION (90s, 5m, 1h30m, 2d, 5 minutes, 1 hour 30 minutes, or plain
    seconds), running every delivery attempt that falls due on the way."""
    text = " ".join(duration)
    try:
        seconds = parse_words(text)
    except ValueError as exc:
        fail(f"invalid_parameter: {exc}")
    _show_clock(
        emulator.control("POST", "/clock/advance", json={"seconds": seconds}),
        as_json,
        f"advanced {text}",
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
@click.pass_context
def health(ctx: click.Context, wait_seconds: float, as_json: bool) -> None:
    """Check that the emulator answers; exit 0 if it does, 2 if not (after --wait)."""
    url, token = setting(ctx, "url"), setting(ctx, "control_token") or None
    body = poll_until_reachable(lambda: _health(url, token), wait_seconds)
    if as_json:
        print_json(body)
    else:
        click.echo(f"{body['status']}  version {body['version']}  now {body['now']}")


def _health(url: str, control_token: str | None) -> dict[str, Any]:
    """GET /_control/health with the standard library, not the client: the image's
    HEALTHCHECK runs this command every few seconds, and httpx's import made each run ~3x
    as long (measured in the one-dir binary: 324 ms against 93 ms for `--version`)."""
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    https = parts.scheme == "https"
    connect = http.client.HTTPSConnection if https else http.client.HTTPConnection
    connection = connect(parts.hostname or "", parts.port, timeout=HEALTH_TIMEOUT_SECONDS)
    headers = {"Authorization": f"Bearer {control_token}"} if control_token else {}
    try:
        connection.request("GET", parts.path.rstrip("/") + "/_control/health", headers=headers)
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise EmulatorUnreachable(url.rstrip("/"), str(exc) or type(exc).__name__) from None
    finally:
        connection.close()
    if response.status >= 400:
        raise error_answer(
            response.status, body, response.reason, response.getheader("harbor-request-id")
        )
    answer: dict[str, Any] = json.loads(body)
    return answer


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
    health,
    snapshot,
)
