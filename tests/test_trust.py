"""Regression tests of issue 13: inputs, races and faults that once broke the emulator.

Each test drives a real server over HTTP (or a real process, for the disk) and names the
finding it guards against.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from harbor_emulator.server.app import create_app
from harbor_emulator.server.config import Config
from harbor_emulator.testing import EmulatorServer
from tests.conftest import TEST_KEY, Emulator, ServerThread, error_of
from tests.receiver import Answer, Receiver

# -- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["1e400", "-1e999", "NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_invalid_json_and_never_stored(
    emulator: Emulator, api: httpx.Client, number: str
) -> None:
    body = '{"type": "p.x", "payload": {"n": ' + number + "}}"
    response = api.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, error_of(response)["code"]) == (400, "invalid_json")
    # Nothing was stored, so every read and the export still answer.
    assert api.get("/v1/events").json()["data"] == []
    assert emulator.control("GET", "/export").status_code == 200


def test_non_finite_numbers_refused_by_control_bodies(emulator: Emulator) -> None:
    response = emulator.control(
        "POST",
        "/faults",
        content='{"target": "api", "error_code": "internal_error", "probability": 1e400}',
        headers={"Content-Type": "application/json"},
    )
    assert (response.status_code, error_of(response)["code"]) == (400, "invalid_json")
    advance = emulator.control(
        "POST",
        "/clock/advance",
        content='{"seconds": 1e999}',
        headers={"Content-Type": "application/json"},
    )
    assert error_of(advance)["code"] == "invalid_json"


def test_integers_are_kept_exactly(api: httpx.Client) -> None:
    payload = {"big": 123456789012345678901234567890, "neg": -(2**70), "f": 0.1}
    created = api.post("/v1/events", json={"type": "p.x", "payload": payload}).json()
    assert api.get(f"/v1/events/{created['id']}").json()["payload"] == payload


# -- query numbers --------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["٣", "³", "３", " 3", "+3"])
def test_limit_takes_ascii_digits_only(api: httpx.Client, limit: str) -> None:
    response = api.get("/v1/events", params={"limit": limit})
    assert (response.status_code, error_of(response)["param"]) == (400, "limit")


# -- list filters of objects the key can't see ------------------------------------------------


def test_delivery_filters_by_an_invisible_object_are_its_404(
    emulator: Emulator, receiver: Receiver
) -> None:
    made = emulator.control(
        "POST",
        "/api_keys",
        json={"mode": "test", "workspace_id": "ws_mine", "scopes": ["events:read"]},
    )
    assert made.status_code == 201, made.text
    with emulator.api() as other, emulator.api(made.json()["key"]) as mine:
        webhook = other.post(
            "/v1/webhooks",
            json={"workspace_id": "ws_theirs", "url": receiver.url, "events": ["*"]},
        ).json()
        event = other.post(
            "/v1/events", json={"workspace_id": "ws_theirs", "type": "a.b", "payload": {}}
        ).json()
        for param, value, code in (
            ("event_id", event["id"], "event_not_found"),
            ("webhook_id", webhook["id"], "webhook_not_found"),
            ("destination_id", "dest_nope", "destination_not_found"),
        ):
            response = mine.get("/v1/deliveries", params={param: value})
            assert response.status_code == 404, (param, response.text)
            assert error_of(response)["code"] == code
            assert error_of(response)["param"] == param
        # The owner still sees its deliveries through the same filters.
        listed = other.get("/v1/deliveries", params={"event_id": event["id"]}).json()
        assert [d["webhook_id"] for d in listed["data"]] == [webhook["id"]]


# -- clock: serialized, bounded ------------------------------------------------------------


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_concurrent_advances_add_up_exactly(emulator: Emulator) -> None:
    start = _instant(emulator.control("POST", "/clock/freeze").json()["now"])

    def advance(_: int) -> int:
        with httpx.Client(base_url=emulator.url, timeout=60) as client:
            return client.post("/_control/clock/advance", json={"seconds": 60}).status_code

    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(advance, range(32)))
    assert statuses == [200] * 32
    after = _instant(emulator.control("GET", "/clock").json()["now"])
    assert (after - start).total_seconds() == 32 * 60


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"now": "10000-01-01T00:00:00Z"}, "now"),
        ({"now": 253402300800}, "now"),
    ],
)
def test_clock_set_past_year_9999_is_refused(
    emulator: Emulator, body: dict[str, Any], param: str
) -> None:
    before = emulator.control("GET", "/clock").json()
    response = emulator.control("POST", "/clock/set", json=body)
    assert (response.status_code, error_of(response)["param"]) == (400, param)
    assert emulator.control("GET", "/clock").json()["now"][:4] == before["now"][:4]


def test_clock_reaches_the_end_of_its_range_and_no_further(
    emulator: Emulator, api: httpx.Client, receiver: Receiver
) -> None:
    receiver.always(500)
    api.post("/v1/webhooks", json={"url": receiver.url, "events": ["*"]})
    api.post("/v1/events", json={"type": "a.b", "payload": {}})
    end = emulator.control("POST", "/clock/set", json={"now": "9999-12-31T23:59:59Z"})
    assert end.status_code == 200, end.text
    assert end.json()["now"] == "9999-12-31T23:59:59Z"
    # The far jump ran the delivery's whole schedule on the way: 8 attempts, then failed.
    (delivery,) = api.get("/v1/deliveries").json()["data"]
    assert (delivery["status"], delivery["attempt_count"]) == ("failed", 8)
    for body, param in (({"seconds": 1}, "seconds"), ({"duration": "1d"}, "duration")):
        response = emulator.control("POST", "/clock/advance", json=body)
        assert (response.status_code, error_of(response)["param"]) == (400, param)
    # Every timestamp written at the end of the range still fits the response schema.
    created = api.post("/v1/events", json={"type": "a.b", "payload": {}})
    assert created.json()["created_at"] == "9999-12-31T23:59:59Z"


# -- whole-state operations versus writes ---------------------------------------------------


def test_writes_racing_resets_never_fail(emulator: Emulator) -> None:
    failures: list[str] = []
    stop = threading.Event()

    def write(worker: int) -> int:
        created = 0
        with emulator.api(f"hb_test_writer{worker}") as client:
            for n in range(40):
                body: dict[str, Any] = {"type": "race.x", "payload": {"n": n}}
                if n % 2:
                    body["workspace_id"] = f"ws_race{worker}"
                response = client.post("/v1/events", json=body)
                if response.status_code != 201:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                created += 1
        return created

    def resets() -> int:
        count = 0
        with httpx.Client(base_url=emulator.url, timeout=60) as client:
            while not stop.is_set() and count < 50:
                assert client.post("/_control/reset").status_code == 200
                count += 1
        return count

    with ThreadPoolExecutor(17) as pool:
        resetter = pool.submit(resets)
        writers = [pool.submit(write, worker) for worker in range(16)]
        assert sum(w.result() for w in writers) == 16 * 40
        stop.set()
        assert resetter.result() >= 1
    assert failures == []


@pytest.fixture
def own_receiver() -> Iterator[Receiver]:
    """A receiver of this test's own: no keep-alive connection or script of an earlier test
    sharing the session's receiver can take one of the attempts this test counts."""
    receiver = Receiver()
    yield receiver
    receiver.close()


