"""SQL for open-sandbox keys: the test keys seen in requests and the workspace each adopted."""

from __future__ import annotations

from .db import Database, Row, Tx
from .rows import OpenSandboxKey


def _row(row: Row) -> OpenSandboxKey:
    return OpenSandboxKey(
        key=row["key"], workspace_id=row["workspace_id"], first_seen_ms=row["first_seen_ms"]
    )


async def list_all(db: Database) -> list[OpenSandboxKey]:
    rows = await db.fetch_all("SELECT * FROM open_sandbox_keys ORDER BY first_seen_ms, key")
    return [_row(row) for row in rows]


async def record(tx: Tx, key: str, workspace_id: str | None, now_ms: int) -> str | None:
    """Note a use of `key` naming `workspace_id` (or none); return the workspace it has adopted.

    The first committed workspace wins and never changes: a later or concurrent use naming
    another one leaves it as it is.
    """
    row = await tx.fetch_one(
        "INSERT INTO open_sandbox_keys (key, workspace_id, first_seen_ms) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET "
        "workspace_id = COALESCE(open_sandbox_keys.workspace_id, excluded.workspace_id) "
        "RETURNING workspace_id",
        (key, workspace_id, now_ms),
    )
    assert row is not None
    return row["workspace_id"]


async def put(tx: Tx, entry: OpenSandboxKey) -> None:
    """Fixtures: store `entry` as given; an entry without a workspace keeps the stored one."""
    await tx.execute(
        "INSERT INTO open_sandbox_keys (key, workspace_id, first_seen_ms) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET "
        "workspace_id = COALESCE(excluded.workspace_id, open_sandbox_keys.workspace_id), "
        "first_seen_ms = excluded.first_seen_ms",
        (entry.key, entry.workspace_id, entry.first_seen_ms),
    )
