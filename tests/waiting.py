"""Bounded waits for tests: every wait ends, and one that runs out says what it saw.

A wait that never ends shows up as pytest-timeout's report many minutes later, naming
no cause; these fail within their timeout, with the state they were waiting on.
"""

from __future__ import annotations

import asyncio
import reprlib
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT_SECONDS = 30.0
# Often enough that a wait ends soon after its condition holds; rarely enough to cost
# nothing on a loaded 2-core machine.
POLL_SECONDS = 0.01


def rounds(limit: int, seen: object) -> Iterator[int]:
    """`range(limit)` for a loop that must break out (a walk over pages, a series that
    must end): running out fails, showing `seen` (what the loop gathers, e.g. the list it
    appends to), instead of going round forever.

        for _ in rounds(100, seen):
            page = ...
            if not page["has_more"]:
                break
    """
    yield from range(limit)
    raise AssertionError(f"no end after {limit} rounds; gathered {reprlib.repr(seen)}")


def wait_until(
    predicate: Callable[[], T],
    describe: Callable[[], object],
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> T:
    """Poll `predicate` until it returns something true, and return that; after `timeout`
    seconds fail with `describe()`, what the test saw meanwhile."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout} s: {describe()}")
        time.sleep(POLL_SECONDS)
    return result


async def async_wait_until(
    predicate: Callable[[], T],
    describe: Callable[[], object],
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> T:
    """`wait_until` for a coroutine: polls without blocking its event loop."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout} s: {describe()}")
        await asyncio.sleep(POLL_SECONDS)
    return result


async def gather_within(
    named: Mapping[str, Awaitable[Any]], timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> dict[str, Any]:
    """Each awaitable's result or exception, by name, like `asyncio.gather(...,
    return_exceptions=True)`; fails naming those still unfinished after `timeout` seconds
    (and cancels them), with what the others came to."""
    tasks = {name: asyncio.ensure_future(awaitable) for name, awaitable in named.items()}
    _done, pending = await asyncio.wait(tasks.values(), timeout=timeout)
    outcomes = {
        name: task.exception() or task.result()
        for name, task in tasks.items()
        if task not in pending
    }
    if pending:
        for task in pending:
            task.cancel()
        unfinished = [name for name, task in tasks.items() if task in pending]
        raise AssertionError(
            f"not finished after {timeout} s: {unfinished}; the others came to {outcomes}"
        )
    return outcomes
