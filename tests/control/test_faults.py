"""/_control/faults: injected API errors, delivery outcomes and their registry."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import random
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harbor_emulator.core.errors import DEFAULT_MESSAGES, STATUS_BY_CODE
from harbor_emulator.server.app import create_app
from harbor_emulator.server.config import Config
from tests.conftest import Emulator, ServerThread, error_of
from tests.test_cli_start import running

EVENT = {"type": "order.paid", "payload": {"n": 1}}


def _add(emulator: Emulator, **spec: Any) -> dict[str, Any]:
    response = emulator.control("POST", "/faults", json=spec)
    assert response.status_code == 201, response.text
    return response.json()


def _faults(emulator: Emulator) -> list[dict[str, Any]]:
    body = emulator.control("GET", "/faults").json()
    assert body["object"] == "list"
    return body["data"]


def test_api_fault_fails_count_requests_then_stops(emulator: Emulator, api: httpx.Client) -> None:
    fault = _add(
        emulator,
        target="api",
        method="POST",
        path="/v1/events",
        error_code="rate_limit_exceeded",
        count=2,
    )
    assert fault["id"].startswith("flt_") and fault["object"] == "fault"
    assert (fault["remaining"], fault["fired_count"]) == (2, 0)
    assert (fault["method"], fault["path"], fault["error_code"]) == (
        "POST",
        "/v1/events",
        "rate_limit_exceeded",
    )

    for _ in range(2):
        response = api.post("/v1/events", json=EVENT)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        error = error_of(response)
        assert (error["code"], error["retry_after_ms"]) == ("rate_limit_exceeded", 1000)
    assert api.post("/v1/events", json=EVENT).status_code == 201

    [listed] = _faults(emulator)
    assert (listed["id"], listed["remaining"], listed["fired_count"]) == (fault["id"], 0, 2)


def test_rate_limit_fault_with_its_own_retry_after(emulator: Emulator, api: httpx.Client) -> None:
    _add(emulator, target="api", error_code="rate_limit_exceeded", retry_after_ms=2500, count=1)
    response = api.post("/v1/events", json=EVENT)
    assert response.headers["retry-after"] == "3"
    assert error_of(response)["retry_after_ms"] == 2500


@pytest.mark.parametrize("code", sorted(STATUS_BY_CODE))
def test_api_fault_answers_exactly_the_error_of_its_code(
    emulator: Emulator, api: httpx.Client, code: str
) -> None:
    _add(emulator, target="api", path="/v1/events", error_code=code, count=1)
    response = api.get("/v1/events")
    assert response.status_code == STATUS_BY_CODE[code]
    error = error_of(response)
    assert error["code"] == code
    if code != "rate_limit_exceeded":
        assert error == {
            "code": code,
            "message": DEFAULT_MESSAGES[code],
            "param": None,
            "request_id": response.headers["harbor-request-id"],
        }


def test_method_filter(emulator: Emulator, api: httpx.Client) -> None:
    _add(emulator, target="api", method="get", path="/v1/events", error_code="internal_error")
    assert api.post("/v1/events", json=EVENT).status_code == 201
    assert api.get("/v1/events").status_code == 500
    # Without a count the fault stays until removed.
    assert api.get("/v1/events").status_code == 500
    assert _faults(emulator)[0]["remaining"] is None


def test_path_wildcard_matches_a_prefix(emulator: Emulator, api: httpx.Client) -> None:
    _add(emulator, target="api", path="/v1/events/*", error_code="event_not_found")
    created = api.post("/v1/events", json=EVENT)
    assert created.status_code == 201
    assert api.get("/v1/events").status_code == 200
    response = api.get(f"/v1/events/{created.json()['id']}")
    assert response.status_code == 404
    assert error_of(response)["code"] == "event_not_found"


def test_api_fault_fires_before_authentication(emulator: Emulator) -> None:
    _add(emulator, target="api", path="/v1/*", error_code="internal_error", count=1)
    response = emulator.http.post("/v1/events", json=EVENT)
    assert response.status_code == 500
    assert error_of(response)["code"] == "internal_error"
    assert emulator.http.post("/v1/events", json=EVENT).status_code == 401


def test_api_faults_never_touch_control_or_sinks(emulator: Emulator, api: httpx.Client) -> None:
    _add(emulator, target="api", path="/*", error_code="internal_error")
    assert api.post("/v1/events", json=EVENT).status_code == 500
    assert emulator.control("GET", "/health").status_code == 200
    assert emulator.http.post("/_sink/x").status_code == 200


def test_first_matching_fault_wins(emulator: Emulator, api: httpx.Client) -> None:
    _add(emulator, target="api", path="/v1/events", error_code="event_not_found", count=1)
    _add(emulator, target="api", path="/v1/*", error_code="internal_error", count=1)
    statuses = [api.get("/v1/events").status_code for _ in range(3)]
    assert statuses == [404, 500, 200]


def test_probability_with_seed_is_reproducible(emulator: Emulator, api: httpx.Client) -> None:
    spec = {"target": "api", "error_code": "internal_error", "probability": 0.5, "seed": 7}
    fault = _add(emulator, **spec)
    assert (fault["probability"], fault["seed"], fault["remaining"]) == (0.5, 7, None)
    first = [api.get("/v1/events").status_code == 500 for _ in range(24)]
    emulator.reset()
    _add(emulator, **spec)
    second = [api.get("/v1/events").status_code == 500 for _ in range(24)]

    rng = random.Random(7)
    expected = [rng.random() < 0.5 for _ in range(24)]
    assert first == second == expected
    assert True in expected and False in expected
    assert _faults(emulator)[0]["fired_count"] == sum(expected)


def test_probability_bounds(emulator: Emulator, api: httpx.Client) -> None:
    never = _add(emulator, target="api", error_code="internal_error", probability=0)
    assert [api.get("/v1/events").status_code for _ in range(5)] == [200] * 5
    emulator.control("DELETE", f"/faults/{never['id']}")
    _add(emulator, target="api", error_code="internal_error", probability=1, seed=1)
    assert [api.get("/v1/events").status_code for _ in range(5)] == [500] * 5


@pytest.mark.parametrize(
    ("spec", "code", "param"),
    [
        ({}, "missing_parameter", "target"),
        ({"target": "disk"}, "invalid_parameter", "target"),
        ({"target": "api"}, "missing_parameter", "error_code"),
        ({"target": "api", "error_code": "teapot"}, "invalid_parameter", "error_code"),
        ({"target": "api", "error_code": ["not_found"]}, "invalid_parameter", "error_code"),
        ({"target": ["api"], "error_code": "not_found"}, "invalid_parameter", "target"),
        ({"target": "api", "error_code": "not_found", "x": 1}, "invalid_parameter", "x"),
        ({"target": "api", "error_code": "not_found", "path": "v1"}, "invalid_parameter", "path"),
        ({"target": "api", "error_code": "not_found", "path": "/*/x"}, "invalid_parameter", "path"),
        (
            {"target": "api", "error_code": "not_found", "method": "P O"},
            "invalid_parameter",
            "method",
        ),
        (
            {"target": "api", "error_code": "not_found", "retry_after_ms": 10},
            "invalid_parameter",
            "retry_after_ms",
        ),
        (
            {"target": "api", "error_code": "rate_limit_exceeded", "retry_after_ms": -1},
            "invalid_parameter",
            "retry_after_ms",
        ),
        ({"target": "api", "error_code": "not_found", "count": 0}, "invalid_parameter", "count"),
        ({"target": "api", "error_code": "not_found", "count": 1.5}, "invalid_parameter", "count"),
        ({"target": "api", "error_code": "not_found", "count": True}, "invalid_parameter", "count"),
        (
            {"target": "api", "error_code": "not_found", "probability": 1.5},
            "invalid_parameter",
            "probability",
        ),
        (
            {"target": "api", "error_code": "not_found", "probability": 0.5, "count": 2},
            "invalid_parameter",
            "probability",
        ),
        ({"target": "api", "error_code": "not_found", "seed": 3}, "invalid_parameter", "seed"),
        (
            {"target": "api", "error_code": "not_found", "probability": 0.5, "seed": "x"},
            "invalid_parameter",
            "seed",
        ),
        ({"target": "delivery", "outcome": 500}, "missing_parameter", "endpoint_id"),
        (
            {"target": "delivery", "endpoint_id": "evt_1", "outcome": 500},
            "invalid_parameter",
            "endpoint_id",
        ),
        ({"target": "delivery", "endpoint_id": "wh_1"}, "missing_parameter", "outcome"),
        (
            {"target": "delivery", "endpoint_id": "wh_1", "outcome": "refused"},
            "invalid_parameter",
            "outcome",
        ),
        (
            {"target": "delivery", "endpoint_id": "wh_1", "outcome": 600},
            "invalid_parameter",
            "outcome",
        ),
        (
            {"target": "delivery", "endpoint_id": "wh_1", "outcome": "500"},
            "invalid_parameter",
            "outcome",
        ),
        (
            {"target": "delivery", "endpoint_id": "wh_1", "outcome": 500, "path": "/v1"},
            "invalid_parameter",
            "path",
        ),
    ],
)
def test_invalid_specs_are_refused(
    emulator: Emulator, spec: dict[str, Any], code: str, param: str
) -> None:
    response = emulator.control("POST", "/faults", json=spec)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert (error["code"], error["param"]) == (code, param)
    assert _faults(emulator) == []


def test_delete_one_and_clear_all(emulator: Emulator, api: httpx.Client) -> None:
    first = _add(emulator, target="api", path="/v1/events", error_code="internal_error")
    second = _add(emulator, target="delivery", endpoint_id="dest_1", outcome="timeout")
    assert [f["id"] for f in _faults(emulator)] == [first["id"], second["id"]]

    deleted = emulator.control("DELETE", f"/faults/{first['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert api.get("/v1/events").status_code == 200
    assert [f["id"] for f in _faults(emulator)] == [second["id"]]

    missing = emulator.control("DELETE", f"/faults/{first['id']}")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"

    assert emulator.control("DELETE", "/faults").status_code == 204
    assert _faults(emulator) == []


def test_reset_removes_faults(emulator: Emulator, api: httpx.Client) -> None:
    _add(emulator, target="api", error_code="internal_error")
    emulator.reset()
    assert _faults(emulator) == []
    assert api.get("/v1/events").status_code == 200


# -- delivery faults, through the registry the delivery engine calls -------------------


class Served:
    """A server whose app object the test holds, to call the registry as the engine does:
    on the server's event loop (what a fault uses up is written from there)."""

    def __init__(self) -> None:
        self.config = dataclasses.replace(Config(port=0), rate_limit=0)
        self.app = create_app(self.config)
        self._loop: asyncio.AbstractEventLoop | None = None

        async def keep_loop(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                self._loop = asyncio.get_running_loop()
            await self.app(scope, receive, send)

        self.server = ServerThread(keep_loop, lifespan="on")

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        async def run() -> Any:
            result = function(*args)
            return await result if inspect.isawaitable(result) else result

        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Served, Emulator]]:
    served = Served()
    emulator = Emulator(served.server.start(), served.config)
    yield served, emulator
    emulator.close()
    served.server.stop()


