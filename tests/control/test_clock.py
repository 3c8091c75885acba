"""/_control/clock and /_control/health."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from tests.conftest import Emulator, error_of


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_health(emulator: Emulator) -> None:
    body = emulator.control("GET", "/health").json()
    assert body["status"] == "ok" and body["version"] and body["now"].endswith("Z")


def test_advance_moves_event_timestamps(emulator: Emulator, api: httpx.Client) -> None:
    emulator.control("POST", "/clock/freeze")
    before = api.post("/v1/events", json={"type": "a", "payload": {}}).json()
    clock = emulator.control("POST", "/clock/advance", json={"duration": "1h30m"}).json()
    assert clock["frozen"] is True
    assert 5399 <= clock["offset_seconds"] <= 5401
    after = api.post("/v1/events", json={"type": "a", "payload": {}}).json()
    assert (_at(after["created_at"]) - _at(before["created_at"])).total_seconds() == 5400


def test_set_is_forward_only(emulator: Emulator) -> None:
    response = emulator.control("POST", "/clock/set", json={"now": "2000-01-01T00:00:00Z"})
    assert response.status_code == 400
    assert error_of(response)["param"] == "now"
    moved = emulator.control("POST", "/clock/set", json={"now": "2099-05-25T12:00:00Z"})
    assert moved.status_code == 200
    assert moved.json()["now"].startswith("2099-05-25T12:00")


def test_freeze_and_unfreeze(emulator: Emulator) -> None:
    frozen = emulator.control("POST", "/clock/freeze").json()
    assert frozen["frozen"] is True
    assert emulator.control("GET", "/clock").json()["now"] == frozen["now"]
    running = emulator.control("POST", "/clock/unfreeze").json()
    assert running["frozen"] is False


def test_reset_puts_the_clock_back_on_host_time(emulator: Emulator) -> None:
    emulator.advance(86400)
    emulator.reset()
    clock = emulator.control("GET", "/clock").json()
    assert abs(clock["offset_seconds"]) < 5 and clock["frozen"] is False


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "seconds"),
        ({"seconds": -1}, "seconds"),
        ({"seconds": "5"}, "seconds"),
        ({"seconds": True}, "seconds"),
        ({"seconds": 1, "duration": "1h"}, "seconds"),
        ({"duration": "soon"}, "duration"),
        ({"duration": ""}, "duration"),
        ({"duration": 5}, "duration"),
    ],
)
def test_bad_advance(emulator: Emulator, body: dict, param: str) -> None:
    response = emulator.control("POST", "/clock/advance", json=body)
    assert response.status_code == 400
    assert error_of(response)["param"] == param
