"""Receivers that hang, flood, reset or speak garbage: each a recorded failed attempt."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Emulator
from tests.receiver import Answer, Receiver


@pytest.fixture(scope="module")
def impatient(emulator_factory: Any) -> Emulator:
    """An emulator with a short delivery timeout, so hanging receivers fail fast."""
    return emulator_factory(delivery_timeout_seconds=1.0)


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        (Answer(kind="hang"), "timeout", None),
        # A response begun but not finished within the timeout (contract, Limits).
        (Answer(kind="trickle"), "connection_error", None),
        (Answer(kind="close"), "connection_error", None),
        (Answer(kind="garbage"), "connection_error", None),
        (Answer(kind="big", status=500), None, 500),
        (Answer(status=404, body=b"n" * 10_000), None, 404),
    ],
    ids=["hang", "trickle", "close", "garbage", "50MB", "long-body"],
)
def test_misbehaving_receiver_is_a_failed_attempt(
    impatient: Emulator, receiver: Receiver, answer: Answer, error: str | None, code: int | None
) -> None:
    impatient.reset()
    receiver.respond_with(answer)
    with impatient.api() as api:
        api.post("/v1/webhooks", json={"url": receiver.url, "events": ["*"]})
        api.post("/v1/events", json={"type": "a", "payload": {}})
        drained = impatient.control("POST", "/deliveries/drain", json={"timeout_seconds": 20})
        assert drained.json()["drained"] is True
        delivery = api.get("/v1/deliveries").json()["data"][0]
        assert delivery["status"] == "pending" and delivery["attempt_count"] == 1
        attempt = api.get(f"/v1/deliveries/{delivery['id']}/attempts").json()["data"][0]
    assert attempt["error"] == error
    assert attempt["response_code"] == code
    if code is not None:
        assert len(attempt["response_body"].encode()) <= 4096
        prefix = "x" if answer.kind == "big" else answer.body[:10].decode()
        assert attempt["response_body"].startswith(prefix)


def test_connection_refused(impatient: Emulator) -> None:
    impatient.reset()
    with impatient.api() as api:
        api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/nothing", "events": ["*"]})
        api.post("/v1/events", json={"type": "a", "payload": {}})
        impatient.control("POST", "/deliveries/drain", json={"timeout_seconds": 20})
        delivery = api.get("/v1/deliveries").json()["data"][0]
        attempt = api.get(f"/v1/deliveries/{delivery['id']}/attempts").json()["data"][0]
    assert attempt["error"] == "connection_error" and attempt["response_code"] is None


def test_a_hanging_endpoint_does_not_delay_others(emulator_factory: Any) -> None:
    # A 10 s timeout: the hanging endpoint's 40 attempts, a quarter of the 32 slots at a
    # time, need 50 s, far longer than the healthy endpoint may take even on a loaded host.
    patient = emulator_factory(delivery_timeout_seconds=10.0)
    hanging, healthy = Receiver(), Receiver()
    try:
        hanging.always(Answer(kind="hang"))
        with patient.api() as api:
            api.post("/v1/webhooks", json={"url": hanging.url, "events": ["slow.*"]})
            api.post("/v1/webhooks", json={"url": healthy.url, "events": ["fast.*"]})
            for _ in range(40):
                api.post("/v1/events", json={"type": "slow.thing", "payload": {}})
            for _ in range(10):
                api.post("/v1/events", json={"type": "fast.thing", "payload": {}})
            # All ten reach the healthy receiver while the hanging one still holds its slots.
            healthy.wait_for(10, timeout=30)
            assert len(hanging.requests) <= 8
    finally:
        hanging.close()
        healthy.close()


def test_a_sender_bug_is_a_recorded_failure_not_a_hot_loop(
    emulator: Emulator, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harbor_emulator.delivery.sender import Sender

    calls = []

    async def broken_send(self: Sender, request: Any) -> Any:
        calls.append(request.delivery_id)
        raise RuntimeError("a bug in the sender")

    monkeypatch.setattr(Sender, "send", broken_send)
    with emulator.api() as api:
        api.post("/v1/webhooks", json={"url": receiver.url, "events": ["*"]})
        api.post("/v1/events", json={"type": "a", "payload": {}})
        drained = emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 20})
        assert drained.json()["drained"] is True
        delivery = api.get("/v1/deliveries").json()["data"][0]
        attempts = api.get(f"/v1/deliveries/{delivery['id']}/attempts").json()["data"]
    # One attempt, recorded as a connection error, with the usual retry in five minutes.
    assert len(calls) == 1
    assert [a["error"] for a in attempts] == ["connection_error"]
    assert delivery["status"] == "pending" and delivery["next_attempt_at"] is not None
    assert receiver.requests == []
