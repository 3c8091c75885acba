"""The suite's bounded waits end, and say what they saw when they run out."""

from __future__ import annotations

import asyncio

import pytest

from tests.waiting import async_wait_until, gather_within, rounds, wait_until


def test_rounds_fails_a_loop_that_never_breaks_showing_what_it_gathered() -> None:
    seen: list[int] = []
    with pytest.raises(AssertionError, match=r"no end after 3 rounds; gathered \[0, 1, 2\]"):
        for n in rounds(3, seen):
            seen.append(n)


def test_rounds_lets_a_loop_that_breaks_go_on() -> None:
    for n in rounds(3, None):
        if n == 1:
            break
    assert n == 1


def test_wait_until_returns_the_predicate_or_fails_with_the_description() -> None:
    assert wait_until(lambda: "ready", lambda: "unused") == "ready"
    with pytest.raises(AssertionError, match=r"still waiting after 0\.05 s: 2 of 3 arrived"):
        wait_until(lambda: False, lambda: "2 of 3 arrived", timeout=0.05)
    with pytest.raises(AssertionError, match=r"still waiting after 0\.05 s: none closed"):
        asyncio.run(async_wait_until(lambda: 0, lambda: "none closed", timeout=0.05))


def test_gather_within_names_the_unfinished_and_what_the_others_came_to() -> None:
    async def fails() -> None:
        raise ValueError("broken")

    async def scenario() -> None:
        never = asyncio.get_running_loop().create_future()
        outcomes = await gather_within({"one": asyncio.sleep(0, "one"), "bad": fails()})
        assert outcomes["one"] == "one" and isinstance(outcomes["bad"], ValueError)
        with pytest.raises(AssertionError, match=r"not finished after 0\.05 s: \['never'\]"):
            await gather_within({"never": never, "one": asyncio.sleep(0, "one")}, timeout=0.05)
        assert never.cancelled()

    asyncio.run(scenario())
