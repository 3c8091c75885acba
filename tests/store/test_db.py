"""Group commit: a failing write in a batch affects only itself, on a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harbor_emulator.store import workspaces
from harbor_emulator.store.db import Database, Tx


def test_a_failing_write_does_not_sink_its_batch(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[object], set[str]]:
        db = await Database.open(str(tmp_path / "state.db"))
        try:

            def ensure(workspace_id: str):
                async def work(tx: Tx) -> str:
                    await workspaces.ensure(tx, workspace_id, 0)
                    return workspace_id

                return work

            async def broken(tx: Tx) -> None:
                await workspaces.ensure(tx, "ws_broken", 0)
                raise ValueError("this write fails after writing")

            # Queued together, so they share one batch.
            outcomes = await asyncio.gather(
                db.write(ensure("ws_a")),
                db.write(broken),
                db.write(ensure("ws_b")),
                return_exceptions=True,
            )
            return outcomes, await workspaces.all_ids(db)
        finally:
            await db.close()

    outcomes, stored = asyncio.run(scenario())
    assert outcomes[0] == "ws_a" and outcomes[2] == "ws_b"
    assert isinstance(outcomes[1], ValueError)
    assert stored == {"ws_a", "ws_b"}


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 999")

    async def scenario() -> None:
        await Database.open(str(path))

    with pytest.raises(RuntimeError, match="newer than this emulator"):
        asyncio.run(scenario())
