"""harbor_emulator.testing: emulators and other ASGI apps served in this process."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from harbor_emulator.client import HarborAPIError
from harbor_emulator.testing import (
    EmulatorFactory,
    EmulatorServer,
    ServerStartError,
    ServerThread,
)


def harbor_threads() -> int:
    return sum(thread.name == "harbor-uvicorn" for thread in threading.enumerate())


def test_an_emulator_serves_between_start_and_stop() -> None:
    before = harbor_threads()
    server = EmulatorServer()
    with pytest.raises(RuntimeError, match="start"):
        _ = server.url
    url = server.start()
    assert url == server.url and url.startswith("http://127.0.0.1:")
    assert server.config.port == 0 and server.config.db_path is None
    assert harbor_threads() == before + 1
    with server.client("hb_test_x") as client:
        assert client.health()["status"] == "ok"
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    server.stop()
    server.stop()  # twice is harmless
    assert harbor_threads() == before
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/_control/health")


def test_two_emulators_share_nothing() -> None:
    with EmulatorServer() as one, EmulatorServer() as two:
        assert one.url != two.url
        with one.client("hb_test_x") as a, two.client("hb_test_x") as b:
            a.clock.freeze()
            a.clock.advance("10d")
            a.trigger("order.paid")
            assert b.events() == []
            assert not b.clock.get().frozen and abs(b.clock.get().offset_seconds) < 60


def test_inline_and_file_fixtures_load_at_start_and_after_reset(tmp_path: Path) -> None:
    path = tmp_path / "base.yaml"
    path.write_text("workspaces:\n  - id: ws_file\n    name: From a file\n")
    inline = {"workspaces": [{"id": "ws_inline", "name": "Inline"}]}
    with EmulatorServer(fixtures=[path, inline]) as server, server.client() as client:
        names = {w["id"]: w["name"] for w in client.export()["workspaces"]}
        assert names == {"ws_file": "From a file", "ws_inline": "Inline"}
        client.load_fixtures({"workspaces": [{"id": "ws_later"}]})
        client.reset()
        assert {w["id"] for w in client.export()["workspaces"]} == {"ws_file", "ws_inline"}


def test_fixtures_reach_the_emulator_s_own_url_on_a_free_port() -> None:
    """${HARBOR_EMULATOR_URL} is the port the server really got, even when asked for 0."""
    fixtures = {
        "webhooks": [
            {
                "id": "wh_own",
                "workspace_id": "ws_own",
                "url": "${HARBOR_EMULATOR_URL}/_sink/own",
                "events": ["*"],
            }
        ]
    }
    with EmulatorServer(fixtures=[fixtures]) as server, server.client("hb_test_x") as client:
        assert client.export()["webhooks"][0]["url"] == f"{server.url}/_sink/own"
        client.trigger("order.paid", workspace_id="ws_own")
        assert client.drain()["drained"]
        assert len(client.sink("own").requests) == 1


def test_a_restarted_emulator_starts_afresh_with_its_fixtures() -> None:
    server = EmulatorServer(fixtures=[{"workspaces": [{"id": "ws_inline"}]}])
    for _ in range(2):
        with server, server.client("hb_test_x") as client:
            assert [w["id"] for w in client.export()["workspaces"]] == ["ws_inline"]
            assert server.config.fixtures[0].endswith("fixtures[0].json")
            client.trigger("order.paid")
    assert len(server.config.fixtures) == 1


def test_invalid_fixtures_are_reported_and_leave_nothing_running() -> None:
    before = harbor_threads()
    server = EmulatorServer(fixtures=[{"webhooks": [{"id": "wh_1", "url": "http://x.test"}]}])
    with pytest.raises(ServerStartError, match=r"invalid_fixtures: .*webhooks\[0\].*events"):
        server.start()
    assert harbor_threads() == before
    with pytest.raises(RuntimeError, match="start"):
        _ = server.url


def test_a_misspelt_option_fails_at_construction() -> None:
    with pytest.raises(TypeError, match="strcit"):
        EmulatorServer(strcit=True)


def test_server_thread_serves_any_asgi_app() -> None:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello {request.query_params['name']}")

    thread = ServerThread(Starlette(routes=[Route("/", hello)]))
    with thread as url:
        assert httpx.get(url, params={"name": "you"}).text == "hello you"
    with pytest.raises(RuntimeError, match="once"):
        thread.start()


def test_factory_passes_flags_and_stops_everything() -> None:
    before = harbor_threads()
    factory = EmulatorFactory(default_api_key="hb_test_default")
    plain = factory()
    guarded = factory(control_token="sesame", rate_limit=0, api_key="hb_test_mine", max_endpoints=3)
    assert (plain.api_key, plain.control_token) == ("hb_test_default", None)
    assert (guarded.api_key, guarded.control_token) == ("hb_test_mine", "sesame")
    config = factory.server_of(guarded).config
    assert (config.rate_limit, config.max_endpoints) == (0, 3)
    assert factory.server_of(plain).config.rate_limit == 100
    guarded.clock.advance("1h")  # the client sends the token
    with httpx.Client() as anonymous:
        assert anonymous.get(f"{guarded.url}/_control/clock").status_code == 401

    factory.stop(plain)
    with pytest.raises(ValueError, match="not started by this factory"):
        factory.server_of(plain)
    assert harbor_threads() == before + 1
    factory.close()
    assert harbor_threads() == before


def test_strict_factory_emulator_knows_only_fixture_keys() -> None:
    factory = EmulatorFactory(default_api_key="hb_test_default")
    try:
        strict = factory(strict=True)
        with pytest.raises(HarborAPIError) as raised:
            strict.trigger("order.paid")
        assert raised.value.code == "invalid_api_key"
    finally:
        factory.close()
