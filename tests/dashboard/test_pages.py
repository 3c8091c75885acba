"""The dashboard over plain HTTP: every page, every form's error path, the login, no 500s.

Form errors are compared with what the API answers to the same input, so the dashboard
cannot drift from the API's codes and messages.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Emulator
from tests.dashboard.helpers import assert_same_error, shown_errors

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def web(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=30) as client:
        yield client


def _webhook(emulator: Emulator, api: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("url", f"{emulator.url}/_sink/orders")
    body.setdefault("events", ["order.*"])
    response = api.post("/v1/webhooks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _deliver_one(emulator: Emulator, api: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    """A webhook to the `orders` sink and one event for it, delivered."""
    webhook = _webhook(emulator, api)
    event = api.post("/v1/events", json={"type": "order.paid", "payload": {"n": 1}})
    assert event.status_code == 201
    drained = emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    assert drained.json() == {"drained": True, "pending": 0}
    return webhook, event.json()


PAGES = [
    "/",
    "/settings/general",
    "/settings/api-keys",
    "/webhooks",
    "/webhooks/deliveries",
    "/events",
    "/clock",
    "/sinks",
    "/faults",
    "/login",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders(
    web: httpx.Client, emulator: Emulator, api: httpx.Client, path: str
) -> None:
    _deliver_one(emulator, api)
    page = web.get(path)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "Harbor emulator" in page.text


def test_pages_show_the_objects(web: httpx.Client, emulator: Emulator, api: httpx.Client) -> None:
    webhook, event = _deliver_one(emulator, api)
    delivery = api.get("/v1/deliveries").json()["data"][0]
    assert webhook["id"] in web.get("/webhooks").text
    assert webhook["workspace_id"] in web.get("/settings/general").text
    assert event["id"] in web.get("/events", params={"type": "order.paid"}).text
    assert event["id"] not in web.get("/events", params={"type": "order.other"}).text
    assert '"n": 1' in html.unescape(web.get(f"/events/{event['id']}").text)
    listed = web.get("/webhooks/deliveries", params={"status": "succeeded"}).text
    assert delivery["id"] in listed
    assert delivery["id"] not in web.get("/webhooks/deliveries", params={"status": "failed"}).text
    assert "/_sink/orders" in web.get("/sinks", params={"name": "orders"}).text


def test_attempt_shows_the_signature_the_receiver_got(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    _deliver_one(emulator, api)
    received = emulator.control("GET", "/sinks/orders").json()["data"][0]["headers"]
    delivery_id = received["harbor-delivery-id"]
    page = web.get(f"/webhooks/deliveries/{delivery_id}")
    assert page.status_code == 200
    assert received["harbor-signature"] in page.text
    assert received["harbor-timestamp"] in page.text
    # The attempts fragment that htmx polls carries the same, without the page around it.
    fragment = web.get(f"/webhooks/deliveries/{delivery_id}", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith("{") is False
    assert "<html" not in fragment.text
    assert received["harbor-signature"] in fragment.text


def test_deliveries_fragment_is_the_table_only(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    _deliver_one(emulator, api)
    fragment = web.get("/webhooks/deliveries", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "every 2s" in fragment.text and "harbor-change[" in fragment.text
    assert "succeeded" in fragment.text


def test_delivery_ids_in_lists_show_their_distinct_end_in_bold(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    # Two deliveries of one event in the same millisecond: ids alike but for their end.
    _webhook(emulator, api)
    _webhook(emulator, api, url=f"{emulator.url}/_sink/other")
    api.post("/v1/events", json={"type": "order.paid", "payload": {}})
    ids = [d["id"] for d in api.get("/v1/deliveries").json()["data"]]
    assert len(ids) == 2
    page = web.get("/webhooks/deliveries").text
    for delivery_id in ids:
        head, tail = delivery_id[:-4], delivery_id[-4:]
        assert f'<code class="oid">{head}<b class="oid-tail">{tail}</b></code>' in page


# -- forms: the API's errors, next to the field, nothing written --------------------------


def test_api_key_form_creates_a_key_with_its_scopes(web: httpx.Client, emulator: Emulator) -> None:
    page = web.post(
        "/settings/api-keys",
        data={"mode": "test", "dialect": "hk", "workspace_id": "ws_shop", "scopes": "events:read"},
    )
    assert page.status_code == 200
    keys = emulator.control("GET", "/api_keys").json()["data"]
    assert [(k["workspace_id"], k["scopes"]) for k in keys] == [("ws_shop", ["events:read"])]
    assert keys[0]["key"].startswith("hk_test_")
    assert keys[0]["key"] in page.text
    # The key works with exactly that scope.
    with emulator.api(keys[0]["key"]) as client:
        assert client.get("/v1/events").status_code == 200
        assert client.post("/v1/events", json={}).status_code == 403


def test_api_key_form_errors_match_the_api(web: httpx.Client, emulator: Emulator) -> None:
    for form, body in [
        ({"mode": "sandbox", "scopes": "events:read"}, {"mode": "sandbox"}),
        ({"workspace_id": "nope"}, {"workspace_id": "nope"}),
        ({"scopes": "events:admin"}, {"scopes": ["events:admin"]}),
    ]:
        page = web.post("/settings/api-keys", data=form)
        assert_same_error(page, emulator.control("POST", "/api_keys", json=body))
    assert emulator.control("GET", "/api_keys").json()["data"] == []


def test_revoke_from_the_dashboard(web: httpx.Client, emulator: Emulator) -> None:
    web.post("/settings/api-keys", data={"scopes": "events:read"})
    key = emulator.control("GET", "/api_keys").json()["data"][0]["key"]
    assert web.post(f"/settings/api-keys/{key}/revoke").status_code == 303
    with emulator.api(key) as client:
        assert client.get("/v1/events").json()["error"]["code"] == "invalid_api_key"


def test_workspace_form(web: httpx.Client, emulator: Emulator) -> None:
    assert web.post("/settings/general", data={"id": "ws_acme", "name": "Acme"}).status_code == 303
    names = {w["id"]: w["name"] for w in emulator.control("GET", "/workspaces").json()["data"]}
    assert names == {"ws_acme": "Acme"}
    page = web.post("/settings/general", data={"id": "acme"})
    assert_same_error(page, emulator.control("POST", "/workspaces", json={"id": "acme"}))
    looked_up = web.get("/settings/general/which", params={"key": "hb_test_xxxx"})
    assert "ws_240f8c8b14450115" in looked_up.text


@pytest.mark.parametrize(
    ("form", "body"),
    [
        ({"url": "ftp://x", "events": "order.*"}, {"url": "ftp://x", "events": ["order.*"]}),
        ({"url": "http://127.0.0.1:9/x"}, {"url": "http://127.0.0.1:9/x"}),
        ({"events": "order.*"}, {"events": ["order.*"]}),
        ({"url": "http://127.0.0.1:9/x", "events": "order.**"}, None),
    ],
)
def test_webhook_form_errors_match_the_api(
    web: httpx.Client,
    emulator: Emulator,
    api: httpx.Client,
    form: dict[str, str],
    body: dict[str, Any] | None,
) -> None:
    form = {"kind": "webhook", "workspace_id": "ws_shop", **form}
    if body is None:
        body = {"url": form["url"], "events": form["events"].split()}
    page = web.post("/webhooks", data=form)
    assert_same_error(page, api.post("/v1/webhooks", json={**body, "workspace_id": "ws_shop"}))
    assert api.get("/v1/webhooks", params={"workspace_id": "ws_shop"}).json()["data"] == []
    # What was typed is still there to fix.
    assert 'value="ws_shop"' in page.text


def test_endpoint_form_needs_a_workspace(web: httpx.Client) -> None:
    page = web.post("/webhooks", data={"url": "http://127.0.0.1:9/x", "events": "a"})
    assert page.status_code == 400
    assert shown_errors(page) == [
        {
            "param": "workspace_id",
            "code": "missing_parameter",
            "message": "'workspace_id' is required.",
        }
    ]


def test_destination_subscriptions_pause_resume_rotate(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    created = web.post(
        "/webhooks",
        data={"kind": "destination", "url": f"{emulator.url}/_sink/d", "workspace_id": "ws_shop"},
    )
    assert created.status_code == 200
    destination = api.get("/v1/destinations", params={"workspace_id": "ws_shop"}).json()["data"][0]
    dest_id = destination["id"]
    assert "whsec_" in created.text  # the signing secret, shown once

    bad = web.post(f"/webhooks/{dest_id}/subscriptions", data={"event_type": "order.**"})
    api_bad = api.post(
        "/v1/subscriptions", json={"destination_id": dest_id, "event_type": "order.**"}
    )
    assert_same_error(bad, api_bad)
    assert (
        web.post(f"/webhooks/{dest_id}/subscriptions", data={"event_type": "order.*"}).status_code
        == 303
    )
    subs = api.get("/v1/subscriptions", params={"destination_id": dest_id}).json()["data"]
    assert [s["event_type"] for s in subs] == ["order.*"]

    assert web.post(f"/webhooks/{dest_id}/status", data={"status": "paused"}).status_code == 303
    assert api.get(f"/v1/destinations/{dest_id}").json()["status"] == "paused"
    api.post("/v1/events", json={"type": "order.paid", "payload": {}, "workspace_id": "ws_shop"})
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    [delivery] = api.get("/v1/deliveries", params={"destination_id": dest_id}).json()["data"]
    assert delivery["status"] == "held"
    assert web.post(f"/webhooks/{dest_id}/status", data={"status": "active"}).status_code == 303
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    assert api.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == "succeeded"

    bad_rotate = web.post(f"/webhooks/{dest_id}/rotate", data={"expire_previous_in_seconds": "-1"})
    api_rotate = api.post(
        f"/v1/destinations/{dest_id}/signing-keys", json={"expire_previous_in_seconds": -1}
    )
    assert_same_error(bad_rotate, api_rotate)
    rotated = web.post(f"/webhooks/{dest_id}/rotate", data={"expire_previous_in_seconds": "60"})
    assert rotated.status_code == 200 and "whsec_" in rotated.text
    keys = api.get(f"/v1/destinations/{dest_id}/signing-keys").json()["data"]
    assert len(keys) == 2

    sub_id = subs[0]["id"]
    assert web.post(f"/webhooks/{dest_id}/subscriptions/{sub_id}/delete").status_code == 303
    assert api.get("/v1/subscriptions", params={"destination_id": dest_id}).json()["data"] == []
    assert web.post(f"/webhooks/{dest_id}/delete").status_code == 303
    assert api.get(f"/v1/destinations/{dest_id}").status_code == 404


@pytest.mark.parametrize(
    ("form", "body"),
    [
        ({"type": "order paid", "payload": "{}"}, {"type": "order paid", "payload": {}}),
        ({"payload": "{}"}, {"payload": {}}),
        ({"type": "order.paid", "payload": "[1]"}, {"type": "order.paid", "payload": [1]}),
        ({"type": "order.paid"}, {"type": "order.paid"}),
    ],
)
def test_event_form_errors_match_the_api(
    web: httpx.Client,
    emulator: Emulator,
    api: httpx.Client,
    form: dict[str, str],
    body: dict[str, Any],
) -> None:
    page = web.post("/events", data={**form, "workspace_id": "ws_shop"})
    assert_same_error(page, api.post("/v1/events", json={**body, "workspace_id": "ws_shop"}))
    assert api.get("/v1/events", params={"workspace_id": "ws_shop"}).json()["data"] == []


def test_event_form_with_bad_json_names_the_field(web: httpx.Client, emulator: Emulator) -> None:
    page = web.post("/events", data={"type": "a.b", "payload": "{nope", "workspace_id": "ws_a"})
    assert page.status_code == 400
    [error] = shown_errors(page)
    assert (error["param"], error["code"]) == ("payload", "invalid_json")


def test_event_form_sends_and_replays(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    webhook = _webhook(emulator, api, workspace_id="ws_shop")
    sent = web.post(
        "/events", data={"type": "order.paid", "payload": '{"a": 1}', "workspace_id": "ws_shop"}
    )
    assert sent.status_code == 303
    event_id = sent.headers["location"].split("/")[-1]
    assert event_id.startswith("evt_")
    replayed = web.post(f"/events/{event_id}/replay", data={"endpoint_id": webhook["id"]})
    assert replayed.status_code == 303
    deliveries = api.get("/v1/deliveries", params={"event_id": event_id}).json()["data"]
    assert len(deliveries) == 2


def test_replay_delivery_and_cancelled_refusal(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    webhook, _ = _deliver_one(emulator, api)
    [delivery] = api.get("/v1/deliveries").json()["data"]
    assert web.post(f"/webhooks/deliveries/{delivery['id']}/replay").status_code == 303
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    assert api.get(f"/v1/deliveries/{delivery['id']}").json()["attempt_count"] == 2

    # A paused endpoint's held delivery is cancelled by deleting the endpoint.
    api.patch(f"/v1/webhooks/{webhook['id']}", json={"status": "paused"})
    api.post("/v1/events", json={"type": "order.x", "payload": {}})
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    api.delete(f"/v1/webhooks/{webhook['id']}")
    [cancelled] = api.get("/v1/deliveries", params={"status": "cancelled"}).json()["data"]
    page = web.post(f"/webhooks/deliveries/{cancelled['id']}/replay")
    assert_same_error(page, api.post(f"/v1/deliveries/{cancelled['id']}/replay"))


def test_clock_advance_shows_what_fell_due(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    emulator.control("PUT", "/sinks/orders", json={"responses": [{"status": 500}]})
    _deliver_one(emulator, api)
    advanced = web.post("/clock/advance", data={"seconds": "300"})
    assert advanced.status_code == 303
    page = web.get(advanced.headers["location"])
    assert "Fell due between" in page.text
    assert page.text.count('data-testid="fell-due"') == 1
    [delivery] = api.get("/v1/deliveries").json()["data"]
    assert delivery["attempt_count"] == 2
    assert delivery["id"] in page.text

    bad = web.post("/clock/advance", data={"duration": "soon"})
    assert_same_error(bad, emulator.control("POST", "/clock/advance", json={"duration": "soon"}))
    # The header's buttons come back to the page they were pressed on.
    back = web.post("/clock/advance", data={"seconds": "60", "next": "/faults?mode=test"})
    assert back.headers["location"] == "/faults?mode=test"
    outside = web.post("/clock/advance", data={"seconds": "60", "next": "//evil.example/"})
    assert outside.headers["location"] == "/clock"


def test_freeze_and_unfreeze(web: httpx.Client, emulator: Emulator) -> None:
    web.post("/clock/freeze", data={"frozen": "true"})
    assert emulator.control("GET", "/clock").json()["frozen"] is True
    web.post("/clock/freeze", data={"frozen": "false"})
    assert emulator.control("GET", "/clock").json()["frozen"] is False


def test_sink_script_and_clear(web: httpx.Client, emulator: Emulator) -> None:
    bad = web.post("/sinks/orders/script", data={"responses": '[{"status": 99}]'})
    answer = emulator.control("PUT", "/sinks/orders", json={"responses": [{"status": 99}]})
    assert_same_error(bad, answer)
    assert (
        web.post("/sinks/orders/script", data={"responses": '[{"status": 503}]'}).status_code == 303
    )
    assert emulator.http.post("/_sink/orders").status_code == 503
    assert web.post("/sinks/orders/clear").status_code == 303
    assert emulator.control("GET", "/sinks/orders").json()["data"] == []


@pytest.mark.parametrize(
    "form",
    [
        {"target": "delivery", "endpoint_id": "wh_1", "outcome": "boom"},
        {"target": "delivery", "outcome": "timeout"},
        {"target": "api", "error_code": "no_such_code"},
        {"target": "delivery", "endpoint_id": "wh_1", "outcome": "500", "count": "0"},
        {"target": "delivery", "endpoint_id": "wh_1", "outcome": "500", "probability": "2"},
        {"target": "moon"},
    ],
)
def test_fault_form_errors_match_the_api(
    web: httpx.Client, emulator: Emulator, form: dict[str, str]
) -> None:
    body: dict[str, Any] = dict(form)
    for name in ("count", "probability", "outcome"):
        if name in body and body[name].isdigit():
            body[name] = int(body[name])
    assert_same_error(
        web.post("/faults", data=form), emulator.control("POST", "/faults", json=body)
    )
    assert emulator.control("GET", "/faults").json()["data"] == []


def test_fault_form_adds_lists_and_clears(web: httpx.Client, emulator: Emulator) -> None:
    form = {"target": "delivery", "endpoint_id": "wh_1", "outcome": "503", "count": "2"}
    assert web.post("/faults", data={**form, "method": "POST"}).status_code == 303
    [fault] = emulator.control("GET", "/faults").json()["data"]
    assert (fault["outcome"], fault["remaining"]) == (503, 2)
    assert fault["id"] in web.get("/faults").text
    assert web.post(f"/faults/{fault['id']}/delete").status_code == 303
    assert web.post(f"/faults/{fault['id']}/delete").status_code == 404
    web.post("/faults", data=form)
    assert web.post("/faults/clear").status_code == 303
    assert emulator.control("GET", "/faults").json()["data"] == []
