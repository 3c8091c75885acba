"""Idempotency-Key on POST, on the emulator clock."""

from __future__ import annotations

import httpx

from tests.conftest import Emulator, error_of

BODY = {"type": "invoice.paid", "payload": {"invoiceId": "inv_0192ac4e8b1d", "amountCents": 4200}}


def _post(api: httpx.Client, key: str, body: dict = BODY) -> httpx.Response:
    return api.post("/v1/events", json=body, headers={"Idempotency-Key": key})


def test_replay_returns_the_same_event_and_creates_nothing(api: httpx.Client) -> None:
    first = _post(api, "inv_0192ac4e8b1d-paid")
    second = _post(api, "inv_0192ac4e8b1d-paid")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(api.get("/v1/events").json()["data"]) == 1


def test_same_key_other_body_is_409(api: httpx.Client) -> None:
    _post(api, "k1")
    response = _post(api, "k1", {"type": "other", "payload": {}})
    assert response.status_code == 409
    assert error_of(response)["code"] == "idempotency_key_reused"


def test_keys_are_scoped_per_api_key(emulator: Emulator) -> None:
    with emulator.api("hb_test_a") as a, emulator.api("hb_test_b") as b:
        first = _post(a, "shared")
        second = _post(b, "shared")
        assert first.json()["id"] != second.json()["id"]


def test_failed_requests_are_not_stored(api: httpx.Client) -> None:
    bad = _post(api, "k2", {"type": "", "payload": {}})
    assert bad.status_code == 400
    good = _post(api, "k2", BODY)
    assert good.status_code == 201


def test_key_is_free_again_at_exactly_24_hours(emulator: Emulator, api: httpx.Client) -> None:
    emulator.control("POST", "/clock/freeze")
    first = _post(api, "daily")
    emulator.advance(24 * 3600 - 1)
    replay = _post(api, "daily")
    assert replay.json()["id"] == first.json()["id"]
    assert replay.headers["idempotent-replayed"] == "true"
    emulator.advance(1)
    fresh = _post(api, "daily")
    assert fresh.status_code == 201
    assert fresh.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in fresh.headers
    # ... and the new response is what the key replays from now on.
    assert _post(api, "daily").json()["id"] == fresh.json()["id"]


def test_empty_idempotency_key_is_invalid(api: httpx.Client) -> None:
    response = _post(api, "")
    assert response.status_code == 400
    assert error_of(response)["param"] == "Idempotency-Key"
    assert api.get("/v1/events").json()["data"] == []
