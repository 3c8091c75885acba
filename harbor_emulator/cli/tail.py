"""`tail` (alias `logs tail`): the live log of a running emulator, one line per event created
and per delivery attempt, as they happen.

It polls the control API: `/_control/events` (newest first: what is new since the last poll)
and `/_control/attempts` (attempts in the order they are recorded, each with a sequence
number to continue from). The emulator keeps no log of its API requests (`start`'s access
log has them); the events those requests created are what `--requests` follows.
`listen` follows one webhook's attempts the same way (`follow`).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import click

from ..client import Emulator
from .remote import RemoteCommand, RemoteGroup, json_option, pass_emulator
from .traffic import attempt_cause

POLL_SECONDS = 0.25
# Events are read newest first; past this many new ones between two polls the oldest are
# skipped (and a line says so), so a flood cannot keep a tail from ever catching up.
EVENT_PAGES = 10


def attempt_line(attempt: dict[str, Any]) -> str:
    """One attempt: when, what, where, the outcome (status or cause), how long, and the
    delivery's status now."""
    outcome = attempt_cause(attempt) or str(attempt["response_code"])
    return (
        f"{attempt['attempted_at']}  attempt {attempt['attempt_number']}  "
        f"{attempt['event_type']} {attempt['event_id']} -> {attempt['endpoint_id']}  "
        f"{outcome}  {attempt['duration_ms']}ms  delivery {attempt['delivery_status']}"
    )


def event_line(event: dict[str, Any]) -> str:
    where = event["workspace_id"]
    return f"{event['created_at']}  event  {event['type']} {event['id']}  in {where}"


def show(item: dict[str, Any], as_json: bool, line: str) -> None:
    click.echo(json.dumps(item, ensure_ascii=False, separators=(",", ":")) if as_json else line)


class AttemptFeed:
    """Attempts recorded since the feed was made (optionally to one endpoint), oldest first."""

    noun = "delivery attempts"

    def __init__(self, emulator: Emulator, endpoint_id: str | None = None) -> None:
        self.emulator = emulator
        self.endpoint_id = endpoint_id
        self.after = emulator.attempts_after("latest", endpoint_id=endpoint_id)["latest_sequence"]

    def new(self) -> Iterator[dict[str, Any]]:
        while True:
            page = self.emulator.attempts_after(self.after, endpoint_id=self.endpoint_id)
            if page["latest_sequence"] < self.after:
                # A reset or a snapshot restore: the sequence starts again lower.
                self.after = 0
                continue
            for attempt in page["data"]:
                self.after = attempt["sequence"]
                yield attempt
            if not page["has_more"]:
                return


class EventFeed:
    """Events created since the feed was made, oldest first."""

    noun = "events"

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.seen = {event["id"] for event in self._first_page()["data"]}

    def _first_page(self) -> dict[str, Any]:
        return self.emulator.control("GET", "/events", params={"limit": 100})

    def new(self) -> Iterator[dict[str, Any]]:
        page = self._first_page()
        newest_ids = {event["id"] for event in page["data"]}
        fresh: list[dict[str, Any]] = []
        for _ in range(EVENT_PAGES):
            unseen = [event for event in page["data"] if event["id"] not in self.seen]
            fresh.extend(unseen)
            if len(unseen) < len(page["data"]) or not page["has_more"]:
                break
            page = self.emulator.control(
                "GET", "/events", params={"limit": 100, "cursor": page["next_cursor"]}
            )
        self.seen = newest_ids
        yield from reversed(fresh)


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def follow(*feeds: AttemptFeed | EventFeed, as_json: bool) -> None:
    """Print what each feed has, every POLL_SECONDS, until Ctrl-C or SIGTERM."""
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        while True:
            for feed in feeds:
                for item in feed.new():
                    line = attempt_line(item) if isinstance(feed, AttemptFeed) else event_line(item)
                    show(item, as_json, line)
            # Polling is how a client sees a server's changes here; a quarter second is
            # live enough for a person and idle for the emulator.
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        return


@click.command(cls=RemoteCommand)
@click.option("--deliveries", "only_deliveries", is_flag=True, help="Only delivery attempt lines.")
@click.option(
    "--requests",
    "--events",
    "only_requests",
    is_flag=True,
    help="Only the events the API's requests create (the emulator keeps no log of every "
    "request: `start` logs them).",
)
@json_option
@pass_emulator
def tail(emulator: Emulator, only_deliveries: bool, only_requests: bool, as_json: bool) -> None:
    """Print each event created and each delivery attempt as they happen, until Ctrl-C
    (with --json: the API's object, one a line)."""
    both = only_deliveries == only_requests
    feeds: list[AttemptFeed | EventFeed] = []
    if both or only_requests:
        feeds.append(EventFeed(emulator))
    if both or only_deliveries:
        feeds.append(AttemptFeed(emulator))
    # On stderr, so that --json output stays one object a line.
    click.echo(f"tailing {' and '.join(f.noun for f in feeds)} (Ctrl-C to stop)", err=True)
    follow(*feeds, as_json=as_json)


@click.group(cls=RemoteGroup)
def logs() -> None:
    """`logs tail`: the same as `tail`, for hands used to the Stripe CLI."""


logs.add_command(tail)

COMMANDS: tuple[click.Command, ...] = (tail, logs)
