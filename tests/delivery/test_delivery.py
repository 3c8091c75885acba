"""Deliveries to a real receiver: envelope, headers, signatures, outcomes, schedule."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import Any

import httpx
import pytest
import stripe

from harbor_emulator import signing
from tests.conftest import Emulator, error_of
from tests.receiver import Answer, Receiver


def _webhook(api: httpx.Client, url: str, events: list[str] | None = None, **extra: Any) -> dict:
    response = api.post("/v1/webhooks", json={"url": url, "events": events or ["*"], **extra})
    assert response.status_code == 201, response.text
    return response.json()


def _event(api: httpx.Client, event_type: str = "order.created", **payload: Any) -> dict:
    response = api.post("/v1/events", json={"type": event_type, "payload": payload or {"n": 1}})
    assert response.status_code == 201, response.text
    return response.json()


def _at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _only_delivery(api: httpx.Client) -> dict:
    deliveries = api.get("/v1/deliveries").json()["data"]
    assert len(deliveries) == 1, deliveries
    return deliveries[0]


def _attempts(api: httpx.Client, delivery_id: str) -> list[dict]:
    data = api.get(f"/v1/deliveries/{delivery_id}/attempts", params={"limit": 100}).json()["data"]
    return list(reversed(data))  # the API lists newest first


def verify_like_seed_004(body: bytes, headers: dict[str, str], secret: str) -> bool:
    """What a user of seeds/004 writes by hand: HMAC of "{timestamp}.{body}", 5 min tolerance."""
    timestamp = headers["harbor-timestamp"]
    if abs(time.time() - int(timestamp)) > 300:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    given = [part.removeprefix("v1=") for part in headers["harbor-signature"].split(",")]
    return any(hmac.compare_digest(expected, candidate) for candidate in given)


def test_envelope_headers_and_signature(
    emulator: Emulator, api: httpx.Client, receiver: Receiver
) -> None:
    webhook = _webhook(api, f"{receiver.url}/hooks", ["order.*"])
    event = _event(api, "order.created", order_id="ord_123", amount_cents=4500)
    emulator.drain()
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    delivery = _only_delivery(api)
    assert request.method == "POST" and request.path == "/hooks"
    envelope = json.loads(request.body)
    assert envelope == {
        "id": delivery["id"],
        "type": "order.created",
        "created_at": event["created_at"],
        "data": event,
    }
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "Harbor-Webhooks/1.0"
    assert headers["harbor-delivery-id"] == delivery["id"]
    assert headers["harbor-event-type"] == "order.created"
    assert headers["harbor-attempt"] == "1"
    assert abs(int(headers["harbor-timestamp"]) - time.time()) < 60
    secret = webhook["secret"]
    # Stripe's public verifier accepts the scheme with the timestamp moved into the header.
    stripe.WebhookSignature.verify_header(
        request.body.decode(),
        f"t={headers['harbor-timestamp']},{headers['harbor-signature']}",
        secret,
        tolerance=300,
    )
    assert verify_like_seed_004(request.body, headers, secret)
    signing.verify(request.body, headers, secret)
    assert not verify_like_seed_004(request.body, headers, "whsec_wrong")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(
            request.body.decode(),
            f"t={headers['harbor-timestamp']},{headers['harbor-signature']}",
            "whsec_wrong",
            tolerance=300,
        )
    assert delivery["status"] == "succeeded" and delivery["response_code"] == 200
    assert delivery["webhook_id"] == webhook["id"] and delivery["attempt_count"] == 1


def test_seed_002_destination_quickstart(emulator: Emulator, receiver: Receiver) -> None:
    with emulator.api("hk_test_your_test_key") as api:
        destination = api.post(
            "/v1/destinations",
            json={"url": f"{receiver.url}/your-unique-id", "name": "Quickstart receiver"},
        ).json()
        assert destination["signing_secret"].startswith("whsec_")
        subscribed = api.post(
            "/v1/subscriptions",
            json={"destination_id": destination["id"], "event_type": "order.created"},
        )
        assert subscribed.status_code in (200, 201), subscribed.text
        api.post(
            "/v1/events",
            json={"type": "order.created", "body": {"order_id": "ord_123", "amount_cents": 4500}},
        )
        emulator.drain()
        delivery = _only_delivery(api)
        assert delivery["status"] == "succeeded"
        assert delivery["response_code"] == 200
        assert delivery["destination_id"] == destination["id"]
        assert "Harbor-Signature".lower() in receiver.requests[0].headers


def test_only_matching_endpoints_get_deliveries(
    emulator: Emulator, api: httpx.Client, receiver: Receiver
) -> None:
    _webhook(api, f"{receiver.url}/orders", ["order.*"])
    _webhook(api, f"{receiver.url}/invoices", ["invoice.paid"])
    _event(api, "order.shipped")
    _event(api, "invoice.paid")
    _event(api, "customer.created")
    emulator.drain()
    assert sorted(r.path for r in receiver.requests) == ["/invoices", "/orders"]


def test_full_72_hour_schedule(emulator: Emulator, api: httpx.Client, receiver: Receiver) -> None:
    receiver.always(500)
    emulator.control("POST", "/clock/freeze")
    _webhook(api, receiver.url)
    event = _event(api)
    emulator.drain()
    emulator.advance(72 * 3600)
    delivery = _only_delivery(api)
    assert delivery["status"] == "failed"
    assert delivery["attempt_count"] == 8 and delivery["next_attempt_at"] is None
    attempts = _attempts(api, delivery["id"])
    offsets = [_at(a["attempted_at"]) - _at(event["created_at"]) for a in attempts]
    minutes = 60
    assert offsets == [
        0,
        5 * minutes,
        35 * minutes,
        155 * minutes,
        515 * minutes,
        1235 * minutes,
        2675 * minutes,
        4115 * minutes,
    ]
    assert [a["attempt_number"] for a in attempts] == list(range(1, 9))
    assert [r.headers["harbor-attempt"] for r in receiver.requests] == [str(n) for n in range(1, 9)]
    assert all(a["response_code"] == 500 and a["error"] is None for a in attempts)
    # Byte-identical bodies on every attempt.
    assert len({r.body for r in receiver.requests}) == 1


def test_nothing_is_sent_before_it_is_due(
    emulator: Emulator, api: httpx.Client, receiver: Receiver
) -> None:
    receiver.respond_with(500)
    emulator.control("POST", "/clock/freeze")
    _webhook(api, receiver.url)
    _event(api)
    emulator.drain()
    emulator.advance(4 * 60 + 59)
    assert len(receiver.requests) == 1
    assert _only_delivery(api)["status"] == "pending"
    emulator.advance(1)
    assert len(receiver.requests) == 2
    delivery = _only_delivery(api)
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 2
    emulator.advance(72 * 3600)
    assert len(receiver.requests) == 2  # success stops retries


def test_redirects_are_failures_and_not_followed(
    emulator: Emulator, api: httpx.Client, receiver: Receiver
) -> None:
    receiver.respond_with(Answer(status=302, headers={"Location": f"{receiver.url}/elsewhere"}))
    _webhook(api, receiver.url)
    _event(api)
    emulator.drain()
    assert [r.path for r in receiver.requests] == ["/"]
    attempt = _attempts(api, _only_delivery(api)["id"])[0]
    assert attempt["response_code"] == 302 and attempt["error"] == "redirect"


def test_custom_retry_policy(emulator: Emulator, api: httpx.Client, receiver: Receiver) -> None:
    receiver.always(503)
    emulator.control("POST", "/clock/freeze")
    _webhook(api, receiver.url, retry_policy={"schedule_seconds": [10, 20], "max_age_seconds": 60})
    event = _event(api)
    emulator.drain()
    emulator.advance(3600)
    delivery = _only_delivery(api)
    offsets = [
        _at(a["attempted_at"]) - _at(event["created_at"]) for a in _attempts(api, delivery["id"])
    ]
    # The last delay repeats; the next after 50 s would pass the 60 s max age.
    assert offsets == [0, 10, 30, 50]
    assert delivery["status"] == "failed"


def test_paused_endpoint_holds_then_resume_sends(
    emulator: Emulator, api: httpx.Client, receiver: Receiver
) -> None:
    webhook = _webhook(api, receiver.url)
    assert api.patch(f"/v1/webhooks/{webhook['id']}", json={"status": "paused"}).status_code == 200
    _event(api)
    emulator.drain()
    assert receiver.requests == []
    held = _only_delivery(api)
    assert held["status"] == "held" and held["next_attempt_at"] is None
    assert api.patch(f"/v1/webhooks/{webhook['id']}", json={"status": "active"}).status_code == 200
    emulator.drain()
    assert len(receiver.requests) == 1
    assert _only_delivery(api)["status"] == "succeeded"


def test_delete_cancels_pending_deliveries(
    emulator: Emulator, api: httpx.Client, receiver: Receiver
) -> None:
    receiver.always(500)
    webhook = _webhook(api, receiver.url)
    _event(api)
    emulator.drain()
    assert api.delete(f"/v1/webhooks/{webhook['id']}").status_code == 204
    delivery = _only_delivery(api)
    assert delivery["status"] == "cancelled"
    emulator.advance(3600)
    assert len(receiver.requests) == 1
    replay = api.post(f"/v1/deliveries/{delivery['id']}/replay")
    assert replay.status_code == 409
    assert error_of(replay)["code"] == "delivery_cancelled"


def test_delivery_replay_is_one_more_attempt_with_the_same_id(
    emulator: Emulator, api: httpx.Client, receiver: Receiver
) -> None:
    _webhook(api, receiver.url)
    _event(api)
    emulator.drain()
    delivery = _only_delivery(api)
    replayed = api.post(f"/v1/deliveries/{delivery['id']}/replay")
    assert replayed.status_code == 202
    assert replayed.json()["id"] == delivery["id"]
    emulator.drain()
    assert [r.headers["harbor-delivery-id"] for r in receiver.requests] == [delivery["id"]] * 2
    assert [r.headers["harbor-attempt"] for r in receiver.requests] == ["1", "2"]
    assert receiver.requests[0].body == receiver.requests[1].body


def test_event_replay_and_backfill(
    emulator: Emulator, api: httpx.Client, receiver: Receiver
) -> None:
    emulator.control("POST", "/clock/freeze")
    first = _event(api, "order.created")
    emulator.advance(60)
    second = _event(api, "order.paid")
    emulator.advance(60)
    # The webhook is registered after the events: only replays reach it.
    webhook = _webhook(api, receiver.url, ["order.*"])
    replay = api.post(f"/v1/events/{first['id']}/replay")
    assert replay.status_code == 201
    assert [d["event_id"] for d in replay.json()["data"]] == [first["id"]]
    aimed = api.post(f"/v1/events/{second['id']}/replay", json={"webhook_id": webhook["id"]})
    assert aimed.status_code == 201 and len(aimed.json()["data"]) == 1
    backfill = api.post(
        "/v1/events/replay", json={"since": first["created_at"], "until": second["created_at"]}
    )
    assert backfill.status_code == 202
    assert backfill.json() == {"object": "replay", "event_count": 1, "delivery_count": 1}
    emulator.drain()
    delivered = sorted(json.loads(r.body)["data"]["id"] for r in receiver.requests)
    assert delivered == sorted([first["id"], second["id"], first["id"]])
    missing = api.post("/v1/events/replay", json={})
    assert error_of(missing)["code"] == "missing_parameter"


def test_rotation_signs_with_both_keys_until_the_old_expires(
    emulator: Emulator, api: httpx.Client, receiver: Receiver
) -> None:
    emulator.control("POST", "/clock/freeze")
    webhook = _webhook(api, receiver.url)
    old_secret = webhook["secret"]
    rotated = api.post(
        f"/v1/webhooks/{webhook['id']}/signing-keys", json={"expire_previous_in_seconds": 3600}
    )
    assert rotated.status_code == 201, rotated.text
    new_secret = rotated.json()["secret"]
    _event(api)
    emulator.drain()
    emulator.advance(3600)
    _event(api)
    emulator.drain()
    during, after = receiver.requests
    assert during.headers["harbor-signature"].count("v1=") == 2
    assert verify_like_seed_004(during.body, during.headers, new_secret)
    assert verify_like_seed_004(during.body, during.headers, old_secret)
    assert after.headers["harbor-signature"].count("v1=") == 1
    assert verify_like_seed_004(after.body, after.headers, new_secret)
    assert not verify_like_seed_004(after.body, after.headers, old_secret)


def test_delivery_reads_errors(api: httpx.Client) -> None:
    assert error_of(api.get("/v1/deliveries/dlv_nope"))["code"] == "delivery_not_found"
    assert error_of(api.get("/v1/deliveries", params={"status": "odd"}))["param"] == "status"
    # Filtering by an object the key can't see is that object's 404, as reading it is.
    missing = api.get("/v1/deliveries", params={"event_id": "evt_nope"})
    assert (missing.status_code, error_of(missing)["code"]) == (404, "event_not_found")


def test_running_clock_sends_retries_when_due(
    emulator: Emulator, api: httpx.Client, receiver: Receiver
) -> None:
    # No advance: the scheduler sleeps until the retry falls due on the running clock.
    receiver.respond_with(500)
    _webhook(api, receiver.url, retry_policy={"schedule_seconds": [1], "max_age_seconds": 60})
    _event(api)
    receiver.wait_for(2, timeout=20)
    first, second = receiver.requests
    assert second.received_at - first.received_at >= 0.9
    emulator.drain()
    delivery = _only_delivery(api)
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 2
    attempts = _attempts(api, delivery["id"])
    assert _at(attempts[1]["attempted_at"]) - _at(attempts[0]["attempted_at"]) in (1, 2)


def test_deliveries_of_a_deleted_webhook_stay_listable_by_its_id(
    emulator: Emulator, api: httpx.Client, receiver: Receiver
) -> None:
    receiver.always(500)
    webhook = _webhook(api, receiver.url)
    _event(api)
    emulator.drain()
    assert api.delete(f"/v1/webhooks/{webhook['id']}").status_code == 204
    listed = api.get("/v1/deliveries", params={"webhook_id": webhook["id"]}).json()["data"]
    assert [d["status"] for d in listed] == ["cancelled"]
    replay = api.post(
        "/v1/events/replay", json={"since": "2000-01-01T00:00:00Z", "webhook_id": webhook["id"]}
    )
    assert error_of(replay)["code"] == "webhook_not_found"
