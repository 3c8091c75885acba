"""/v1/subscriptions over real HTTP, and the matcher the delivery engine selects with."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from harbor_emulator.domain.patterns import matches_any
from harbor_emulator.store import endpoints
from harbor_emulator.store.db import Database
from tests.conftest import Emulator, error_of


def _destination(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = api.post("/v1/destinations", json={"url": "http://127.0.0.1:9/", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _subscribe(api: httpx.Client, destination_id: str, event_type: str) -> httpx.Response:
    return api.post(
        "/v1/subscriptions", json={"destination_id": destination_id, "event_type": event_type}
    )


def test_seed_002_subscribe_as_written(emulator: Emulator) -> None:
    with emulator.api("hk_test_your_test_key") as api:
        # The seed's literal id names no destination here...
        literal = api.post(
            "/v1/subscriptions",
            content=b'{ "destination_id": "dest_01HXYZ", "event_type": "order.created" }',
            headers={"Content-Type": "application/json"},
        )
        assert literal.status_code == 404
        assert error_of(literal)["code"] == "destination_not_found"
        # ... the quickstart's real flow uses the id step 2 returned.
        destination = _destination(api, name="Quickstart receiver")
        created = _subscribe(api, destination["id"], "order.created")
        assert created.status_code == 201, created.text
        subscription = created.json()
        assert subscription["id"].startswith("sub_")
        assert subscription["object"] == "subscription"
        assert subscription["destination_id"] == destination["id"]
        assert subscription["event_type"] == "order.created"
        assert subscription["workspace_id"] == destination["workspace_id"]
        assert subscription["livemode"] is False
        assert api.get(f"/v1/subscriptions/{subscription['id']}").json() == subscription


def test_duplicate_returns_the_existing_subscription(api: httpx.Client) -> None:
    destination = _destination(api)
    first = _subscribe(api, destination["id"], "order.*")
    again = _subscribe(api, destination["id"], "order.*")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert len(api.get("/v1/subscriptions").json()["data"]) == 1
    # A different pattern is a different subscription, even if it overlaps.
    assert _subscribe(api, destination["id"], "order.created").status_code == 201
    # Once deleted, the same pattern makes a new one.
    assert api.delete(f"/v1/subscriptions/{first.json()['id']}").status_code == 204
    renewed = _subscribe(api, destination["id"], "order.*")
    assert renewed.status_code == 201
    assert renewed.json()["id"] != first.json()["id"]


def test_duplicate_under_an_idempotency_key_replays_its_200(api: httpx.Client) -> None:
    destination = _destination(api)
    body = {"destination_id": destination["id"], "event_type": "a"}
    first = api.post("/v1/subscriptions", json=body, headers={"Idempotency-Key": "s1"})
    duplicate = api.post("/v1/subscriptions", json=body, headers={"Idempotency-Key": "s2"})
    assert (first.status_code, duplicate.status_code) == (201, 200)
    api.delete(f"/v1/subscriptions/{first.json()['id']}")
    # The stored answers come back, though the subscription is gone by now.
    replayed = api.post("/v1/subscriptions", json=body, headers={"Idempotency-Key": "s2"})
    assert replayed.status_code == 200
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == first.json()
    assert api.get("/v1/subscriptions").json()["data"] == []


def test_destinations_that_cannot_be_subscribed_are_404(emulator: Emulator) -> None:
    live_key = emulator.control(
        "POST", "/api_keys", json={"mode": "live", "workspace_id": "ws_x", "dialect": "hk"}
    ).json()["key"]
    with emulator.api() as api, emulator.api(live_key) as live:
        webhook = api.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["a"]}
        ).json()
        deleted = _destination(api)
        api.delete(f"/v1/destinations/{deleted['id']}")
        live_destination = live.post(
            "/v1/destinations", json={"url": "https://93.184.216.34/"}
        ).json()
        for destination_id in (webhook["id"], deleted["id"], "dest_unknown", "", "x" * 300):
            response = _subscribe(api, destination_id, "a")
            assert response.status_code == 404, destination_id
            assert error_of(response)["code"] == "destination_not_found"
        assert error_of(_subscribe(api, live_destination["id"], "a"))["code"] == (
            "destination_not_found"
        )
        assert _subscribe(live, live_destination["id"], "a").json()["livemode"] is True


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"event_type": "a"}, "missing_parameter", "destination_id"),
        ({"destination_id": 5, "event_type": "a"}, "invalid_parameter", "destination_id"),
        ({"destination_id": "DEST"}, "missing_parameter", "event_type"),
        ({"destination_id": "DEST", "event_type": ""}, "invalid_parameter", "event_type"),
        ({"destination_id": "DEST", "event_type": "order.*.x"}, "invalid_parameter", "event_type"),
        ({"destination_id": "DEST", "event_type": "*.created"}, "invalid_parameter", "event_type"),
        ({"destination_id": "DEST", "event_type": ".*"}, "invalid_parameter", "event_type"),
        ({"destination_id": "DEST", "event_type": "a b"}, "invalid_parameter", "event_type"),
        ({"destination_id": "DEST", "event_type": "x" * 256}, "invalid_parameter", "event_type"),
        ({"destination_id": "DEST", "event_type": ["a"]}, "invalid_parameter", "event_type"),
        ({"destination_id": "DEST", "event_type": "a", "x": 1}, "invalid_parameter", "x"),
    ],
)
def test_create_validation(api: httpx.Client, body: dict[str, Any], code: str, param: str) -> None:
    destination = _destination(api)
    body = {k: destination["id"] if v == "DEST" else v for k, v in body.items()}
    response = api.post("/v1/subscriptions", json=body)
    assert response.status_code == 400, response.text
    assert (error_of(response)["code"], error_of(response)["param"]) == (code, param)


@pytest.mark.parametrize("pattern", ["order.created", "*", "order.*", "order.item.*"])
def test_valid_patterns(api: httpx.Client, pattern: str) -> None:
    destination = _destination(api)
    assert _subscribe(api, destination["id"], pattern).json()["event_type"] == pattern


def test_list_filters_and_pagination(api: httpx.Client) -> None:
    # The open-sandbox key adopts ws_here, the first workspace it names: its default.
    here = _destination(api, workspace_id="ws_here")
    there = _destination(api, workspace_id="ws_there")
    ids = [_subscribe(api, here["id"], t).json()["id"] for t in ("a", "b", "c")]
    elsewhere = _subscribe(api, there["id"], "a").json()
    assert elsewhere["workspace_id"] == "ws_there"

    default = api.get("/v1/subscriptions").json()
    assert [s["id"] for s in default["data"]] == list(reversed(ids))
    page = api.get("/v1/subscriptions", params={"limit": 2}).json()
    rest = api.get("/v1/subscriptions", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [s["id"] for s in page["data"] + rest["data"]] == list(reversed(ids))
    assert rest["has_more"] is False

    # destination_id selects that destination's workspace.
    by_destination = api.get("/v1/subscriptions", params={"destination_id": there["id"]}).json()
    assert [s["id"] for s in by_destination["data"]] == [elsewhere["id"]]
    by_workspace = api.get("/v1/subscriptions", params={"workspace_id": "ws_there"}).json()
    assert [s["id"] for s in by_workspace["data"]] == [elsewhere["id"]]
    mismatch = api.get(
        "/v1/subscriptions", params={"destination_id": there["id"], "workspace_id": "ws_other"}
    ).json()
    assert mismatch["data"] == []
    unknown = api.get("/v1/subscriptions", params={"destination_id": "dest_nope"})
    assert error_of(unknown)["code"] == "destination_not_found"
    cursor_elsewhere = api.get(
        "/v1/subscriptions", params={"destination_id": here["id"], "cursor": page["next_cursor"]}
    )
    assert error_of(cursor_elsewhere)["code"] == "invalid_cursor"


def test_delete_and_404s(api: httpx.Client) -> None:
    destination = _destination(api)
    subscription = _subscribe(api, destination["id"], "a").json()
    path = f"/v1/subscriptions/{subscription['id']}"
    deleted = api.delete(path)
    assert deleted.status_code == 204 and deleted.content == b""
    for response in (api.get(path), api.delete(path), api.get("/v1/subscriptions/sub_nope")):
        assert response.status_code == 404
        assert error_of(response)["code"] == "subscription_not_found"
    assert api.get(f"/v1/destinations/{destination['id']}").status_code == 200


def test_deleting_a_destination_deletes_its_subscriptions(api: httpx.Client) -> None:
    destination = _destination(api)
    subscription = _subscribe(api, destination["id"], "a").json()
    api.delete(f"/v1/destinations/{destination['id']}")
    assert api.get(f"/v1/subscriptions/{subscription['id']}").status_code == 404
    assert api.get("/v1/subscriptions").json()["data"] == []


def test_other_mode_subscription_is_404(emulator: Emulator) -> None:
    live_key = emulator.control(
        "POST", "/api_keys", json={"mode": "live", "workspace_id": "ws_x", "dialect": "hk"}
    ).json()["key"]
    with emulator.api() as api, emulator.api(live_key) as live:
        subscription = _subscribe(api, _destination(api)["id"], "a").json()
        assert live.get(f"/v1/subscriptions/{subscription['id']}").status_code == 404
        assert live.delete(f"/v1/subscriptions/{subscription['id']}").status_code == 404
        assert api.get(f"/v1/subscriptions/{subscription['id']}").status_code == 200


# -- the matcher: which endpoints an event goes to -------------------------------------


@pytest.fixture(scope="module")
def file_emulator(emulator_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Emulator:
    return emulator_factory(db_path=str(tmp_path_factory.mktemp("db") / "state.db"))


def _matching(emulator: Emulator, workspace_id: str, livemode: bool, event_type: str) -> list[str]:
    assert emulator.config.db_path is not None
    path = emulator.config.db_path

    async def run() -> list[str]:
        # A private copy: the running emulator holds its file (one process per database).
        db = await Database.open(None)
        await db.restore_from(path)
        try:
            found = await endpoints.live_with_patterns(
                db, workspace_id=workspace_id, livemode=livemode
            )
        finally:
            await db.close()
        return [endpoint.id for endpoint, patterns in found if matches_any(patterns, event_type)]

    return asyncio.run(run())


def test_matching_uses_webhook_events_and_destination_subscriptions(
    file_emulator: Emulator,
) -> None:
    file_emulator.reset()
    with file_emulator.api() as api:
        ws = {"workspace_id": "ws_match"}
        every = api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["*"], **ws})
        orders = api.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["order.*"], **ws}
        )
        paid = _destination(api, **ws)
        _subscribe(api, paid["id"], "invoice.paid")
        _subscribe(api, paid["id"], "order.created")
        idle = _destination(api, **ws)  # no subscriptions: receives nothing
        paused = _destination(api, **ws)
        _subscribe(api, paused["id"], "*")
        api.patch(f"/v1/destinations/{paused['id']}", json={"status": "paused"})
        gone = _destination(api, **ws)
        _subscribe(api, gone["id"], "*")
        api.delete(f"/v1/destinations/{gone['id']}")
        _destination(api)  # another workspace

    every_id, orders_id = every.json()["id"], orders.json()["id"]
    assert _matching(file_emulator, "ws_match", False, "order.created") == [
        every_id,
        orders_id,
        paid["id"],
        paused["id"],  # paused endpoints match: their deliveries are held
    ]
    assert _matching(file_emulator, "ws_match", False, "invoice.paid") == [
        every_id,
        paid["id"],
        paused["id"],
    ]
    assert _matching(file_emulator, "ws_match", False, "order") == [every_id, paused["id"]]
    assert idle["id"] not in _matching(file_emulator, "ws_match", False, "anything")
    assert _matching(file_emulator, "ws_match", True, "order.created") == []
