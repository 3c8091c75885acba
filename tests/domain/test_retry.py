import pytest

from harbor_emulator.core.clock import MAX_MS
from harbor_emulator.core.errors import HarborError
from harbor_emulator.domain.retry import (
    DEFAULT_POLICY,
    MAX_AGE_LIMIT_SECONDS,
    RetryPolicy,
    next_attempt_ms,
    parse_retry_policy,
    policy_to_json,
)
from tests.waiting import rounds

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


def attempt_times_ms(policy: RetryPolicy, first_attempt_ms: int = 0) -> list[int]:
    """Every attempt's scheduled time when each one fails."""
    times = [first_attempt_ms]
    # A delay is at least a second and attempts stop at max_age: a series that does not
    # end within that many is a bug, reported rather than grown without bound.
    for _ in rounds(MAX_AGE_LIMIT_SECONDS + 2, times):
        following = next_attempt_ms(
            policy,
            first_attempt_ms=first_attempt_ms,
            scheduled_ms=times[-1],
            attempt_number=len(times),
        )
        if following is None:
            return times
        times.append(following)


def test_default_policy_is_the_contract_schedule() -> None:
    assert DEFAULT_POLICY.schedule_seconds == (300, 1800, 7200, 21600, 43200, 86400, 86400)
    assert DEFAULT_POLICY.max_age_seconds == 259200


def test_default_schedule_gives_eight_attempts_then_fails() -> None:
    expected = [
        0,
        5 * MINUTE_MS,
        35 * MINUTE_MS,
        2 * HOUR_MS + 35 * MINUTE_MS,
        8 * HOUR_MS + 35 * MINUTE_MS,
        20 * HOUR_MS + 35 * MINUTE_MS,
        44 * HOUR_MS + 35 * MINUTE_MS,
        68 * HOUR_MS + 35 * MINUTE_MS,
    ]
    assert attempt_times_ms(DEFAULT_POLICY) == expected
    assert attempt_times_ms(DEFAULT_POLICY, first_attempt_ms=1_700_000_000_000) == [
        1_700_000_000_000 + offset for offset in expected
    ]


def test_delay_counts_from_the_scheduled_time_not_the_first_attempt() -> None:
    # Attempt 2 was due at 5 min; the next comes 30 min after that, whatever ran late.
    assert (
        next_attempt_ms(
            DEFAULT_POLICY, first_attempt_ms=0, scheduled_ms=5 * MINUTE_MS, attempt_number=2
        )
        == 35 * MINUTE_MS
    )


def test_last_delay_repeats_when_the_schedule_runs_out() -> None:
    policy = RetryPolicy(schedule_seconds=(10, 60), max_age_seconds=300)
    assert attempt_times_ms(policy) == [0, 10_000, 70_000, 130_000, 190_000, 250_000]


def test_an_attempt_exactly_at_max_age_still_happens() -> None:
    policy = RetryPolicy(schedule_seconds=(60,), max_age_seconds=180)
    assert attempt_times_ms(policy) == [0, 60_000, 120_000, 180_000]


def test_max_age_counts_from_the_first_attempt() -> None:
    policy = RetryPolicy(schedule_seconds=(60,), max_age_seconds=100)
    # A resumed delivery's attempt ran late, at 90 s: the next (150 s) would pass 100 s.
    assert next_attempt_ms(policy, first_attempt_ms=0, scheduled_ms=90_000, attempt_number=2) is (
        None
    )
    assert next_attempt_ms(policy, first_attempt_ms=0, scheduled_ms=40_000, attempt_number=2) == (
        100_000
    )


def test_attempt_number_starts_at_one() -> None:
    with pytest.raises(ValueError):
        next_attempt_ms(DEFAULT_POLICY, first_attempt_ms=0, scheduled_ms=0, attempt_number=0)


