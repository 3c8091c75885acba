"""Delivery chaos (contract "Delivery chaos: at-least-once, on purpose") through real
deliveries to the emulator's own sinks: attempt numbers, ids, order of arrival, valid
signatures, and byte-identical recordings under a seed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from harbor_emulator import signing
from tests.conftest import Emulator, error_of


def _webhook(emulator: Emulator, api: httpx.Client, sink: str) -> dict[str, Any]:
    response = api.post(
        "/v1/webhooks", json={"url": f"{emulator.url}/_sink/{sink}", "events": ["*"]}
    )
    assert response.status_code == 201, response.text
    return response.json()


def _event(api: httpx.Client, n: int) -> dict[str, Any]:
    response = api.post("/v1/events", json={"type": "order.paid", "payload": {"n": n}})
    assert response.status_code == 201, response.text
    return response.json()


def _fault(emulator: Emulator, **spec: Any) -> dict[str, Any]:
    response = emulator.control("POST", "/faults", json={"target": "delivery", **spec})
    assert response.status_code == 201, response.text
    return response.json()


def _received(emulator: Emulator, sink: str) -> list[dict[str, Any]]:
    response = emulator.control("GET", f"/sinks/{sink}")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _attempts(api: httpx.Client, delivery_id: str) -> list[dict[str, Any]]:
    data = api.get(f"/v1/deliveries/{delivery_id}/attempts").json()["data"]
    return list(reversed(data))


def _assert_signed(request: dict[str, Any], secret: str) -> None:
    headers = request["headers"]
    # Seeded runs stamp emulator time: verify against the time the request says it was sent.
    signing.verify(request["body"], headers, secret, now=int(headers["harbor-timestamp"]))


def _seen(requests: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(delivery id, Harbor-Attempt, payload n) per request, in order of arrival."""
    return [
        (
            r["headers"]["harbor-delivery-id"],
            r["headers"]["harbor-attempt"],
            json.loads(r["body"])["data"]["payload"]["n"],
        )
        for r in requests
    ]


def test_ack_lost_delivers_again_at_the_next_retry(emulator: Emulator, api: httpx.Client) -> None:
    webhook = _webhook(emulator, api, "acks")
    _fault(emulator, endpoint_id=webhook["id"], outcome="ack_lost", count=1)
    _event(api, 1)
    emulator.drain()
    first = _received(emulator, "acks")
    assert [r["headers"]["harbor-attempt"] for r in first] == ["1"]
    delivery = api.get("/v1/deliveries").json()["data"][0]
    assert delivery["status"] == "pending" and delivery["attempt_count"] == 1
    # The sink answered 200; the attempt is recorded as a timeout all the same.
    [attempt] = _attempts(api, delivery["id"])
    assert (attempt["error"], attempt["response_code"]) == ("timeout", None)

    emulator.advance(300)
    emulator.drain()
    requests = _received(emulator, "acks")
    assert _seen(requests) == [(delivery["id"], "1", 1), (delivery["id"], "2", 1)]
    assert requests[0]["body"] == requests[1]["body"]
    for request in requests:
        _assert_signed(request, webhook["secret"])
    assert api.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == "succeeded"
    # The control view says which attempt chaos bent, and what the receiver really said.
    shown = emulator.control("GET", f"/deliveries/{delivery['id']}").json()["attempts"]
    assert [a["chaos"] for a in shown] == [None, "ack_lost"]
    assert "the receiver answered 200" in shown[1]["error_detail"]
    [fault] = emulator.control("GET", "/faults").json()["data"]
    assert (fault["remaining"], fault["fired_count"]) == (0, 1)


def test_duplicate_sends_the_attempt_twice_and_records_it_once(
    emulator: Emulator, api: httpx.Client
) -> None:
    webhook = _webhook(emulator, api, "twice")
    _fault(emulator, endpoint_id=webhook["id"], outcome="duplicate", count=1)
    _event(api, 1)
    _event(api, 2)
    emulator.drain()
    requests = _received(emulator, "twice")
    deliveries = {d["event_id"]: d for d in api.get("/v1/deliveries").json()["data"]}
    assert len(requests) == 3
    seen = _seen(requests)
    duplicated = [s for s in seen if seen.count(s) == 2]
    # The first delivery's attempt came twice (same id, body and attempt number).
    assert len(duplicated) == 2 and duplicated[0][1:] == ("1", 1)
    bodies = [r["body"] for r in requests if r["headers"]["harbor-delivery-id"] == seen[0][0]]
    assert len(set(bodies)) == 1
    for request in requests:
        _assert_signed(request, webhook["secret"])
    for delivery in deliveries.values():
        assert delivery["status"] == "succeeded"
        assert len(_attempts(api, delivery["id"])) == 1
    marks = {
        d["event_id"]: emulator.control("GET", f"/deliveries/{d['id']}").json()["attempts"][0]
        for d in deliveries.values()
    }
    assert sorted(str(a["chaos"]) for a in marks.values()) == ["None", "duplicate"]


