"""Seed an emulator with a small shop's afternoon and save the dashboard's main pages."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harbor_emulator.server.app import create_app  # noqa: E402
from harbor_emulator.server.config import Config  # noqa: E402
from tests.conftest import ServerThread  # noqa: E402
from tests.dashboard.browser import chromium_missing_reason, chromium_page  # noqa: E402

OUT = ROOT / "docs" / "img"
WORKSPACE = "ws_018f3a2e4b9c"


def seed(url: str) -> dict[str, str]:
    control = httpx.Client(base_url=f"{url}/_control", timeout=30)
    api = httpx.Client(base_url=url, timeout=30, headers={"Authorization": "Bearer hb_test_xxxx"})
    control.post("/workspaces", json={"id": WORKSPACE, "name": "Acme shop"})
    control.post(
        "/api_keys",
        json={"workspace_id": WORKSPACE, "scopes": ["events:write", "events:read"]},
    )
    control.post("/api_keys", json={"workspace_id": WORKSPACE, "dialect": "hk"})
    webhook = api.post(
        "/v1/webhooks",
        json={
            "workspace_id": WORKSPACE,
            "url": f"{url}/_sink/orders",
            "events": ["order.shipped", "invoice.paid"],
            "description": "Order service",
        },
    ).json()
    destination = api.post(
        "/v1/destinations",
        json={"workspace_id": WORKSPACE, "url": f"{url}/_sink/billing", "name": "Billing"},
    ).json()
    api.post("/v1/subscriptions", json={"destination_id": destination["id"], "event_type": "*"})
    control.put("/sinks/billing", json={"responses": [{"status": 500, "body": "db down"}]})
    for number, kind in enumerate(["order.shipped", "invoice.paid", "order.shipped"]):
        api.post(
            "/v1/events",
            json={
                "workspace_id": WORKSPACE,
                "type": kind,
                "payload": {"orderId": f"ord_0192be7a3c4{number}", "carrier": "ups"},
            },
        )
    control.post("/deliveries/drain", json={"timeout_seconds": 10})
    control.post(
        "/faults",
        json={"target": "delivery", "endpoint_id": webhook["id"], "outcome": "timeout", "count": 1},
    )
    failed = api.get("/v1/deliveries", params={"destination_id": destination["id"]}).json()
    # A receiver that is not running: the attempt shows the refused address.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    local = api.post(
        "/v1/webhooks",
        json={
            "workspace_id": WORKSPACE,
            "url": f"http://127.0.0.1:{closed}/webhooks/harbor",
            "events": ["order.shipped"],
            "description": "Local handler (not started)",
        },
    ).json()
    api.post(
        "/v1/events",
        json={"workspace_id": WORKSPACE, "type": "order.shipped", "payload": {"orderId": "ord_9"}},
    )
    control.post("/deliveries/drain", json={"timeout_seconds": 10})
    refused = api.get("/v1/deliveries", params={"webhook_id": local["id"]}).json()
    return {
        "webhook": webhook["id"],
        "delivery": failed["data"][-1]["id"],
        "refused": refused["data"][0]["id"],
    }


def main() -> int:
    missing = chromium_missing_reason()
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        return 1
    server = ServerThread(create_app(Config(port=0, rate_limit=0)))
    url = server.start()
    try:
        ids = seed(url)
        OUT.mkdir(parents=True, exist_ok=True)
        pages = {
            "deliveries": "/webhooks/deliveries",
            "delivery": f"/webhooks/deliveries/{ids['delivery']}",
            "api-keys": "/settings/api-keys",
            "general": "/settings/general",
            "webhooks": "/webhooks",
            "clock": "/clock",
            "sinks": "/sinks?name=orders",
            "faults": "/faults",
            "refused": f"/webhooks/deliveries/{ids['refused']}",
            "endpoint": f"/webhooks/{ids['webhook']}",
        }
        with chromium_page(width=1280, height=760) as page:
            for name, path in pages.items():
                page.goto(url + path)
                if name == "clock":
                    page.get_by_test_id("advance-5m").click()
                    page.wait_for_selector("[data-testid=fell-due]")
                if name == "refused":
                    page.get_by_test_id("curl").first.locator("summary").click()
                if name == "endpoint":
                    page.get_by_test_id("verify-attempt").select_option(index=1)
                    page.get_by_test_id("verify").click()
                    page.get_by_test_id("verdict").scroll_into_view_if_needed()
                page.screenshot(path=str(OUT / f"{name}.png"))
                print(f"docs/img/{name}.png  {path}")
        # A phone: the header and the navigation wrap, the list scrolls in its own box.
        with chromium_page(width=390, height=844) as page:
            page.goto(url + "/webhooks/deliveries")
            page.screenshot(path=str(OUT / "deliveries-390.png"))
            print("docs/img/deliveries-390.png  /webhooks/deliveries at 390 px")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
