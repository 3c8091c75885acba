"""Group commit: a failing write in a batch affects only itself, on a real SQLite file;
inline writes run a whole batch on the database thread in one trip."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harbor_emulator.store import workspaces
from harbor_emulator.store.db import Database, Tx, WriteWork
from tests.waiting import gather_within

# A batch of a few writes commits in milliseconds; this is only for a loaded machine.
BATCH_TIMEOUT_SECONDS = 20


def _ensure(workspace_id: str) -> WriteWork[str]:
    async def work(tx: Tx) -> str:
        await workspaces.ensure(tx, workspace_id, 0)
        return workspace_id

    return work


async def _broken(tx: Tx) -> None:
    await workspaces.ensure(tx, "ws_broken", 0)
    raise ValueError("this write fails after writing")


@pytest.mark.parametrize("ways", ["write", "write_inline", "mixed"])
def test_a_failing_write_does_not_sink_its_batch_of_any_kind(tmp_path: Path, ways: str) -> None:
    async def scenario() -> tuple[list[object], set[str]]:
        db = await Database.open(str(tmp_path / "state.db"))
        try:
            first = db.write_inline if ways != "write" else db.write
            other = db.write if ways != "write_inline" else db.write_inline
            # Bounded: a batch retry that loses a write's future fails here, naming it,
            # rather than at pytest-timeout's limit.
            outcomes = await gather_within(
                {
                    "ws_a": first(_ensure("ws_a")),
                    "broken": other(_broken),
                    "ws_b": first(_ensure("ws_b")),
                    "ws_c": other(_ensure("ws_c")),
                    "ws_d": first(_ensure("ws_d")),
                },
                timeout=BATCH_TIMEOUT_SECONDS,
            )
            return outcomes, await workspaces.all_ids(db)
        finally:
            await db.close()

    outcomes, stored = asyncio.run(scenario())
    broken = outcomes.pop("broken")
    assert isinstance(broken, ValueError), broken
    assert outcomes == {name: name for name in ("ws_a", "ws_b", "ws_c", "ws_d")}
    assert stored == {"ws_a", "ws_b", "ws_c", "ws_d"}


def test_a_batch_of_inline_writes_is_one_trip_to_the_database_thread(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")

    async def scenario() -> tuple[list[str], int]:
        db = await Database.open(path)
        trips = 0
        run_on_thread = db._run_on_thread
        assert run_on_thread is not None

        async def counting(*args: object) -> object:
            nonlocal trips
            trips += 1
            return await run_on_thread(*args)  # type: ignore[misc]

        db._run_on_thread = counting  # type: ignore[assignment]
        try:
            names = [f"ws_{n}" for n in range(20)]
            works = {name: db.write_inline(_ensure(name)) for name in names}
            return list((await gather_within(works, BATCH_TIMEOUT_SECONDS)).values()), trips
        finally:
            await db.close()

    results, trips = asyncio.run(scenario())
    assert results == [f"ws_{n}" for n in range(20)]
    assert trips == 1  # 20 works and their commit; a plain write takes 21 trips or more

    async def reopened() -> set[str]:  # committed: on disk, for another connection
        db = await Database.open(path)
        try:
            return await workspaces.all_ids(db)
        finally:
            await db.close()

    assert asyncio.run(reopened()) == {f"ws_{n}" for n in range(20)}


def test_an_inline_write_that_awaits_anything_else_fails_and_stores_nothing(
    tmp_path: Path,
) -> None:
    async def sleeps(tx: Tx) -> None:
        await workspaces.ensure(tx, "ws_sleepy", 0)
        await asyncio.sleep(0)  # not the database: this work may not run inline

    async def scenario() -> tuple[list[object], set[str]]:
        db = await Database.open(str(tmp_path / "state.db"))
        try:
            works = {"sleeps": db.write_inline(sleeps), "ws_ok": db.write_inline(_ensure("ws_ok"))}
            outcomes = await gather_within(works, BATCH_TIMEOUT_SECONDS)
            return outcomes, await workspaces.all_ids(db)
        finally:
            await db.close()

    outcomes, stored = asyncio.run(scenario())
    assert isinstance(outcomes["sleeps"], RuntimeError) and "awaited" in str(outcomes["sleeps"])
    assert outcomes["ws_ok"] == "ws_ok"
    assert stored == {"ws_ok"}


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 999")

    async def scenario() -> None:
        await Database.open(str(path))

    with pytest.raises(RuntimeError, match="newer than this emulator"):
        asyncio.run(scenario())