def test_writes_during_an_advance_wait_for_it_and_are_stamped_at_its_end(
    emulator: Emulator, api: httpx.Client, own_receiver: Receiver
) -> None:
    """A write that arrives mid-advance happens after it (contract: Clock): the event is
    stamped at the advance's end, and an endpoint paused mid-advance still gets every attempt
    the advance ran, and nothing after the pause."""
    emulator.control("POST", "/clock/freeze")
    webhook = api.post("/v1/webhooks", json={"url": own_receiver.url, "events": ["before.*"]})
    webhook = webhook.json()
    in_flight: list[socket.socket] = []

    def act_mid_advance() -> None:
        # The emulator is inside the advance, waiting on this very attempt: send two writes
        # (and don't wait for their answers, which must come after the advance).
        for method, path, body in (
            ("POST", "/v1/events", {"type": "mid.advance", "payload": {}}),
            ("PATCH", f"/v1/webhooks/{webhook['id']}", {"status": "paused"}),
        ):
            in_flight.append(_send_raw(emulator.url, method, path, body))

    own_receiver.respond_with(500, Answer(status=500, before=act_mid_advance))
    own_receiver.always(500)
    first = api.post("/v1/events", json={"type": "before.advance", "payload": {}}).json()
    own_receiver.wait_for(1)
    ended = emulator.advance(73 * 3600)
    assert [_status_of(sock) for sock in in_flight] == [201, 200]
    # The whole schedule of the first event ran inside the advance: 8 attempts.
    (delivery,) = api.get("/v1/deliveries", params={"event_id": first["id"]}).json()["data"]
    assert (delivery["attempt_count"], delivery["status"]) == (8, "failed")
    assert len(own_receiver.requests) == 8
    # The mid-advance event exists, stamped at the advance's end; the pause took effect after
    # the advance, and from then on the endpoint receives nothing.
    (mid,) = api.get("/v1/events", params={"type": "mid.advance"}).json()["data"]
    assert mid["created_at"] == ended["now"]
    assert api.get(f"/v1/webhooks/{webhook['id']}").json()["status"] == "paused"
    later = api.post("/v1/events", json={"type": "before.later", "payload": {}}).json()
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    (held,) = api.get("/v1/deliveries", params={"event_id": later["id"]}).json()["data"]
    assert held["status"] == "held"
    assert len(own_receiver.requests) == 8


