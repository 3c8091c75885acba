"""Token buckets per API key."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ..core.errors import HarborError


class RateLimiter:
    """`rate` requests/s per key with a burst of `rate` (at least 1); a rate of 0 switches
    it off.

    Buckets refill on the host's monotonic clock, not the emulator clock: a frozen or
    fast-forwarded emulator clock must neither starve nor flood a client.
    """

    def __init__(self, rate: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        # A bucket of `rate` < 1 tokens could never hold the one a request takes: 0.5/s
        # would refuse every request forever instead of one every 2 s.
        self._burst = max(rate, 1.0)
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> None:
        if self.rate <= 0:
            return
        now = self._monotonic()
        tokens, at = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self.rate)
        if tokens < 1:
            retry_after_ms = max(1, math.ceil((1 - tokens) / self.rate * 1000))
            self._buckets[key] = (tokens, now)
            raise HarborError(
                "rate_limit_exceeded",
                f"Too many requests for this API key; retry after {retry_after_ms} ms.",
                headers={"Retry-After": str(math.ceil(retry_after_ms / 1000))},
                extra={"retry_after_ms": retry_after_ms},
            )
        self._buckets[key] = (tokens - 1, now)

    def reset(self) -> None:
        self._buckets.clear()
