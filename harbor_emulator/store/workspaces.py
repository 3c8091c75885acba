"""SQL for workspaces."""

from __future__ import annotations

from .db import Database, Row, Tx
from .rows import Workspace


def _row(row: Row) -> Workspace:
    return Workspace(id=row["id"], name=row["name"], created_ms=row["created_ms"])


async def all_ids(db: Database) -> set[str]:
    return {row["id"] for row in await db.fetch_all("SELECT id FROM workspaces")}


async def get(db: Database, workspace_id: str) -> Workspace | None:
    row = await db.fetch_one("SELECT * FROM workspaces WHERE id = ?", (workspace_id,))
    return None if row is None else _row(row)


async def list_all(db: Database) -> list[Workspace]:
    rows = await db.fetch_all("SELECT * FROM workspaces ORDER BY created_ms, id")
    return [_row(row) for row in rows]


async def ensure(tx: Tx, workspace_id: str, now_ms: int) -> None:
    """Create the workspace if it does not exist (open sandbox: created on first use)."""
    await tx.execute(
        "INSERT OR IGNORE INTO workspaces (id, name, created_ms) VALUES (?, NULL, ?)",
        (workspace_id, now_ms),
    )


async def upsert(tx: Tx, workspace_id: str, name: str | None, now_ms: int) -> Workspace:
    await tx.execute(
        "INSERT INTO workspaces (id, name, created_ms) VALUES (?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET name = COALESCE(excluded.name, workspaces.name)",
        (workspace_id, name, now_ms),
    )
    row = await tx.fetch_one("SELECT * FROM workspaces WHERE id = ?", (workspace_id,))
    assert row is not None
    return _row(row)
