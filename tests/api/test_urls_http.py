"""Endpoint URL rules over real HTTP, in both modes, on create and on PATCH."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Emulator, error_of

LONG_PREFIX = "https://93.184.216.34/"
URL_2048 = LONG_PREFIX + "a" * (2048 - len(LONG_PREFIX))
URL_2049 = URL_2048 + "a"

# (url, test-mode answer, live-mode answer): 201 or the error code.
TABLE = [
    ("http://127.0.0.1", 201, "invalid_url"),
    ("http://[::1]", 201, "invalid_url"),
    ("http://10.0.0.1", 201, "invalid_url"),
    ("http://169.254.169.254", 201, "invalid_url"),
    ("http://0x7f.1", 201, "invalid_url"),
    ("http://localhost:8080/hook", 201, "invalid_url"),
    ("http://does-not-resolve.invalid/", 201, "invalid_url"),  # scheme before host
    ("https://127.0.0.1/hook", 201, "url_not_reachable"),
    ("https://[::1]/hook", 201, "url_not_reachable"),
    ("https://[::ffff:10.0.0.1]/", 201, "url_not_reachable"),
    ("https://10.0.0.1/hook", 201, "url_not_reachable"),
    ("https://192.168.1.10/", 201, "url_not_reachable"),
    ("https://169.254.169.254/latest/meta-data", 201, "url_not_reachable"),
    ("https://224.0.0.1/", 201, "url_not_reachable"),
    ("https://0x7f.1/", 201, "url_not_reachable"),
    ("https://2130706433/", 201, "url_not_reachable"),
    ("https://localhost/", 201, "url_not_reachable"),
    ("https://does-not-resolve.invalid/", 201, "url_not_reachable"),
    ("https://93.184.216.34/hook", 201, 201),
    (URL_2048, 201, 201),
    (URL_2049, "invalid_url", "invalid_url"),
    ("ftp://x", "invalid_url", "invalid_url"),
    ("https://", "invalid_url", "invalid_url"),
    ("/relative/path", "invalid_url", "invalid_url"),
    ("https://exa mple.com/", "invalid_url", "invalid_url"),
    ("https://example.com:99999/", "invalid_url", "invalid_url"),
    ("", "invalid_url", "invalid_url"),
]


@pytest.fixture
def live(emulator: Emulator) -> Iterator[httpx.Client]:
    response = emulator.control(
        "POST", "/api_keys", json={"mode": "live", "workspace_id": "ws_x", "dialect": "hk"}
    )
    assert response.status_code == 201, response.text
    with emulator.api(response.json()["key"]) as client:
        yield client


def _create(client: httpx.Client, kind: str, url: Any) -> httpx.Response:
    body: dict[str, Any] = {"url": url}
    if kind == "webhooks":
        body["events"] = ["*"]
    return client.post(f"/v1/{kind}", json=body)


def _check(response: httpx.Response, expected: int | str) -> None:
    if expected == 201:
        assert response.status_code == 201, response.text
        return
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert (error["code"], error["param"]) == (expected, "url")


@pytest.mark.parametrize("kind", ["webhooks", "destinations"])
@pytest.mark.parametrize(("url", "test_mode", "live_mode"), TABLE)
def test_url_rules_on_create(
    api: httpx.Client,
    live: httpx.Client,
    kind: str,
    url: str,
    test_mode: int | str,
    live_mode: int | str,
) -> None:
    _check(_create(api, kind, url), test_mode)
    _check(_create(live, kind, url), live_mode)
    if test_mode == 201:
        assert api.get(f"/v1/{kind}").json()["data"][0]["url"] == url


@pytest.mark.parametrize(("url", "test_mode", "live_mode"), TABLE)
def test_url_rules_on_patch(
    api: httpx.Client, live: httpx.Client, url: str, test_mode: int | str, live_mode: int | str
) -> None:
    for client, expected in ((api, test_mode), (live, live_mode)):
        created = _create(client, "destinations", "https://93.184.216.34/start").json()
        response = client.patch(f"/v1/destinations/{created['id']}", json={"url": url})
        if expected == 201:
            assert response.status_code == 200, response.text
            assert response.json()["url"] == url
        else:
            _check(response, expected)
            after = client.get(f"/v1/destinations/{created['id']}").json()
            assert after["url"] == "https://93.184.216.34/start"


@pytest.mark.parametrize("value", [None, 5, ["https://x.example/"], {"url": "x"}])
def test_url_must_be_a_string(api: httpx.Client, value: object) -> None:
    response = api.post("/v1/destinations", json={"url": value})
    expected = "missing_parameter" if value is None else "invalid_url"
    assert error_of(response)["code"] == expected
