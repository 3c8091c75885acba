"""The meta table: small named values of the emulator itself (clock, cursor secret)."""

from __future__ import annotations

from .db import Database, Tx


async def get(db: Database, key: str) -> str | None:
    row = await db.fetch_one("SELECT value FROM meta WHERE key = ?", (key,))
    return None if row is None else str(row["value"])


async def put(tx: Tx, key: str, value: str) -> None:
    await tx.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
