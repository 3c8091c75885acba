"""Fixtures: load (YAML, JSON, --fixtures), all-or-nothing errors, export round trip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from harbor_emulator import signing
from tests.conftest import Emulator, error_of

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _example(name: str, emulator: Emulator) -> bytes:
    """An example file as it is: its sink URLs are ${HARBOR_EMULATOR_URL}, this emulator's."""
    return (FIXTURES / name).read_bytes()


def _load(
    emulator: Emulator, body: bytes | dict, media_type: str = "application/yaml"
) -> httpx.Response:
    if isinstance(body, dict):
        return emulator.control("POST", "/fixtures", json=body)
    return emulator.control("POST", "/fixtures", content=body, headers={"Content-Type": media_type})


def _state(emulator: Emulator) -> dict[str, Any]:
    exported = emulator.control("GET", "/export").json()
    exported.pop("clock")
    return exported


def test_sdk_quickstart_fixture_delivers_with_its_known_secret(emulator: Emulator) -> None:
    loaded = _load(emulator, _example("sdk-quickstart.yaml", emulator))
    assert loaded.status_code == 201, loaded.text
    assert loaded.json()["webhooks"] == 1 and loaded.json()["events"] == 1
    with emulator.api("hb_test_quickstart") as api:
        assert api.get("/v1/events/evt_01hzy9q7x8f4").json()["created_at"] == "2026-05-25T12:00:00Z"
        api.post("/v1/events", json={"type": "order.shipped", "payload": {"carrier": "ups"}})
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 20})
    arrived = emulator.control("GET", "/sinks/sdk-quickstart").json()["data"]
    assert len(arrived) == 1
    body = arrived[0]["body"].encode()
    signing.verify(body, arrived[0]["headers"], "whsec_quickstart_secret_0123456789abcdef")


def test_rest_quickstart_fixture(emulator: Emulator) -> None:
    assert _load(emulator, _example("rest-quickstart.yaml", emulator)).status_code == 201
    with emulator.api("hk_test_your_test_key") as api:
        destination = api.get("/v1/destinations/dest_01HXYZ").json()
        assert destination["name"] == "Quickstart receiver"
        assert "signing_secret" not in destination
        subs = api.get("/v1/subscriptions", params={"destination_id": "dest_01HXYZ"}).json()
        assert [s["event_type"] for s in subs["data"]] == ["order.created"]


def test_ci_example_in_strict_mode(emulator_factory: Any, tmp_path: Path) -> None:
    strict = emulator_factory(strict=True)
    assert _load(strict, _example("ci-example.yaml", strict)).status_code == 201
    with strict.api("hb_test_ci_app") as app:
        assert (
            app.post("/v1/events", json={"type": "order.created", "payload": {}}).status_code == 201
        )
        assert (
            error_of(app.post("/v1/webhooks", json={"url": "http://x", "events": ["*"]}))["code"]
            == "insufficient_scope"
        )
    with strict.api("hb_test_unknown") as stranger:
        assert error_of(stranger.get("/v1/events"))["code"] == "invalid_api_key"
    strict.control("POST", "/deliveries/drain", json={"timeout_seconds": 20})
    assert len(strict.control("GET", "/sinks/orders").json()["data"]) == 1


def test_json_body_and_summary(emulator: Emulator) -> None:
    loaded = _load(emulator, {"workspaces": [{"id": "ws_json", "name": "JSON"}]})
    assert loaded.status_code == 201
    assert loaded.json()["workspaces"] == 1
    names = {w["id"]: w["name"] for w in emulator.control("GET", "/workspaces").json()["data"]}
    assert names["ws_json"] == "JSON"