def test_delivery_fault_outcomes_are_taken_per_attempt(served: tuple[Served, Emulator]) -> None:
    server, emulator = served
    emulator.reset()
    faults = server.app.state.faults
    _add(emulator, target="delivery", endpoint_id="wh_abc", outcome=503, count=2)
    timeout = _add(emulator, target="delivery", endpoint_id="dest_xyz", outcome="timeout")

    assert server.call(faults.take_delivery_fault, "dest_other") is None
    taken = [server.call(faults.take_delivery_fault, "wh_abc") for _ in range(3)]
    assert [t and t.outcome for t in taken] == [503, 503, None]
    taken = [server.call(faults.take_delivery_fault, "dest_xyz") for _ in range(2)]
    assert [t and t.outcome for t in taken] == ["timeout"] * 2
    # Delivery faults never answer API requests.
    assert server.call(faults.take_api_fault, "POST", "/v1/events") is None

    listed = {f["id"]: f for f in _faults(emulator)}
    assert [(f["remaining"], f["fired_count"]) for f in listed.values()] == [(0, 2), (None, 2)]
    assert listed[timeout["id"]]["outcome"] == "timeout"


def test_delivery_fault_with_probability_is_reproducible(
    served: tuple[Served, Emulator],
) -> None:
    server, emulator = served
    spec = {
        "target": "delivery",
        "endpoint_id": "wh_chaos",
        "outcome": "connection_error",
        "probability": 0.3,
        "seed": 2026,
    }
    runs = []
    for _ in range(2):
        emulator.reset()
        _add(emulator, **spec)
        faults = server.app.state.faults
        taken = [server.call(faults.take_delivery_fault, "wh_chaos") for _ in range(40)]
        runs.append([t and t.outcome for t in taken])
    rng = random.Random(2026)
    expected = ["connection_error" if rng.random() < 0.3 else None for _ in range(40)]
    assert runs[0] == runs[1] == expected


