"""SQL for events."""

from __future__ import annotations

import orjson

from . import pages
from .db import Database, Row, Tx
from .rows import Event

Keyset = tuple[int, str]  # (created_ms, id) of the last row of the previous page


def _row(row: Row) -> Event:
    return Event(
        id=row["id"],
        workspace_id=row["workspace_id"],
        livemode=bool(row["livemode"]),
        type=row["type"],
        payload_json=row["payload"],
        created_ms=row["created_ms"],
    )


async def insert(tx: Tx, event: Event) -> None:
    await tx.execute(
        "INSERT INTO events (id, workspace_id, livemode, type, payload, created_ms) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            event.id,
            event.workspace_id,
            int(event.livemode),
            event.type,
            event.payload_json,
            event.created_ms,
        ),
    )


# Every live endpoint of the event's workspace and mode, oldest first, as one JSON array of
# [id, status, patterns]: a webhook's inline patterns, a destination's live subscriptions.
_CANDIDATES = (
    "(SELECT json_group_array(json_array(e.id, e.status,"
    " CASE WHEN e.kind = 'webhook' THEN json(e.event_types) ELSE ("
    "  SELECT json_group_array(s.event_type) FROM subscriptions AS s"
    "  WHERE s.destination_id = e.id AND s.deleted_ms IS NULL) END))"
    " FROM (SELECT * FROM endpoints WHERE workspace_id = ?2 AND livemode = ?3"
    "  AND deleted_ms IS NULL ORDER BY created_ms, id) AS e)"
)


async def insert_with_candidates(tx: Tx, event: Event) -> list[tuple[str, str, list[str]]]:
    """Insert `event` and return the endpoints that may receive it, (id, status, patterns),
    in one round trip: event creation is the hot path, and each trip to the database
    thread costs as much as the statement itself."""
    rows = await tx.fetch_all(
        "INSERT INTO events (id, workspace_id, livemode, type, payload, created_ms) "
        f"VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING {_CANDIDATES} AS candidates",
        (
            event.id,
            event.workspace_id,
            int(event.livemode),
            event.type,
            event.payload_json,
            event.created_ms,
        ),
    )
    # SQLite's own JSON of ids, statuses and patterns: no numbers, so orjson reads it as json would.
    return [(c[0], c[1], c[2]) for c in orjson.loads(rows[0]["candidates"])]


async def exists(tx: Tx, event_id: str) -> bool:
    return await tx.fetch_one("SELECT 1 FROM events WHERE id = ?", (event_id,)) is not None


async def get(db: Database, event_id: str, livemode: bool) -> Event | None:
    row = await db.fetch_one(
        "SELECT * FROM events WHERE id = ? AND livemode = ?", (event_id, int(livemode))
    )
    return None if row is None else _row(row)


async def list_page(
    db: Database,
    *,
    workspace_id: str | None,
    livemode: bool | None,
    event_type: str | None,
    after: Keyset | None,
    limit: int,
) -> list[Event]:
    """Newest first; `limit` rows at most, starting after the keyset `after`.

    `workspace_id=None` covers every workspace (the dashboard's "All workspaces"),
    `livemode=None` both modes (the control API's listing).
    """
    filters = [
        (f"{column} = ?", value)
        for column, value in (("workspace_id", workspace_id), ("type", event_type))
        if value is not None
    ]
    sql, params = pages.newest_first("events", filters, livemode=livemode, after=after, limit=limit)
    return [_row(row) for row in await db.fetch_all(sql, params)]


async def in_range(
    db: Database,
    *,
    workspace_id: str,
    livemode: bool,
    since_ms: int,
    until_ms: int,
    event_type: str | None,
) -> list[Event]:
    """Events with since <= created < until, oldest first (backfill order)."""
    sql = (
        "SELECT * FROM events WHERE workspace_id = ? AND livemode = ? "
        "AND created_ms >= ? AND created_ms < ?"
    )
    params: list[object] = [workspace_id, int(livemode), since_ms, until_ms]
    if event_type is not None:
        sql += " AND type = ?"
        params.append(event_type)
    sql += " ORDER BY created_ms, id"
    return [_row(row) for row in await db.fetch_all(sql, params)]


async def list_all(db: Database) -> list[Event]:
    """Every event, oldest first (export)."""
    return [_row(row) for row in await db.fetch_all("SELECT * FROM events ORDER BY created_ms, id")]


async def insert_many(tx: Tx, rows: list[Event]) -> None:
    for event in rows:
        await insert(tx, event)
