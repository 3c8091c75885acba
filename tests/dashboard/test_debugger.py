"""The dashboard as a webhook debugger, over plain HTTP: secrets behind a click, "send test
event", and each new form refused when another site posts it."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Emulator
from tests.dashboard.helpers import shown_errors

EVIL = {"Origin": "http://evil.example"}


@pytest.fixture
def web(emulator: Emulator) -> Iterator[httpx.Client]:
    # Same-origin, as the browser sends it from one of the dashboard's own pages.
    with httpx.Client(base_url=emulator.url, timeout=30, headers={"Origin": emulator.url}) as c:
        yield c


def _webhook(emulator: Emulator, api: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("url", f"{emulator.url}/_sink/orders")
    body.setdefault("events", ["order.*"])
    response = api.post("/v1/webhooks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


# -- secrets -----------------------------------------------------------------------------


def test_secrets_are_hidden_until_revealed_current_and_still_valid_previous(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    webhook = _webhook(emulator, api)
    old_secret = webhook["secret"]
    rotated = api.post(
        f"/v1/webhooks/{webhook['id']}/signing-keys", json={"expire_previous_in_seconds": 3600}
    )
    assert rotated.status_code == 201, rotated.text
    new_secret = rotated.json()["secret"]

    shown = web.get(f"/webhooks/{webhook['id']}")
    assert shown.status_code == 200
    assert old_secret not in shown.text and new_secret not in shown.text
    assert 'data-testid="reveal"' in shown.text

    revealed = web.post(f"/webhooks/{webhook['id']}/secrets")
    assert revealed.status_code == 200
    assert revealed.headers["cache-control"] == "no-store"
    assert new_secret in revealed.text and old_secret in revealed.text
    assert f'data-copy="{new_secret}"' in revealed.text

    # Once the old key has expired, only the current one is left to reveal.
    emulator.advance(3601)
    later = web.post(f"/webhooks/{webhook['id']}/secrets")
    assert new_secret in later.text and old_secret not in later.text


def test_secrets_of_a_destination_and_a_missing_endpoint(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    created = api.post("/v1/destinations", json={"url": f"{emulator.url}/_sink/d"})
    assert created.status_code == 201
    destination = created.json()
    revealed = web.post(f"/webhooks/{destination['id']}/secrets")
    assert destination["signing_secret"] in revealed.text
    missing = web.post("/webhooks/wh_missing/secrets")
    assert missing.status_code == 404
    assert [e["code"] for e in shown_errors(missing)] == ["webhook_not_found"]


def test_revealing_secrets_from_another_site_is_refused(
    emulator: Emulator, api: httpx.Client
) -> None:
    webhook = _webhook(emulator, api)
    with httpx.Client(base_url=emulator.url, timeout=30) as client:
        for headers in (EVIL, {"Sec-Fetch-Site": "cross-site"}):
            refused = client.post(f"/webhooks/{webhook['id']}/secrets", headers=headers)
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "cross_site_request"
            assert webhook["secret"] not in refused.text


# -- send test event ---------------------------------------------------------------------


def test_send_test_event_goes_through_the_event_path(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    webhook = _webhook(emulator, api, events=["order.*"])
    page = web.get(f"/webhooks/{webhook['id']}")
    # Prefilled with a type the endpoint receives.
    assert 'name="type" value="order.test"' in page.text

    sent = web.post(
        f"/webhooks/{webhook['id']}/test-event",
        data={"type": "order.test", "payload": '{"test": true}'},
    )
    assert sent.status_code == 303
    delivery_id = sent.headers["location"].rsplit("/", 1)[1]
    assert delivery_id.startswith("dlv_")

    [event] = api.get("/v1/events").json()["data"]
    assert (event["type"], event["payload"]) == ("order.test", {"test": True})
    assert event["workspace_id"] == webhook["workspace_id"]
    drained = emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    assert drained.json()["drained"] is True
    delivery = api.get(f"/v1/deliveries/{delivery_id}").json()
    assert (delivery["webhook_id"], delivery["status"]) == (webhook["id"], "succeeded")
    [received] = emulator.control("GET", "/sinks/orders").json()["data"]
    assert received["headers"]["harbor-delivery-id"] == delivery_id


def test_send_test_event_errors_match_the_api(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    webhook = _webhook(emulator, api)
    bad_json = web.post(
        f"/webhooks/{webhook['id']}/test-event", data={"type": "order.test", "payload": "{"}
    )
    assert bad_json.status_code == 400
    [error] = shown_errors(bad_json)
    assert (error["param"], error["code"]) == ("payload", "invalid_json")
    # What was typed stays, to be fixed.
    assert 'name="type" value="order.test"' in bad_json.text

    no_type = web.post(f"/webhooks/{webhook['id']}/test-event", data={"payload": "{}"})
    api_answer = api.post(
        "/v1/events", json={"payload": {}, "workspace_id": webhook["workspace_id"]}
    )
    [error] = shown_errors(no_type)
    assert no_type.status_code == api_answer.status_code
    assert (error["code"], error["param"]) == (
        api_answer.json()["error"]["code"],
        api_answer.json()["error"]["param"],
    )
    assert api.get("/v1/events").json()["data"] == []


def test_test_event_the_endpoint_does_not_receive_lands_on_the_event(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    webhook = _webhook(emulator, api, events=["order.paid"])
    sent = web.post(
        f"/webhooks/{webhook['id']}/test-event", data={"type": "invoice.sent", "payload": "{}"}
    )
    assert sent.status_code == 303
    assert "/events/evt_" in sent.headers["location"]
    assert api.get("/v1/deliveries").json()["data"] == []


def test_send_test_event_from_another_site_is_refused(
    emulator: Emulator, api: httpx.Client
) -> None:
    webhook = _webhook(emulator, api)
    with httpx.Client(base_url=emulator.url, timeout=30) as client:
        refused = client.post(
            f"/webhooks/{webhook['id']}/test-event",
            data={"type": "order.test", "payload": "{}"},
            headers=EVIL,
        )
    assert refused.status_code == 403
    assert api.get("/v1/events").json()["data"] == []


def test_copy_buttons_carry_ids_urls_and_the_exact_body(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    webhook = _webhook(emulator, api)
    api.post("/v1/events", json={"type": "order.paid", "payload": {"n": 1}})
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    [delivery] = api.get("/v1/deliveries").json()["data"]
    endpoint_page = html.unescape(web.get(f"/webhooks/{webhook['id']}").text)
    assert f'data-copy="{webhook["id"]}"' in endpoint_page
    assert f'data-copy="{webhook["url"]}"' in endpoint_page
    delivery_page = web.get(f"/webhooks/deliveries/{delivery['id']}").text
    [received] = emulator.control("GET", "/sinks/orders").json()["data"]
    copied = [html.unescape(value) for value in re.findall(r'data-copy="([^"]*)"', delivery_page)]
    assert received["body"] in copied
    assert f'data-copy="{delivery["event_id"]}"' in delivery_page