@pytest.mark.parametrize(
    ("document", "param", "words"),
    [
        (
            {
                "webhooks": [
                    {"id": "wh_a", "workspace_id": "ws_a", "url": "http://x", "events": ["*"]},
                    {"id": "wh_a", "workspace_id": "ws_a", "url": "http://y", "events": ["*"]},
                ]
            },
            "webhooks[1]",
            ["duplicate id wh_a", "webhooks[1] (wh_a)"],
        ),
        (
            {"workspaces": [{"id": "ws_a", "colour": "red"}]},
            "workspaces[0].colour",
            ["unknown field 'colour'", "workspaces[0] (ws_a)"],
        ),
        (
            {"events": [{"workspace_id": "ws_a", "type": 5}]},
            "events[0].type",
            ["events[0]", "type"],
        ),
        (
            {
                "subscriptions": [
                    {"id": "sub_x", "destination_id": "dest_missing", "event_type": "a"}
                ]
            },
            "subscriptions[0].destination_id",
            ["no destination dest_missing", "subscriptions[0] (sub_x)"],
        ),
        (
            {
                "api_keys": [{"key": "hk_live_prod", "workspace_id": "ws_live"}],
                "destinations": [
                    {
                        "id": "dest_live",
                        "workspace_id": "ws_live",
                        "url": "http://api.example.com/hook",
                    }
                ],
            },
            "destinations[0].url",
            ["destinations[0] (dest_live)", "url"],
        ),
        (
            {
                "webhooks": [
                    {
                        "id": "wh_s",
                        "workspace_id": "ws_a",
                        "url": "http://x",
                        "events": ["*"],
                        "secret": "not-a-whsec-secret-at-all",
                    }
                ]
            },
            "webhooks[0].secret",
            ["whsec_", "webhooks[0] (wh_s)"],
        ),
        (
            {
                "webhooks": [
                    {
                        "id": "wh_p",
                        "workspace_id": "ws_a",
                        "url": "http://x",
                        "events": ["order.*.x"],
                    }
                ]
            },
            "webhooks[0].events",
            ["webhooks[0] (wh_p)"],
        ),
    ],
    ids=[
        "duplicate-id",
        "unknown-key",
        "wrong-type",
        "missing-destination",
        "live-http",
        "bad-secret",
        "bad-pattern",
    ],
)
def test_invalid_documents_change_nothing(
    emulator: Emulator, document: dict, param: str, words: list[str]
) -> None:
    before = _state(emulator)
    # A valid entry first: all or nothing means it must not land either.
    document = {"workspaces": [{"id": "ws_first", "name": "first"}], **document}
    response = _load(emulator, document)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == "invalid_fixtures"
    assert error["param"] == param
    assert error["message"].startswith("request body: ")
    for word in words:
        assert word in error["message"]
    assert _state(emulator) == before


def test_ids_already_stored_are_refused_whatever_their_kind(emulator: Emulator) -> None:
    """A document's own ids are looked up in the stored state (all in one query): each kind
    is refused by id, whether stored by an earlier load, by the API or deleted since."""
    stored = {
        "workspaces": [{"id": "ws_ids"}],
        "api_keys": [{"key": "hb_test_ids", "workspace_id": "ws_ids"}],
        "destinations": [
            {
                "id": "dest_ids",
                "url": f"{emulator.url}/_sink/ids",
                "subscriptions": [{"id": "sub_ids", "event_type": "*"}],
            }
        ],
        "webhooks": [{"id": "wh_ids", "url": f"{emulator.url}/_sink/ids", "events": ["*"]}],
        "events": [{"id": "evt_ids", "type": "a.b"}],
    }
    assert _load(emulator, stored).status_code == 201
    with emulator.api("hb_test_ids") as api:
        made = api.post(
            "/v1/webhooks", json={"url": f"{emulator.url}/_sink/ids", "events": ["*"]}
        ).json()
        assert api.delete(f"/v1/webhooks/{made['id']}").status_code in (200, 204)
        api.post("/v1/events", json={"type": "a.b", "payload": {}})  # a delivery to wh_ids
    delivery = _state(emulator)["deliveries"][0]

    def webhook(webhook_id: str) -> dict[str, Any]:
        return {"webhooks": [{"id": webhook_id, "url": "http://x", "events": ["*"]}]}

    again: list[tuple[dict[str, Any], str, str]] = [
        (webhook("wh_ids"), "webhooks[0]", "wh_ids"),
        (webhook(made["id"]), "webhooks[0]", made["id"]),
        ({"destinations": [{"id": "dest_ids", "url": "http://x"}]}, "destinations[0]", "dest_ids"),
        ({"subscriptions": [{"id": "sub_ids", "destination_id": "dest_ids", "event_type": "*"}]},
         "subscriptions[0]", "sub_ids"),
        ({"events": [{"id": "evt_ids", "type": "a.b"}]}, "events[0]", "evt_ids"),
        ({"events": [{"id": delivery["event_id"] + "x", "type": "a.b"}],
          "webhooks": [{"id": "wh_new", "url": "http://x", "events": ["*"]}],
          "deliveries": [delivery | {"event_id": delivery["event_id"] + "x",
                                     "webhook_id": "wh_new"}]},
         "deliveries[0]", delivery["id"]),
    ]  # fmt: skip
    before = _state(emulator)
    for document, param, object_id in again:
        response = _load(emulator, {"workspaces": [{"id": "ws_ids"}], **document})
        assert response.status_code == 400, response.text
        error = error_of(response)
        assert (error["code"], error["param"]) == ("invalid_fixtures", param)
        assert f"{object_id} already exists; reset first or use another id." in error["message"]
    assert _state(emulator) == before


