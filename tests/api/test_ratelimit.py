"""Token bucket per API key, over HTTP, with buckets refilled by a clock the test moves:
a loaded host can't refill one between two requests."""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import pytest

from harbor_emulator.server.app import create_app
from harbor_emulator.server.config import Config
from harbor_emulator.testing import ServerThread
from tests.conftest import Emulator, error_of
from tests.domain.test_ratelimit import SteppedClock

RATE = 4  # tokens per second: one every 0.25 s, a binary fraction the clock steps exactly


@pytest.fixture
def limited() -> Iterator[tuple[Emulator, SteppedClock]]:
    clock = SteppedClock()
    config = Config(port=0, rate_limit=RATE)
    with ServerThread(create_app(config, limiter_clock=clock), lifespan="on") as url:
        emulator = Emulator(url, config)
        try:
            yield emulator, clock
        finally:
            emulator.close()


def _retry_after_ms(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    error = error_of(response)
    assert error["code"] == "rate_limit_exceeded"
    assert response.headers["retry-after"] == str(math.ceil(error["retry_after_ms"] / 1000))
    return int(error["retry_after_ms"])


def test_over_the_limit_is_429_with_retry_after(limited: tuple[Emulator, SteppedClock]) -> None:
    emulator, clock = limited
    with emulator.api("hb_test_rl") as api:
        assert [api.get("/v1/events").status_code for _ in range(RATE)] == [200] * RATE
        assert _retry_after_ms(api.get("/v1/events")) == 250
        clock.advance(0.125)
        assert _retry_after_ms(api.get("/v1/events")) == 125
        clock.advance(0.125)
        assert api.get("/v1/events").status_code == 200
        assert _retry_after_ms(api.get("/v1/events")) == 250
    # Buckets are per key, and 401s and control routes don't count.
    with emulator.api("hb_test_other") as other:
        assert other.get("/v1/events").status_code == 200
    for _ in range(10):
        assert emulator.http.get("/_control/health").status_code == 200
        assert emulator.http.get("/v1/events").status_code == 401
    with emulator.api("hb_test_other") as other:
        assert [other.get("/v1/events").status_code for _ in range(RATE)] == [200] * 3 + [429]


def test_the_emulator_clock_neither_refills_nor_drains_buckets(
    limited: tuple[Emulator, SteppedClock],
) -> None:
    emulator, _clock = limited
    with emulator.api("hb_test_time") as api:
        assert [api.get("/v1/events").status_code for _ in range(RATE)] == [200] * RATE
        emulator.advance(86_400)
        assert _retry_after_ms(api.get("/v1/events")) == 250


def test_reset_refills_buckets(limited: tuple[Emulator, SteppedClock]) -> None:
    emulator, _clock = limited
    with emulator.api("hb_test_reset") as api:
        assert [api.get("/v1/events").status_code for _ in range(RATE + 1)] == [200] * RATE + [429]
        emulator.reset()
        assert api.get("/v1/events").status_code == 200
