"""SQL for the fixtures loader: does an id exist anywhere, deleted or not."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from . import endpoints
from .db import Database, Tx
from .rows import Endpoint

Reader = Database | Tx


# The tables whose ids a fixtures document may give.
ID_TABLES = ("endpoints", "subscriptions", "events", "deliveries")


async def stored_ids(db: Reader, ids: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    """Which of `ids` (by table, one of ID_TABLES) are stored, deleted or not: one query for
    a whole document, where a query per id cost a trip to the database thread each (a sixth
    of loading a small document; thousands of trips for an export)."""
    found: dict[str, set[str]] = {table: set() for table in ID_TABLES}
    asked = [table for table in ID_TABLES if ids.get(table)]
    if not asked:
        return found
    # json_each takes any number of ids in one parameter; each is an index search.
    sql = " UNION ALL ".join(
        f"SELECT '{table}', id FROM {table} WHERE id IN (SELECT value FROM json_each(?))"
        for table in asked
    )
    for table, object_id in await db.fetch_all(sql, [json.dumps(list(ids[t])) for t in asked]):
        found[table].add(object_id)
    return found


async def live_endpoint(db: Reader, endpoint_id: str) -> Endpoint | None:
    return await endpoints.get(db, endpoint_id)