def test_broken_yaml_names_line_and_column(emulator: Emulator) -> None:
    response = _load(emulator, b"workspaces:\n  - id: ws_a\n    name: [unclosed\n")
    error = error_of(response)
    assert error["code"] == "invalid_fixtures"
    assert "line 4" in error["message"] or "line 3" in error["message"]
    assert "column" in error["message"]


def test_unsupported_media_type(emulator: Emulator) -> None:
    response = _load(emulator, b"workspaces: []", "text/plain")
    assert response.status_code == 415


def test_start_fixtures_are_reloaded_by_reset(emulator_factory: Any, tmp_path: Path) -> None:
    path = tmp_path / "start.json"
    path.write_text(
        json.dumps(
            {
                "api_keys": [
                    {"key": "hb_test_started", "workspace_id": "ws_s", "scopes": ["events:read"]}
                ]
            }
        )
    )
    started = emulator_factory(fixtures=(str(path),), strict=True)
    with started.api("hb_test_started") as api:
        assert api.get("/v1/events").status_code == 200
        started.reset()
        assert api.get("/v1/events").status_code == 200
        assert (
            error_of(api.post("/v1/events", json={"type": "a", "payload": {}}))["code"]
            == "insufficient_scope"
        )


def test_start_with_invalid_fixtures_exits_non_zero(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("webhooks:\n  - url: ftp://nope\n    events: ['*']\n    workspace_id: ws_a\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harbor_emulator.cli",
            "start",
            "--port",
            "0",
            "--fixtures",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"error: invalid_fixtures: {path}: webhooks[0]" in result.stderr
    assert "listening" not in result.stdout


def test_export_round_trips_into_a_fresh_emulator(
    emulator: Emulator, emulator_factory: Any
) -> None:
    receiver_sink = f"{emulator.url}/_sink/round"
    emulator.control("PUT", "/sinks/round", json={"responses": [{"status": 500}]})
    with emulator.api() as api:
        webhook = api.post(
            "/v1/webhooks",
            json={"url": receiver_sink, "events": ["order.*"], "metadata": {"team": "a"}},
        ).json()
        api.post(
            f"/v1/webhooks/{webhook['id']}/signing-keys", json={"expire_previous_in_seconds": 60}
        )
        destination = api.post("/v1/destinations", json={"url": receiver_sink, "name": "d"}).json()
        api.post("/v1/subscriptions", json={"destination_id": destination["id"], "event_type": "*"})
        api.patch(f"/v1/destinations/{destination['id']}", json={"status": "paused"})
        api.post("/v1/events", json={"type": "order.created", "payload": {"ü": [1, None]}})
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 20})
    emulator.control("POST", "/api_keys", json={"mode": "live", "workspace_id": "ws_live"})
    exported = emulator.control("GET", "/export").json()
    assert exported["deliveries"] and exported["deliveries"][0]["attempts"]

    fresh = emulator_factory()
    fresh.control("POST", "/clock/freeze")
    loaded = fresh.control("POST", "/fixtures", json=exported)
    assert loaded.status_code == 201, loaded.text
    again = fresh.control("GET", "/export").json()
    exported.pop("clock"), again.pop("clock")
    assert again == exported
