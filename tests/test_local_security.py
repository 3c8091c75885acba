"""Local security over raw HTTP (HARBOR_API.md "Local security"): the Host allow-list that
defeats DNS rebinding, cross-site refusal for /_control and dashboard writes, JSON-only
control bodies, and the control token checked before any routing answer."""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from harbor_emulator.server.app import create_app
from harbor_emulator.server.config import Config
from harbor_emulator.testing import ServerThread
from tests import skip_policy
from tests.conftest import TEST_KEY, Emulator, error_of
from tests.test_cli_start import running

GUARANTEES = Path(__file__).resolve().parents[1] / "docs" / "guarantees.md"
KEY = {"Authorization": f"Bearer {TEST_KEY}"}
EVIL = "http://evil.example"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def raw(emulator: Emulator) -> Iterator[httpx.Client]:
    """A plain client: no OpenAPI checker, headers exactly as each test sets them."""
    with httpx.Client(base_url=emulator.url, timeout=30) as client:
        yield client


@contextmanager
def serving(**overrides: Any) -> Iterator[httpx.Client]:
    """An emulator built with these Config fields, served on loopback whatever `host` says
    (the rules read the configured host; the tests never listen beyond 127.0.0.1)."""
    config = Config(port=0, rate_limit=0, **overrides)
    with (
        ServerThread(create_app(config), host="127.0.0.1", lifespan="on") as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def _host(client: httpx.Client, name: str) -> dict[str, str]:
    """A Host header for `name` on the port the client talks to."""
    return {"Host": f"{name}:{client.base_url.port}"}


def _event_count(raw: httpx.Client) -> int:
    return len(raw.get("/v1/events", headers=KEY).json()["data"])


def _create_event(raw: httpx.Client) -> None:
    created = raw.post("/v1/events", json={"type": "kept.one", "payload": {}}, headers=KEY)
    assert created.status_code == 201, created.text


# -- the Host check --------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:4280", "EVIL.example."])
@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/v1/events", KEY),
        ("POST", "/v1/events", KEY),
        ("GET", "/_control/health", {}),
        ("POST", "/_control/reset", {}),
        ("GET", "/", {}),
        ("GET", "/settings/api-keys", {}),
        ("GET", "/openapi.json", {}),
        ("GET", "/no/such/route", {}),
    ],
)
def test_a_foreign_host_is_refused_everywhere(
    raw: httpx.Client, host: str, method: str, path: str, headers: dict[str, str]
) -> None:
    _create_event(raw)
    response = raw.request(method, path, headers={**headers, "Host": host})
    assert response.status_code == 403, response.text
    error = error_of(response)
    assert error["code"] == "host_not_allowed"
    assert repr(host) in error["message"] and "--allowed-host evil.example" in error["message"]
    assert _event_count(raw) == 1


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST.", "127.0.0.1", "127.1.2.3", "[::1]", "[::ffff:127.0.0.1]"],
)
def test_loopback_names_are_answered(raw: httpx.Client, host: str) -> None:
    for header in (host, f"{host}:{raw.base_url.port}"):
        assert raw.get("/_control/health", headers={"Host": header}).status_code == 200
        assert raw.get("/v1/events", headers={**KEY, "Host": header}).status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1.evil.example", "localhost.evil.example", "::1", ""])
def test_lookalikes_of_loopback_are_refused(raw: httpx.Client, host: str) -> None:
    response = raw.get("/_control/health", headers={"Host": host})
    assert response.status_code in (400, 403), response.text
    if response.status_code == 403:
        assert error_of(response)["code"] == "host_not_allowed"


def test_allowed_hosts_are_answered_and_others_refused() -> None:
    with serving(allowed_hosts=("emulator.test", "Tunnel.Example")) as client:
        for name in ("emulator.test", "tunnel.example", "localhost"):
            assert client.get("/_control/health", headers=_host(client, name)).status_code == 200
        refused = client.get("/_control/health", headers=_host(client, "evil.example"))
        assert error_of(refused)["code"] == "host_not_allowed"


@pytest.mark.parametrize(
    ("served_on", "host"), [("my-box.test", "MY-BOX.test"), ("2001:db8::5", "[2001:DB8:0::5]")]
)
def test_the_host_served_on_is_answered(served_on: str, host: str) -> None:
    with serving(host=served_on) as client:
        assert client.get("/", headers=_host(client, host)).status_code == 200
        assert client.get("/", headers=_host(client, "evil.example")).status_code == 403


@pytest.mark.parametrize(
    "overrides",
    [{"allowed_hosts": ("*",)}, {"host": "0.0.0.0"}, {"host": "::"}],
    ids=["star", "wildcard-v4", "wildcard-v6"],
)
def test_star_or_a_wildcard_bind_answers_any_host(overrides: dict[str, Any]) -> None:
    with serving(**overrides) as client:
        headers = _host(client, "emulator")  # a CI service container's name
        assert client.get("/_control/health", headers=headers).status_code == 200
        assert client.get("/v1/events", headers={**KEY, **headers}).status_code == 200


