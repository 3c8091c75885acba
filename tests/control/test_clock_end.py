"""The clock's end (contract: Limits, "Clock end"): a running clock stops at
9999-12-31T23:59:59Z and stays there, and nothing about the clock makes a request answer 500.

Every response here is also checked against openapi.yaml (tests/conftest.py), so a time
rendered past the end (`10000-01-01T…`) fails the test that received it.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from harbor_emulator.api.openapi import document
from harbor_emulator.core.clock import MAX_MS, Clock
from tests.conftest import Emulator, error_of
from tests.receiver import Receiver

END = "9999-12-31T23:59:59Z"
# Host time a running clock needs to cross the end from where `set` put it (finding 6 waited
# 1.5 s). Nothing can be polled for instead: the passing of host time is what is tested.
PAST_THE_END_SECONDS = 1.5
DASHBOARD_PAGES = (
    *("/", "/clock", "/events", "/webhooks", "/webhooks/deliveries", "/sinks", "/faults"),
    *("/search?q=evt", "/settings/general", "/settings/api-keys"),
)


def _running_past_the_end(emulator: Emulator, reset_body: dict[str, Any]) -> None:
    """Finding 6's sequence: reset, set the clock to its end, let it run past."""
    assert emulator.control("POST", "/reset", json=reset_body).status_code == 200
    moved = emulator.control("POST", "/clock/set", json={"now": END})
    assert moved.status_code == 200, moved.text
    running = emulator.control("POST", "/clock/unfreeze")
    assert running.status_code == 200, running.text
    time.sleep(PAST_THE_END_SECONDS)


def _every_documented_operation() -> list[tuple[str, str]]:
    """(method, path) of each operation in the document, path parameters filled in; the
    reset last, since it moves the clock back to host time."""
    operations = [
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, item in document()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]
    return sorted(operations, key=lambda operation: operation[1] == "/_control/reset")


def test_a_running_clock_saturates_whatever_host_time_does() -> None:
    host = [1_780_000_000.0]
    clock = Clock(host_time=lambda: host[0])
    clock.set_ms(MAX_MS - 500)
    host[0] += 0.25  # binary fractions: the float arithmetic is exact
    assert clock.now_ms() == MAX_MS - 250
    for years in (1, 10_000, 10**9):
        host[0] += years * 31_557_600
        assert clock.now_ms() == MAX_MS
        assert clock.now().year == 9999


@pytest.mark.parametrize("reset_body", [{}, {"seed": 1}], ids=["unseeded", "seeded"])
def test_a_running_clock_stops_at_its_end_and_every_route_answers(
    emulator_factory: Any, reset_body: dict[str, Any]
) -> None:
    # Its own emulator: a seeded one stays seeded through later resets.
    emulator = emulator_factory()
    _running_past_the_end(emulator, reset_body)
    clock = emulator.control("GET", "/clock")
    assert clock.status_code == 200, clock.text
    assert (clock.json()["now"], clock.json()["frozen"]) == (END, False)

    with emulator.api() as api:
        created = api.post("/v1/events", json={"type": "a.b", "payload": {}})
        assert created.status_code == 201, created.text
        assert created.json()["created_at"] == END
        assert emulator.control("GET", "/health").json()["now"] == END
        statuses = {}
        for method, path in _every_documented_operation():
            client = api if path.startswith("/v1/") else emulator.http
            body = {} if method in ("POST", "PUT", "PATCH") else None
            statuses[method, path] = client.request(method, path, json=body).status_code
        with httpx.Client(base_url=emulator.url, timeout=30) as browser:
            for page in DASHBOARD_PAGES:
                statuses["GET", page] = browser.get(page).status_code
    failed = {operation: status for operation, status in statuses.items() if status >= 500}
    assert not failed, failed
    # The reset, last of all, put the clock back on host time and running.
    clock = emulator.control("GET", "/clock").json()
    assert clock["now"] < END and clock["frozen"] is bool(reset_body)


def test_the_clock_stays_at_its_end_while_running_frozen_or_moved(emulator: Emulator) -> None:
    _running_past_the_end(emulator, {})
    frozen = emulator.control("POST", "/clock/freeze")
    assert (frozen.status_code, frozen.json()["now"]) == (200, END)
    for body, param in (({"seconds": 1}, "seconds"), ({"duration": "1s"}, "duration")):
        response = emulator.control("POST", "/clock/advance", json=body)
        assert (response.status_code, error_of(response)["param"]) == (400, param)
    assert emulator.control("POST", "/clock/advance", json={"seconds": 0}).json()["now"] == END
    assert emulator.control("POST", "/clock/set", json={"now": END}).json()["now"] == END
    assert emulator.control("POST", "/clock/unfreeze").json()["now"] == END
    assert emulator.control("GET", "/clock").json()["now"] == END


