"""SQL for stored idempotent responses."""

from __future__ import annotations

from .db import Database, Tx
from .rows import IdempotencyRecord


async def get(db: Database, api_key: str, idempotency_key: str) -> IdempotencyRecord | None:
    row = await db.fetch_one(
        "SELECT * FROM idempotency_keys WHERE api_key = ? AND idempotency_key = ?",
        (api_key, idempotency_key),
    )
    if row is None:
        return None
    return IdempotencyRecord(
        api_key=row["api_key"],
        idempotency_key=row["idempotency_key"],
        fingerprint=row["fingerprint"],
        status=row["status"],
        body=bytes(row["body"]),
        created_ms=row["created_ms"],
    )


async def put(tx: Tx, record: IdempotencyRecord) -> None:
    # An expired record under the same key is replaced: after 24 h the key is free again.
    await tx.execute(
        "INSERT OR REPLACE INTO idempotency_keys "
        "(api_key, idempotency_key, fingerprint, status, body, created_ms) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            record.api_key,
            record.idempotency_key,
            record.fingerprint,
            record.status,
            record.body,
            record.created_ms,
        ),
    )
