"""POST /_control/receiver-checks: deliveries built like real ones, checks in the contract's
order, stable errors, no state gate. Every answer here is checked against openapi.yaml by
the suite's client (tests/conftest.py)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from harbor_emulator import signing
from harbor_emulator.control.receiver_check import CHECKS, LARGE_PAYLOAD_BYTES, SKEW_SECONDS
from tests.conftest import Emulator, error_of
from tests.receiver import Answer, Receiver
from tests.receiver_examples import SECRET, serve_python

ORDER = [
    "valid",
    "duplicate",
    "bad_signature",
    "tampered_body",
    "stale_timestamp",
    "missing_signature",
    "rotation",
    "future_timestamp",
    "large_payload",
    "unknown_type",
    "fast",
]
MUST = {"valid", "duplicate", "bad_signature", "tampered_body", "stale_timestamp"} | {
    "missing_signature",
    "rotation",
}


def check(emulator: Emulator, **body: Any) -> dict[str, Any]:
    response = emulator.control("POST", "/receiver-checks", json=body, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def test_a_correct_receiver_passes_every_check_in_the_contracts_order(emulator: Emulator) -> None:
    with serve_python("receiver") as url:
        report = check(emulator, url=url, secret=SECRET, event_type="order.paid")
    assert [c["name"] for c in report["checks"]] == ORDER == [spec.name for spec in CHECKS]
    assert {c["name"] for c in report["checks"] if c["required"]} == MUST
    assert [c["result"] for c in report["checks"]] == ["pass"] * 11, report
    assert report["passed"] is True and report["reachable"] is True
    assert report["object"] == "receiver_check" and report["url"] == url
    statuses = [c["status"] for c in report["checks"]]
    assert statuses == [200, 200, 400, 400, 400, 400, 200, 400, 200, 200, None]
    assert all(c["hint"] and c["expected"] for c in report["checks"])


def test_deliveries_are_built_like_real_ones(emulator: Emulator, receiver: Receiver) -> None:
    """The valid check's request has the headers, envelope and signature of a real delivery."""
    webhook = {"id": "wh_real", "workspace_id": "ws_real", "url": receiver.url + "/real"}
    loaded = emulator.control(
        "POST", "/fixtures", json={"webhooks": [webhook | {"events": ["*"], "secret": SECRET}]}
    )
    assert loaded.status_code == 201, loaded.text
    with emulator.api() as api:
        event = {"workspace_id": "ws_real", "type": "order.paid", "payload": {"n": 1}}
        assert api.post("/v1/events", json=event).status_code == 201
    emulator.drain()
    [real] = receiver.requests
    receiver.reset()
    before = int(time.time())
    check(emulator, url=receiver.url + "/check", secret=SECRET, event_type="order.paid")
    after = int(time.time())
    valid = receiver.requests[0]
    assert valid.path == "/check"
    assert set(valid.headers) == set(real.headers)
    for name in ("content-type", "user-agent", "harbor-attempt", "harbor-event-type"):
        assert valid.headers[name] == real.headers[name], name
    signing.verify(valid.body, valid.headers, SECRET)
    assert before <= int(valid.headers["harbor-timestamp"]) <= after  # host time
    envelope, real_envelope = json.loads(valid.body), json.loads(real.body)
    assert list(envelope) == list(real_envelope) == ["id", "type", "created_at", "data"]
    assert list(envelope["data"]) == list(real_envelope["data"])
    assert envelope["id"] == valid.headers["harbor-delivery-id"]
    assert envelope["type"] == "order.paid"
    # Compact JSON, as the engine writes it: the same bytes a real envelope would have.
    assert valid.body == json.dumps(envelope, separators=(",", ":")).encode()


def test_each_check_sends_what_its_name_says(emulator: Emulator, receiver: Receiver) -> None:
    before = int(time.time())
    report = check(emulator, url=receiver.url, secret=SECRET)
    after = int(time.time())
    sent = dict(zip(ORDER[:-1], receiver.requests, strict=True))
    valid, duplicate = sent["valid"], sent["duplicate"]
    # The duplicate is the same delivery again: same id and bytes, attempt 2, signed anew.
    assert duplicate.body == valid.body
    assert duplicate.headers["harbor-delivery-id"] == valid.headers["harbor-delivery-id"]
    assert (valid.headers["harbor-attempt"], duplicate.headers["harbor-attempt"]) == ("1", "2")
    signing.verify(duplicate.body, duplicate.headers, SECRET)
    # Every other check is a new delivery of a new event.
    event_ids = [json.loads(sent[name].body)["data"]["id"] for name in ORDER[:-1]]
    assert event_ids[1] == event_ids[0] and len(set(event_ids)) == 9
    with pytest.raises(signing.SignatureVerificationError, match="No signature matches"):
        signing.verify(sent["bad_signature"].body, sent["bad_signature"].headers, SECRET)
    tampered = sent["tampered_body"]
    with pytest.raises(signing.SignatureVerificationError, match="No signature matches"):
        signing.verify(tampered.body, tampered.headers, SECRET)
    json.loads(tampered.body)  # still valid JSON: only the raw-bytes signature can tell
    for name, skew in (("stale_timestamp", -SKEW_SECONDS), ("future_timestamp", SKEW_SECONDS)):
        request = sent[name]
        stamp = int(request.headers["harbor-timestamp"])
        assert before + skew <= stamp <= after + skew, name
        # Correctly signed: only the timestamp is wrong.
        signing.verify(request.body, request.headers, SECRET, now=stamp)
    assert "harbor-signature" not in sent["missing_signature"].headers
    rotation = sent["rotation"].headers["harbor-signature"].split(",")
    assert len(rotation) == 2
    signing.verify(sent["rotation"].body, sent["rotation"].headers, SECRET)
    with pytest.raises(signing.SignatureVerificationError):
        single = dict(sent["rotation"].headers, **{"harbor-signature": rotation[0]})
        signing.verify(sent["rotation"].body, single, SECRET)
    large = json.loads(sent["large_payload"].body)["data"]["payload"]
    assert len(json.dumps(large, separators=(",", ":")).encode()) == LARGE_PAYLOAD_BYTES
    assert sent["unknown_type"].headers["harbor-event-type"] != valid.headers["harbor-event-type"]
    # A receiver answering 200 to everything: the refusals fail, the acceptances pass.
    results = {c["name"]: c["result"] for c in report["checks"]}
    assert [name for name, result in results.items() if result != "pass"] == [
        "bad_signature",
        "tampered_body",
        "stale_timestamp",
        "missing_signature",
        "future_timestamp",
    ]
    assert report["passed"] is False
    # What was sent is in the report: the headers as they went out.
    checks = by_name(report)
    assert (
        checks["bad_signature"]["sent"]["headers"]["Harbor-Signature"]
        == (sent["bad_signature"].headers["harbor-signature"])
    )
    assert checks["valid"]["sent"]["body_bytes"] == len(valid.body)
    assert checks["valid"]["received"] == {"error": None, "detail": None, "body_excerpt": "ok"}


