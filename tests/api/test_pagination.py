"""Keyset cursors: every row exactly once, tampering refused."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import error_of
from tests.waiting import rounds


def test_cursor_walks_250_events_exactly_once(api: httpx.Client) -> None:
    created = [
        api.post("/v1/events", json={"type": "walk", "payload": {"n": n}}).json()["id"]
        for n in range(250)
    ]
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 100}
    pages = 0
    for _ in rounds(10, seen):
        page = api.get("/v1/events", params=params).json()
        pages += 1
        seen.extend(e["id"] for e in page["data"])
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        params = {"limit": 100, "cursor": page["next_cursor"]}
    assert pages == 3
    assert seen == list(reversed(created))


def test_default_limit_is_25(api: httpx.Client) -> None:
    for n in range(26):
        api.post("/v1/events", json={"type": "x", "payload": {"n": n}})
    page = api.get("/v1/events").json()
    assert len(page["data"]) == 25 and page["has_more"] is True


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", ""])
def test_limit_out_of_range(api: httpx.Client, limit: str) -> None:
    response = api.get("/v1/events", params={"limit": limit})
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == ("invalid_parameter", "limit")


def test_tampered_garbled_and_foreign_cursors(api: httpx.Client) -> None:
    for n in range(3):
        api.post("/v1/events", json={"type": "t", "payload": {"n": n}})
    cursor = api.get("/v1/events", params={"limit": 1}).json()["next_cursor"]
    payload, _, mac = cursor.partition(".")
    edited = ("A" if payload[0] != "A" else "B") + payload[1:] + "." + mac
    other_list = api.get("/v1/events", params={"limit": 1, "type": "t"}).json()["next_cursor"]
    for bad in [edited, "garbage", "é.é", cursor + "x", "." + mac]:
        response = api.get("/v1/events", params={"cursor": bad})
        assert response.status_code == 400, bad
        assert error_of(response)["code"] == "invalid_cursor"
    # A cursor of the type-filtered list does not resume the unfiltered one.
    response = api.get("/v1/events", params={"cursor": other_list})
    assert error_of(response)["code"] == "invalid_cursor"
    assert api.get("/v1/events", params={"cursor": other_list, "type": "t"}).status_code == 200
