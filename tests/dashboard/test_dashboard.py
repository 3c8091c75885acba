"""The dashboard in a real browser: Playwright driving Debian's Chromium.

One user's afternoon: a key with scopes, a webhook to a sink, an event, a delivery that
succeeds; a sink that fails once, the clock moved 5 minutes, attempt 2; a replay; pause and
resume. Every step is a click or a form in the page; the API is only used to check.
"""

from __future__ import annotations

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
        yield browser_page


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def test_key_webhook_event_retry_replay_pause(
    page: Any, emulator: Emulator, api: httpx.Client
) -> None:
    expect = _expect()
    base = emulator.url

    # Settings → API keys: a sandbox key with two scopes.
    page.goto(f"{base}/settings/api-keys")
    page.fill("input[name=workspace_id]", "ws_018f3a2e4b9c")
    page.uncheck("input[value='webhooks:manage']")
    page.click("text=Create key")
    created = page.get_by_test_id("created-key")
    expect(created).to_contain_text("events:read, events:write")
    key = created.locator("code").first.inner_text()
    assert key.startswith("hb_test_")
    [stored] = emulator.control("GET", "/api_keys").json()["data"]
    assert (stored["key"], stored["scopes"]) == (key, ["events:read", "events:write"])

    # Webhooks: one to the built-in sink; its secret is shown once.
    page.goto(f"{base}/webhooks")
    page.fill("input[name=url]", f"{base}/_sink/orders")
    page.fill("input[name=events]", "order.*")
    page.fill("input[name=workspace_id]", "ws_018f3a2e4b9c")
    page.click("text=Add endpoint")
    expect(page.get_by_test_id("secret")).to_contain_text("whsec_")
    webhook_id = page.locator("h1 code").inner_text()
    assert webhook_id.startswith("wh_")

    # Events: send one, then watch its delivery succeed without reloading.
    page.goto(f"{base}/events")
    page.fill("input[name=type]", "order.shipped")
    page.fill("textarea[name=payload]", '{"orderId": "ord_0192be7a3c4f"}')
    page.fill("input[name=workspace_id]", "ws_018f3a2e4b9c")
    page.click("text=Send event")
    expect(page.get_by_test_id("payload")).to_contain_text('"orderId": "ord_0192be7a3c4f"')
    page.goto(f"{base}/webhooks/deliveries")
    row = page.locator("tr[data-delivery]").first
    expect(row.get_by_test_id("status")).to_have_text("succeeded")

    # The sink fails once: attempt 1 fails; "+5 min" runs attempt 2, which succeeds.
    emulator.control("PUT", "/sinks/orders", json={"responses": [{"status": 500}]})
    page.goto(f"{base}/events")
    page.fill("input[name=type]", "order.paid")
    page.fill("textarea[name=payload]", "{}")
    page.fill("input[name=workspace_id]", "ws_018f3a2e4b9c")
    page.click("text=Send event")
    page.click("[data-testid=deliveries] a[href*='/webhooks/deliveries/dlv_']")
    expect(page.get_by_test_id("attempt-1")).to_contain_text("500")
    expect(page.get_by_test_id("attempt-2")).to_have_count(0)
    page.goto(f"{base}/clock")
    page.get_by_test_id("advance-5m").click()
    expect(page.get_by_test_id("fell-due")).to_contain_text("order.paid")
    page.locator("[data-testid=fell-due] a").first.click()
    expect(page.get_by_test_id("attempt-2")).to_contain_text("200")
    expect(page.locator("#attempts .summary")).to_contain_text("succeeded")
    delivery_id = page.locator("h1 code").inner_text()

    # Replay from the deliveries page: attempt 3 appears on its own (the page polls).
    page.goto(f"{base}/webhooks/deliveries?status=succeeded")
    page.locator(f"tr[data-delivery='{delivery_id}'] >> text=Replay").click()
    expect(page.get_by_test_id("attempt-3")).to_contain_text("200")
    assert api.get(f"/v1/deliveries/{delivery_id}").json()["attempt_count"] == 3

    # Pause: a new event's delivery is held; resume sends it.
    page.goto(f"{base}/webhooks/{webhook_id}")
    page.get_by_test_id("pause").click()
    expect(page.locator("h1").get_by_test_id("status")).to_have_text("paused")
    api.post(
        "/v1/events",
        json={"type": "order.held", "payload": {}, "workspace_id": "ws_018f3a2e4b9c"},
    )
    held_row = page.locator("tr[data-delivery]", has_text="order.held")
    expect(held_row.get_by_test_id("status")).to_have_text("held")
    page.get_by_test_id("resume").click()
    expect(page.locator("h1").get_by_test_id("status")).to_have_text("active")
    expect(held_row.get_by_test_id("status")).to_have_text("succeeded")


def test_form_error_is_shown_next_to_the_field(page: Any, emulator: Emulator) -> None:
    expect = _expect()
    page.goto(f"{emulator.url}/webhooks")
    page.fill("input[name=url]", "ftp://example.com/hook")
    page.fill("input[name=events]", "order.*")
    page.fill("input[name=workspace_id]", "ws_shop")
    page.click("text=Add endpoint")
    error = page.get_by_test_id("error-url")
    expect(error).to_contain_text("invalid_url")
    # What was typed stays, to be fixed.
    expect(page.locator("input[name=url]")).to_have_value("ftp://example.com/hook")


def test_login_with_the_control_token(emulator_factory: Any) -> None:
    expect = _expect()
    guarded = emulator_factory(control_token="s3cret")
    with chromium_page() as page:
        page.goto(f"{guarded.url}/clock")
        page.fill("input[name=token]", "wrong")
        page.click("text=Log in")
        expect(page.get_by_test_id("error")).to_contain_text("authentication_required")
        page.fill("input[name=token]", "s3cret")
        page.click("text=Log in")
        expect(page.get_by_test_id("clock-state")).to_have_text("running")
        cookie = next(c for c in page.context.cookies() if c["name"] == "harbor_dashboard_token")
        assert cookie["httpOnly"] is True
