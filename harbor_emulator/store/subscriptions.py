"""SQL for subscriptions: which event-type patterns a destination receives."""

from __future__ import annotations

from collections.abc import Sequence

from .db import Database, Row, Tx
from .rows import Subscription

Keyset = tuple[int, str]
Reader = Database | Tx


def _row(row: Row) -> Subscription:
    return Subscription(
        id=row["id"],
        destination_id=row["destination_id"],
        workspace_id=row["workspace_id"],
        livemode=bool(row["livemode"]),
        event_type=row["event_type"],
        created_ms=row["created_ms"],
        deleted_ms=row["deleted_ms"],
    )


async def insert(tx: Tx, subscription: Subscription) -> None:
    """Store `subscription` as given; ids may come from fixtures. No duplicate check:
    callers that want one use `find_live` in the same transaction."""
    await tx.execute(
        "INSERT INTO subscriptions (id, destination_id, workspace_id, livemode, event_type, "
        "created_ms, deleted_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            subscription.id,
            subscription.destination_id,
            subscription.workspace_id,
            int(subscription.livemode),
            subscription.event_type,
            subscription.created_ms,
            subscription.deleted_ms,
        ),
    )


async def get(db: Reader, subscription_id: str, livemode: bool) -> Subscription | None:
    row = await db.fetch_one(
        "SELECT * FROM subscriptions WHERE id = ? AND livemode = ? AND deleted_ms IS NULL",
        (subscription_id, int(livemode)),
    )
    return None if row is None else _row(row)


async def find_live(db: Reader, destination_id: str, event_type: str) -> Subscription | None:
    """The destination's live subscription to exactly this pattern, if any."""
    row = await db.fetch_one(
        "SELECT * FROM subscriptions WHERE destination_id = ? AND event_type = ? "
        "AND deleted_ms IS NULL ORDER BY created_ms, id LIMIT 1",
        (destination_id, event_type),
    )
    return None if row is None else _row(row)


async def list_page(
    db: Reader,
    *,
    workspace_id: str,
    livemode: bool,
    destination_id: str | None,
    after: Keyset | None,
    limit: int,
) -> list[Subscription]:
    """Newest first; `limit` rows at most, starting after the keyset `after`."""
    sql = (
        "SELECT * FROM subscriptions WHERE workspace_id = ? AND livemode = ? AND deleted_ms IS NULL"
    )
    params: list[object] = [workspace_id, int(livemode)]
    if destination_id is not None:
        sql += " AND destination_id = ?"
        params.append(destination_id)
    if after is not None:
        sql += " AND (created_ms, id) < (?, ?)"
        params.extend(after)
    sql += " ORDER BY created_ms DESC, id DESC LIMIT ?"
    params.append(limit)
    return [_row(row) for row in await db.fetch_all(sql, params)]


async def list_all(db: Reader, *, include_deleted: bool = False) -> list[Subscription]:
    """Every subscription, oldest first (export)."""
    sql = "SELECT * FROM subscriptions"
    if not include_deleted:
        sql += " WHERE deleted_ms IS NULL"
    rows = await db.fetch_all(sql + " ORDER BY created_ms, id")
    return [_row(row) for row in rows]


async def delete(tx: Tx, subscription_id: str, now_ms: int) -> bool:
    """Soft-delete; False if it was already gone."""
    changed = await tx.execute(
        "UPDATE subscriptions SET deleted_ms = ? WHERE id = ? AND deleted_ms IS NULL",
        (now_ms, subscription_id),
    )
    return changed > 0


async def delete_for_destination(tx: Tx, destination_id: str, now_ms: int) -> None:
    await tx.execute(
        "UPDATE subscriptions SET deleted_ms = ? WHERE destination_id = ? AND deleted_ms IS NULL",
        (now_ms, destination_id),
    )


async def patterns_by_destination(
    db: Reader, destination_ids: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """Each destination's live patterns; destinations without any are left out."""
    if not destination_ids:
        return {}
    found: dict[str, list[str]] = {}
    # Chunked to stay under SQLite's bound-parameter limit for any --max-endpoints.
    for start in range(0, len(destination_ids), 500):
        chunk = list(destination_ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        rows = await db.fetch_all(
            f"SELECT destination_id, event_type FROM subscriptions "
            f"WHERE deleted_ms IS NULL AND destination_id IN ({marks}) ORDER BY created_ms, id",
            chunk,
        )
        for row in rows:
            found.setdefault(row["destination_id"], []).append(row["event_type"])
    return {key: tuple(value) for key, value in found.items()}
