"""SQL for endpoints: webhooks and destinations, one table told apart by `kind`.

Deleted endpoints stay as rows with `deleted_ms` so their deliveries stay readable; every
lookup here skips them. Deleting and resuming also change the endpoint's deliveries, in
the caller's transaction, because the contract makes those one step.
"""

from __future__ import annotations

import json

from . import deliveries, signing_keys, subscriptions
from .db import Database, Row, Tx
from .rows import Endpoint, SigningKey

Keyset = tuple[int, str]  # (created_ms, id) of the last row of the previous page
Reader = Database | Tx

KINDS = ("webhook", "destination")
STATUSES = ("active", "paused")


def _row(row: Row) -> Endpoint:
    event_types = row["event_types"]
    return Endpoint(
        id=row["id"],
        kind=row["kind"],
        workspace_id=row["workspace_id"],
        livemode=bool(row["livemode"]),
        url=row["url"],
        label=row["label"],
        event_types=None if event_types is None else tuple(json.loads(event_types)),
        metadata_json=row["metadata"],
        retry_policy_json=row["retry_policy"],
        status=row["status"],
        created_ms=row["created_ms"],
        updated_ms=row["updated_ms"],
        deleted_ms=row["deleted_ms"],
    )


async def insert(tx: Tx, endpoint: Endpoint, *, secret: str, key_id: str) -> SigningKey:
    """Store `endpoint` as given (ids and secrets may come from fixtures) with its first,
    current signing key `key_id` holding `secret`."""
    await tx.execute(
        "INSERT INTO endpoints (id, kind, workspace_id, livemode, url, label, event_types, "
        "metadata, retry_policy, status, created_ms, updated_ms, deleted_ms) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            endpoint.id,
            endpoint.kind,
            endpoint.workspace_id,
            int(endpoint.livemode),
            endpoint.url,
            endpoint.label,
            None if endpoint.event_types is None else json.dumps(list(endpoint.event_types)),
            endpoint.metadata_json,
            endpoint.retry_policy_json,
            endpoint.status,
            endpoint.created_ms,
            endpoint.updated_ms,
            endpoint.deleted_ms,
        ),
    )
    key = SigningKey(key_id, endpoint.id, secret, endpoint.created_ms, None)
    await signing_keys.insert(tx, key)
    return key


async def get(
    db: Reader, endpoint_id: str, *, kind: str | None = None, livemode: bool | None = None
) -> Endpoint | None:
    """The live (not deleted) endpoint `endpoint_id`, if it is of `kind` and mode."""
    sql = "SELECT * FROM endpoints WHERE id = ? AND deleted_ms IS NULL"
    params: list[object] = [endpoint_id]
    if kind is not None:
        sql += " AND kind = ?"
        params.append(kind)
    if livemode is not None:
        sql += " AND livemode = ?"
        params.append(int(livemode))
    row = await db.fetch_one(sql, params)
    return None if row is None else _row(row)


async def get_any(db: Reader, endpoint_id: str) -> Endpoint | None:
    """The endpoint even if deleted: deliveries keep pointing at deleted endpoints."""
    row = await db.fetch_one("SELECT * FROM endpoints WHERE id = ?", (endpoint_id,))
    return None if row is None else _row(row)


async def list_page(
    db: Reader,
    *,
    kind: str | None,
    workspace_id: str | None,
    livemode: bool | None,
    status: str | None,
    after: Keyset | None,
    limit: int,
) -> list[Endpoint]:
    """Newest first; `limit` rows at most, starting after the keyset `after`.

    `workspace_id=None` covers every workspace (the dashboard's "All workspaces");
    `kind=None` webhooks and destinations together, `livemode=None` both modes (the
    control API's listing).
    """
    sql = "SELECT * FROM endpoints WHERE deleted_ms IS NULL"
    params: list[object] = []
    for column, value in (
        ("livemode", None if livemode is None else int(livemode)),
        ("kind", kind),
        ("workspace_id", workspace_id),
        ("status", status),
    ):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    if after is not None:
        sql += " AND (created_ms, id) < (?, ?)"
        params.extend(after)
    sql += " ORDER BY created_ms DESC, id DESC LIMIT ?"
    params.append(limit)
    return [_row(row) for row in await db.fetch_all(sql, params)]


async def list_all(db: Reader, *, include_deleted: bool = False) -> list[Endpoint]:
    """Every endpoint of every workspace, oldest first (export)."""
    sql = "SELECT * FROM endpoints"
    if not include_deleted:
        sql += " WHERE deleted_ms IS NULL"
    sql += " ORDER BY created_ms, id"
    return [_row(row) for row in await db.fetch_all(sql)]


async def count_live(db: Reader, workspace_id: str, livemode: bool) -> int:
    """Webhooks and destinations together, deleted ones excluded: what the limit counts."""
    row = await db.fetch_one(
        "SELECT COUNT(*) AS n FROM endpoints "
        "WHERE workspace_id = ? AND livemode = ? AND deleted_ms IS NULL",
        (workspace_id, int(livemode)),
    )
    return 0 if row is None else int(row["n"])


async def update(tx: Tx, endpoint: Endpoint) -> None:
    """Write back the mutable fields of `endpoint` (url, label, patterns, metadata,
    retry policy, status, updated_ms)."""
    await tx.execute(
        "UPDATE endpoints SET url = ?, label = ?, event_types = ?, metadata = ?, "
        "retry_policy = ?, status = ?, updated_ms = ? WHERE id = ?",
        (
            endpoint.url,
            endpoint.label,
            None if endpoint.event_types is None else json.dumps(list(endpoint.event_types)),
            endpoint.metadata_json,
            endpoint.retry_policy_json,
            endpoint.status,
            endpoint.updated_ms,
            endpoint.id,
        ),
    )


async def soft_delete(tx: Tx, endpoint_id: str, now_ms: int) -> None:
    """Delete the endpoint, cancel its pending and held deliveries, delete its subscriptions."""
    await tx.execute(
        "UPDATE endpoints SET deleted_ms = ?, updated_ms = ? WHERE id = ?",
        (now_ms, now_ms, endpoint_id),
    )
    await deliveries.cancel_for_endpoint(tx, endpoint_id)
    await subscriptions.delete_for_destination(tx, endpoint_id, now_ms)


async def live_with_patterns(
    db: Reader, *, workspace_id: str, livemode: bool
) -> list[tuple[Endpoint, tuple[str, ...]]]:
    """The live endpoints of a workspace, paused ones included, oldest first, each with the
    event-type patterns it subscribes to (a webhook's own list, a destination's
    subscriptions).

    A workspace holds at most `max_endpoints` endpoints, so the caller matches the patterns
    with the one matcher (`domain.patterns.matches_any`) rather than SQL.
    """
    rows = await db.fetch_all(
        "SELECT * FROM endpoints WHERE workspace_id = ? AND livemode = ? "
        "AND deleted_ms IS NULL ORDER BY created_ms, id",
        (workspace_id, int(livemode)),
    )
    candidates = [_row(row) for row in rows]
    patterns = await subscriptions.patterns_by_destination(
        db, [e.id for e in candidates if e.kind == "destination"]
    )
    return [
        (
            endpoint,
            tuple(
                endpoint.event_types
                if endpoint.event_types is not None
                else patterns.get(endpoint.id, ())
            ),
        )
        for endpoint in candidates
    ]
