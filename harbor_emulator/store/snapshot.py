"""SQL for the fixtures loader: does an id exist anywhere, deleted or not."""

from __future__ import annotations

from . import endpoints
from .db import Database, Tx
from .rows import Endpoint

Reader = Database | Tx


async def _exists(db: Reader, table: str, object_id: str) -> bool:
    row = await db.fetch_one(f"SELECT 1 FROM {table} WHERE id = ?", (object_id,))
    return row is not None


async def endpoint_exists(db: Reader, endpoint_id: str) -> bool:
    return await _exists(db, "endpoints", endpoint_id)


async def subscription_exists(db: Reader, subscription_id: str) -> bool:
    return await _exists(db, "subscriptions", subscription_id)


async def event_exists(db: Reader, event_id: str) -> bool:
    return await _exists(db, "events", event_id)


async def delivery_exists(db: Reader, delivery_id: str) -> bool:
    return await _exists(db, "deliveries", delivery_id)


async def live_endpoint(db: Reader, endpoint_id: str) -> Endpoint | None:
    return await endpoints.get(db, endpoint_id)
