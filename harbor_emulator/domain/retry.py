"""Retry policies: parsing the `retry_policy` parameter and scheduling the next attempt.

Contract (Delivery, Details fixed here): after failed attempt n the next one is due
`schedule_seconds[n - 1]` after attempt n's scheduled time, the last delay repeating once
the schedule runs out; the delivery fails when that would fall later than
`max_age_seconds` after its first attempt, or past the end of the clock's range (the
clock stops there, so that attempt could never fall due: docs/limits.md).
"""

from __future__ import annotations

import json
from typing import NamedTuple

from harbor_emulator.core.clock import MAX_MS
from harbor_emulator.core.errors import HarborError

MAX_AGE_LIMIT_SECONDS = 259_200  # 72 hours, the contract's ceiling and default
MAX_SCHEDULE_LENGTH = 100


class RetryPolicy(NamedTuple):
    schedule_seconds: tuple[int, ...]
    max_age_seconds: int


# 5 min, 30 min, 2 h, 6 h, 12 h, 24 h, 24 h: attempts at 0, 5 min, 35 min, 2 h 35 min,
# 8 h 35 min, 20 h 35 min, 44 h 35 min and 68 h 35 min, then failed.
DEFAULT_POLICY = RetryPolicy(
    schedule_seconds=(300, 1800, 7200, 21600, 43200, 86400, 86400),
    max_age_seconds=MAX_AGE_LIMIT_SECONDS,
)

_SCHEDULE_PARAM = "retry_policy.schedule_seconds"
_MAX_AGE_PARAM = "retry_policy.max_age_seconds"


def parse_retry_policy(value: object) -> RetryPolicy | None:
    """The policy a `retry_policy` parameter asks for; None when it is None (use the default).

    Either key may be left out and takes the default. An explicit null for a key is
    invalid, as is any other key. Raises `invalid_parameter` naming the offending field.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise HarborError(
            "invalid_parameter",
            "retry_policy must be an object with schedule_seconds and/or max_age_seconds.",
            param="retry_policy",
        )
    for key in value:
        if key not in ("schedule_seconds", "max_age_seconds"):
            raise HarborError(
                "invalid_parameter",
                f"retry_policy has no field {key!r}; use schedule_seconds and max_age_seconds.",
                param=f"retry_policy.{key}",
            )
    schedule = DEFAULT_POLICY.schedule_seconds
    if "schedule_seconds" in value:
        schedule = _parse_schedule(value["schedule_seconds"])
    max_age = DEFAULT_POLICY.max_age_seconds
    if "max_age_seconds" in value:
        max_age = _parse_max_age(value["max_age_seconds"])
    return RetryPolicy(schedule_seconds=schedule, max_age_seconds=max_age)


def policy_to_json(policy: RetryPolicy) -> dict[str, object]:
    """The wire form of a policy, which `parse_retry_policy` reads back to an equal one."""
    return {
        "schedule_seconds": list(policy.schedule_seconds),
        "max_age_seconds": policy.max_age_seconds,
    }


def next_attempt_ms(
    policy: RetryPolicy, *, first_attempt_ms: int, scheduled_ms: int, attempt_number: int
) -> int | None:
    """When to try again after failed attempt `attempt_number` (1-based), or None to give up.

    Times are epoch milliseconds on the emulator clock. The delay counts from the failed
    attempt's scheduled time, not from when it ran, so a slow receiver or a late scheduler
    does not push the rest of the schedule back.
    """
    if attempt_number < 1:
        raise ValueError(f"attempt_number must be at least 1, not {attempt_number}")
    schedule = policy.schedule_seconds
    delay_seconds = schedule[min(attempt_number, len(schedule)) - 1]
    candidate_ms = scheduled_ms + delay_seconds * 1000
    if candidate_ms > min(first_attempt_ms + policy.max_age_seconds * 1000, MAX_MS):
        return None
    return candidate_ms


def _is_positive_int(value: object) -> bool:
    # JSON true/false arrive as bool, a subclass of int; they are not numbers here.
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _parse_schedule(value: object) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_SCHEDULE_LENGTH
        or not all(_is_positive_int(delay) for delay in value)
    ):
        raise HarborError(
            "invalid_parameter",
            f"schedule_seconds must be a list of 1 to {MAX_SCHEDULE_LENGTH} positive integers.",
            param=_SCHEDULE_PARAM,
        )
    return tuple(value)


def _parse_max_age(value: object) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 0 < value <= MAX_AGE_LIMIT_SECONDS
    ):
        raise HarborError(
            "invalid_parameter",
            f"max_age_seconds must be an integer from 1 to {MAX_AGE_LIMIT_SECONDS:,}.",
            param=_MAX_AGE_PARAM,
        )
    return value


def stored_policy(retry_policy_json: str | None) -> RetryPolicy:
    """The policy an endpoint's stored `retry_policy` column schedules retries with."""
    if retry_policy_json is None:
        return DEFAULT_POLICY
    return parse_retry_policy(json.loads(retry_policy_json)) or DEFAULT_POLICY