def test_delay_lets_a_later_event_overtake(emulator: Emulator, api: httpx.Client) -> None:
    # Frozen, so the 599 s below are all that passes however slow the machine is.
    assert emulator.control("POST", "/clock/freeze").status_code == 200
    webhook = _webhook(emulator, api, "late")
    _fault(emulator, endpoint_id=webhook["id"], outcome="delay", delay_seconds=600, count=1)
    _event(api, 1)
    emulator.drain()
    assert _received(emulator, "late") == []
    delivery = api.get("/v1/deliveries").json()["data"][0]
    assert delivery["status"] == "pending" and delivery["attempt_count"] == 0
    _event(api, 2)
    emulator.drain()
    assert [n for _, _, n in _seen(_received(emulator, "late"))] == [2]

    emulator.advance(599)
    emulator.drain()
    assert len(_received(emulator, "late")) == 1
    emulator.advance(1)
    emulator.drain()
    requests = _received(emulator, "late")
    assert [(attempt, n) for _, attempt, n in _seen(requests)] == [("1", 2), ("1", 1)]
    for request in requests:
        _assert_signed(request, webhook["secret"])
    [attempt] = _attempts(api, delivery["id"])
    assert attempt["error"] is None and attempt["response_code"] == 200

    # The dashboard marks the attempt chaos bent; the /v1 attempt keeps its shape.
    page = emulator.http.get(f"/webhooks/deliveries/{delivery['id']}")
    assert page.status_code == 200
    assert "chaos: delayed 600 s" in page.text
    shown = emulator.control("GET", f"/deliveries/{delivery['id']}").json()["attempts"]
    assert [a["chaos"] for a in shown] == ["delay=600"]
    assert "delay 600s" in emulator.http.get("/faults").text
    assert "chaos" not in json.dumps(attempt)


def test_chaos_faults_are_validated(emulator: Emulator) -> None:
    cases = [
        ({"outcome": "delay"}, "missing_parameter", "delay_seconds"),
        ({"outcome": "delay", "delay_seconds": 0}, "invalid_parameter", "delay_seconds"),
        ({"outcome": "delay", "delay_seconds": 259_201}, "invalid_parameter", "delay_seconds"),
        ({"outcome": "ack_lost", "delay_seconds": 5}, "invalid_parameter", "delay_seconds"),
        ({"outcome": "ack_lots"}, "invalid_parameter", "outcome"),
    ]
    for spec, code, param in cases:
        response = emulator.control(
            "POST", "/faults", json={"target": "delivery", "endpoint_id": "wh_x", **spec}
        )
        assert response.status_code == 400, (spec, response.text)
        assert (error_of(response)["code"], error_of(response)["param"]) == (code, param)
    created = _fault(emulator, endpoint_id="wh_x", outcome="delay", delay_seconds=90)
    assert (created["outcome"], created["delay_seconds"]) == ("delay", 90)
    assert _fault(emulator, endpoint_id="wh_x", outcome="duplicate")["delay_seconds"] is None


def _chaos_run(emulator: Emulator) -> list[dict[str, Any]]:
    """A scenario mixing every chaos outcome at random, on the seeded emulator's draws."""
    with emulator.api() as api:
        webhook = _webhook(emulator, api, "chaos")
        for outcome in ("ack_lost", "duplicate", "delay"):
            extra = {"delay_seconds": 120} if outcome == "delay" else {}
            _fault(emulator, endpoint_id=webhook["id"], outcome=outcome, probability=0.3, **extra)
        for n in range(12):
            _event(api, n)
            emulator.drain()
        # Past the fifth attempt (8 h 35 min): every ack_lost retried.
        emulator.advance(9 * 3600)
        emulator.drain()
        requests = _received(emulator, "chaos")
        for request in requests:
            _assert_signed(request, webhook["secret"])
        statuses = {d["status"] for d in api.get("/v1/deliveries?limit=100").json()["data"]}
        assert statuses == {"succeeded"}
    return requests


@pytest.mark.parametrize("seed", [7])
def test_seeded_chaos_is_byte_identical(emulator_factory: Any, seed: int) -> None:
    runs = []
    for _ in range(2):
        emulator = emulator_factory(seed=seed)
        requests = _chaos_run(emulator)
        # The Host header carries each emulator's port (docs/guarantees.md "Determinism").
        for request in requests:
            del request["headers"]["host"]
        runs.append(json.dumps(requests, sort_keys=True))
    assert runs[0] == runs[1]
    requests = json.loads(runs[0])
    seen = _seen(requests)
    # The scenario exercised every outcome: duplicates, redeliveries, and overtaking.
    assert any(seen.count(s) == 2 for s in seen)
    assert any(attempt != "1" for _, attempt, _ in seen)
    order = [n for _, attempt, n in seen if attempt == "1"]
    assert order != sorted(order)


def test_a_postponed_attempt_stays_postponed_across_a_snapshot(
    emulator: Emulator, api: httpx.Client
) -> None:
    """Which attempt a delay postponed is state: a snapshot restored (or a restart with
    --db) sends it once when due, marked with its delay, and never delays it twice."""
    assert emulator.control("POST", "/clock/freeze").status_code == 200
    webhook = _webhook(emulator, api, "kept")
    _fault(emulator, endpoint_id=webhook["id"], outcome="delay", delay_seconds=60)
    _event(api, 1)
    emulator.drain()
    saved = emulator.control("POST", "/snapshots", json={"name": "postponed"})
    assert saved.status_code == 201, saved.text
    for _ in range(2):
        emulator.advance(60)
        emulator.drain()
        [delivery] = api.get("/v1/deliveries").json()["data"]
        shown = emulator.control("GET", f"/deliveries/{delivery['id']}").json()["attempts"]
        # The fault fires on every attempt; the postponed one still went out, once.
        assert [(a["attempt_number"], a["chaos"]) for a in shown] == [(1, "delay=60")]
        assert len(_received(emulator, "kept")) == 1
        restored = emulator.control("POST", "/snapshots/postponed/restore")
        assert restored.status_code == 200, restored.text