def test_parse_none_means_default() -> None:
    assert parse_retry_policy(None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({}, DEFAULT_POLICY),
        ({"schedule_seconds": [1, 2, 3]}, RetryPolicy((1, 2, 3), 259200)),
        ({"max_age_seconds": 3600}, RetryPolicy(DEFAULT_POLICY.schedule_seconds, 3600)),
        ({"schedule_seconds": [60], "max_age_seconds": 259200}, RetryPolicy((60,), 259200)),
        ({"schedule_seconds": [5] * 100, "max_age_seconds": 1}, RetryPolicy((5,) * 100, 1)),
    ],
)
def test_parse_valid_policies(value: object, expected: RetryPolicy) -> None:
    assert parse_retry_policy(value) == expected


@pytest.mark.parametrize(
    ("value", "param"),
    [
        ([300], "retry_policy"),
        ("300", "retry_policy"),
        (300, "retry_policy"),
        (True, "retry_policy"),
        ({"schedule": [300]}, "retry_policy.schedule"),
        ({"schedule_seconds": [300], "extra": 1}, "retry_policy.extra"),
        ({"schedule_seconds": []}, "retry_policy.schedule_seconds"),
        ({"schedule_seconds": [1] * 101}, "retry_policy.schedule_seconds"),
        ({"schedule_seconds": [0]}, "retry_policy.schedule_seconds"),
        ({"schedule_seconds": [-5]}, "retry_policy.schedule_seconds"),
        ({"schedule_seconds": [1.5]}, "retry_policy.schedule_seconds"),
        ({"schedule_seconds": [60.0]}, "retry_policy.schedule_seconds"),
        ({"schedule_seconds": ["60"]}, "retry_policy.schedule_seconds"),
        ({"schedule_seconds": [True]}, "retry_policy.schedule_seconds"),
        ({"schedule_seconds": [None]}, "retry_policy.schedule_seconds"),
        ({"schedule_seconds": 60}, "retry_policy.schedule_seconds"),
        ({"schedule_seconds": None}, "retry_policy.schedule_seconds"),
        ({"schedule_seconds": {"0": 60}}, "retry_policy.schedule_seconds"),
        ({"max_age_seconds": 0}, "retry_policy.max_age_seconds"),
        ({"max_age_seconds": -1}, "retry_policy.max_age_seconds"),
        ({"max_age_seconds": 259201}, "retry_policy.max_age_seconds"),
        ({"max_age_seconds": 3600.0}, "retry_policy.max_age_seconds"),
        ({"max_age_seconds": "3600"}, "retry_policy.max_age_seconds"),
        ({"max_age_seconds": True}, "retry_policy.max_age_seconds"),
        ({"max_age_seconds": None}, "retry_policy.max_age_seconds"),
    ],
)
def test_parse_invalid_policies(value: object, param: str) -> None:
    with pytest.raises(HarborError) as caught:
        parse_retry_policy(value)
    assert (caught.value.code, caught.value.param) == ("invalid_parameter", param)


def test_policy_json_round_trips() -> None:
    policy = RetryPolicy((10, 20), 600)
    assert policy_to_json(policy) == {"schedule_seconds": [10, 20], "max_age_seconds": 600}
    assert parse_retry_policy(policy_to_json(policy)) == policy
    assert parse_retry_policy(policy_to_json(DEFAULT_POLICY)) == DEFAULT_POLICY


def test_a_retry_past_the_clocks_end_gives_up() -> None:
    # The clock stops at MAX_MS: an attempt scheduled after it could never fall due.
    policy = RetryPolicy((30,), 600)
    start = MAX_MS - 60_000
    at_the_end = next_attempt_ms(
        policy, first_attempt_ms=start, scheduled_ms=start + 30_000, attempt_number=2
    )
    assert at_the_end == MAX_MS
    assert (
        next_attempt_ms(policy, first_attempt_ms=start, scheduled_ms=MAX_MS, attempt_number=3)
        is None
    )