# -- control token ----------------------------------------------------------------------


def test_control_token_guards_fault_routes(emulator_factory: Any) -> None:
    guarded = emulator_factory(control_token="T")
    spec = {"target": "api", "error_code": "internal_error"}
    for method, path, kwargs in [
        ("POST", "/faults", {"json": spec}),
        ("GET", "/faults", {}),
        ("DELETE", "/faults", {}),
        ("DELETE", "/faults/flt_1", {}),
    ]:
        for headers in ({}, {"Authorization": "Bearer t"}):
            response = guarded.control(method, path, headers=headers, **kwargs)
            assert response.status_code == 401, (method, path)
            assert error_of(response)["code"] == "authentication_required"
    authorized = guarded.control(
        "POST", "/faults", json=spec, headers={"Authorization": "Bearer T"}
    )
    assert authorized.status_code == 201


# -- with the delivery engine -------------------------------------------------------------


def _attempts(api: httpx.Client, delivery_id: str) -> list[dict[str, Any]]:
    return api.get(f"/v1/deliveries/{delivery_id}/attempts").json()["data"]


@pytest.mark.parametrize(
    ("outcome", "code", "error"), [(503, 503, None), ("timeout", None, "timeout")]
)
def test_delivery_fault_is_recorded_without_calling_the_receiver(
    emulator: Emulator, api: httpx.Client, outcome: Any, code: int | None, error: str | None
) -> None:
    sink_url = f"{emulator.url}/_sink/faulted"
    hook = api.post("/v1/webhooks", json={"url": sink_url, "events": ["*"]}).json()
    _add(emulator, target="delivery", endpoint_id=hook["id"], outcome=outcome, count=1)
    api.post("/v1/events", json=EVENT)
    assert emulator.control("POST", "/deliveries/drain").json()["drained"] is True

    assert emulator.control("GET", "/sinks/faulted").json()["data"] == []
    [delivery] = api.get("/v1/deliveries").json()["data"]
    [attempt] = _attempts(api, delivery["id"])
    assert (attempt["response_code"], attempt["error"]) == (code, error)
    assert delivery["status"] == "pending"

    emulator.advance(300)
    assert len(emulator.control("GET", "/sinks/faulted").json()["data"]) == 1
    assert api.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == "succeeded"
    assert [a["response_code"] for a in _attempts(api, delivery["id"])] == [200, code]


