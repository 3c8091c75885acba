"""harbor_emulator.client against a real server, and its wire format against a mock."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from harbor_emulator.client import Emulator, EmulatorUnreachable, HarborAPIError
from tests.conftest import TEST_KEY
from tests.conftest import Emulator as RunningServer


@pytest.fixture
def client(emulator: RunningServer) -> Iterator[Emulator]:
    with Emulator(emulator.url, api_key=TEST_KEY) as client:
        yield client


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_health(client: Emulator) -> None:
    assert client.health()["status"] == "ok"
    assert client.wait_healthy(5)["status"] == "ok"


def test_clock(client: Emulator) -> None:
    frozen = client.clock.freeze()
    assert frozen.frozen is True
    assert client.clock.advance("1h30m").now - frozen.now == timedelta(hours=1, minutes=30)
    assert client.clock.advance(90).now - frozen.now == timedelta(hours=1, minutes=31, seconds=30)
    after = client.clock.advance(timedelta(minutes=1))
    assert after.now - frozen.now == timedelta(hours=1, minutes=32, seconds=30)
    assert client.clock.now() == after.now

    target = datetime(2099, 5, 25, 12, 0, tzinfo=UTC)
    assert client.clock.set(target).now == target
    assert client.clock.set("2099-05-25T13:00:00Z").now == target + timedelta(hours=1)
    running = client.clock.unfreeze()
    assert running.frozen is False and running.offset_seconds > 0
    assert client.clock.get().frozen is False


def test_errors_carry_code_param_and_request_id(client: Emulator) -> None:
    with pytest.raises(HarborAPIError) as raised:
        client.clock.set("2000-01-01T00:00:00Z")
    error = raised.value
    assert (error.status, error.code, error.param) == (400, "invalid_parameter", "now")
    assert error.request_id is not None and error.request_id.startswith("req_")
    assert str(error).startswith("invalid_parameter: ")


def test_reset(client: Emulator) -> None:
    client.clock.set("2099-01-01T00:00:00Z")
    client.faults.add(target="api", error_code="internal_error")
    client.reset()
    assert client.clock.now().year < 2099
    assert client.faults.list() == []


def test_sinks(client: Emulator, emulator: RunningServer) -> None:
    sink = client.sink("orders")
    assert sink.url == f"{emulator.url}/_sink/orders"
    assert sink.requests == []
    sink.script([503, {"status": 200, "body": "fine"}])
    first = httpx.post(sink.url, json={"n": 1})
    second = httpx.post(sink.url + "/x", content=b"raw", headers={"X-A": "b"})
    assert (first.status_code, second.status_code, second.text) == (503, 200, "fine")

    received = sink.requests
    assert [r.path for r in received] == ["/_sink/orders", "/_sink/orders/x"]
    assert received[0].json() == {"n": 1}
    assert received[1].body == "raw" and received[1].headers["x-a"] == "b"
    assert received[0].received_at.tzinfo is not None
    sink.clear()
    assert sink.requests == []


def test_faults(client: Emulator) -> None:
    fault = client.faults.add(
        target="api", path="/v1/events", error_code="rate_limit_exceeded", count=1
    )
    assert [f["id"] for f in client.faults.list()] == [fault["id"]]
    with pytest.raises(HarborAPIError) as raised:
        client.trigger("order.paid", {"n": 1})
    assert (raised.value.status, raised.value.code) == (429, "rate_limit_exceeded")
    event = client.trigger("order.paid", {"n": 1})
    assert event["object"] == "event" and event["payload"] == {"n": 1}

    client.faults.remove(fault["id"])
    with pytest.raises(HarborAPIError) as missing:
        client.faults.remove(fault["id"])
    assert missing.value.code == "not_found"
    client.faults.add(target="delivery", endpoint_id="wh_1", outcome=500)
    client.faults.clear()
    assert client.faults.list() == []


def test_trigger_with_key_and_workspace(client: Emulator) -> None:
    event = client.trigger("a.b", key="hb_test_other", workspace_id="ws_clienttest")
    assert (event["type"], event["payload"], event["workspace_id"]) == ("a.b", {}, "ws_clienttest")


def test_events_deliveries_attempts_and_replay(client: Emulator) -> None:
    sink = client.sink("hooks")
    sink.script([500])
    client.load_fixtures(
        {
            "webhooks": [
                {
                    "id": "wh_client",
                    "workspace_id": "ws_client",
                    "url": sink.url,
                    "events": ["order.*"],
                }
            ]
        }
    )
    client.trigger("user.created", workspace_id="ws_client")
    paid = client.trigger("order.paid", {"n": 1}, workspace_id="ws_client")
    assert [e["type"] for e in client.events(workspace_id="ws_client")] == [
        "order.paid",
        "user.created",
    ]
    assert (
        client.events(workspace_id="ws_client", type="user.created", limit=1)[0]["id"] != paid["id"]
    )

    client.drain()
    [delivery] = client.deliveries(event_id=paid["id"])
    assert client.delivery(delivery["id"]) == delivery
    assert delivery["status"] == "pending" and delivery["response_code"] == 500

    replayed = client.replay_delivery(delivery["id"])
    assert replayed["id"] == delivery["id"]
    client.drain()
    assert client.delivery(delivery["id"])["status"] == "succeeded"
    attempts = client.attempts(delivery["id"])
    assert [(a["attempt_number"], a["response_code"]) for a in attempts] == [(2, 200), (1, 500)]
    assert [r.headers["harbor-delivery-id"] for r in sink.requests] == [delivery["id"]] * 2

    with pytest.raises(HarborAPIError) as raised:
        client.delivery("dlv_00000000000000000000000000")
    assert raised.value.code == "delivery_not_found"


def test_v1_calls_need_a_key(emulator: RunningServer) -> None:
    with Emulator(emulator.url) as keyless, pytest.raises(ValueError, match="key"):
        keyless.trigger("a", {})


def test_control_token(emulator_factory: Any) -> None:
    guarded = emulator_factory(control_token="T")
    with Emulator(guarded.url) as anonymous, pytest.raises(HarborAPIError) as raised:
        anonymous.clock.get()
    assert (raised.value.status, raised.value.code) == (401, "authentication_required")
    with Emulator(guarded.url, control_token="T") as allowed:
        assert allowed.clock.get().now.year >= 2024


def test_unreachable() -> None:
    with Emulator(closed_port_url()) as client:
        with pytest.raises(EmulatorUnreachable):
            client.health()
        with pytest.raises(EmulatorUnreachable):
            client.wait_healthy(0.2)


# -- the wire format of routes other parts of the server provide -------------------------


class Recorder:
    """An httpx transport that records requests and answers with a canned response."""

    def __init__(self, status: int = 200, body: Any = None, text: str | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.status, self.body, self.text = status, body, text

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.text is not None:
            return httpx.Response(self.status, text=self.text)
        return httpx.Response(self.status, json=self.body if self.body is not None else {})

    def client(self, **kwargs: Any) -> Emulator:
        return Emulator("http://emulator.test", transport=httpx.MockTransport(self), **kwargs)


def test_load_fixtures_reads_files_by_extension_and_sends_json(tmp_path: Path) -> None:
    """A file is parsed (YAML or JSON by its extension) and interpolated here, with this
    process's environment and this client's URL, then sent as JSON."""
    recorder = Recorder(body={"object": "fixtures"})
    yaml_file = tmp_path / "start.yml"
    yaml_file.write_text(
        "workspaces:\n  - id: ws_a\n    name: ${NAME_HERE} at ${HARBOR_EMULATOR_URL}\n"
    )
    json_file = tmp_path / "start.json"
    json_file.write_text('{"workspaces": []}')
    with recorder.client(control_token="T") as client:
        client.load_fixtures({"workspaces": [{"id": "ws_a"}]})
        client.load_fixtures(yaml_file, env={"NAME_HERE": "Ws ${x}"})
        client.load_fixtures(str(json_file))
    sent = recorder.requests
    assert [(r.method, r.url.path) for r in sent] == [("POST", "/_control/fixtures")] * 3
    assert json.loads(sent[0].content) == {"workspaces": [{"id": "ws_a"}]}
    assert sent[0].headers["content-type"] == "application/json"
    # Escaped again ($${), so the server's own pass leaves the resolved text as it is.
    assert sent[1].headers["content-type"] == "application/json"
    assert json.loads(sent[1].content) == {
        "workspaces": [{"id": "ws_a", "name": "Ws $${x} at http://emulator.test"}]
    }
    assert sent[2].headers["content-type"] == "application/json"
    assert {r.headers["authorization"] for r in sent} == {"Bearer T"}


def test_export_and_drain() -> None:
    recorder = Recorder(body={"drained": True, "pending": 0})
    with recorder.client() as client:
        client.export()
        assert client.drain(timeout_seconds=3) == {"drained": True, "pending": 0}
    export, drain = recorder.requests
    assert (export.method, export.url.path) == ("GET", "/_control/export")
    assert (drain.method, drain.url.path) == ("POST", "/_control/deliveries/drain")
    assert json.loads(drain.content) == {"timeout_seconds": 3}
    assert "authorization" not in export.headers


def test_deliveries_use_the_api_key_not_the_control_token() -> None:
    recorder = Recorder(body={"object": "list", "data": [{"id": "dlv_1"}], "has_more": False})
    with recorder.client(control_token="T", api_key="hb_test_k") as client:
        rows = client.deliveries(status="failed", webhook_id="wh_1", event_id=None)
    assert rows == [{"id": "dlv_1"}]
    [sent] = recorder.requests
    assert sent.url.path == "/v1/deliveries"
    assert dict(sent.url.params) == {"status": "failed", "webhook_id": "wh_1"}
    assert sent.headers["authorization"] == "Bearer hb_test_k"


def test_request_sends_the_api_key_unless_given_another() -> None:
    recorder = Recorder(body={"id": "wh_1"})
    with recorder.client(control_token="T", api_key="hb_test_k") as client:
        client.request("POST", "/v1/webhooks", json={"url": "http://127.0.0.1/x"})
        client.request("GET", "/v1/webhooks/wh_1", key="hb_test_other")
    assert [sent.headers["authorization"] for sent in recorder.requests] == [
        "Bearer hb_test_k",
        "Bearer hb_test_other",
    ]


def test_an_error_without_the_harbor_shape_still_raises() -> None:
    recorder = Recorder(status=502, text="Bad Gateway")
    with recorder.client() as client, pytest.raises(HarborAPIError) as raised:
        client.health()
    assert (raised.value.status, raised.value.code) == (502, "http_502")
    assert raised.value.message == "Bad Gateway"
