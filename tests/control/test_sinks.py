"""/_sink/{name} receivers and /_control/sinks."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from harbor_emulator.control.sinks import (
    MAX_RECORDED_BODY_BYTES,
    MAX_REQUESTS_PER_SINK,
    SinkRegistry,
)
from harbor_emulator.core.clock import Clock
from harbor_emulator.store.db import Database
from tests.conftest import Emulator, error_of
from tests.test_cli_start import running

T = TypeVar("T")


def _received(emulator: Emulator, name: str) -> list[dict[str, Any]]:
    response = emulator.control("GET", f"/sinks/{name}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    return body["data"]


def test_records_method_path_headers_body_and_clock_time(emulator: Emulator) -> None:
    emulator.control("POST", "/clock/set", json={"now": "2099-01-02T03:04:05Z"})
    emulator.control("POST", "/clock/freeze")
    first = emulator.http.post(
        "/_sink/orders/deep/path?attempt=1",
        content=b'{"ok": true}',
        headers={"Content-Type": "application/json", "X-Custom-Header": "Yes"},
    )
    second = emulator.http.patch("/_sink/orders", content=b"caf\xc3\xa9 \xff")
    third = emulator.http.request("PROPFIND", "/_sink/orders")
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert first.text == "ok"

    received = _received(emulator, "orders")
    assert [(r["method"], r["path"]) for r in received] == [
        ("POST", "/_sink/orders/deep/path?attempt=1"),
        ("PATCH", "/_sink/orders"),
        ("PROPFIND", "/_sink/orders"),
    ]
    assert received[0]["headers"]["x-custom-header"] == "Yes"
    assert received[0]["headers"]["content-type"] == "application/json"
    assert all(name == name.lower() for r in received for name in r["headers"])
    assert received[0]["body"] == '{"ok": true}'
    # Bytes that are not UTF-8 are replaced, not refused.
    assert received[1]["body"] == "café \ufffd"
    assert received[2]["body"] == ""
    assert {r["received_at"] for r in received} == {"2099-01-02T03:04:05Z"}


def test_repeated_headers_are_folded(emulator: Emulator) -> None:
    emulator.http.post("/_sink/h", headers=[("X-Multi", "a"), ("X-Multi", "b")])
    assert _received(emulator, "h")[0]["headers"]["x-multi"] == "a, b"


def test_an_unknown_sink_is_an_empty_list(emulator: Emulator) -> None:
    assert _received(emulator, "never-used") == []


def test_scripted_answers_come_in_order_then_200(emulator: Emulator) -> None:
    scripted = emulator.control(
        "PUT",
        "/sinks/flaky",
        json={
            "responses": [
                {"status": 500},
                {
                    "status": 201,
                    "body": '{"id": 1}',
                    "headers": {"Content-Type": "application/json"},
                },
                {"status": 204, "headers": {"X-Reply": "yes"}},
            ]
        },
    )
    assert scripted.status_code == 200, scripted.text
    assert [r["status"] for r in scripted.json()["responses"]] == [500, 201, 204]

    answers = [emulator.http.post("/_sink/flaky", content=b"x") for _ in range(4)]
    assert [a.status_code for a in answers] == [500, 201, 204, 200]
    assert answers[0].text == "ok"
    assert answers[1].json() == {"id": 1}
    assert answers[1].headers["content-type"] == "application/json"
    assert answers[2].headers["x-reply"] == "yes" and answers[2].content == b""
    assert answers[3].text == "ok"
    # Every request is recorded, whatever it was answered.
    assert len(_received(emulator, "flaky")) == 4


def test_a_new_script_replaces_the_old_one(emulator: Emulator) -> None:
    emulator.control("PUT", "/sinks/s", json={"responses": [{"status": 500}, {"status": 500}]})
    emulator.control("PUT", "/sinks/s", json={"responses": [{"status": 503}]})
    statuses = [emulator.http.post("/_sink/s").status_code for _ in range(2)]
    assert statuses == [503, 200]


def test_scripted_delay_holds_the_answer(emulator: Emulator) -> None:
    emulator.control("PUT", "/sinks/slow", json={"responses": [{"status": 200, "delay_ms": 300}]})
    started = time.monotonic()
    response = emulator.http.post("/_sink/slow")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({}, "missing_parameter", "responses"),
        ({"responses": {"status": 500}}, "invalid_parameter", "responses"),
        ({"responses": [], "extra": 1}, "invalid_parameter", "extra"),
        ({"responses": [500]}, "invalid_parameter", "responses[0]"),
        ({"responses": [{"status": 199}]}, "invalid_parameter", "responses[0].status"),
        ({"responses": [{"status": 600}]}, "invalid_parameter", "responses[0].status"),
        ({"responses": [{"status": "500"}]}, "invalid_parameter", "responses[0].status"),
        ({"responses": [{"status": True}]}, "invalid_parameter", "responses[0].status"),
        ({"responses": [{"status": 500.0}]}, "invalid_parameter", "responses[0].status"),
        ({"responses": [{}, {"delay_ms": -1}]}, "invalid_parameter", "responses[1].delay_ms"),
        ({"responses": [{"delay_ms": 600_001}]}, "invalid_parameter", "responses[0].delay_ms"),
        ({"responses": [{"body": 5}]}, "invalid_parameter", "responses[0].body"),
        ({"responses": [{"bodyy": "x"}]}, "invalid_parameter", "responses[0].bodyy"),
        ({"responses": [{"headers": []}]}, "invalid_parameter", "responses[0].headers"),
        (
            {"responses": [{"headers": {"Content-Length": "3"}}]},
            "invalid_parameter",
            "responses[0].headers.Content-Length",
        ),
        (
            {"responses": [{"headers": {"X-A": "a\r\nX-B: b"}}]},
            "invalid_parameter",
            "responses[0].headers.X-A",
        ),
        (
            {"responses": [{"headers": {"Bad Name": "v"}}]},
            "invalid_parameter",
            "responses[0].headers.Bad Name",
        ),
    ],
)
def test_invalid_scripts_are_refused(
    emulator: Emulator, body: dict[str, Any], code: str, param: str
) -> None:
    response = emulator.control("PUT", "/sinks/s", json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == (code, param)
    # A refused script leaves the sink answering 200.
    assert emulator.http.post("/_sink/s").status_code == 200


def test_delay_bounds_are_inclusive(emulator: Emulator) -> None:
    body = {"responses": [{"status": 200, "delay_ms": 0}, {"status": 599, "delay_ms": 600_000}]}
    assert emulator.control("PUT", "/sinks/s", json=body).status_code == 200


def test_list_and_delete_sinks(emulator: Emulator) -> None:
    for _ in range(2):
        emulator.http.post("/_sink/a")
    emulator.http.get("/_sink/b")
    emulator.control("PUT", "/sinks/c", json={"responses": [{"status": 500}]})
    listed = emulator.control("GET", "/sinks").json()
    assert listed["object"] == "list"
    assert [(s["name"], s["request_count"], s["scripted_responses"]) for s in listed["data"]] == [
        ("a", 2, 0),
        ("b", 1, 0),
        ("c", 0, 1),
    ]

    deleted = emulator.control("DELETE", "/sinks/a")
    assert deleted.status_code == 204 and deleted.content == b""
    assert _received(emulator, "a") == []
    assert len(_received(emulator, "b")) == 1
    # Deleting also drops the script: c answers 200 again.
    emulator.control("DELETE", "/sinks/c")
    assert emulator.http.post("/_sink/c").status_code == 200


def test_reset_empties_sinks_and_scripts(emulator: Emulator) -> None:
    emulator.http.post("/_sink/a", content=b"before")
    emulator.control("PUT", "/sinks/a", json={"responses": [{"status": 500}]})
    emulator.reset()
    assert _received(emulator, "a") == []
    assert emulator.control("GET", "/sinks").json()["data"] == []
    assert emulator.http.post("/_sink/a").status_code == 200


def test_a_large_body_is_recorded_up_to_one_megabyte(emulator: Emulator) -> None:
    body = b"a" * (MAX_RECORDED_BODY_BYTES + 10)
    assert emulator.http.post("/_sink/big", content=body).status_code == 200
    emulator.http.post("/_sink/big", content=b"a" * MAX_RECORDED_BODY_BYTES)
    received = _received(emulator, "big")
    assert [len(r["body"]) for r in received] == [MAX_RECORDED_BODY_BYTES] * 2
    assert [r["truncated"] for r in received] == [True, False]


# -- in-process: bounds and waiting ----------------------------------------------------


async def _record(sinks: SinkRegistry, name: str, body: bytes = b"") -> None:
    await sinks.record(name, "POST", f"/_sink/{name}", {}, body, len(body))


def _with_sinks(scenario: Callable[[SinkRegistry], Awaitable[T]]) -> T:
    """Run `scenario` with the sinks of a fresh private database."""

    async def run() -> T:
        db = await Database.open(None)
        try:
            return await scenario(SinkRegistry(Clock(), db))
        finally:
            await db.close()

    return asyncio.run(run())


def test_a_sink_keeps_its_newest_requests() -> None:
    async def scenario(sinks: SinkRegistry) -> list[Any]:
        for index in range(MAX_REQUESTS_PER_SINK + 5):
            await _record(sinks, "busy", str(index).encode())
        return await sinks.requests("busy")

    kept = _with_sinks(scenario)
    assert len(kept) == MAX_REQUESTS_PER_SINK
    assert (kept[0].text, kept[-1].text) == ("5", str(MAX_REQUESTS_PER_SINK + 4))


def test_wait_for_returns_once_enough_requests_arrived() -> None:
    async def scenario(sinks: SinkRegistry) -> list[str]:
        waiter = asyncio.create_task(sinks.wait_for("w", 2, timeout_seconds=5))
        await _record(sinks, "w", b"one")
        await asyncio.sleep(0)
        assert not waiter.done()
        await _record(sinks, "other")
        await _record(sinks, "w", b"two")
        return [request.text for request in await waiter]

    assert _with_sinks(scenario) == ["one", "two"]


def test_wait_for_times_out() -> None:
    async def scenario(sinks: SinkRegistry) -> None:
        await _record(sinks, "w")
        await sinks.wait_for("w", 2, timeout_seconds=0.05)

    with pytest.raises(TimeoutError):
        _with_sinks(scenario)


# -- access: no API key, no rate limit, no control token -------------------------------


@pytest.fixture(scope="module")
def guarded(emulator_factory: Any) -> Iterator[Emulator]:
    yield emulator_factory(control_token="T", rate_limit=1)


def test_control_token_guards_sink_control_routes_but_not_sinks(guarded: Emulator) -> None:
    for method, path in [("GET", "/sinks"), ("GET", "/sinks/a"), ("DELETE", "/sinks/a")]:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "T"}):
            response = guarded.control(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert error_of(response)["code"] == "authentication_required"
    put = guarded.control("PUT", "/sinks/a", json={"responses": []})
    assert put.status_code == 401

    sent = [guarded.http.post("/_sink/a", content=b"open") for _ in range(5)]
    assert [r.status_code for r in sent] == [200] * 5

    authorized = guarded.control("GET", "/sinks/a", headers={"Authorization": "Bearer T"})
    assert authorized.status_code == 200
    assert len(authorized.json()["data"]) >= 5


def test_sinks_are_not_rate_limited_even_with_an_api_key(guarded: Emulator) -> None:
    headers = {"Authorization": "Bearer hb_test_sinkuser"}
    statuses = [guarded.http.post("/_sink/k", headers=headers).status_code for _ in range(5)]
    assert statuses == [200] * 5
    # The same key on /v1 is limited to 1 request/s: the sink requests took no tokens.
    with httpx.Client(base_url=guarded.url, headers=headers) as api:
        first = api.post("/v1/events", json={"type": "a", "payload": {}})
        second = api.post("/v1/events", json={"type": "a", "payload": {}})
    assert (first.status_code, second.status_code) == (201, 429)


# -- with the delivery engine -------------------------------------------------------------


def test_deliveries_land_in_a_sink_and_follow_its_script(
    emulator: Emulator, api: httpx.Client
) -> None:
    hook = api.post(
        "/v1/webhooks", json={"url": f"{emulator.url}/_sink/orders", "events": ["order.*"]}
    )
    assert hook.status_code == 201, hook.text
    emulator.control("PUT", "/sinks/orders", json={"responses": [{"status": 500, "body": "no"}]})
    event = api.post("/v1/events", json={"type": "order.paid", "payload": {"n": 1}}).json()
    assert emulator.control("POST", "/deliveries/drain").json()["drained"] is True

    [first] = _received(emulator, "orders")
    assert (first["method"], first["path"]) == ("POST", "/_sink/orders")
    assert first["headers"]["harbor-attempt"] == "1"
    assert first["headers"]["harbor-event-type"] == "order.paid"
    envelope = json.loads(first["body"])
    assert (envelope["type"], envelope["data"]["id"]) == ("order.paid", event["id"])
    [delivery] = api.get("/v1/deliveries").json()["data"]
    assert (delivery["status"], delivery["response_code"]) == ("pending", 500)

    emulator.advance(300)
    received = _received(emulator, "orders")
    assert [r["headers"]["harbor-attempt"] for r in received] == ["1", "2"]
    assert received[1]["body"] == first["body"]
    delivery = api.get(f"/v1/deliveries/{delivery['id']}").json()
    assert (delivery["status"], delivery["response_code"]) == ("succeeded", 200)


# -- with --db: sinks are state like any other ------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_scripts_and_recorded_requests_survive_a_restart(tmp_path: Path, stop: int) -> None:
    args = ("--port", "0", "--db", str(tmp_path / "state.db"), "--log-level", "warning")
    script = [
        {"status": 500},
        {"status": 202, "body": "later", "headers": {"X-Reply": "1"}},
        {"status": 201, "delay_ms": 1, "body": "third"},
    ]
    with running(*args) as (url, process), httpx.Client(base_url=url) as http:
        assert http.put("/_control/sinks/orders", json={"responses": script}).status_code == 200
        assert http.post("/_sink/orders", content=b"one").status_code == 500
        second = http.post("/_sink/orders/deep?x=1", content=b"\xff\x00two")
        assert (second.status_code, second.text) == (202, "later")
        http.put("/_control/sinks/idle", json={"responses": [{"status": 418}]})
        recorded = http.get("/_control/sinks/orders").json()
        listed = http.get("/_control/sinks").json()
        process.send_signal(stop)  # right after the answers: each was stored before it
        process.wait(timeout=30)
    assert [s["scripted_responses"] for s in listed["data"]] == [1, 1]
    with running(*args) as (url, _), httpx.Client(base_url=url) as http:
        assert http.get("/_control/sinks").json() == listed
        assert http.get("/_control/sinks/orders").json() == recorded
        # The script goes on where it stopped, then the default answer.
        third = http.post("/_sink/orders")
        assert (third.status_code, third.text) == (201, "third")
        assert http.post("/_sink/orders").status_code == 200
        assert http.post("/_sink/idle").status_code == 418
        assert len(http.get("/_control/sinks/orders").json()["data"]) == 4
