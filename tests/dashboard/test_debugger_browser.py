"""The debugger's actions in a real browser (Playwright driving Debian's Chromium), each a
click or a key press against a real emulator; the API only checks what happened."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import skip_policy
from tests.conftest import Emulator
from tests.dashboard.browser import chromium_missing_reason, chromium_page

_missing = chromium_missing_reason()
pytestmark = skip_policy.skip_if(_missing)


@pytest.fixture
def page(emulator: Emulator) -> Iterator[Any]:
    with chromium_page() as browser_page:
        browser_page.context.grant_permissions(
            ["clipboard-read", "clipboard-write"], origin=emulator.url
        )
        yield browser_page


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _clipboard(page: Any) -> str:
    return str(page.evaluate("navigator.clipboard.readText()"))


def test_reveal_copy_and_send_test_event(page: Any, emulator: Emulator, api: httpx.Client) -> None:
    expect = _expect()
    created = api.post(
        "/v1/webhooks", json={"url": f"{emulator.url}/_sink/orders", "events": ["order.*"]}
    )
    webhook = created.json()

    page.goto(f"{emulator.url}/webhooks/{webhook['id']}")
    expect(page.get_by_test_id("key-secret")).to_have_count(0)
    page.get_by_test_id("reveal").click()
    expect(page.get_by_test_id("key-secret")).to_have_text(webhook["secret"])
    page.get_by_role("button", name="Copy secret of").first.click()
    assert _clipboard(page) == webhook["secret"]
    page.get_by_role("button", name="Copy URL").click()
    assert _clipboard(page) == webhook["url"]

    # Keyboard only: the prefilled form is sent with Enter from its type field.
    expect(page.locator("input[name=type]")).to_have_value("order.test")
    page.locator("input[name=type]").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#attempts .summary")).to_contain_text("succeeded")
    delivery_id = page.locator("h1 code").inner_text()
    assert api.get(f"/v1/deliveries/{delivery_id}").json()["event_type"] == "order.test"
    page.get_by_role("button", name="Copy body as sent").click()
    [received] = emulator.control("GET", "/sinks/orders").json()["data"]
    assert _clipboard(page) == received["body"]


def test_refused_attempt_cause_and_copy_as_curl_to_another_url(
    page: Any, emulator: Emulator, api: httpx.Client
) -> None:
    expect = _expect()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    api.post(
        "/v1/webhooks",
        json={"url": f"http://127.0.0.1:{closed_port}/hook", "events": ["order.*"]},
    )
    api.post("/v1/events", json={"type": "order.paid", "payload": {"n": 1}})
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    [delivery] = api.get("/v1/deliveries").json()["data"]

    page.goto(f"{emulator.url}/webhooks/deliveries/{delivery['id']}")
    attempt = page.get_by_test_id("attempt-1")
    expect(attempt.get_by_test_id("cause")).to_contain_text(
        f"Connection refused by 127.0.0.1:{closed_port}"
    )
    expect(attempt).to_contain_text("of 10 s allowed")

    attempt.get_by_test_id("curl").locator("summary").click()
    target = f"{emulator.url}/_sink/by-hand"
    attempt.locator("input.curl-url").fill(target)
    command = attempt.get_by_test_id("curl-command")
    expect(command).to_contain_text(target)
    attempt.get_by_role("button", name="Copy as curl").click()
    copied = _clipboard(page)
    assert copied.splitlines()[-1].strip() == target
    subprocess.run(["bash", "-c", copied], check=True, capture_output=True, timeout=30)
    [got] = emulator.control("GET", "/sinks/by-hand").json()["data"]
    assert got["headers"]["harbor-delivery-id"] == delivery["id"]


def test_search_and_filter_with_the_keyboard(
    page: Any, emulator: Emulator, api: httpx.Client
) -> None:
    expect = _expect()
    api.post("/v1/webhooks", json={"url": f"{emulator.url}/_sink/k", "events": ["*"]})
    api.post("/v1/events", json={"type": "order.paid", "payload": {}})
    api.post("/v1/events", json={"type": "invoice.sent", "payload": {}})
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    wanted = api.get("/v1/deliveries").json()["data"][-1]

    page.goto(f"{emulator.url}/events")
    page.keyboard.press("/")
    expect(page.get_by_test_id("search")).to_be_focused()
    page.keyboard.type(wanted["id"])
    page.keyboard.press("Enter")
    expect(page.locator("h1 code")).to_have_text(wanted["id"])

    page.goto(f"{emulator.url}/webhooks/deliveries")
    page.get_by_label("Event type").fill("invoice.*")
    page.get_by_label("Event type").press("Enter")
    rows = page.locator("tr[data-delivery]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("invoice.sent")


def test_verify_a_picked_attempt(page: Any, emulator: Emulator, api: httpx.Client) -> None:
    expect = _expect()
    webhook = api.post(
        "/v1/webhooks", json={"url": f"{emulator.url}/_sink/v", "events": ["order.*"]}
    ).json()
    api.post("/v1/events", json={"type": "order.paid", "payload": {}})
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    [key] = api.get(f"/v1/webhooks/{webhook['id']}/signing-keys").json()["data"]

    page.goto(f"{emulator.url}/webhooks/{webhook['id']}")
    page.get_by_test_id("verify-attempt").select_option(index=1)
    page.get_by_test_id("verify").click()
    expect(page.get_by_test_id("verdict")).to_have_text(f"Verified by key {key['id']}.")
    expect(page.get_by_test_id("signed-string")).to_contain_text('.{"id":"dlv_')


def test_a_new_delivery_arrives_by_sse_with_a_new_marker(
    page: Any, emulator: Emulator, api: httpx.Client
) -> None:
    expect = _expect()
    api.post("/v1/webhooks", json={"url": f"{emulator.url}/_sink/live", "events": ["*"]})
    api.post("/v1/events", json={"type": "order.old", "payload": {}})
    page.goto(f"{emulator.url}/webhooks/deliveries")
    expect(page.get_by_test_id("live-state")).to_have_text("live")
    old = page.locator("tr[data-delivery]", has_text="order.old")
    expect(old).to_have_count(1)

    api.post("/v1/events", json={"type": "order.new", "payload": {}})
    new = page.locator("tr[data-delivery]", has_text="order.new")
    expect(new.get_by_test_id("new-marker")).to_have_text("new")
    expect(new.get_by_test_id("status")).to_have_text("succeeded")
    expect(old.get_by_test_id("new-marker")).to_have_count(0)


def test_without_event_source_the_page_polls(
    page: Any, emulator: Emulator, api: httpx.Client
) -> None:
    expect = _expect()
    page.add_init_script("delete window.EventSource;")
    api.post("/v1/webhooks", json={"url": f"{emulator.url}/_sink/poll", "events": ["*"]})
    page.goto(f"{emulator.url}/webhooks/deliveries")
    expect(page.get_by_test_id("live-state")).to_have_text("polling")
    api.post("/v1/events", json={"type": "order.polled", "payload": {}})
    row = page.locator("tr[data-delivery]", has_text="order.polled")
    expect(row.get_by_test_id("new-marker")).to_have_text("new")


def test_a_new_attempt_appears_on_the_delivery_page(
    page: Any, emulator: Emulator, api: httpx.Client
) -> None:
    expect = _expect()
    api.post("/v1/webhooks", json={"url": f"{emulator.url}/_sink/att", "events": ["*"]})
    api.post("/v1/events", json={"type": "order.paid", "payload": {}})
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    [delivery] = api.get("/v1/deliveries").json()["data"]
    page.goto(f"{emulator.url}/webhooks/deliveries/{delivery['id']}")
    expect(page.get_by_test_id("live-state")).to_have_text("live")
    api.post(f"/v1/deliveries/{delivery['id']}/replay")
    expect(page.get_by_test_id("attempt-2").get_by_test_id("new-marker")).to_have_text("new")
    expect(page.get_by_test_id("attempt-1").get_by_test_id("new-marker")).to_have_count(0)
