"""`sinks` and `faults`: the built-in receivers and the failures injected into deliveries."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from ..client import Emulator
from .remote import RemoteGroup, json_option, pass_emulator, print_json, table


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


COMMANDS: tuple[click.Command, ...] = (
    sinks,
    faults,
)
