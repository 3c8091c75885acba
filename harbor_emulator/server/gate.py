"""The state gate: writes share it, whole-state operations hold it alone.

A clock advance, a reset or a fixtures load changes the state as a whole. The contract
makes each of them one step for every other caller: a write that arrives while one runs
waits until it has finished (and is stamped at the clock's new time); reads are answered at
once from committed state. So every write request holds the gate shared, and these few
operations hold it exclusively, one at a time, once the writes already running are done.

Requests to /_sink are exempt: during an advance the emulator delivers to its own sinks,
and waiting for the advance there would deadlock it. So is draining, which only waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# (method, path) of every request that changes the state as a whole: the /_control routes
# and the dashboard forms that run the same operations.
EXCLUSIVE_REQUESTS = frozenset(
    {
        ("POST", "/_control/reset"),
        ("POST", "/_control/clock/advance"),
        ("POST", "/_control/clock/set"),
        ("POST", "/_control/clock/freeze"),
        ("POST", "/_control/clock/unfreeze"),
        ("POST", "/clock/advance"),
        ("POST", "/clock/freeze"),
        # A snapshot is a consistent copy of the database and of what lives in memory.
        ("POST", "/_control/snapshots"),
    }
)
# Whole-state operations that take the gate themselves, once their body is read: a fixtures
# document is parsed and its aliases bounded before the load waits for anything, so a bomb
# is refused at once even while an advance runs (contract: Limits, Documents).
SELF_GATED_REQUESTS = frozenset({("POST", "/_control/fixtures")})
# Whole-state operations whose path carries a name: `POST /_control/snapshots/{name}/restore`.
EXCLUSIVE_PATTERNS = (("POST", re.compile(r"/_control/snapshots/[^/]+/restore")),)
# The receiver check writes nothing and may wait on a slow receiver for a minute or more.
UNGATED_PREFIXES = (
    "/_sink/",
    "/_control/deliveries/drain",
    "/_control/receiver-checks",
    "/static/",
)


class StateGate:
    """A readers-writer lock that prefers the exclusive side, so a stream of writes cannot
    starve an advance; taking it shared costs no await while nothing exclusive is waiting."""

    def __init__(self) -> None:
        self._shared = 0
        self._open = asyncio.Event()
        self._open.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._exclusive = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        await self.enter_shared()
        try:
            yield
        finally:
            self.leave_shared()

    async def enter_shared(self) -> None:
        """Take the gate shared; pair with `leave_shared`. (The edge middleware calls these
        two instead of `shared()`: a generator-based context manager per write request
        costs ~2% of one.)"""
        while not self.try_enter_shared():
            await self._open.wait()

    def try_enter_shared(self) -> bool:
        """Take the gate shared if that needs no wait; pair a True with `leave_shared`.
        (Most writes find the gate open: this spares them a coroutine.)"""
        if not self._open.is_set():
            return False
        self._shared += 1
        self._idle.clear()
        return True

    def leave_shared(self) -> None:
        self._shared -= 1
        if self._shared == 0:
            self._idle.set()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        async with self._exclusive:
            self._open.clear()
            try:
                while self._shared:
                    await self._idle.wait()
                yield
            finally:
                self._open.set()


def gate_kind(method: str, path: str) -> str | None:
    """'exclusive', 'shared' or None (not gated) for a request."""
    if method in READ_METHODS:
        return None
    if path.startswith("/v1/"):  # the API's writes: the hot path, never whole-state
        return "shared"
    if (method, path) in EXCLUSIVE_REQUESTS:
        return "exclusive"
    if (method, path) in SELF_GATED_REQUESTS:
        return None
    if any(method == m and pattern.fullmatch(path) for m, pattern in EXCLUSIVE_PATTERNS):
        return "exclusive"
    if path.startswith(UNGATED_PREFIXES):
        return None
    return "shared"
