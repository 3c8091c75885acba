"""Seeded mode and the in-memory state: what reset, start and snapshot restore share.

A seeded emulator (`--seed N`, `POST /_control/reset {"seed": N}`) draws every id, secret
and fault from generators seeded with N, starts with its clock frozen at `--start-time`,
signs with emulator time and runs one attempt at a time, so the same requests give the
same bytes (contract: Determinism and snapshots).
"""

from __future__ import annotations

import secrets
from typing import Any

from ..core.clock import ClockState, parse_timestamp
from ..core.errors import HarborError
from ..core.randomness import DEFAULT_SEEDED_START, check_seed
from ..domain.pagination import CursorCodec
from ..store import backups, meta
from ..store.db import Database, Tx

CURSOR_SECRET_KEY = "cursor_secret"
RESET_FIELDS = ("seed",)
# One attempt in flight at a time: attempts finish, and take their ids, in due order.
SEEDED_CONCURRENCY = 1


def parse_reset(body: dict[str, Any]) -> int | None:
    """The seed a reset asks for (None: keep the current mode)."""
    unknown = [name for name in body if name not in RESET_FIELDS]
    if unknown:
        raise HarborError(
            "invalid_parameter", f"Unknown field {unknown[0][:100]!r}.", param=unknown[0][:100]
        )
    seed = body.get("seed")
    if seed is None:
        return None
    try:
        return check_seed(seed)
    except ValueError:
        raise HarborError(
            "invalid_parameter", "'seed' must be an integer from -2^63 to 2^63-1.", param="seed"
        ) from None


def start_clock(state: Any) -> None:
    """The clock of a fresh state: frozen at --start-time (a seeded run's default:
    2026-01-01T00:00:00Z), else host time, running."""
    start = state.config.start_time
    if start is None and state.random.seeded:
        start = DEFAULT_SEEDED_START
    if start is None:
        state.clock.reset()
    else:
        state.clock.restore(ClockState(0.0, parse_timestamp(start, "start_time")))


def apply_mode(state: Any) -> None:
    """Delivery settings that follow the mode: seeded runs send one attempt at a time."""
    seeded = state.random.seeded
    state.scheduler.set_concurrency(
        SEEDED_CONCURRENCY if seeded else state.config.delivery_concurrency
    )


async def cursor_codec(state: Any) -> CursorCodec:
    """Seeded: a secret derived from the seed, so cursors repeat across runs. Otherwise a
    per-database secret, so cursors stay valid across restarts with --db."""
    derived = state.random.derived_secret("cursors")
    if derived is not None:
        return CursorCodec(derived)
    return CursorCodec(await _stored_cursor_secret(state.db))


async def _stored_cursor_secret(db: Database) -> bytes:
    stored = await meta.get(db, CURSOR_SECRET_KEY)
    if stored is not None:
        return bytes.fromhex(stored)
    # A per-database secret: not part of what a seed reproduces (cursors use the derived one).
    secret = secrets.token_bytes(32)

    async def work(tx: Tx) -> None:
        await meta.put(tx, CURSOR_SECRET_KEY, secret.hex())

    await db.write(work)
    return secret


async def observe_stored_ids(state: Any) -> None:
    """New ids stay above stored ones, even when a seeded run restarts on its --db file
    and its generators start over."""
    for object_id in await backups.newest_ids(state.db):
        state.ids.observe(object_id)


def dump_memory(state: Any) -> dict[str, Any]:
    """Everything of the state that lives outside the database, as JSON (sinks and faults
    are in the database)."""
    clock = state.clock
    return {
        "clock": {"now_ms": clock.now_ms(), "frozen": clock.frozen},
        "random": state.random.dump(),
        "ids": state.ids.dump(),
    }


async def load_memory(state: Any, memory: dict[str, Any]) -> None:
    """Put back what `dump_memory` saved. The clock resumes from the saved instant."""
    clock = memory.get("clock")
    if clock is not None:
        state.clock.restore(ClockState(0.0, int(clock["now_ms"])))
        if not clock["frozen"]:
            state.clock.unfreeze()
    dumped = memory.get("random", {})
    if dumped.get("seed") is not None:
        # Seeded: the generators go back too, so what follows a restore repeats exactly.
        state.random.load(dumped)
        state.ids.load(memory.get("ids", {}))
    elif state.random.seeded:
        state.random.reseed(None)
    # Unseeded ids never go back: an id handed out after the save is not made again.
    # Sinks and faults are in the database, restored with it; a snapshot saved before they
    # were held them here.
    if "sinks" in memory:
        await state.sinks.load_dumped(memory["sinks"])
    if "faults" in memory:
        await state.faults.load_dumped(memory["faults"])
    else:
        await state.faults.reload()
    await observe_stored_ids(state)
