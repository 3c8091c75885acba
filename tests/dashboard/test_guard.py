"""The dashboard's guards over plain HTTP: error pages, junk input, cross-site posts, the
static files and the --control-token login."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Emulator
from tests.dashboard.helpers import shown_errors

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def web(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=30) as client:
        yield client


# -- robustness ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/webhooks/wh_missing", 404, "webhook_not_found"),
        ("/webhooks/dest_missing", 404, "destination_not_found"),
        ("/webhooks/other", 404, "not_found"),
        ("/events/evt_missing", 404, "event_not_found"),
        ("/webhooks/deliveries/dlv_missing", 404, "delivery_not_found"),
        ("/webhooks/deliveries?status=lost", 400, "invalid_parameter"),
        ("/webhooks/deliveries?cursor=garbage", 400, "invalid_cursor"),
        ("/events?cursor=garbage", 400, "invalid_cursor"),
    ],
)
def test_errors_are_pages_with_the_api_code(
    web: httpx.Client, path: str, status: int, code: str
) -> None:
    page = web.get(path)
    assert page.status_code == status
    assert [e["code"] for e in shown_errors(page)] == [code]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/?workspace_id=%00&mode=%ff", {}),
        ("GET", "/clock?from=-5&to=x", {}),
        ("GET", "/sinks?name=%2e%2e", {}),
        ("POST", "/webhooks", {"content": b"\xff\xfe", "headers": FORM}),
        ("POST", "/events", {"content": b"type=a", "headers": {"Content-Type": "text/plain"}}),
        ("POST", "/events", {"content": b"a=" + b"x" * 1_100_000, "headers": FORM}),
        ("POST", "/settings/api-keys", {"content": b"scopes=%ff", "headers": FORM}),
        ("POST", "/webhooks/wh_missing/status", {"data": {"status": "sleeping"}}),
        ("POST", "/clock/advance", {"data": {"seconds": "1e400"}}),
        ("POST", "/faults", {"data": {"target": "api", "error_code": "not_found", "seed": "x"}}),
        ("POST", "/settings/api-keys/not-a-key/revoke", {}),
    ],
)
def test_junk_never_gives_a_500(
    web: httpx.Client, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = web.request(method, path, **kwargs)
    assert 200 <= response.status_code < 500, response.text


def test_cross_site_posts_are_refused(web: httpx.Client, emulator: Emulator) -> None:
    refused = web.post(
        "/settings/general", data={"id": "ws_evil"}, headers={"Origin": "http://evil.example"}
    )
    assert refused.status_code == 403
    fetched = web.post(
        "/settings/general", data={"id": "ws_evil"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert fetched.status_code == 403
    assert emulator.control("GET", "/workspaces").json()["data"] == []


def test_static_files_are_packaged(web: httpx.Client) -> None:
    script = web.get("/static/htmx.min.js")
    assert script.status_code == 200
    assert "Zero-Clause BSD" in script.text[:400]
    assert web.get("/static/dashboard.css").status_code == 200


# -- the control token ----------------------------------------------------------------


def test_control_token_guards_the_pages(emulator_factory: Any) -> None:
    guarded = emulator_factory(control_token="s3cret")
    with httpx.Client(base_url=guarded.url, timeout=30) as client:
        first = client.get("/webhooks/deliveries?status=failed")
        assert first.status_code == 303
        assert first.headers["location"].startswith("/login?next=")
        assert client.post("/settings/general", data={"id": "ws_x"}).status_code == 401
        assert client.get("/static/dashboard.css").status_code == 200

        wrong = client.post("/login", data={"token": "guess", "next": "/clock"})
        assert wrong.status_code == 401
        assert "authentication_required" in wrong.text

        right = client.post("/login", data={"token": "s3cret", "next": "/clock"})
        assert right.status_code == 303 and right.headers["location"] == "/clock"
        cookie = right.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert client.get("/clock").status_code == 200
        # The cookie opens the pages, not the control API: that still wants the bearer token.
        assert client.get("/_control/clock").status_code == 401

        client.cookies.set("harbor_dashboard_token", "s3creT")
        assert client.get("/clock").status_code == 303
        client.post("/login", data={"token": "s3cret"})
        assert client.post("/logout").status_code == 303
        assert client.get("/clock").status_code == 303


def test_login_redirect_stays_on_this_host(emulator_factory: Any) -> None:
    guarded = emulator_factory(control_token="s3cret")
    with httpx.Client(base_url=guarded.url, timeout=30) as client:
        answer = client.post("/login", data={"token": "s3cret", "next": "https://evil.example/"})
        assert answer.headers["location"] == "/"
