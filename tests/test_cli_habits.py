"""Habits from other CLIs: `--json` at any level, durations as people type them, and the
cause of a failed delivery where people look (the CLI's table, `deliveries show`, the
dashboard's list). Real subprocesses against a real emulator."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.conftest import Emulator
from tests.test_cli import closed_port_url, harbor, ok


def _now(emulator: Emulator) -> datetime:
    text = emulator.control("GET", "/clock").json()["now"]
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    "args",
    [
        ("--json", "health"),
        ("health", "--json"),
        ("--json", "clock", "show"),
        ("clock", "--json", "show"),
        ("clock", "show", "--json"),
        ("--json", "snapshot", "list"),
        ("--json", "sinks"),
        ("sinks", "--json", "list"),
        ("--json", "faults", "list"),
        ("--json", "events"),
        ("deliveries", "--json"),
    ],
    ids=lambda args: " ".join(args),
)
def test_json_is_accepted_at_every_level(emulator: Emulator, args: tuple[str, ...]) -> None:
    body = json.loads(ok(harbor(*args, url=emulator.url)))
    assert isinstance(body, dict) and body, body


@pytest.mark.parametrize(
    ("words", "seconds"),
    [
        (("5m",), 300),
        (("90s",), 90),
        (("1h30m",), 5400),
        (("5", "minutes"), 300),
        (("2", "days"), 172800),
        (("5 minutes",), 300),
        (("1", "hour", "30", "min"), 5400),
        (("45",), 45),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else str(value),
)
def test_durations_in_every_form(emulator: Emulator, words: tuple[str, ...], seconds: int) -> None:
    emulator.control("POST", "/clock/freeze")
    before = _now(emulator)
    out = ok(harbor("clock", "advance", *words, url=emulator.url))
    assert (_now(emulator) - before).total_seconds() == seconds
    assert out.endswith(f"(advanced {' '.join(words)})\n")


def test_a_duration_it_cannot_read_is_one_line_naming_the_forms(emulator: Emulator) -> None:
    result = harbor("clock", "advance", "5", "parsecs", url=emulator.url)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: invalid_parameter: '5 parsecs' is not a duration: use 90s, 5m, 1h30m, 2d, "
        "5 minutes, 2 days or plain seconds."
    ]


@pytest.fixture
def refused(emulator: Emulator) -> dict[str, Any]:
    """A delivery whose first attempt was refused (a closed port), now pending a retry."""
    with emulator.api("hb_test_why") as api:
        webhook = api.post(
            "/v1/webhooks",
            json={"url": closed_port_url(), "events": ["*"], "workspace_id": "ws_why"},
        ).json()
        api.post("/v1/events", json={"type": "order.paid", "payload": {}, "workspace_id": "ws_why"})
    assert emulator.control("POST", "/deliveries/drain").json()["drained"] is True
    [delivery] = emulator.control("GET", "/deliveries").json()["data"]
    assert (delivery["status"], delivery["response_code"]) == ("pending", None)
    return {"webhook": webhook, "delivery": delivery}


def test_the_deliveries_table_shows_the_last_attempts_cause(
    emulator: Emulator, refused: dict[str, Any]
) -> None:
    delivery = refused["delivery"]
    last = delivery["last_attempt"]
    assert (last["attempt_number"], last["error"]) == (1, "connection_error")
    assert last["error_detail"].startswith("Connection refused by 127.0.0.1:")

    header, row = ok(harbor("deliveries", url=emulator.url)).splitlines()
    assert header.split()[-1] == "CAUSE"
    assert row.startswith(delivery["id"]) and " pending " in row
    assert row.endswith(f"connection_error: {last['error_detail']}"), row

    # Through /v1 (--key) the cause is the attempt's error code: /v1 has no words for it.
    keyed = ok(harbor("deliveries", "--key", "hb_test_why", url=emulator.url)).splitlines()
    assert keyed[1].endswith("  connection_error"), keyed
    # ...and /v1's shapes stay the contract's.
    with emulator.api("hb_test_why") as api:
        [v1] = api.get("/v1/deliveries").json()["data"]
    assert "last_attempt" not in v1 and "workspace_id" not in v1


def test_deliveries_show_prints_each_attempt_with_its_cause(
    emulator: Emulator, refused: dict[str, Any]
) -> None:
    delivery_id = refused["delivery"]["id"]
    lines = ok(harbor("deliveries", "show", delivery_id, url=emulator.url)).splitlines()
    assert lines[0] == (
        f"{delivery_id}  order.paid ({refused['delivery']['event_id']}) -> "
        f"{refused['webhook']['id']} in ws_why"
    )
    assert lines[1].startswith("status pending  attempts 1  next attempt 20")
    assert lines[2].split() == ["ATTEMPT", "AT", "CODE", "MS", "CAUSE"]
    assert re.match(r"1 +\S+Z +- +\d+ +connection_error: Connection refused by ", lines[3])
    detail = json.loads(ok(harbor("--json", "deliveries", "show", delivery_id, url=emulator.url)))
    assert detail["attempts"] == [detail["last_attempt"]]
    missing = harbor("deliveries", "show", "dlv_nothing", url=emulator.url)
    assert missing.returncode == 1
    assert missing.stderr == "error: delivery_not_found: No such delivery.\n"


def test_the_dashboards_list_shows_the_cause(emulator: Emulator, refused: dict[str, Any]) -> None:
    page = httpx.get(f"{emulator.url}/webhooks/deliveries", params={"workspace": "ws_why"}).text
    cell = re.search(r'data-testid="cause">([^<]*)</td>', page)
    assert cell, page
    assert cell.group(1).startswith("Connection refused by 127.0.0.1:")