def test_a_wildcard_bind_with_allowed_hosts_answers_only_those() -> None:
    with serving(host="0.0.0.0", allowed_hosts=("emulator",)) as client:
        assert client.get("/", headers=_host(client, "emulator")).status_code == 200
        assert client.get("/", headers=_host(client, "localhost")).status_code == 200
        assert client.get("/", headers=_host(client, "evil.example")).status_code == 403


def test_the_start_command_takes_allowed_hosts_from_options_and_environment() -> None:
    args = ("--port", "0", "--log-level", "warning", "--allowed-host", "one.test")
    env = {"HARBOR_EMULATOR_ALLOWED_HOST": "two.test, three.test"}
    with running(*args) as (url, _), httpx.Client(base_url=url) as client:
        assert client.get("/", headers=_host(client, "one.test")).status_code == 200
        assert client.get("/", headers=_host(client, "two.test")).status_code == 403
    with (
        running("--port", "0", "--log-level", "warning", env=env) as (url, _),
        httpx.Client(base_url=url) as client,
    ):
        for name in ("two.test", "three.test"):
            assert client.get("/", headers=_host(client, name)).status_code == 200
        assert client.get("/", headers=_host(client, "one.test")).status_code == 403


# -- cross-site writes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # another port is another origin
        {"Origin": "https://{host}"},  # another scheme too
        {"Referer": f"{EVIL}/page.html"},
        {"Referer": "not a url"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_cross_site_reset_is_refused_and_changes_nothing(
    raw: httpx.Client, headers: dict[str, str]
) -> None:
    _create_event(raw)
    sent = {
        name: value.format(host=raw.base_url.netloc.decode()) for name, value in headers.items()
    }
    # text/plain is what a page can POST without a preflight.
    response = raw.post(
        "/_control/reset", content=b"x", headers={**sent, "Content-Type": "text/plain"}
    )
    assert response.status_code == 403, response.text
    assert error_of(response)["code"] == "cross_site_request"
    assert _event_count(raw) == 1


def test_the_emulators_own_origin_may_write(raw: httpx.Client) -> None:
    own = str(raw.base_url).rstrip("/")
    port = raw.base_url.port
    for headers in (
        {"Origin": own},
        {"Referer": f"{own}/clock?x=1"},
        {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"},
        {"Origin": f"http://[::1]:{port}", "Host": f"[::1]:{port}"},
        {"Sec-Fetch-Site": "same-origin", "Origin": own},
    ):
        _create_event(raw)
        answer = raw.post("/_control/reset", headers=headers)
        assert answer.status_code == 200, (headers, answer.text)
        assert _event_count(raw) == 0
    # An Origin naming the emulator but arriving with another Host is not its own origin.
    mixed = raw.post("/_control/reset", headers={"Origin": own, "Host": f"localhost:{port}"})
    assert error_of(mixed)["code"] == "cross_site_request"


def test_a_rebinding_page_cannot_post_to_the_dashboard(
    raw: httpx.Client, emulator: Emulator
) -> None:
    # The page's name now resolves to 127.0.0.1: Host and Origin agree with each other.
    port = raw.base_url.port
    rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    answer = raw.post("/settings/general", data={"id": "ws_evil"}, headers=rebound)
    assert error_of(answer)["code"] == "host_not_allowed"
    cross = raw.post("/settings/general", data={"id": "ws_evil"}, headers={"Origin": EVIL})
    assert error_of(cross)["code"] == "cross_site_request"
    login = raw.post("/login", data={"token": "x"}, headers={"Referer": f"{EVIL}/"})
    assert error_of(login)["code"] == "cross_site_request"
    assert emulator.control("GET", "/workspaces").json()["data"] == []
    # The same form from the dashboard's own page goes through.
    own = str(raw.base_url).rstrip("/")
    made = raw.post("/settings/general", data={"id": "ws_mine"}, headers={"Origin": own})
    assert made.status_code in (200, 303), made.text
    assert [w["id"] for w in emulator.control("GET", "/workspaces").json()["data"]] == ["ws_mine"]


def test_api_and_sinks_are_not_subject_to_the_cross_site_rule(raw: httpx.Client) -> None:
    # /v1 needs an Authorization header, which a page can't send without a preflight.
    created = raw.post(
        "/v1/events", json={"type": "a.b", "payload": {}}, headers={**KEY, "Origin": EVIL}
    )
    assert created.status_code == 201, created.text
    # /_sink is a receiver: any Host, any Origin, any body.
    for headers in ({"Origin": EVIL, "Content-Type": "text/plain"}, {"Host": "evil.example"}):
        assert raw.post("/_sink/open", content=b"hi", headers=headers).status_code == 200
    recorded = raw.get("/_control/sinks/open").json()["data"]
    assert [r["body"] for r in recorded] == ["hi", "hi"]


# -- JSON-only control bodies ----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {},
    ],
)
def test_a_non_json_control_body_is_refused(raw: httpx.Client, headers: dict[str, str]) -> None:
    _create_event(raw)
    response = raw.post("/_control/reset", content=b'{"a": 1}', headers=headers)
    assert response.status_code == 415, response.text
    assert error_of(response)["code"] == "unsupported_media_type"
    assert _event_count(raw) == 1
    # `curl -X POST …/reset`: no body, no Content-Type.
    assert raw.post("/_control/reset").status_code == 200
    assert _event_count(raw) == 0


