"""`GET /live`, the dashboard's server-sent events, read by a real HTTP client: a change
marker per new delivery or attempt, resumption by Last-Event-ID, bounded streams."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Emulator


@pytest.fixture
def web(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=30) as client:
        yield client


def _events(web: httpx.Client, **headers: str) -> list[dict[str, str]]:
    """Every event of one whole stream (it ends by itself after a few seconds)."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    with web.stream("GET", "/live", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                if current:
                    events.append(current)
                current = {}
                continue
            field, _, value = line.partition(": ")
            current[field] = value
    return events


def _marker(web: httpx.Client) -> str:
    page = web.get("/webhooks/deliveries")
    found = re.search(r'data-live-marker="([^"]+)"', page.text)
    assert found
    return found[1]


def test_a_fresh_stream_says_ready_with_the_marker(web: httpx.Client) -> None:
    events = _events(web)
    assert events[0] == {"retry": "250"}
    [ready] = events[1:]
    assert ready["event"] == "ready"
    assert ready["id"] == ready["data"] == _marker(web)


def test_a_new_delivery_and_its_attempt_change_the_marker(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    before = _marker(web)
    # Nothing new: a stream resumed at the current marker says nothing.
    assert _events(web, **{"Last-Event-ID": before}) == [{"retry": "250"}]

    api.post("/v1/webhooks", json={"url": f"{emulator.url}/_sink/l", "events": ["*"]})
    api.post("/v1/events", json={"type": "order.paid", "payload": {}})
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    after = _marker(web)
    deliveries_before, attempts_before = map(int, before.split("."))
    deliveries_after, attempts_after = map(int, after.split("."))
    assert deliveries_after == deliveries_before + 1
    assert attempts_after == attempts_before + 1

    [_, change] = _events(web, **{"Last-Event-ID": before})
    assert (change["event"], change["id"]) == ("change", after)


def test_the_page_marker_is_taken_as_since(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    rendered_at = _marker(web)
    api.post("/v1/webhooks", json={"url": f"{emulator.url}/_sink/l", "events": ["*"]})
    api.post("/v1/events", json={"type": "order.paid", "payload": {}})
    with web.stream("GET", "/live", params={"since": rendered_at}) as response:
        text = "".join(response.iter_text())
    assert "event: change" in text


def test_live_needs_the_login_like_every_page(emulator_factory: Any) -> None:
    guarded = emulator_factory(control_token="s3cret")
    with httpx.Client(base_url=guarded.url, timeout=30) as client:
        assert client.get("/live").status_code == 303
        client.post("/login", data={"token": "s3cret"})
        with client.stream("GET", "/live") as response:
            assert response.status_code == 200