def test_a_retry_that_would_fall_past_the_end_fails_the_delivery(
    emulator: Emulator, api: httpx.Client, receiver: Receiver
) -> None:
    receiver.always(500)
    emulator.control("POST", "/clock/freeze")
    emulator.control("POST", "/clock/set", json={"now": "9999-12-31T23:58:59Z"})
    webhook = api.post(
        "/v1/webhooks",
        json={"url": receiver.url, "events": ["*"], "retry_policy": {"schedule_seconds": [30]}},
    )
    assert webhook.status_code == 201, webhook.text
    api.post("/v1/events", json={"type": "a.b", "payload": {}})
    emulator.drain()
    (delivery,) = api.get("/v1/deliveries").json()["data"]
    # Retries 30 s apart: 23:59:29 and 23:59:59 still fall within the clock's range.
    assert (delivery["status"], delivery["next_attempt_at"]) == (
        "pending",
        "9999-12-31T23:59:29Z",
    )
    assert emulator.control("POST", "/clock/set", json={"now": END}).status_code == 200
    emulator.drain()
    (delivery,) = api.get("/v1/deliveries").json()["data"]
    # The next would fall at 10000-01-01T00:00:29Z, where the clock never gets: failed, as
    # when max_age_seconds runs out.
    assert (delivery["status"], delivery["attempt_count"], delivery["next_attempt_at"]) == (
        "failed",
        3,
        None,
    )
    attempts = api.get(f"/v1/deliveries/{delivery['id']}/attempts").json()["data"]
    assert sorted(a["attempted_at"] for a in attempts)[-1] == END
    # A replay at the end is one more attempt at the end, then failed again.
    assert api.post(f"/v1/deliveries/{delivery['id']}/replay").status_code < 300
    emulator.drain()
    replayed = api.get(f"/v1/deliveries/{delivery['id']}").json()
    assert (replayed["status"], replayed["attempt_count"]) == ("failed", 4)


def test_a_rotated_key_expires_at_the_end_at_the_latest(
    emulator: Emulator, api: httpx.Client
) -> None:
    emulator.control("POST", "/clock/freeze")
    emulator.control("POST", "/clock/set", json={"now": "9999-12-31T23:00:00Z"})
    webhook = api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["*"]})
    keys_path = f"/v1/webhooks/{webhook.json()['id']}/signing-keys"
    rotated = api.post(keys_path, json={"expire_previous_in_seconds": 86400})
    assert rotated.status_code == 201, rotated.text
    keys = api.get(keys_path).json()["data"]
    # A day later would be past the end: the previous key signs until the end instead.
    assert [key["expires_at"] for key in keys] == [None, END]
    exported = emulator.control("GET", "/export")
    assert exported.status_code == 200
    assert "10000-" not in exported.text
    # Rotated at the end itself, the previous key has expired (the clock never passes it).
    emulator.control("POST", "/clock/set", json={"now": END})
    assert api.post(keys_path, json={}).status_code == 201
    assert [key["expires_at"] for key in api.get(keys_path).json()["data"]] == [None]


def test_idempotency_at_the_end_still_replays(emulator: Emulator, api: httpx.Client) -> None:
    emulator.control("POST", "/clock/freeze")
    emulator.control("POST", "/clock/set", json={"now": END})
    headers = {"Idempotency-Key": "at-the-end"}
    first = api.post("/v1/events", json={"type": "a.b", "payload": {}}, headers=headers)
    again = api.post("/v1/events", json={"type": "a.b", "payload": {}}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


@pytest.mark.parametrize(
    "created_at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"]
)
def test_a_time_outside_the_clocks_range_is_refused_not_stored(
    emulator: Emulator, api: httpx.Client, created_at: str
) -> None:
    # An offset carries a four-digit year past the end; it used to be stored and shown as
    # 10000-01-01T00:59:59Z, which no client's RFC 3339 parser reads.
    document = {"events": [{"type": "a.b", "payload": {}, "created_at": created_at}]}
    loaded = emulator.control("POST", "/fixtures", json=document)
    assert loaded.status_code == 400, loaded.text
    assert error_of(loaded)["code"] == "invalid_fixtures"
    assert api.get("/v1/events").json()["data"] == []
    replay = api.post("/v1/events/replay", json={"since": created_at})
    assert (replay.status_code, error_of(replay)["param"]) == (400, "since")


def test_the_clock_page_refuses_no_window(emulator: Emulator) -> None:
    with httpx.Client(base_url=emulator.url, timeout=30) as browser:
        page = browser.get("/clock", params={"from": 0, "to": 10**30})
    assert page.status_code == 200, page.text[:500]
