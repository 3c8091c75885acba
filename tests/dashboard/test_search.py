"""The search box and the delivery filters, over plain HTTP against a real emulator."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Emulator
from tests.dashboard.helpers import shown_errors
from tests.waiting import rounds

LIVE_KEY_BODY = {"mode": "live", "workspace_id": "ws_018f3a2e4b9c", "scopes": ["events:write"]}


@pytest.fixture
def web(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=30) as client:
        yield client


def _jump(web: httpx.Client, q: str) -> httpx.Response:
    return web.get("/search", params={"q": q})


def _listed(page: httpx.Response) -> list[str]:
    return re.findall(r'<tr data-delivery="(dlv_[^"]+)"', page.text)


def _world(emulator: Emulator, api: httpx.Client) -> dict[str, Any]:
    webhook = api.post(
        "/v1/webhooks", json={"url": f"{emulator.url}/_sink/a", "events": ["order.*"]}
    ).json()
    destination = api.post("/v1/destinations", json={"url": f"{emulator.url}/_sink/b"}).json()
    subscription = api.post(
        "/v1/subscriptions", json={"destination_id": destination["id"], "event_type": "*"}
    ).json()
    event = api.post("/v1/events", json={"type": "order.paid", "payload": {}}).json()
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    delivery = api.get("/v1/deliveries", params={"webhook_id": webhook["id"]}).json()["data"][0]
    attempt = api.get(f"/v1/deliveries/{delivery['id']}/attempts").json()["data"][0]
    return {
        "webhook": webhook,
        "destination": destination,
        "subscription": subscription,
        "event": event,
        "delivery": delivery,
        "attempt": attempt,
    }


def test_search_jumps_to_every_kind_of_id(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    world = _world(emulator, api)
    expected = {
        world["event"]["id"]: f"/events/{world['event']['id']}",
        world["delivery"]["id"]: f"/webhooks/deliveries/{world['delivery']['id']}",
        world["attempt"]["id"]: f"/webhooks/deliveries/{world['delivery']['id']}#attempt-1",
        world["webhook"]["id"]: f"/webhooks/{world['webhook']['id']}",
        world["destination"]["id"]: f"/webhooks/{world['destination']['id']}",
        world["subscription"]["id"]: f"/webhooks/{world['destination']['id']}",
        world["webhook"]["workspace_id"]: f"/?workspace_id={world['webhook']['workspace_id']}",
    }
    for object_id, location in expected.items():
        # Pasted from a log: surrounding spaces don't matter.
        jumped = _jump(web, f"  {object_id} ")
        assert (jumped.status_code, jumped.headers.get("location")) == (303, location), object_id
        assert web.get(location).status_code == 200


def test_search_finds_live_objects_in_live_mode(web: httpx.Client, emulator: Emulator) -> None:
    key = emulator.control("POST", "/api_keys", json=LIVE_KEY_BODY)
    assert key.status_code == 201, key.text
    with emulator.api(key.json()["key"]) as live:
        event = live.post("/v1/events", json={"type": "x.y", "payload": {}})
        assert event.status_code == 201, event.text
    jumped = _jump(web, event.json()["id"])
    assert jumped.headers["location"] == f"/events/{event.json()['id']}?mode=live"
    assert web.get(jumped.headers["location"]).status_code == 200


@pytest.mark.parametrize(
    ("q", "status", "code"),
    [
        ("evt_0000000000000000000000000", 404, "not_found"),
        ("wh_missing", 404, "not_found"),
        ("hello", 400, "invalid_parameter"),
        ("evt_" + "x" * 300, 400, "invalid_parameter"),
        ("req_01abc", 404, "not_found"),
    ],
)
def test_search_misses_are_clear(web: httpx.Client, q: str, status: int, code: str) -> None:
    page = _jump(web, q)
    assert page.status_code == status
    [error] = shown_errors(page)
    assert error["code"] == code
    assert "<script" not in error["message"]


def test_search_of_a_deleted_endpoint_is_not_found(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    world = _world(emulator, api)
    assert api.delete(f"/v1/webhooks/{world['webhook']['id']}").status_code == 204
    assert _jump(web, world["webhook"]["id"]).status_code == 404


def test_empty_search_goes_home(web: httpx.Client) -> None:
    assert _jump(web, " ").headers["location"] == "/"


# -- delivery filters ----------------------------------------------------------------


def test_filters_by_event_type_status_endpoint_and_time(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    emulator.control("POST", "/clock/freeze")
    first = api.post(
        "/v1/webhooks", json={"url": f"{emulator.url}/_sink/a", "events": ["*"]}
    ).json()
    second = api.post(
        "/v1/webhooks", json={"url": f"{emulator.url}/_sink/b", "events": ["invoice.*"]}
    ).json()
    emulator.control("PUT", "/sinks/b", json={"responses": [{"status": 500}]})
    api.post("/v1/events", json={"type": "order.paid", "payload": {}})
    emulator.advance(3600)
    api.post("/v1/events", json={"type": "order.refunded", "payload": {}})
    emulator.advance(3600)
    invoice = api.post("/v1/events", json={"type": "invoice.sent", "payload": {}}).json()
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    every = {d["id"]: d for d in api.get("/v1/deliveries").json()["data"]}
    assert len(every) == 4

    def ids(**params: str) -> set[str]:
        page = web.get("/webhooks/deliveries", params=params)
        assert page.status_code == 200, page.text
        return set(_listed(page))

    def where(test: Any) -> set[str]:
        return {i for i, d in every.items() if test(d)}

    assert ids(event_type="order.paid") == where(lambda d: d["event_type"] == "order.paid")
    assert ids(event_type="order.*") == where(lambda d: d["event_type"].startswith("order."))
    assert ids(event_type="ord.*") == set()
    assert ids(status="pending") == where(lambda d: d["status"] == "pending")
    assert len(ids(status="pending")) == 1
    assert ids(endpoint_id=second["id"]) == where(lambda d: d.get("webhook_id") == second["id"])
    assert ids(endpoint_id=first["id"], event_type="invoice.*") == where(
        lambda d: d.get("webhook_id") == first["id"] and d["event_type"] == "invoice.sent"
    )
    # The last hour of emulator time: only the invoice's two deliveries.
    since = invoice["created_at"]
    assert ids(**{"from": since}) == where(lambda d: d["event_id"] == invoice["id"])
    assert ids(to=since) == where(lambda d: d["event_id"] != invoice["id"])
    # A time without an offset is UTC.
    assert ids(**{"from": since.rstrip("Z")}) == ids(**{"from": since})


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00:00Z"}, "to"),
        ({"from": "2026-05-02T00:00:00Z", "to": "2026-05-01T00:00:00Z"}, "to"),
        ({"event_type": "order paid"}, "event_type"),
        ({"status": "lost"}, "status"),
    ],
)
def test_bad_filters_are_shown_next_to_the_field(
    web: httpx.Client, params: dict[str, str], param: str
) -> None:
    page = web.get("/webhooks/deliveries", params=params)
    assert page.status_code == 400
    [error] = shown_errors(page)
    assert (error["code"], error["param"]) == ("invalid_parameter", param)
    # What was typed stays in the form, to be fixed.
    for name, value in params.items():
        if name != "status":
            assert f'name="{name}" value="{value}"' in page.text


def test_keyset_pagination_keeps_the_filter(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    api.post("/v1/webhooks", json={"url": f"{emulator.url}/_sink/p", "events": ["*"]})
    for n in range(60):
        api.post("/v1/events", json={"type": "order.paid", "payload": {"n": n}})
    api.post("/v1/events", json={"type": "other.thing", "payload": {}})
    seen: list[str] = []
    url = "/webhooks/deliveries?event_type=order.paid"
    pages = 0
    for _ in rounds(10, seen):
        if not url:
            break
        page = web.get(url)
        assert page.status_code == 200
        seen += _listed(page)
        pages += 1
        older = re.search(r'href="([^"]+)" data-testid="older"', page.text)
        url = older[1].replace("&amp;", "&") if older else ""
    assert pages == 2
    assert len(seen) == len(set(seen)) == 60
    everything = api.get("/v1/deliveries", params={"limit": 100}).json()["data"]
    paid = [d["id"] for d in everything if d["event_type"] == "order.paid"]
    assert seen == paid
    # A cursor belongs to its filter: reused with another it is refused.
    first = web.get("/webhooks/deliveries?event_type=order.paid").text
    cursor = re.search(r"cursor=([^&\"]+)", first)
    assert cursor
    other = web.get(f"/webhooks/deliveries?event_type=other.thing&cursor={cursor[1]}")
    assert other.status_code == 400
    assert [e["code"] for e in shown_errors(other)] == ["invalid_cursor"]
