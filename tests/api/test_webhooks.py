"""/v1/webhooks (SDK dialect) over real HTTP: create, read, list, update, delete, limits."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import Emulator, error_of

URL = "https://api.example.com/harbor/webhooks"
SECRET = re.compile(r"whsec_[A-Za-z0-9_-]{43}")
SCHEDULE = "retry_policy.schedule_seconds"
MAX_AGE = "retry_policy.max_age_seconds"


def _create(api: httpx.Client, **fields: Any) -> httpx.Response:
    body = {"url": "http://127.0.0.1:9/hook", "events": ["order.created"], **fields}
    return api.post("/v1/webhooks", json=body)


def _key(emulator: Emulator, **fields: Any) -> str:
    response = emulator.control("POST", "/api_keys", json=fields)
    assert response.status_code == 201, response.text
    return response.json()["key"]


def test_seed_004_create_as_written(emulator: Emulator) -> None:
    with emulator.api("hb_test_xxxx") as api:
        created = api.post(
            "/v1/webhooks",
            content=b'{\n"workspace_id": "ws_018f3a2e4b9c",\n'
            b'"url": "https://api.example.com/harbor/webhooks",\n'
            b'"events": ["order.shipped", "invoice.paid"]\n}',
            headers={"Content-Type": "application/json"},
        )
        assert created.status_code == 201, created.text
        webhook = created.json()
        assert webhook["id"].startswith("wh_")
        assert webhook["object"] == "webhook"
        assert webhook["workspace_id"] == "ws_018f3a2e4b9c"
        assert webhook["url"] == URL
        assert webhook["events"] == ["order.shipped", "invoice.paid"]
        assert webhook["status"] == "active"
        assert webhook["livemode"] is False
        assert webhook["metadata"] == {} and webhook["retry_policy"] is None
        assert SECRET.fullmatch(webhook["secret"])
        assert "signing_secret" not in webhook

        read = api.get(f"/v1/webhooks/{webhook['id']}")
        assert read.status_code == 200
        without_secret = {k: v for k, v in webhook.items() if k != "secret"}
        assert read.json() == without_secret


def test_secrets_are_unique_and_never_read_back(api: httpx.Client) -> None:
    first, second = _create(api).json(), _create(api).json()
    assert first["secret"] != second["secret"]
    listed = api.get("/v1/webhooks").json()["data"]
    assert {w["id"] for w in listed} == {first["id"], second["id"]}
    assert all("secret" not in w for w in listed)


def test_list_is_newest_first_paginated_and_filtered(api: httpx.Client) -> None:
    ids = [_create(api).json()["id"] for _ in range(3)]
    api.patch(f"/v1/webhooks/{ids[1]}", json={"status": "paused"})
    page = api.get("/v1/webhooks", params={"limit": 2}).json()
    assert [w["id"] for w in page["data"]] == [ids[2], ids[1]]
    assert page["has_more"] is True
    rest = api.get("/v1/webhooks", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [w["id"] for w in rest["data"]] == [ids[0]]
    assert rest["has_more"] is False and rest["next_cursor"] is None
    paused = api.get("/v1/webhooks", params={"status": "paused"}).json()["data"]
    assert [w["id"] for w in paused] == [ids[1]]
    active = api.get("/v1/webhooks", params={"status": "active"}).json()["data"]
    assert [w["id"] for w in active] == [ids[2], ids[0]]
    # A cursor of the unfiltered list does not resume the filtered one.
    other = api.get("/v1/webhooks", params={"status": "active", "cursor": page["next_cursor"]})
    assert error_of(other)["code"] == "invalid_cursor"


def test_list_filter_errors(api: httpx.Client) -> None:
    bad_status = api.get("/v1/webhooks", params={"status": "deleted"})
    assert bad_status.status_code == 400
    assert error_of(bad_status)["param"] == "status"
    bad_limit = api.get("/v1/webhooks", params={"limit": 101})
    assert error_of(bad_limit)["param"] == "limit"


def test_list_by_workspace(api: httpx.Client) -> None:
    one = _create(api, workspace_id="ws_one").json()
    _create(api, workspace_id="ws_two")
    listed = api.get("/v1/webhooks", params={"workspace_id": "ws_one"}).json()["data"]
    assert [w["id"] for w in listed] == [one["id"]]
    # The open-sandbox key adopted ws_one, the first workspace it named: its default.
    assert [w["id"] for w in api.get("/v1/webhooks").json()["data"]] == [one["id"]]
    # Reads by id work in any workspace the key may use.
    assert api.get(f"/v1/webhooks/{one['id']}").status_code == 200


def test_patch_updates_fields_and_null_clears(api: httpx.Client) -> None:
    webhook = _create(api, description="first", metadata={"team": "a"}).json()
    patched = api.patch(
        f"/v1/webhooks/{webhook['id']}",
        json={
            "url": "http://localhost:8080/new",
            "events": ["invoice.*", "*", "invoice.*"],
            "description": "second",
            "metadata": {"owner": "payments-team"},
            "retry_policy": {"schedule_seconds": [60, 120], "max_age_seconds": 3600},
        },
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["url"] == "http://localhost:8080/new"
    assert body["events"] == ["invoice.*", "*"]  # order kept, repeats dropped
    assert body["description"] == "second"
    assert body["metadata"] == {"owner": "payments-team"}  # replaced, not merged
    assert body["retry_policy"] == {"schedule_seconds": [60, 120], "max_age_seconds": 3600}
    assert "secret" not in body
    assert api.get(f"/v1/webhooks/{webhook['id']}").json() == body

    cleared = api.patch(
        f"/v1/webhooks/{webhook['id']}",
        json={"description": None, "metadata": None, "retry_policy": None},
    ).json()
    assert cleared["description"] is None
    assert cleared["metadata"] == {}
    assert cleared["retry_policy"] is None
    assert cleared["events"] == ["invoice.*", "*"]


def test_retry_policy_keys_default_independently(api: httpx.Client) -> None:
    webhook = _create(api, retry_policy={"max_age_seconds": 600}).json()
    assert webhook["retry_policy"] == {
        "schedule_seconds": [300, 1800, 7200, 21600, 43200, 86400, 86400],
        "max_age_seconds": 600,
    }


@pytest.mark.parametrize(
    ("fields", "code", "param"),
    [
        ({"url": None}, "missing_parameter", "url"),
        ({"events": None}, "missing_parameter", "events"),
        ({"events": []}, "invalid_parameter", "events"),
        ({"events": "order.created"}, "invalid_parameter", "events"),
        ({"events": ["order created"]}, "invalid_parameter", "events"),
        ({"events": ["*.created"]}, "invalid_parameter", "events"),
        ({"events": [""]}, "invalid_parameter", "events"),
        ({"events": [7]}, "invalid_parameter", "events"),
        ({"url": 7}, "invalid_url", "url"),
        ({"description": "x" * 1025}, "invalid_parameter", "description"),
        ({"description": 5}, "invalid_parameter", "description"),
        ({"name": "dialect mix-up"}, "invalid_parameter", "name"),
        ({"metadata": {"a": 1}}, "invalid_parameter", "metadata"),
        ({"metadata": ["a"]}, "invalid_parameter", "metadata"),
        ({"metadata": {"k": "v" * 8190}}, "metadata_too_large", "metadata"),
        ({"retry_policy": {"schedule_seconds": []}}, "invalid_parameter", SCHEDULE),
        ({"retry_policy": {"max_age_seconds": 259_201}}, "invalid_parameter", MAX_AGE),
        ({"retry_policy": 5}, "invalid_parameter", "retry_policy"),
        ({"workspace_id": "nope"}, "invalid_parameter", "workspace_id"),
        ({"status": "paused"}, "invalid_parameter", "status"),  # not a create field
    ],
)  # fmt: skip
def test_create_validation(
    api: httpx.Client, fields: dict[str, Any], code: str, param: str
) -> None:
    body = {"url": "http://127.0.0.1:9/hook", "events": ["a"], **fields}
    body = {key: value for key, value in body.items() if value is not None}
    response = api.post("/v1/webhooks", json=body)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert (error["code"], error["param"]) == (code, param)
    assert api.get("/v1/webhooks").json()["data"] == []


def test_metadata_limit_is_8192_bytes_of_compact_json(api: httpx.Client) -> None:
    # {"k":"…"} is 8 bytes of punctuation and key around the value.
    assert _create(api, metadata={"k": "é" * ((8192 - 8) // 2)}).status_code == 201
    too_big = _create(api, metadata={"k": "é" * ((8192 - 8) // 2) + "a"})
    assert error_of(too_big)["code"] == "metadata_too_large"


@pytest.mark.parametrize(
    ("fields", "code", "param"),
    [
        ({"events": None}, "invalid_parameter", "events"),
        ({"events": []}, "invalid_parameter", "events"),
        ({"status": "deleted"}, "invalid_parameter", "status"),
        ({"status": None}, "invalid_parameter", "status"),
        ({"url": None}, "invalid_url", "url"),
        ({"url": "ftp://x"}, "invalid_url", "url"),
        ({"workspace_id": "ws_other"}, "invalid_parameter", "workspace_id"),
        ({"secret": "whsec_x"}, "invalid_parameter", "secret"),
    ],
)
def test_patch_validation(api: httpx.Client, fields: dict[str, Any], code: str, param: str) -> None:
    webhook = _create(api).json()
    response = api.patch(f"/v1/webhooks/{webhook['id']}", json=fields)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert (error["code"], error["param"]) == (code, param)
    unchanged = api.get(f"/v1/webhooks/{webhook['id']}").json()
    assert unchanged["updated_at"] == webhook["updated_at"]
    assert unchanged["events"] == ["order.created"] and unchanged["status"] == "active"


def test_pause_and_resume(api: httpx.Client) -> None:
    webhook = _create(api).json()
    paused = api.patch(f"/v1/webhooks/{webhook['id']}", json={"status": "paused"})
    assert paused.json()["status"] == "paused"
    resumed = api.patch(f"/v1/webhooks/{webhook['id']}", json={"status": "active"})
    assert resumed.json()["status"] == "active"


def test_delete_then_everything_is_404(api: httpx.Client) -> None:
    webhook = _create(api).json()
    path = f"/v1/webhooks/{webhook['id']}"
    deleted = api.delete(path)
    assert deleted.status_code == 204 and deleted.content == b""
    for response in (
        api.get(path),
        api.patch(path, json={"status": "paused"}),
        api.delete(path),
        api.get(path + "/signing-keys"),
        api.post(path + "/signing-keys", json={}),
    ):
        assert response.status_code == 404
        error = error_of(response)
        assert error["code"] == "webhook_not_found"
        assert webhook["id"] in error["message"]
    assert api.get("/v1/webhooks").json()["data"] == []


def test_ids_of_the_other_kind_are_404(api: httpx.Client) -> None:
    webhook = _create(api).json()
    destination = api.post("/v1/destinations", json={"url": "http://127.0.0.1:9/d"}).json()
    assert error_of(api.get(f"/v1/destinations/{webhook['id']}"))["code"] == (
        "destination_not_found"
    )
    assert error_of(api.get(f"/v1/webhooks/{destination['id']}"))["code"] == "webhook_not_found"
    assert error_of(api.delete(f"/v1/webhooks/{destination['id']}"))["code"] == (
        "webhook_not_found"
    )
    assert api.get(f"/v1/destinations/{destination['id']}").status_code == 200


def test_idempotency_key_on_create(api: httpx.Client) -> None:
    body = {"url": "http://127.0.0.1:9/hook", "events": ["order.created"]}
    headers = {"Idempotency-Key": "create-hook-1"}
    first = api.post("/v1/webhooks", json=body, headers=headers)
    second = api.post("/v1/webhooks", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()  # the secret included: it is the stored response
    assert second.headers["idempotent-replayed"] == "true"
    assert len(api.get("/v1/webhooks").json()["data"]) == 1
    reused = api.post("/v1/webhooks", json={**body, "events": ["x"]}, headers=headers)
    assert error_of(reused)["code"] == "idempotency_key_reused"


def test_modes_never_see_each_other(emulator: Emulator) -> None:
    live = _key(emulator, mode="live", workspace_id="ws_x")
    test = _key(emulator, mode="test", workspace_id="ws_x")
    with emulator.api(live) as live_api, emulator.api(test) as test_api:
        test_hook = _create(test_api).json()
        live_hook = _create(live_api, url="https://93.184.216.34/hook").json()
        assert live_hook["livemode"] is True and test_hook["livemode"] is False
        assert error_of(live_api.get(f"/v1/webhooks/{test_hook['id']}"))["code"] == (
            "webhook_not_found"
        )
        assert test_api.patch(f"/v1/webhooks/{live_hook['id']}", json={}).status_code == 404
        assert test_api.delete(f"/v1/webhooks/{live_hook['id']}").status_code == 404
        assert [w["id"] for w in live_api.get("/v1/webhooks").json()["data"]] == [live_hook["id"]]
        assert [w["id"] for w in test_api.get("/v1/webhooks").json()["data"]] == [test_hook["id"]]


def test_fixture_key_is_confined_to_its_workspace(emulator: Emulator) -> None:
    key = _key(emulator, mode="test", workspace_id="ws_mine")
    with emulator.api() as sandbox, emulator.api(key) as mine:
        elsewhere = _create(sandbox, workspace_id="ws_theirs").json()
        assert mine.get(f"/v1/webhooks/{elsewhere['id']}").status_code == 404
        response = _create(mine, workspace_id="ws_theirs")
        assert error_of(response)["code"] == "workspace_not_found"
        assert _create(mine).json()["workspace_id"] == "ws_mine"


ROUTES = [
    ("POST", "/v1/webhooks"),
    ("GET", "/v1/webhooks"),
    ("GET", "/v1/webhooks/wh_1"),
    ("PATCH", "/v1/webhooks/wh_1"),
    ("DELETE", "/v1/webhooks/wh_1"),
    ("POST", "/v1/webhooks/wh_1/signing-keys"),
    ("GET", "/v1/webhooks/wh_1/signing-keys"),
    ("POST", "/v1/destinations"),
    ("GET", "/v1/destinations"),
    ("GET", "/v1/destinations/dest_1"),
    ("PATCH", "/v1/destinations/dest_1"),
    ("DELETE", "/v1/destinations/dest_1"),
    ("POST", "/v1/destinations/dest_1/signing-keys"),
    ("GET", "/v1/destinations/dest_1/signing-keys"),
    ("POST", "/v1/subscriptions"),
    ("GET", "/v1/subscriptions"),
    ("GET", "/v1/subscriptions/sub_1"),
    ("DELETE", "/v1/subscriptions/sub_1"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_webhooks_manage(emulator: Emulator, method: str, path: str) -> None:
    key = _key(emulator, mode="test", scopes=["events:write", "events:read"])
    with emulator.api(key) as api:
        kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PATCH") else {}
        response = api.request(method, path, **kwargs)
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "insufficient_scope"
    assert "webhooks:manage" in error["message"]
    unauthenticated = emulator.http.request(method, path)
    assert error_of(unauthenticated)["code"] == "authentication_required"


@pytest.mark.parametrize(
    "content",
    [b"[]", b'"x"', b"{", b'{"url": "http://127.0.0.1/", "events": [{"a": 1}]}', b"\xff"],
)
def test_malformed_bodies_are_400(api: httpx.Client, content: bytes) -> None:
    webhook = _create(api).json()
    for method, path in (("POST", "/v1/webhooks"), ("PATCH", f"/v1/webhooks/{webhook['id']}")):
        response = api.request(
            method, path, content=content, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert error_of(response)["code"] in ("invalid_json", "invalid_parameter")


def test_endpoint_limit_counts_webhooks_and_destinations(emulator_factory: Any) -> None:
    emulator = emulator_factory(max_endpoints=3)
    with emulator.api() as api:
        # ws_home, the first workspace the open-sandbox key names, becomes its default.
        first = _create(api, workspace_id="ws_home").json()
        _create(api)
        assert api.post("/v1/destinations", json={"url": "http://127.0.0.1:9/"}).status_code == 201
        for response in (
            _create(api),
            api.post("/v1/destinations", json={"url": "http://127.0.0.1:9/"}),
        ):
            assert response.status_code == 400
            assert error_of(response)["code"] == "over_destination_limit"
        # Another workspace has its own count, deleted endpoints don't count.
        assert _create(api, workspace_id="ws_elsewhere").status_code == 201
        assert api.delete(f"/v1/webhooks/{first['id']}").status_code == 204
        assert _create(api).status_code == 201
        assert error_of(_create(api))["code"] == "over_destination_limit"


def test_endpoint_limit_is_per_mode(emulator_factory: Any) -> None:
    emulator = emulator_factory(max_endpoints=1)
    live = _key(emulator, mode="live", workspace_id="ws_x")
    test = _key(emulator, mode="test", workspace_id="ws_x")
    with emulator.api(live) as live_api, emulator.api(test) as test_api:
        assert _create(test_api).status_code == 201
        assert _create(live_api, url="https://93.184.216.34/hook").status_code == 201
        assert error_of(_create(test_api))["code"] == "over_destination_limit"


def test_default_limit_is_50(api: httpx.Client) -> None:
    for index in range(50):
        if index % 2:
            response = _create(api)
        else:
            response = api.post("/v1/destinations", json={"url": "http://127.0.0.1:9/"})
        assert response.status_code == 201, (index, response.text)
    over = api.post("/v1/destinations", json={"url": "http://127.0.0.1:9/"})
    assert over.status_code == 400
    assert error_of(over)["code"] == "over_destination_limit"
