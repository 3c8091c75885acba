"""Token bucket per API key."""

from __future__ import annotations

import math
from typing import Any

from tests.conftest import error_of


def test_over_the_limit_is_429_with_retry_after(emulator_factory: Any) -> None:
    limited = emulator_factory(rate_limit=5)
    with limited.api("hb_test_rl") as api:
        statuses = [api.get("/v1/events").status_code for _ in range(8)]
        assert statuses[:5] == [200] * 5
        assert 429 in statuses[5:]
        refused = api.get("/v1/events")
        assert refused.status_code == 429
        error = error_of(refused)
        assert error["code"] == "rate_limit_exceeded"
        assert isinstance(error["retry_after_ms"], int) and 1 <= error["retry_after_ms"] <= 200
        assert refused.headers["retry-after"] == str(math.ceil(error["retry_after_ms"] / 1000))
    # Buckets are per key, and 401s and control routes don't count.
    with limited.api("hb_test_other") as other:
        assert other.get("/v1/events").status_code == 200
    for _ in range(10):
        assert limited.http.get("/_control/health").status_code == 200
        assert limited.http.get("/v1/events").status_code == 401


def test_reset_refills_buckets(emulator_factory: Any) -> None:
    limited = emulator_factory(rate_limit=2)
    with limited.api("hb_test_reset") as api:
        while api.get("/v1/events").status_code != 429:
            pass
        limited.reset()
        assert api.get("/v1/events").status_code == 200
