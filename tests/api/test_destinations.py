"""/v1/destinations (REST dialect) over real HTTP, and what PATCH/DELETE do to deliveries.

Deliveries have no API of their own here, so the delivery tests run an emulator on a
SQLite file and read and seed the `deliveries` table directly.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harbor_emulator.core.clock import parse_timestamp
from tests.conftest import Emulator, error_of

SECRET = re.compile(r"whsec_[A-Za-z0-9_-]{43}")


def _live_key(emulator: Emulator, key: str | None = None) -> str:
    fields: dict[str, Any] = {"mode": "live", "workspace_id": "ws_x", "dialect": "hk"}
    if key is not None:
        fields["key"] = key
    response = emulator.control("POST", "/api_keys", json=fields)
    assert response.status_code == 201, response.text
    return response.json()["key"]


def test_seed_002_create_as_written(emulator: Emulator) -> None:
    with emulator.api("hk_test_your_test_key") as api:
        created = api.post(
            "/v1/destinations",
            content=b'{ "url": "https://webhook.site/your-unique-id", '
            b'"name": "Quickstart receiver" }',
            headers={"Content-Type": "application/json"},
        )
        assert created.status_code == 201, created.text
        destination = created.json()
        assert destination["id"].startswith("dest_")
        assert destination["object"] == "destination"
        assert destination["name"] == "Quickstart receiver"
        assert destination["url"] == "https://webhook.site/your-unique-id"
        assert destination["workspace_id"].startswith("ws_")
        assert SECRET.fullmatch(destination["signing_secret"])
        assert "secret" not in destination and "events" not in destination
        read = api.get(f"/v1/destinations/{destination['id']}").json()
        assert read == {k: v for k, v in destination.items() if k != "signing_secret"}


def test_seed_003_routes_as_written_with_a_live_key(emulator: Emulator) -> None:
    key = _live_key(emulator, "hk_live_your_api_key")
    with emulator.api(key) as api:
        # 003's create body, with a public IP so no DNS is needed to accept it.
        created = api.post(
            "/v1/destinations",
            json={
                "url": "https://93.184.216.34/webhooks/harbor",
                "name": "Production receiver",
                "metadata": {"owner": "payments-team"},
            },
        )
        assert created.status_code == 201, created.text
        destination = created.json()
        assert destination["livemode"] is True
        assert destination["metadata"] == {"owner": "payments-team"}
        path = f"/v1/destinations/{destination['id']}"

        paused = api.patch(
            path,
            content=b'{\n"status": "paused"\n}',
            headers={"Content-Type": "application/json"},
        )
        assert paused.status_code == 200, paused.text
        assert paused.json()["status"] == "paused"
        assert paused.json()["metadata"] == {"owner": "payments-team"}
        listed = api.get("/v1/destinations").json()
        assert [d["id"] for d in listed["data"]] == [destination["id"]]
        assert "signing_secret" not in listed["data"][0]
        assert api.get(path).json()["status"] == "paused"
        assert api.delete(path).status_code == 204
        assert error_of(api.get(path))["code"] == "destination_not_found"
        # 003's own example id: unknown here.
        missing = api.get("/v1/destinations/dest_01HXYZ")
        assert missing.status_code == 404
        assert error_of(missing)["code"] == "destination_not_found"


def test_live_mode_rejects_an_unreachable_url_on_create_and_patch(emulator: Emulator) -> None:
    with emulator.api(_live_key(emulator)) as api:
        refused = api.post("/v1/destinations", json={"url": "https://10.0.0.1/hook"})
        assert error_of(refused)["code"] == "url_not_reachable"
        destination = api.post("/v1/destinations", json={"url": "https://93.184.216.34/"}).json()
        patched = api.patch(
            f"/v1/destinations/{destination['id']}", json={"url": "http://93.184.216.34/"}
        )
        assert (error_of(patched)["code"], error_of(patched)["param"]) == ("invalid_url", "url")


def test_name_metadata_and_status_filter(api: httpx.Client) -> None:
    first = api.post("/v1/destinations", json={"url": "http://127.0.0.1:9/a", "name": "A"}).json()
    second = api.post("/v1/destinations", json={"url": "http://127.0.0.1:9/b"}).json()
    assert second["name"] is None
    api.patch(f"/v1/destinations/{first['id']}", json={"status": "paused", "name": None})
    paused = api.get("/v1/destinations", params={"status": "paused"}).json()["data"]
    assert [(d["id"], d["name"]) for d in paused] == [(first["id"], None)]
    active = api.get("/v1/destinations", params={"status": "active"}).json()["data"]
    assert [d["id"] for d in active] == [second["id"]]
    everything = api.get("/v1/destinations").json()["data"]
    assert [d["id"] for d in everything] == [second["id"], first["id"]]
    # Webhooks and destinations are listed apart.
    assert api.get("/v1/webhooks").json()["data"] == []


@pytest.mark.parametrize(
    ("fields", "code", "param"),
    [
        ({}, "missing_parameter", "url"),
        ({"url": "http://127.0.0.1/", "events": ["a"]}, "invalid_parameter", "events"),
        ({"url": "http://127.0.0.1/", "description": "x"}, "invalid_parameter", "description"),
        ({"url": "http://127.0.0.1/", "name": ["x"]}, "invalid_parameter", "name"),
        ({"url": "http://127.0.0.1/", "retry_policy": {"schedule_seconds": [0]}},
         "invalid_parameter", "retry_policy.schedule_seconds"),
        ({"url": "http://127.0.0.1/", "retry_policy": {"max_age_seconds": True}},
         "invalid_parameter", "retry_policy.max_age_seconds"),
        ({"url": "http://127.0.0.1/", "retry_policy": {"jitter": 1}},
         "invalid_parameter", "retry_policy.jitter"),
    ],
)  # fmt: skip
def test_create_validation(
    api: httpx.Client, fields: dict[str, Any], code: str, param: str
) -> None:
    response = api.post("/v1/destinations", json=fields)
    assert response.status_code == 400, response.text
    assert (error_of(response)["code"], error_of(response)["param"]) == (code, param)


# -- deliveries: deleting cancels, resuming releases held -----------------------------


@pytest.fixture(scope="module")
def file_emulator(emulator_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Emulator:
    return emulator_factory(db_path=str(tmp_path_factory.mktemp("db") / "state.db"))


@pytest.fixture
def db(file_emulator: Emulator) -> Iterator[sqlite3.Connection]:
    file_emulator.reset()
    assert file_emulator.config.db_path is not None
    conn = sqlite3.connect(Path(file_emulator.config.db_path), isolation_level=None, timeout=10)
    conn.execute("PRAGMA foreign_keys=ON")
    yield conn
    conn.close()


def _now_ms(emulator: Emulator) -> int:
    return parse_timestamp(emulator.control("GET", "/clock").json()["now"], "now")


def _seed_deliveries(
    db: sqlite3.Connection, endpoint: dict[str, Any], rows: dict[str, tuple[str, int | None]]
) -> None:
    """Deliveries named by id with (status, next_attempt_ms), for one event."""
    db.execute(
        "INSERT INTO events (id, workspace_id, livemode, type, payload, created_ms) "
        "VALUES ('evt_seed', ?, 0, 'order.created', '{}', 0)",
        (endpoint["workspace_id"],),
    )
    for delivery_id, (status, next_attempt_ms) in rows.items():
        db.execute(
            "INSERT INTO deliveries (id, event_id, endpoint_id, workspace_id, livemode, "
            "event_type, status, envelope, next_attempt_ms, created_ms) "
            "VALUES (?, 'evt_seed', ?, ?, 0, 'order.created', ?, x'7b7d', ?, 0)",
            (delivery_id, endpoint["id"], endpoint["workspace_id"], status, next_attempt_ms),
        )


def _deliveries(db: sqlite3.Connection) -> dict[str, tuple[str, int | None, int]]:
    rows = db.execute("SELECT id, status, next_attempt_ms, attempt_count FROM deliveries")
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


@pytest.mark.parametrize("kind", ["webhooks", "destinations"])
def test_delete_cancels_pending_and_held_deliveries(
    file_emulator: Emulator, db: sqlite3.Connection, kind: str
) -> None:
    with file_emulator.api() as api:
        body: dict[str, Any] = {"url": "http://127.0.0.1:9/"}
        if kind == "webhooks":
            body["events"] = ["*"]
        endpoint = api.post(f"/v1/{kind}", json=body).json()
        later = _now_ms(file_emulator) + 86_400_000
        _seed_deliveries(
            db,
            endpoint,
            {
                "dlv_pending": ("pending", later),
                "dlv_held": ("held", None),
                "dlv_done": ("succeeded", None),
                "dlv_failed": ("failed", None),
            },
        )
        assert api.delete(f"/v1/{kind}/{endpoint['id']}").status_code == 204
    after = _deliveries(db)
    assert after["dlv_pending"][:2] == ("cancelled", None)
    assert after["dlv_held"][:2] == ("cancelled", None)
    assert after["dlv_done"][0] == "succeeded"
    assert after["dlv_failed"][0] == "failed"
    (deleted_ms,) = db.execute(
        "SELECT deleted_ms FROM endpoints WHERE id = ?", (endpoint["id"],)
    ).fetchone()
    assert deleted_ms is not None  # kept, so its deliveries stay readable


def test_resume_makes_held_deliveries_due_now(
    file_emulator: Emulator, db: sqlite3.Connection
) -> None:
    file_emulator.control("POST", "/clock/freeze")
    try:
        with file_emulator.api() as api:
            destination = api.post("/v1/destinations", json={"url": "http://127.0.0.1:9/"}).json()
            path = f"/v1/destinations/{destination['id']}"
            assert api.patch(path, json={"status": "paused"}).status_code == 200
            later = _now_ms(file_emulator) + 86_400_000
            _seed_deliveries(
                db, destination, {"dlv_held": ("held", None), "dlv_pending": ("pending", later)}
            )
            # Pausing again changes nothing; resuming releases the held one.
            api.patch(path, json={"status": "paused"})
            assert _deliveries(db)["dlv_held"][0] == "held"
            file_emulator.advance(3600)
            resumed_at = _now_ms(file_emulator)
            assert api.patch(path, json={"status": "active"}).json()["status"] == "active"
        after = _deliveries(db)
        status, next_attempt_ms, attempt_count = after["dlv_held"]
        # Due at the resume (the clock reads out whole seconds); a delivery engine may
        # already have made its attempt.
        due_at_resume = next_attempt_ms is not None and 0 <= next_attempt_ms - resumed_at < 1000
        assert (status == "pending" and due_at_resume) or attempt_count >= 1
        assert after["dlv_pending"][:2] == ("pending", later)
    finally:
        file_emulator.control("POST", "/clock/unfreeze")
