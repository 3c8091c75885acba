"""Signing-key rotation and listing on both dialects, expiry on the emulator clock."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from harbor_emulator.core.clock import parse_timestamp
from harbor_emulator.store import signing_keys
from harbor_emulator.store.db import Database
from tests.conftest import Emulator, error_of

SECRET = re.compile(r"whsec_[A-Za-z0-9_-]{43}")
DAY = 86_400


def _endpoint(api: httpx.Client, kind: str) -> tuple[str, str]:
    """(path of the endpoint, its first secret)."""
    body: dict[str, Any] = {"url": "http://127.0.0.1:9/"}
    if kind == "webhooks":
        body["events"] = ["*"]
    created = api.post(f"/v1/{kind}", json=body).json()
    secret = created["secret"] if kind == "webhooks" else created["signing_secret"]
    return f"/v1/{kind}/{created['id']}", secret


def _keys(api: httpx.Client, path: str) -> list[dict[str, Any]]:
    response = api.get(path + "/signing-keys")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _seconds(timestamp: str) -> int:
    return parse_timestamp(timestamp, "t") // 1000


@pytest.fixture
def frozen(emulator: Emulator) -> Emulator:
    # Whole-second expiries are only exact while the clock stands still between calls.
    emulator.control("POST", "/clock/freeze")
    return emulator


@pytest.mark.parametrize("kind", ["webhooks", "destinations"])
def test_new_endpoint_has_one_current_key(api: httpx.Client, kind: str) -> None:
    path, _ = _endpoint(api, kind)
    (key,) = _keys(api, path)
    assert key["id"].startswith("key_")
    assert key["object"] == "signing_key"
    assert key["expires_at"] is None
    assert "secret" not in key
    assert set(key) == {"id", "object", "created_at", "expires_at"}


@pytest.mark.parametrize("kind", ["webhooks", "destinations"])
def test_rotation_keeps_the_old_key_for_a_day_by_default(
    frozen: Emulator, api: httpx.Client, kind: str
) -> None:
    path, first_secret = _endpoint(api, kind)
    (old,) = _keys(api, path)
    rotated = api.post(path + "/signing-keys", json={})
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert SECRET.fullmatch(new["secret"]) and new["secret"] != first_secret
    assert new["object"] == "signing_key" and new["expires_at"] is None

    listed = _keys(api, path)
    assert [k["id"] for k in listed] == [new["id"], old["id"]]  # newest first
    assert all("secret" not in k for k in listed)
    assert listed[0]["expires_at"] is None
    assert _seconds(listed[1]["expires_at"]) == _seconds(new["created_at"]) + DAY

    frozen.advance(DAY - 1)
    assert len(_keys(api, path)) == 2
    frozen.advance(1)
    assert [k["id"] for k in _keys(api, path)] == [new["id"]]


def test_expire_previous_now_and_at_the_maximum(frozen: Emulator, api: httpx.Client) -> None:
    path, _ = _endpoint(api, "destinations")
    at_once = api.post(path + "/signing-keys", json={"expire_previous_in_seconds": 0}).json()
    assert [k["id"] for k in _keys(api, path)] == [at_once["id"]]
    longest = api.post(path + "/signing-keys", json={"expire_previous_in_seconds": 604_800})
    assert longest.status_code == 201
    frozen.advance(604_799)
    assert [k["id"] for k in _keys(api, path)] == [longest.json()["id"], at_once["id"]]
    frozen.advance(1)
    assert [k["id"] for k in _keys(api, path)] == [longest.json()["id"]]


def test_rotating_never_extends_an_expiring_key(frozen: Emulator, api: httpx.Client) -> None:
    path, _ = _endpoint(api, "webhooks")
    (original,) = _keys(api, path)
    second = api.post(path + "/signing-keys", json={"expire_previous_in_seconds": 3600}).json()
    third = api.post(path + "/signing-keys", json={"expire_previous_in_seconds": DAY}).json()
    listed = {k["id"]: k for k in _keys(api, path)}
    assert _seconds(listed[original["id"]]["expires_at"]) == _seconds(third["created_at"]) + 3600
    assert _seconds(listed[second["id"]]["expires_at"]) == _seconds(third["created_at"]) + DAY
    frozen.advance(3600)
    assert [k["id"] for k in _keys(api, path)] == [third["id"], second["id"]]
    # A shorter expiry does shorten every older key.
    fourth = api.post(path + "/signing-keys", json={"expire_previous_in_seconds": 0}).json()
    assert [k["id"] for k in _keys(api, path)] == [fourth["id"]]


@pytest.mark.parametrize("value", [-1, 604_801, "60", True, 1.5, [1]])
def test_invalid_expire_previous(api: httpx.Client, value: object) -> None:
    path, _ = _endpoint(api, "webhooks")
    response = api.post(path + "/signing-keys", json={"expire_previous_in_seconds": value})
    assert response.status_code == 400
    assert error_of(response)["param"] == "expire_previous_in_seconds"
    assert len(_keys(api, path)) == 1


def test_unknown_fields_and_endpoints(api: httpx.Client) -> None:
    path, _ = _endpoint(api, "webhooks")
    unknown = api.post(path + "/signing-keys", json={"expire_in": 5})
    assert error_of(unknown)["param"] == "expire_in"
    for route, code in (
        ("/v1/webhooks/wh_nope/signing-keys", "webhook_not_found"),
        ("/v1/destinations/dest_nope/signing-keys", "destination_not_found"),
        ("/v1/destinations/" + path.rsplit("/", 1)[1] + "/signing-keys", "destination_not_found"),
    ):
        for response in (api.get(route), api.post(route, json={})):
            assert response.status_code == 404
            assert error_of(response)["code"] == code


def test_idempotency_key_on_rotation(api: httpx.Client) -> None:
    path, _ = _endpoint(api, "destinations")
    headers = {"Idempotency-Key": "rotate-1"}
    first = api.post(path + "/signing-keys", json={}, headers=headers)
    second = api.post(path + "/signing-keys", json={}, headers=headers)
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert len(_keys(api, path)) == 2


def test_key_list_pagination(api: httpx.Client) -> None:
    path, _ = _endpoint(api, "webhooks")
    ids = [api.post(path + "/signing-keys", json={}).json()["id"] for _ in range(3)]
    page = api.get(path + "/signing-keys", params={"limit": 2}).json()
    assert [k["id"] for k in page["data"]] == [ids[2], ids[1]] and page["has_more"]
    rest = api.get(path + "/signing-keys", params={"limit": 2, "cursor": page["next_cursor"]})
    assert [k["id"] for k in rest.json()["data"]] == [ids[0], _keys(api, path)[-1]["id"]]


# -- the secrets deliveries are signed with -------------------------------------------


@pytest.fixture(scope="module")
def file_emulator(emulator_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Emulator:
    return emulator_factory(db_path=str(tmp_path_factory.mktemp("db") / "state.db"))


def _valid_secrets(emulator: Emulator, endpoint_id: str) -> list[str]:
    assert emulator.config.db_path is not None
    path = emulator.config.db_path
    now_ms = parse_timestamp(emulator.control("GET", "/clock").json()["now"], "now")

    async def run() -> list[str]:
        # A private copy: the running emulator holds its file (one process per database).
        db = await Database.open(None)
        await db.restore_from(path)
        try:
            return await signing_keys.valid_secrets(db, endpoint_id, now_ms)
        finally:
            await db.close()

    return asyncio.run(run())


def test_valid_secrets_newest_first_until_expiry(file_emulator: Emulator) -> None:
    file_emulator.reset()
    file_emulator.control("POST", "/clock/freeze")
    try:
        with file_emulator.api() as api:
            path, first_secret = _endpoint(api, "webhooks")
            endpoint_id = path.rsplit("/", 1)[1]
            assert _valid_secrets(file_emulator, endpoint_id) == [first_secret]
            new_secret = api.post(
                path + "/signing-keys", json={"expire_previous_in_seconds": 600}
            ).json()["secret"]
            assert _valid_secrets(file_emulator, endpoint_id) == [new_secret, first_secret]
            file_emulator.advance(601)
            assert _valid_secrets(file_emulator, endpoint_id) == [new_secret]
    finally:
        file_emulator.control("POST", "/clock/unfreeze")
