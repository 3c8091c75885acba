"""SQL for signing keys: every secret an endpoint has had, and until when each signs.

A key is valid while `expires_ms` is NULL (the current key) or later than now on the
emulator clock; at exactly `expires_ms` it has expired. No key expires later than the
clock's end (docs/limits.md): rotated at the end itself, the previous key has expired.
"""

from __future__ import annotations

from ..core.clock import MAX_MS
from .db import Database, Row, Tx
from .rows import SigningKey

Keyset = tuple[int, str]
Reader = Database | Tx

_VALID = "(expires_ms IS NULL OR expires_ms > ?)"


def _row(row: Row) -> SigningKey:
    return SigningKey(
        id=row["id"],
        endpoint_id=row["endpoint_id"],
        secret=row["secret"],
        created_ms=row["created_ms"],
        expires_ms=row["expires_ms"],
    )


async def insert(tx: Tx, key: SigningKey) -> None:
    await tx.execute(
        "INSERT INTO signing_keys (id, endpoint_id, secret, created_ms, expires_ms) "
        "VALUES (?, ?, ?, ?, ?)",
        (key.id, key.endpoint_id, key.secret, key.created_ms, key.expires_ms),
    )


async def rotate(tx: Tx, new_key: SigningKey, expire_previous_ms: int) -> None:
    """Make `new_key` current; every older key expires at `expire_previous_ms` at the latest.

    A key that already expires earlier keeps its expiry: rotating never extends a key.
    """
    await tx.execute(
        "UPDATE signing_keys SET expires_ms = MIN(COALESCE(expires_ms, ?1), ?1) "
        "WHERE endpoint_id = ?2",
        (min(expire_previous_ms, MAX_MS), new_key.endpoint_id),
    )
    await insert(tx, new_key)


async def valid_secrets(db: Reader, endpoint_id: str, now_ms: int) -> list[str]:
    """The secrets a delivery at `now_ms` is signed with, newest first (current key first)."""
    rows = await db.fetch_all(
        f"SELECT secret FROM signing_keys WHERE endpoint_id = ? AND {_VALID} "
        "ORDER BY created_ms DESC, id DESC",
        (endpoint_id, now_ms),
    )
    return [row["secret"] for row in rows]


async def current(db: Reader, endpoint_id: str) -> SigningKey | None:
    """The key without an expiry (export writes its secret as the endpoint's secret)."""
    row = await db.fetch_one(
        "SELECT * FROM signing_keys WHERE endpoint_id = ? AND expires_ms IS NULL "
        "ORDER BY created_ms DESC, id DESC LIMIT 1",
        (endpoint_id,),
    )
    return None if row is None else _row(row)


async def list_page(
    db: Reader, *, endpoint_id: str, now_ms: int, after: Keyset | None, limit: int
) -> list[SigningKey]:
    """The keys still valid at `now_ms`, newest first."""
    sql = f"SELECT * FROM signing_keys WHERE endpoint_id = ? AND {_VALID}"
    params: list[object] = [endpoint_id, now_ms]
    if after is not None:
        sql += " AND (created_ms, id) < (?, ?)"
        params.extend(after)
    sql += " ORDER BY created_ms DESC, id DESC LIMIT ?"
    params.append(limit)
    return [_row(row) for row in await db.fetch_all(sql, params)]


async def list_all(db: Reader) -> list[SigningKey]:
    """Every key of every endpoint, expired ones included, oldest first (export)."""
    rows = await db.fetch_all("SELECT * FROM signing_keys ORDER BY endpoint_id, created_ms, id")
    return [_row(row) for row in rows]


async def replace_all(tx: Tx, endpoint_id: str, keys: list[SigningKey]) -> None:
    """Give an endpoint exactly these keys (fixtures that list an endpoint's key history)."""
    await tx.execute("DELETE FROM signing_keys WHERE endpoint_id = ?", (endpoint_id,))
    for key in keys:
        await insert(tx, key)