def test_a_chunked_body_is_checked_without_a_length(raw: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"{}"

    _create_event(raw)
    for path in ("/_control/reset", "/_control/clock/advance"):
        response = raw.post(path, content=chunks(), headers={"Content-Type": "text/plain"})
        assert "chunked" in response.request.headers["transfer-encoding"]
        assert error_of(response)["code"] == "unsupported_media_type"
    assert _event_count(raw) == 1
    scripted = raw.put(
        "/_control/sinks/a", content=b'{"responses": []}', headers={"Content-Type": "text/plain"}
    )
    assert error_of(scripted)["code"] == "unsupported_media_type"


def test_json_and_fixtures_yaml_bodies_pass(raw: httpx.Client) -> None:
    advanced = raw.post(
        "/_control/clock/advance",
        content=b'{"seconds": 60}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert advanced.status_code == 200, advanced.text
    yaml = raw.post(
        "/_control/fixtures",
        content=b"workspaces: [{id: ws_yaml}]\n",
        headers={"Content-Type": "text/yaml"},
    )
    assert yaml.status_code == 201, yaml.text
    # YAML is for fixtures only.
    elsewhere = raw.post(
        "/_control/clock/advance", content=b"seconds: 60\n", headers={"Content-Type": "text/yaml"}
    )
    assert error_of(elsewhere)["code"] == "unsupported_media_type"


# -- the control token before any routing answer ---------------------------------------


def test_the_control_token_is_checked_before_redirects_and_404s() -> None:
    with serving(control_token="s3cret") as client:
        for path in ("/_control/export/", "/_control/health/", "/_control/nope", "/_control"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 401, (path, response.text)
            assert error_of(response)["code"] == "authentication_required"
        bearer = {"Authorization": "Bearer s3cret"}
        redirect = client.get("/_control/export/", headers=bearer, follow_redirects=False)
        assert redirect.status_code == 307
        assert client.get("/_control/nope", headers=bearer).status_code == 404
        assert client.get("/_control/export", headers=bearer).status_code == 200
        # The token gate does not open the Host or cross-site gates.
        foreign = client.get("/_control/health", headers={**bearer, "Host": "evil.example"})
        assert error_of(foreign)["code"] == "host_not_allowed"
        cross = client.post("/_control/reset", headers={**bearer, "Origin": EVIL})
        assert error_of(cross)["code"] == "cross_site_request"


# -- the start command and the examples of docs/guarantees.md ----------------------------


def test_the_docker_images_command_answers_a_service_name() -> None:
    # The image runs `harbor-emulator start --host 0.0.0.0 --port 4280`.
    args = ("--host", "0.0.0.0", "--port", "0", "--log-level", "warning")
    with (
        running(*args) as (url, _),
        httpx.Client(base_url=url.replace("0.0.0.0", "127.0.0.1")) as client,
    ):
        answer = client.get("/_control/health", headers=_host(client, "harbor"))
        assert answer.status_code == 200, answer.text


def _doc_section() -> str:
    text = GUARANTEES.read_text()
    return text[text.index("## Local security") :].split("\n## ", 1)[0]


def test_the_doc_allowed_host_example_runs() -> None:
    (block,) = re.findall(r"^```sh\n(.*?)^```", _doc_section(), re.MULTILINE | re.DOTALL)
    command = shlex.split(block)
    assert command[:2] == ["harbor-emulator", "start"]
    name = command[command.index("--allowed-host") + 1]
    with (
        running(*command[2:], "--port", "0", "--log-level", "warning") as (url, _),
        httpx.Client(base_url=url) as client,
    ):
        assert client.get("/", headers=_host(client, name)).status_code == 200
        assert client.get("/", headers=_host(client, "evil.example")).status_code == 403


@skip_policy.needs_tools("curl", install=skip_policy.CURL)
def test_the_doc_curl_reset_needs_no_content_type(raw: httpx.Client) -> None:
    (line,) = re.findall(r"`(curl -X POST [^`]*)`", _doc_section())
    _create_event(raw)
    command = shlex.split(line.replace("http://127.0.0.1:4280", str(raw.base_url).rstrip("/")))
    answer = subprocess.run(
        [*command, "-s", "-w", "\\n%{http_code}"], capture_output=True, text=True, timeout=30
    )
    assert answer.stdout.rsplit("\n", 1)[-1] == "200", answer
    assert _event_count(raw) == 0
