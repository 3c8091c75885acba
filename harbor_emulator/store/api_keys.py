"""SQL for API keys that fixtures or the control API define."""

from __future__ import annotations

from .db import Database, Row, Tx
from .rows import ApiKey


def _row(row: Row) -> ApiKey:
    return ApiKey(
        key=row["key"],
        workspace_id=row["workspace_id"],
        livemode=bool(row["livemode"]),
        scopes=frozenset(row["scopes"].split()),
        created_ms=row["created_ms"],
        revoked_ms=row["revoked_ms"],
    )


async def list_all(db: Database) -> list[ApiKey]:
    rows = await db.fetch_all("SELECT * FROM api_keys ORDER BY created_ms, key")
    return [_row(row) for row in rows]


async def insert(tx: Tx, key: ApiKey) -> None:
    await tx.execute(
        "INSERT INTO api_keys (key, workspace_id, livemode, scopes, created_ms, revoked_ms) "
        "VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET workspace_id = excluded.workspace_id, "
        "livemode = excluded.livemode, scopes = excluded.scopes, revoked_ms = NULL",
        (
            key.key,
            key.workspace_id,
            int(key.livemode),
            " ".join(sorted(key.scopes)),
            key.created_ms,
            key.revoked_ms,
        ),
    )


async def revoke(tx: Tx, key: str, now_ms: int) -> bool:
    changed = await tx.execute(
        "UPDATE api_keys SET revoked_ms = ? WHERE key = ? AND revoked_ms IS NULL", (now_ms, key)
    )
    return changed > 0