# -- with --db: faults are state like any other -------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_faults_and_what_remains_of_their_counts_survive_a_restart(
    tmp_path: Path, stop: int
) -> None:
    args = ("--port", "0", "--db", str(tmp_path / "state.db"), "--log-level", "warning")
    args += ("--rate-limit", "0")
    headers = {"Authorization": "Bearer hb_test_faults"}
    failing = {"target": "api", "method": "POST", "path": "/v1/events"}
    failing |= {"error_code": "internal_error", "count": 3}
    chance = {"target": "api", "method": "GET", "path": "/v1/deliveries"}
    chance |= {"error_code": "rate_limit_exceeded", "probability": 0.5, "seed": 11}
    draws = random.Random(11)
    expected = [429 if draws.random() < 0.5 else 200 for _ in range(12)]
    with running(*args) as (url, process), httpx.Client(base_url=url, headers=headers) as http:
        hook = http.post("/v1/webhooks", json={"url": f"{url}/_sink/f", "events": ["*"]}).json()
        spec = {"target": "delivery", "endpoint_id": hook["id"], "outcome": 503, "count": 2}
        assert http.post("/_control/faults", json=spec).status_code == 201
        assert http.post("/v1/events", json=EVENT).status_code == 201
        assert http.post("/_control/deliveries/drain").json()["drained"] is True
        [delivery] = http.get("/v1/deliveries").json()["data"]
        assert http.post("/_control/faults", json=failing).status_code == 201
        assert http.post("/_control/faults", json=chance).status_code == 201
        assert http.post("/v1/events", json=EVENT).status_code == 500
        assert [http.get("/v1/deliveries").status_code for _ in range(6)] == expected[:6]
        listed = http.get("/_control/faults").json()
        process.send_signal(stop)  # right after the answers: each count was stored before
        process.wait(timeout=30)
    assert [f["remaining"] for f in listed["data"]] == [1, 2, None]
    with running(*args) as (url, _), httpx.Client(base_url=url, headers=headers) as http:
        assert http.get("/_control/faults").json() == listed
        # Each goes on where it stopped: the delivery fault's last forced failure...
        assert http.post("/_control/clock/advance", json={"duration": "5m"}).status_code == 200
        assert http.post("/_control/deliveries/drain").json()["drained"] is True
        assert [a["response_code"] for a in _attempts(http, delivery["id"])] == [503, 503]
        # ...two more failed events, then one whose delivery is sent for real (to the first
        # process's port: a connection error, not the fault's 503)...
        statuses = [http.post("/v1/events", json=EVENT).status_code for _ in range(3)]
        assert statuses == [500, 500, 201]
        assert http.post("/_control/deliveries/drain").json()["drained"] is True
        listed_deliveries = http.get("/_control/deliveries").json()["data"]
        [new] = [d for d in listed_deliveries if d["id"] != delivery["id"]]
        [attempt] = _attempts(http, new["id"])
        assert (attempt["response_code"], attempt["error"]) == (None, "connection_error")
        # ...and the seeded draws continue the sequence the first process began.
        assert [http.get("/v1/deliveries").status_code for _ in range(6)] == expected[6:]
        remaining = [f["remaining"] for f in http.get("/_control/faults").json()["data"]]
        assert remaining == [0, 0, None]
