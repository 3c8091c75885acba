"""Commands about events and their deliveries: events, deliveries, trigger.

`events` and `deliveries` list every workspace through the control API unless `--key` (what
that API key sees, through /v1) or `--workspace` narrows them. `trigger` sends its event to
the workspace of the endpoint created last, so it reaches what the user just set up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..client import Emulator, HarborAPIError
from .remote import (
    RemoteCommand,
    RemoteGroup,
    connect,
    json_option,
    pass_emulator,
    plural,
    print_json,
    table,
)

DEFAULT_CLI_KEY = "hb_test_cli"
LIVE_KEY_PREFIXES = ("hb_live_", "hk_live_")

list_key_option = click.option(
    "--key",
    default=None,
    help="Only what this API key sees (its workspace), read through /v1. Default: every "
    "workspace, read through the control API.",
)
list_workspace_option = click.option(
    "--workspace", "workspace_id", help="Only this workspace (ws_…)."
)
limit_option = click.option(
    "--limit", type=click.IntRange(1, 100), default=25, show_default=True, help="How many."
)
cursor_option = click.option("--cursor", help="Continue a list: the cursor the last page printed.")


def _page(
    emulator: Emulator,
    name: str,
    key: str | None,
    params: dict[str, Any],
) -> dict[str, Any]:
    query = {k: v for k, v in params.items() if v is not None}
    if key is not None:
        return emulator.request("GET", f"/v1/{name}", key=key, params=query)
    return emulator.control("GET", f"/{name}", params=query)


def _more(body: dict[str, Any]) -> None:
    if body.get("has_more") and body.get("next_cursor"):
        click.echo(f"more: --cursor {body['next_cursor']}")


def _scope(key: str | None, workspace_id: str | None) -> str:
    if workspace_id:
        return f" in {workspace_id}"
    return f" for {key}" if key else " in any workspace"


@click.command(cls=RemoteCommand)
@list_key_option
@list_workspace_option
@click.option("--type", "event_type", help="Only events of exactly this type.")
@limit_option
@cursor_option
@json_option
@pass_emulator
def events(
    emulator: Emulator,
    key: str | None,
    workspace_id: str | None,
    event_type: str | None,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    """List recent events, newest first."""
    params = {"workspace_id": workspace_id, "type": event_type, "limit": limit, "cursor": cursor}
    body = _page(emulator, "events", key, params)
    if as_json:
        print_json(body)
        return
    if not body["data"]:
        click.echo(f"no events{_scope(key, workspace_id)}")
        return
    table(
        ("ID", "TYPE", "WORKSPACE", "CREATED"),
        ((e["id"], e["type"], e["workspace_id"], e["created_at"]) for e in body["data"]),
    )
    _more(body)


def attempt_cause(attempt: dict[str, Any] | None) -> str | None:
    """Why an attempt failed, in words when the control API gave them (`error_detail`), else
    its error code or HTTP status; None for a success or no attempt."""
    if attempt is None:
        return None
    if attempt.get("error"):
        detail = attempt.get("error_detail")
        return f"{attempt['error']}: {detail}" if detail else str(attempt["error"])
    code = attempt.get("response_code")
    if code is not None and not 200 <= code < 300:
        return f"HTTP {code}"
    return None


def _last_attempts(emulator: Emulator, key: str, rows: list[dict[str, Any]]) -> None:
    """/v1 deliveries don't carry their last attempt: read it for those not yet succeeded."""
    for row in rows:
        if row.get("attempt_count") and row.get("status") != "succeeded":
            path = f"/v1/deliveries/{row['id']}/attempts"
            page = emulator.request("GET", path, key=key, params={"limit": 1})
            row["last_attempt"] = page["data"][0] if page["data"] else None