def test_resets_right_after_attempts_start_never_stall_what_follows(
    emulator: Emulator, api: httpx.Client, own_receiver: Receiver
) -> None:
    """Seen in CI: a reset that ran in the same loop turn as the dispatch that had just made
    an attempt's task cancelled it before its first step; its slot was never given back, so
    the next test's drain waited out its timeout, its advance never ended, and every reset
    queued behind that advance hung the rest of the suite. Replays answered 202 and a reset
    at once hit that window within a few dozen rounds; any that lands must leave nothing."""
    for _ in range(40):
        api.post("/v1/webhooks", json={"url": own_receiver.url, "events": ["*"]})
        event = api.post("/v1/events", json={"type": "reset.race", "payload": {}}).json()
        emulator.drain()
        (delivery,) = api.get("/v1/deliveries", params={"event_id": event["id"]}).json()["data"]
        for _ in range(3):
            assert api.post(f"/v1/deliveries/{delivery['id']}/replay").status_code == 202
        emulator.reset()
    api.post("/v1/webhooks", json={"url": own_receiver.url, "events": ["*"]})
    event = api.post("/v1/events", json={"type": "after.races", "payload": {}}).json()
    emulator.drain()
    (delivery,) = api.get("/v1/deliveries", params={"event_id": event["id"]}).json()["data"]
    assert (delivery["status"], delivery["attempt_count"]) == ("succeeded", 1)
    emulator.control("POST", "/clock/freeze")
    assert emulator.advance(24 * 3600)["now"] > event["created_at"]


def test_an_attempt_cancelled_before_its_first_step_gives_its_slot_back(
    own_receiver: Receiver,
) -> None:
    """The window above, made certain: the scheduler's own dispatch, then cancelling what
    runs before any task it made has had a step, as a reset in the same loop turn does."""
    config = Config(port=0, rate_limit=0)
    app = create_app(config)
    server = ServerThread(app, lifespan="on")
    emulator = Emulator(server.start(), config)
    try:
        emulator.control("POST", "/clock/freeze")
        with emulator.api() as api:
            policy = {"schedule_seconds": [60, 60], "max_age_seconds": 3600}
            webhook = {"url": own_receiver.url, "events": ["*"], "retry_policy": policy}
            assert api.post("/v1/webhooks", json=webhook).status_code == 201
            own_receiver.respond_with(500)
            api.post("/v1/events", json={"type": "a.b", "payload": {}})
            own_receiver.wait_for(1)
            emulator.drain()  # the retry is a minute away on a frozen clock
        scheduler = app.state.scheduler

        async def dispatch_then_cancel() -> tuple[int, int]:
            # A horizon past the retry's time starts it; nothing is awaited in between.
            started = await scheduler._dispatch(2**53, travel=False)
            await scheduler.cancel_running()
            return started, await scheduler.drain(5)

        running_loop = scheduler._loop.get_loop()
        outcome = asyncio.run_coroutine_threadsafe(dispatch_then_cancel(), running_loop)
        assert outcome.result(30) == (1, 0)
        # The slot is free again: the retry goes out when its time comes.
        emulator.advance(60)
        own_receiver.wait_for(2)
    finally:
        emulator.close()
        server.stop()


def test_an_export_of_any_size_loads_back(emulator: Emulator, api: httpx.Client) -> None:
    # 70 payloads of ~250 KB: an export of ~17.5 MB, past the old 16 MB fixtures limit.
    filler = "x" * 250_000
    for n in range(70):
        response = api.post("/v1/events", json={"type": "big.x", "payload": {"n": n, "f": filler}})
        assert response.status_code == 201
    exported = emulator.control("GET", "/export")
    assert len(exported.content) > 17_000_000
    emulator.reset()
    loaded = emulator.control(
        "POST",
        "/fixtures",
        content=exported.content,
        headers={"Content-Type": "application/json"},
    )
    assert loaded.status_code == 201, loaded.text[:500]
    again = emulator.control("GET", "/export").json()
    assert again["events"] == exported.json()["events"]


def _send_raw(url: str, method: str, path: str, body: dict[str, Any]) -> socket.socket:
    """Send a whole request and return the socket, its answer unread."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
    data = json.dumps(body).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {TEST_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(head.encode() + data)
    return sock


def _status_of(sock: socket.socket) -> int:
    with sock:
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


# -- randomness -------------------------------------------------------------------------------


def test_an_in_process_emulator_leaves_the_users_random_sequence_alone() -> None:
    random.seed(1234)
    expected = [random.random() for _ in range(5)]
    random.seed(1234)
    server = EmulatorServer(rate_limit=0)
    url = server.start()
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TEST_KEY}"}) as c:
            for n in range(20):
                assert c.post("/v1/events", json={"type": "r.x", "payload": {"n": n}}).is_success
            assert c.post("/v1/webhooks", json={"url": f"{url}/_sink/r", "events": ["*"]})
            assert c.post("/v1/events", json={"type": "r.x", "payload": {}}).is_success
            c.post("/_control/deliveries/drain", json={"timeout_seconds": 10})
    finally:
        server.stop()
    assert [random.random() for _ in range(5)] == expected


def test_export_document_is_strict_json(emulator: Emulator, api: httpx.Client) -> None:
    api.post("/v1/events", json={"type": "a.b", "payload": {"x": 1.5e300, "y": -0.0}})
    text = emulator.control("GET", "/export").text
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in export"))
