"""Keys, modes, scopes and workspaces."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Emulator, error_of


def _key(emulator: Emulator, **body: Any) -> str:
    response = emulator.control("POST", "/api_keys", json=body)
    assert response.status_code == 201, response.text
    return response.json()["key"]


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "authentication_required"),
        ("", "authentication_required"),
        ("Bearer", "authentication_required"),
        ("Basic aGI6eA==", "authentication_required"),
        ("hb_test_abc", "authentication_required"),
        ("Bearer sk_test_abc", "invalid_api_key"),
        ("Bearer hb_test_", "invalid_api_key"),
        ("Bearer hb_test_has-dash", "invalid_api_key"),
        ("Bearer hb_live_unknown", "invalid_api_key"),
    ],
)
def test_bad_credentials(emulator: Emulator, authorization: str | None, code: str) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = emulator.http.get("/v1/events", headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == code


def test_seed_keys_are_well_formed_in_the_open_sandbox(emulator: Emulator) -> None:
    for key in ["hb_test_xxxx", "hk_test_your_test_key"]:
        with emulator.api(key) as api:
            assert api.get("/v1/events").status_code == 200


def test_scopes_are_enforced_and_named(emulator: Emulator) -> None:
    reader = _key(emulator, mode="test", workspace_id="ws_scoped", scopes=["events:read"])
    with emulator.api(reader) as api:
        refused = api.post("/v1/events", json={"type": "a", "payload": {}})
        assert refused.status_code == 403
        error = error_of(refused)
        assert error["code"] == "insufficient_scope"
        assert "events:write" in error["message"]
        assert api.get("/v1/events").status_code == 200
    writer = _key(emulator, mode="test", workspace_id="ws_scoped", scopes=["events:write"])
    with emulator.api(writer) as api:
        assert api.post("/v1/events", json={"type": "a", "payload": {}}).status_code == 201
        assert error_of(api.get("/v1/events"))["code"] == "insufficient_scope"


def test_defined_key_uses_only_its_workspace(emulator: Emulator) -> None:
    key = _key(emulator, mode="test", workspace_id="ws_mine")
    with emulator.api(key) as api:
        created = api.post("/v1/events", json={"type": "a", "payload": {}})
        assert created.json()["workspace_id"] == "ws_mine"
        other = api.post(
            "/v1/events", json={"type": "a", "payload": {}, "workspace_id": "ws_theirs"}
        )
        assert other.status_code == 404
        assert error_of(other)["code"] == "workspace_not_found"


def test_live_key_never_sees_test_objects(emulator: Emulator) -> None:
    live = _key(emulator, mode="live", workspace_id="ws_shared", dialect="hk")
    assert live.startswith("hk_live_")
    test = _key(emulator, mode="test", workspace_id="ws_shared")
    with emulator.api(test) as test_api, emulator.api(live) as live_api:
        test_event = test_api.post("/v1/events", json={"type": "a", "payload": {}}).json()
        live_event = live_api.post("/v1/events", json={"type": "a", "payload": {}}).json()
        assert live_event["livemode"] is True and test_event["livemode"] is False
        assert live_api.get(f"/v1/events/{test_event['id']}").status_code == 404
        assert test_api.get(f"/v1/events/{live_event['id']}").status_code == 404
        assert [e["id"] for e in live_api.get("/v1/events").json()["data"]] == [live_event["id"]]


def test_revoked_key_is_refused(emulator: Emulator) -> None:
    key = _key(emulator, mode="test", workspace_id="ws_rev")
    assert emulator.control("DELETE", f"/api_keys/{key}").status_code == 204
    with emulator.api(key) as api:
        assert error_of(api.get("/v1/events"))["code"] == "invalid_api_key"
    # Revoking an open-sandbox key works too.
    assert emulator.control("DELETE", "/api_keys/hb_test_leaked").status_code == 204
    with emulator.api("hb_test_leaked") as api:
        assert error_of(api.get("/v1/events"))["code"] == "invalid_api_key"


def test_strict_mode_accepts_only_defined_keys_and_workspaces(emulator_factory: Any) -> None:
    strict = emulator_factory(strict=True)
    with strict.api("hb_test_anything") as api:
        assert error_of(api.get("/v1/events"))["code"] == "invalid_api_key"
    key = _key(strict, mode="test", workspace_id="ws_strict")
    with strict.api(key) as api:
        assert api.post("/v1/events", json={"type": "a", "payload": {}}).status_code == 201


def test_open_sandbox_creates_unknown_workspaces_on_first_use(
    emulator: Emulator, api: httpx.Client
) -> None:
    api.post("/v1/events", json={"type": "a", "payload": {}, "workspace_id": "ws_018f3a2e4b9c"})
    listed = emulator.control("GET", "/workspaces").json()["data"]
    assert "ws_018f3a2e4b9c" in [w["id"] for w in listed]