def test_a_custom_type_and_payload_are_sent(emulator: Emulator, receiver: Receiver) -> None:
    check(emulator, url=receiver.url, secret=SECRET, event_type="invoice.paid", payload=[1, "é"])
    envelope = json.loads(receiver.requests[0].body)
    assert (envelope["type"], envelope["data"]["payload"]) == ("invoice.paid", [1, "é"])


def test_an_unreachable_url_is_a_report_not_an_error(emulator: Emulator) -> None:
    report = check(emulator, url="http://127.0.0.1:9/hook", secret=SECRET)
    assert (report["passed"], report["reachable"]) == (False, False)
    checks = by_name(report)
    assert checks["valid"]["received"]["error"] == "connection_error"
    assert "refused" in checks["valid"]["received"]["detail"]
    for name in ORDER[1:-1]:
        assert checks[name]["received"]["error"] == "not_sent", name
        assert checks[name]["sent"] is None
        assert checks[name]["result"] == ("fail" if name in MUST else "warn")


def test_a_receiver_that_never_answers_is_bounded_by_the_delivery_timeout(
    emulator_factory: Any,
) -> None:
    quick = emulator_factory(delivery_timeout_seconds=0.5)
    hanging = Receiver()
    try:
        hanging.always(Answer(kind="hang"))
        report = check(quick, url=hanging.url, secret=SECRET)
    finally:
        hanging.close()
    checks = by_name(report)
    assert checks["valid"]["received"]["error"] == "timeout"
    # Reached (something accepted the connection) but not ready; nothing else was sent.
    assert (report["passed"], report["reachable"]) == (False, True)
    assert len(hanging.requests) == 1
    assert checks["fast"]["result"] == "warn"


def test_the_check_holds_no_state_gate(emulator: Emulator, receiver: Receiver) -> None:
    """A clock advance made while the receiver holds the valid delivery completes at once:
    were the check holding the gate, the advance would wait for it, the valid delivery would
    time out, and its status would be null."""
    advanced: list[dict[str, Any]] = []
    receiver.respond_with(Answer(before=lambda: advanced.append(emulator.advance(60))))
    report = check(emulator, url=receiver.url, secret=SECRET)
    assert len(advanced) == 1
    assert by_name(report)["valid"]["status"] == 200, report


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"secret": SECRET}, 400, "missing_parameter", "url"),
        ({"url": "http://127.0.0.1:9/"}, 400, "missing_parameter", "secret"),
        ({"url": "http://127.0.0.1:9/", "secret": ""}, 400, "invalid_parameter", "secret"),
        ({"url": "http://127.0.0.1:9/", "secret": 5}, 400, "invalid_parameter", "secret"),
        ({"url": "ftp://x/", "secret": SECRET}, 400, "invalid_url", "url"),
        ({"url": 7, "secret": SECRET}, 400, "invalid_url", "url"),
        (
            {"url": "http://127.0.0.1:9/", "secret": SECRET, "event_type": "a b"},
            400,
            "invalid_parameter",
            "event_type",
        ),
        (  # the rules of /v1/events' type: a control character never reaches a header
            {"url": "http://127.0.0.1:9/", "secret": SECRET, "event_type": "a\u0001b"},
            400,
            "invalid_parameter",
            "event_type",
        ),
        ({"url": "http://127.0.0.1:9/", "secret": SECRET, "x": 1}, 400, "invalid_parameter", "x"),
        (
            {"url": "http://127.0.0.1:9/", "secret": SECRET, "payload": "x" * LARGE_PAYLOAD_BYTES},
            413,
            "payload_too_large",
            "payload",
        ),
    ],
)
def test_bad_input_is_a_stable_error(
    emulator: Emulator, body: dict[str, Any], status: int, code: str, param: str
) -> None:
    response = emulator.control("POST", "/receiver-checks", json=body)
    assert response.status_code == status, response.text
    assert (error_of(response)["code"], error_of(response)["param"]) == (code, param)


def test_a_body_that_is_not_json_is_invalid_json(emulator: Emulator) -> None:
    response = emulator.control(
        "POST", "/receiver-checks", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"
