"""POST/GET /v1/events in both dialects, over real HTTP."""

from __future__ import annotations

import json

import httpx

from tests.conftest import Emulator, error_of


def test_seed_001_sdk_dialect_event_is_created_and_retrieved(api: httpx.Client) -> None:
    # seeds/001: workspace_id + type + payload.
    created = api.post(
        "/v1/events",
        json={
            "workspace_id": "ws_018f3a2e4b9c",
            "type": "invoice.paid",
            "payload": {"invoiceId": "inv_0192ac4e8b1d", "amountCents": 4200},
        },
    )
    assert created.status_code == 201, created.text
    event = created.json()
    assert event["id"].startswith("evt_")
    assert event["object"] == "event"
    assert event["type"] == "invoice.paid"
    assert event["workspace_id"] == "ws_018f3a2e4b9c"
    assert event["payload"] == {"invoiceId": "inv_0192ac4e8b1d", "amountCents": 4200}
    assert event["livemode"] is False
    assert event["created_at"].endswith("Z")
    assert created.headers["harbor-request-id"].startswith("req_")

    confirmed = api.get(f"/v1/events/{event['id']}")
    assert confirmed.status_code == 200
    assert confirmed.json() == event


def test_seed_002_rest_dialect_body_alias(emulator: Emulator) -> None:
    # seeds/002, as written: hk_test_ key, `body` instead of `payload`, no workspace.
    with emulator.api("hk_test_your_test_key") as api:
        created = api.post(
            "/v1/events",
            content=b'{ "type": "order.created", "body": { "order_id": "ord_123", '
            b'"amount_cents": 4500 } }',
            headers={"Content-Type": "application/json"},
        )
        assert created.status_code == 201, created.text
        assert created.json()["payload"] == {"order_id": "ord_123", "amount_cents": 4500}
        assert created.json()["workspace_id"].startswith("ws_")


def test_default_workspace_is_stable_per_key(emulator: Emulator) -> None:
    with emulator.api("hb_test_alpha") as alpha, emulator.api("hb_test_beta") as beta:
        first = alpha.post("/v1/events", json={"type": "a", "payload": {}}).json()
        second = alpha.post("/v1/events", json={"type": "a", "payload": {}}).json()
        other = beta.post("/v1/events", json={"type": "a", "payload": {}}).json()
    assert first["workspace_id"] == second["workspace_id"] != other["workspace_id"]


def test_events_list_filters_and_orders_newest_first(api: httpx.Client) -> None:
    ids = []
    for event_type in ["order.created", "order.paid", "order.created"]:
        ids.append(api.post("/v1/events", json={"type": event_type, "payload": {}}).json()["id"])
    listed = api.get("/v1/events").json()
    assert listed["object"] == "list"
    assert [e["id"] for e in listed["data"]] == list(reversed(ids))
    assert listed["has_more"] is False and listed["next_cursor"] is None
    created_only = api.get("/v1/events", params={"type": "order.created"}).json()
    assert [e["id"] for e in created_only["data"]] == [ids[2], ids[0]]


def test_events_list_by_workspace(api: httpx.Client) -> None:
    api.post("/v1/events", json={"type": "a", "payload": {}, "workspace_id": "ws_one"})
    api.post("/v1/events", json={"type": "b", "payload": {}, "workspace_id": "ws_two"})
    one = api.get("/v1/events", params={"workspace_id": "ws_one"}).json()["data"]
    assert [e["type"] for e in one] == ["a"]
    # The open-sandbox key adopted the first workspace it named: its default is ws_one.
    assert [e["type"] for e in api.get("/v1/events").json()["data"]] == ["a"]


def test_payload_size_limit_is_measured_on_compact_utf8_json(api: httpx.Client) -> None:
    # {"k":"…"} is 8 bytes of JSON around the value; "é" is 2 bytes in UTF-8.
    overhead = len(b'{"k":""}')
    limit = 262_144
    exact = {"k": "é" * ((limit - overhead) // 2)}
    assert len(json.dumps(exact, separators=(",", ":"), ensure_ascii=False).encode()) == limit
    accepted = api.post("/v1/events", json={"type": "big", "payload": exact})
    assert accepted.status_code == 201, accepted.text
    over = {"k": "é" * ((limit - overhead) // 2) + "x"}
    refused = api.post("/v1/events", json={"type": "big", "payload": over})
    assert refused.status_code == 413
    assert error_of(refused)["code"] == "payload_too_large"
    assert len(api.get("/v1/events").json()["data"]) == 1


def test_get_unknown_event_is_404(api: httpx.Client) -> None:
    response = api.get("/v1/events/evt_doesnotexist")
    assert response.status_code == 404
    assert error_of(response)["code"] == "event_not_found"


def test_event_of_another_key_workspace_is_readable_by_open_keys(emulator: Emulator) -> None:
    # Open-sandbox keys may use every test workspace (contract: open sandbox).
    with emulator.api("hb_test_one") as one, emulator.api("hb_test_two") as two:
        event = one.post("/v1/events", json={"type": "a", "payload": {}}).json()
        assert two.get(f"/v1/events/{event['id']}").status_code == 200


def test_unicode_and_null_bytes_in_payload_round_trip(api: httpx.Client) -> None:
    payload = {"emoji": "🚢", "nul": "a\u0000b", "rtl": "\u202eabc", "nested": [{"ü": None}]}
    created = api.post("/v1/events", json={"type": "odd.text", "payload": payload})
    assert created.status_code == 201, created.text
    assert api.get(f"/v1/events/{created.json()['id']}").json()["payload"] == payload
