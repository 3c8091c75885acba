"""Token buckets driven by a clock the test moves: no request depends on how fast the
host runs."""

from __future__ import annotations

import math

import pytest

from harbor_emulator.core.errors import HarborError
from harbor_emulator.domain.ratelimit import RateLimiter


class SteppedClock:
    """Monotonic seconds that move only when the test says (binary fractions, so a
    refill is exact)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


def refused_after_ms(limiter: RateLimiter, key: str) -> int | None:
    """None when a token was taken, else the 429's retry_after_ms."""
    try:
        limiter.take(key)
    except HarborError as refused:
        assert refused.code == "rate_limit_exceeded"
        retry_after_ms = refused.extra["retry_after_ms"]
        assert refused.headers["Retry-After"] == str(math.ceil(retry_after_ms / 1000))
        return int(retry_after_ms)
    return None


def test_a_full_bucket_serves_its_burst_then_refills_at_the_rate() -> None:
    clock = SteppedClock()
    limiter = RateLimiter(4, clock)
    assert [refused_after_ms(limiter, "k") for _ in range(5)] == [None] * 4 + [250]
    clock.advance(0.125)  # half a token back
    assert refused_after_ms(limiter, "k") == 125
    clock.advance(0.125)
    assert refused_after_ms(limiter, "k") is None
    assert refused_after_ms(limiter, "k") == 250


def test_an_idle_bucket_holds_no_more_than_the_burst() -> None:
    clock = SteppedClock()
    limiter = RateLimiter(4, clock)
    limiter.take("k")
    clock.advance(3600)
    assert [refused_after_ms(limiter, "k") for _ in range(5)] == [None] * 4 + [250]


def test_buckets_are_per_key_and_reset_refills_them() -> None:
    clock = SteppedClock()
    limiter = RateLimiter(2, clock)
    assert [refused_after_ms(limiter, "a") for _ in range(3)] == [None, None, 500]
    assert refused_after_ms(limiter, "b") is None
    limiter.reset()
    assert [refused_after_ms(limiter, "a") for _ in range(3)] == [None, None, 500]


def test_a_rate_below_one_serves_one_request_per_interval() -> None:
    clock = SteppedClock()
    limiter = RateLimiter(0.5, clock)
    assert [refused_after_ms(limiter, "k") for _ in range(2)] == [None, 2000]
    clock.advance(2)
    assert refused_after_ms(limiter, "k") is None


@pytest.mark.parametrize("rate", [0, 0.0])
def test_a_rate_of_zero_never_refuses(rate: float) -> None:
    limiter = RateLimiter(rate, SteppedClock())
    assert all(refused_after_ms(limiter, "k") is None for _ in range(1000))