@click.group(cls=RemoteGroup, invoke_without_command=True)
@list_key_option
@list_workspace_option
@click.option(
    "--status",
    type=click.Choice(["pending", "held", "succeeded", "failed", "cancelled"]),
    help="Only deliveries in this status.",
)
@click.option("--event-id", help="Only deliveries of this event.")
@click.option("--endpoint", help="Only deliveries to this webhook (wh_…) or destination (dest_…).")
@limit_option
@cursor_option
@json_option
@click.pass_context
def deliveries(
    ctx: click.Context,
    key: str | None,
    workspace_id: str | None,
    status: str | None,
    event_id: str | None,
    endpoint: str | None,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    """List recent deliveries, newest first, with their status, attempts and the last
    attempt's cause of failure (`deliveries show ID`: one delivery and its attempts)."""
    if ctx.invoked_subcommand is not None:
        return
    emulator = connect(ctx)
    params: dict[str, Any] = {
        "workspace_id": workspace_id,
        "status": status,
        "event_id": event_id,
        "limit": limit,
        "cursor": cursor,
    }
    if endpoint is not None:
        params["destination_id" if endpoint.startswith("dest_") else "webhook_id"] = endpoint
    body = _page(emulator, "deliveries", key, params)
    if as_json:
        print_json(body)
        return
    if not body["data"]:
        click.echo(f"no deliveries{_scope(key, workspace_id)}")
        return
    if key is not None:
        _last_attempts(emulator, key, body["data"])
    headers = ["ID", "EVENT TYPE", "ENDPOINT", "STATUS", "ATTEMPTS", "CODE", "NEXT ATTEMPT"]
    # /v1 deliveries don't carry their workspace; the control API's do.
    spans_workspaces = key is None and workspace_id is None
    table(
        [*headers, *(["WORKSPACE"] if spans_workspaces else []), "CAUSE"],
        (
            (
                row.get("id"),
                row.get("event_type"),
                row.get("webhook_id") or row.get("destination_id"),
                row.get("status"),
                row.get("attempt_count"),
                row.get("response_code"),
                row.get("next_attempt_at"),
                *([row.get("workspace_id")] if spans_workspaces else []),
                attempt_cause(row.get("last_attempt")),
            )
            for row in body["data"]
        ),
    )
    _more(body)


@deliveries.command("show")
@click.argument("delivery_id", metavar="ID")
@json_option
@pass_emulator
def deliveries_show(emulator: Emulator, delivery_id: str, as_json: bool) -> None:
    """One delivery of any workspace and its attempts, newest first, each with its cause."""
    body = emulator.delivery_with_attempts(delivery_id)
    if as_json:
        print_json(body)
        return
    endpoint = body.get("webhook_id") or body.get("destination_id")
    click.echo(
        f"{body['id']}  {body['event_type']} ({body['event_id']}) -> {endpoint} "
        f"in {body['workspace_id']}"
    )
    click.echo(
        f"status {body['status']}  attempts {body['attempt_count']}  "
        f"next attempt {body['next_attempt_at'] or '-'}"
    )
    if not body["attempts"]:
        click.echo("no attempts yet")
        return
    table(
        ("ATTEMPT", "AT", "CODE", "MS", "CAUSE"),
        (
            (
                a["attempt_number"],
                a["attempted_at"],
                a["response_code"],
                a["duration_ms"],
                attempt_cause(a),
            )
            for a in body["attempts"]
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


def newest_endpoint_workspace(emulator: Emulator, key: str) -> tuple[str | None, str]:
    """The workspace_id to send (None: the key's own) and why, for the report line."""
    try:
        defined = [k for k in emulator.control("GET", "/api_keys")["data"] if k["key"] == key]
        if defined:
            # A key fixtures define may use only its own workspace.
            return None, "the key's own workspace"
        livemode = "true" if key.startswith(LIVE_KEY_PREFIXES) else "false"
        newest = emulator.control("GET", "/endpoints", params={"limit": 1, "livemode": livemode})
    except HarborAPIError as exc:
        if exc.code != "authentication_required":
            raise
        return None, "the key's own workspace; pass --control-token to use the newest endpoint's"
    if not newest["data"]:
        return None, "the key's own workspace; no webhook or destination exists yet"
    endpoint = newest["data"][0]
    return endpoint["workspace_id"], f"the workspace of {endpoint['id']}, the newest endpoint"


@click.command(cls=RemoteCommand)
@click.argument("event_type", metavar="TYPE")
@click.option(
    "--data",
    default="{}",
    show_default=True,
    help="The event payload: a JSON object, or @FILE to read one.",
)
@click.option(
    "--key",
    default=DEFAULT_CLI_KEY,
    show_default=True,
    envvar="HARBOR_API_KEY",
    help="API key for POST /v1/events (any well-formed test key works in the open sandbox).",
)
@click.option(
    "--workspace",
    "workspace_id",
    help="Workspace (ws_…). Default: the workspace of the newest webhook or destination.",
)
@json_option
@pass_emulator
def trigger(
    emulator: Emulator,
    event_type: str,
    data: str,
    key: str,
    workspace_id: str | None,
    as_json: bool,
) -> None:
    """Create an event of TYPE, delivered to every matching endpoint of its workspace."""
    payload = _json_object(data, "--data")
    reason = "given with --workspace"
    if workspace_id is None:
        workspace_id, reason = newest_endpoint_workspace(emulator, key)
    event = emulator.trigger(event_type, payload, key=key, workspace_id=workspace_id)
    if as_json:
        print_json(event)
        return
    made = emulator.deliveries(key=key, event_id=event["id"], limit=100)
    count = "100+ deliveries" if len(made) == 100 else plural(len(made), "delivery")
    click.echo(
        f"created {event['id']} {event['type']} in {event['workspace_id']} ({reason}): {count}"
    )


COMMANDS: tuple[click.Command, ...] = (events, deliveries, trigger)
