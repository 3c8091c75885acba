"""Accessibility and layout in Chromium: axe-core (npm, pinned in tests/dashboard/package.json)
on every page finds no serious or critical violation; no page scrolls sideways at 1280 px
or at 390 px (a phone), where the navigation, search and main actions stay reachable."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import skip_policy
from tests.conftest import Emulator
from tests.dashboard.browser import chromium_missing_reason, chromium_page

HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"


def _install_axe() -> str | None:
    """npm ci of the pinned axe-core once (both xdist workers collect this module: a lock
    keeps them from installing into one folder at once); the reason when it can't."""
    if AXE.exists():
        return None
    if shutil.which("npm") is None:
        return skip_policy.skip_reason(
            f"{AXE} is missing and npm is not on PATH", install=skip_policy.NODE
        )
    with (HERE / ".npm-install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if AXE.exists():
            return None
        run = subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if run.returncode != 0 or not AXE.exists():
        return skip_policy.skip_reason(
            f"npm ci of axe-core failed: {(run.stderr or run.stdout).strip()[-300:]}",
            install="npm ci in tests/dashboard on a machine that reaches the npm registry",
        )
    return None


_missing = chromium_missing_reason() or _install_axe()
pytestmark = skip_policy.skip_if(_missing)

WIDTHS = (1280, 390)


def _seed(emulator: Emulator, api: httpx.Client) -> dict[str, str]:
    """One of everything, a failed attempt and a succeeded one included."""
    emulator.control("POST", "/workspaces", json={"id": "ws_018f3a2e4b9c", "name": "Shop"})
    emulator.control(
        "POST",
        "/api_keys",
        json={"mode": "test", "workspace_id": "ws_018f3a2e4b9c", "scopes": ["events:read"]},
    )
    webhook = api.post(
        "/v1/webhooks",
        json={
            "url": f"{emulator.url}/_sink/orders",
            "events": ["order.*"],
            "description": "Orders",
        },
    ).json()
    destination = api.post(
        "/v1/destinations", json={"url": f"{emulator.url}/_sink/dest", "name": "Warehouse"}
    ).json()
    api.post("/v1/subscriptions", json={"destination_id": destination["id"], "event_type": "*"})
    emulator.control("PUT", "/sinks/orders", json={"responses": [{"status": 500, "body": "no"}]})
    event = api.post("/v1/events", json={"type": "order.paid", "payload": {"n": 1}}).json()
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    emulator.control(
        "POST", "/faults", json={"target": "api", "path": "/v1/events", "error_code": "not_found"}
    )
    delivery = api.get("/v1/deliveries", params={"webhook_id": webhook["id"]}).json()["data"][0]
    api.post(f"/v1/deliveries/{delivery['id']}/replay")
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    return {
        "webhook": webhook["id"],
        "destination": destination["id"],
        "event": event["id"],
        "delivery": delivery["id"],
    }


def _pages(ids: dict[str, str]) -> list[str]:
    return [
        "/",
        "/settings/general",
        "/settings/api-keys",
        "/webhooks",
        f"/webhooks/{ids['webhook']}",
        f"/webhooks/{ids['destination']}",
        "/webhooks/deliveries",
        "/webhooks/deliveries?event_type=order.*&from=2000-01-01T00:00:00Z",
        f"/webhooks/deliveries/{ids['delivery']}",
        "/events",
        f"/events/{ids['event']}",
        "/clock",
        "/sinks",
        "/sinks?name=orders",
        "/faults",
        "/login",
        "/search?q=evt_missing",
    ]


@pytest.fixture
def seeded(emulator: Emulator, api: httpx.Client) -> dict[str, str]:
    return _seed(emulator, api)


@pytest.fixture(params=WIDTHS, ids=lambda width: f"{width}px")
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    with chromium_page(width=request.param, height=900) as browser_page:
        yield browser_page


def _serious(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [
                {"target": n["target"], "why": n["failureSummary"].splitlines()[-1].strip()}
                for n in v["nodes"]
            ][:5],
        }
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def _overflow(page: Any) -> int:
    """How far the page scrolls sideways; at 1280 px a table that scrolls inside its own
    box counts too (the delivery list's last column once sat past the right edge)."""
    return int(
        page.evaluate(
            """() => {
              const root = document.documentElement;
              let worst = root.scrollWidth - root.clientWidth;
              if (window.innerWidth >= 1280) {
                for (const box of document.querySelectorAll('.scroll')) {
                  worst = Math.max(worst, box.scrollWidth - box.clientWidth);
                }
              }
              return worst;
            }"""
        )
    )


def _unreachable(page: Any) -> list[str]:
    """The search box, the navigation and the page's heading, where not fully on screen."""
    return list(
        page.evaluate(
            """() => ['#search', 'nav.side a', 'main h1'].filter((selector) => {
              const box = document.querySelector(selector)?.getBoundingClientRect();
              return !box || box.width === 0 || box.left < 0 || box.right > window.innerWidth;
            })"""
        )
    )


def test_every_page_passes_axe_and_fits(
    page: Any, emulator: Emulator, seeded: dict[str, str]
) -> None:
    problems: dict[str, Any] = {}
    for path in _pages(seeded):
        page.goto(f"{emulator.url}{path}")
        found = {
            "axe": _serious(page),
            "overflow_px": _overflow(page),
            "unreachable": [] if path == "/login" else _unreachable(page),
        }
        if found["axe"] or found["overflow_px"] > 0 or found["unreachable"]:
            problems[path] = found
    assert problems == {}, json.dumps(problems, indent=1)


def test_revealed_secrets_and_a_verification_pass_axe(
    page: Any, emulator: Emulator, seeded: dict[str, str]
) -> None:
    page.goto(f"{emulator.url}/webhooks/{seeded['webhook']}")
    page.get_by_test_id("reveal").click()
    page.get_by_test_id("verify-attempt").select_option(index=1)
    page.get_by_test_id("verify").click()
    page.get_by_test_id("verdict").wait_for()
    page.locator("[data-testid=verify-snippets] summary").click()
    assert _serious(page) == []
    assert _overflow(page) <= 0
