"""`listen --forward-to URL`: a webhook for as long as the command runs, as `stripe listen`.

It creates a webhook to URL through /v1 (so the emulator signs and delivers to it as to any
other), prints its signing secret first, follows its delivery attempts, and deletes it on
Ctrl-C or SIGTERM: its pending deliveries are cancelled with it.
"""

from __future__ import annotations

import signal
from typing import Any

import click

from ..client import Emulator, EmulatorUnreachable, HarborAPIError
from .remote import RemoteCommand, json_option, pass_emulator, setting
from .tail import AttemptFeed, follow, show, stop_on_sigterm
from .traffic import DEFAULT_CLI_KEY, newest_endpoint_workspace

DELETE_TIMEOUT_SECONDS = 5.0


def _remove(url: str, control_token: str | None, key: str, webhook_id: str) -> None:
    """Delete the webhook with a client of its own: the signal may have cut the other one's
    request short. Further signals wait until this is done (at most the timeout)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with Emulator(url, control_token, timeout=DELETE_TIMEOUT_SECONDS) as emulator:
            emulator.request("DELETE", f"/v1/webhooks/{webhook_id}", key=key, expect_json=False)
    except HarborAPIError as exc:
        if exc.code != "webhook_not_found":  # deleted meanwhile (or reset): gone either way
            click.echo(f"error: could not remove {webhook_id}: {exc.code}: {exc.message}", err=True)
            return
    except EmulatorUnreachable as exc:
        click.echo(f"error: could not remove {webhook_id}: {exc}", err=True)
        return
    click.echo(f"removed {webhook_id}", err=True)


@click.command(cls=RemoteCommand)
@click.option("--forward-to", "forward_to", required=True, help="URL to deliver events to.")
@click.option(
    "--events",
    "patterns",
    multiple=True,
    help="Event types or patterns to deliver (repeat or separate with commas). Default: '*'.",
)
@click.option(
    "--workspace",
    "workspace_id",
    help="Workspace (ws_…). Default: that of the newest webhook or destination, as trigger's.",
)
@click.option(
    "--key",
    default=DEFAULT_CLI_KEY,
    show_default=True,
    envvar="HARBOR_API_KEY",
    help="API key that creates and deletes the webhook (through /v1).",
)
@json_option
@pass_emulator
def listen(
    emulator: Emulator,
    forward_to: str,
    patterns: tuple[str, ...],
    workspace_id: str | None,
    key: str,
    as_json: bool,
) -> None:
    """Deliver events to URL until Ctrl-C: prints the webhook's signing secret first, then one
    line per delivery attempt (status, or the cause of a failure), and removes the webhook
    on exit."""
    # From here on SIGTERM, as Ctrl-C, ends the command through the `finally` below.
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    events = [part.strip() for text in patterns for part in text.split(",") if part.strip()]
    if workspace_id is None:
        workspace_id, _ = newest_endpoint_workspace(emulator, key)
    body: dict[str, Any] = {
        "url": forward_to,
        "events": events or ["*"],
        "workspace_id": workspace_id,
        "description": "harbor-emulator listen (removed when it exits)",
    }
    webhook = emulator.request("POST", "/v1/webhooks", key=key, json=body)
    ctx = click.get_current_context()
    try:
        feed = AttemptFeed(emulator, webhook["id"])
        show(
            webhook,
            as_json,
            f"Ready! Your webhook signing secret is {webhook['secret']} "
            f"({webhook['id']} in {webhook['workspace_id']}, events "
            f"{','.join(webhook['events'])} -> {forward_to}; Ctrl-C to quit)",
        )
        follow(feed, as_json=as_json)
    finally:
        _remove(setting(ctx, "url"), setting(ctx, "control_token"), key, webhook["id"])


COMMANDS: tuple[click.Command, ...] = (listen,)
