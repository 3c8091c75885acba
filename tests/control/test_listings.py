"""GET /_control/events, /_control/deliveries and /_control/endpoints: every workspace and
both modes at once, paginated like /v1 (responses checked against openapi.yaml)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Emulator, error_of


def _setup(emulator: Emulator) -> dict[str, Any]:
    made: dict[str, Any] = {}
    emulator.control(
        "POST",
        "/fixtures",
        json={"api_keys": [{"key": "hb_live_shop", "workspace_id": "ws_live"}]},
    )
    with emulator.api("hb_test_a") as api:
        made["webhook"] = api.post(
            "/v1/webhooks",
            json={"workspace_id": "ws_a", "url": f"{emulator.url}/_sink/a", "events": ["*"]},
        ).json()
        made["event_a"] = api.post(
            "/v1/events", json={"workspace_id": "ws_a", "type": "a.one", "payload": {}}
        ).json()
    with emulator.api("hk_test_b") as api:
        made["destination"] = api.post(
            "/v1/destinations", json={"workspace_id": "ws_b", "url": f"{emulator.url}/_sink/b"}
        ).json()
        made["event_b"] = api.post(
            "/v1/events", json={"workspace_id": "ws_b", "type": "b.one", "body": {}}
        ).json()
    with emulator.api("hb_live_shop") as api:
        made["event_live"] = api.post("/v1/events", json={"type": "live.one", "payload": {}}).json()
    return made


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


def test_events_of_every_workspace_and_mode(emulator: Emulator) -> None:
    made = _setup(emulator)
    everything = _ids(emulator.control("GET", "/events"))
    assert everything == [made["event_live"]["id"], made["event_b"]["id"], made["event_a"]["id"]]
    assert _ids(emulator.control("GET", "/events", params={"livemode": "false"})) == [
        made["event_b"]["id"],
        made["event_a"]["id"],
    ]
    assert _ids(emulator.control("GET", "/events", params={"workspace_id": "ws_a"})) == [
        made["event_a"]["id"]
    ]
    assert _ids(emulator.control("GET", "/events", params={"type": "b.one"})) == [
        made["event_b"]["id"]
    ]


def test_deliveries_carry_their_workspace(emulator: Emulator) -> None:
    made = _setup(emulator)
    page = emulator.control("GET", "/deliveries").json()
    assert [(d["event_id"], d["workspace_id"], d["webhook_id"]) for d in page["data"]] == [
        (made["event_a"]["id"], "ws_a", made["webhook"]["id"])
    ]
    by_endpoint = emulator.control(
        "GET", "/deliveries", params={"webhook_id": made["webhook"]["id"], "status": "pending"}
    )
    assert by_endpoint.status_code == 200
    assert _ids(emulator.control("GET", "/deliveries", params={"workspace_id": "ws_b"})) == []


def test_endpoints_newest_first_without_secrets(emulator: Emulator) -> None:
    made = _setup(emulator)
    page = emulator.control("GET", "/endpoints").json()
    assert [e["id"] for e in page["data"]] == [made["destination"]["id"], made["webhook"]["id"]]
    assert all("secret" not in e and "signing_secret" not in e for e in page["data"])
    only_webhooks = emulator.control("GET", "/endpoints", params={"kind": "webhook"})
    assert _ids(only_webhooks) == [made["webhook"]["id"]]
    newest = emulator.control("GET", "/endpoints", params={"limit": 1}).json()
    assert newest["has_more"] is True
    rest = emulator.control(
        "GET", "/endpoints", params={"limit": 1, "cursor": newest["next_cursor"]}
    )
    assert _ids(rest) == [made["webhook"]["id"]]


@pytest.mark.parametrize(
    ("path", "params", "code", "param"),
    [
        ("/events", {"livemode": "yes"}, "invalid_parameter", "livemode"),
        ("/events", {"limit": "0"}, "invalid_parameter", "limit"),
        ("/deliveries", {"status": "lost"}, "invalid_parameter", "status"),
        (
            "/deliveries",
            {"webhook_id": "wh_1", "destination_id": "dest_1"},
            "invalid_parameter",
            "destination_id",
        ),
        ("/endpoints", {"kind": "queue"}, "invalid_parameter", "kind"),
        ("/endpoints", {"cursor": "garbled"}, "invalid_cursor", "cursor"),
    ],
)
def test_bad_filters_are_400(
    emulator: Emulator, path: str, params: dict[str, str], code: str, param: str
) -> None:
    response = emulator.control("GET", path, params=params)
    assert response.status_code == 400
    assert (error_of(response)["code"], error_of(response)["param"]) == (code, param)


def test_a_cursor_of_another_list_is_refused(emulator: Emulator) -> None:
    _setup(emulator)
    events_cursor = emulator.control("GET", "/events", params={"limit": 1}).json()["next_cursor"]
    response = emulator.control("GET", "/deliveries", params={"cursor": events_cursor})
    assert error_of(response)["code"] == "invalid_cursor"
