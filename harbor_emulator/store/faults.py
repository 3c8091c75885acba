"""SQL for injected faults: each fault, in creation order, and where it stands."""

from __future__ import annotations

from collections.abc import Iterable

from .db import Database, Tx
from .rows import StoredFault

_COLUMNS = "id, fields, remaining, fired_count, rng_state"


async def list_all(db: Database) -> list[StoredFault]:
    """Every fault in the order they are consulted (creation order)."""
    rows = await db.fetch_all(f"SELECT {_COLUMNS} FROM faults ORDER BY seq")
    return [
        StoredFault(
            id=row["id"],
            fields_json=row["fields"],
            remaining=row["remaining"],
            fired_count=row["fired_count"],
            rng_state_json=row["rng_state"],
        )
        for row in rows
    ]


async def insert(tx: Tx, faults: Iterable[StoredFault]) -> None:
    await tx.executemany(
        f"INSERT INTO faults ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
        [(f.id, f.fields_json, f.remaining, f.fired_count, f.rng_state_json) for f in faults],
    )


async def update_standing(tx: Tx, faults: Iterable[StoredFault]) -> None:
    """Store where each fault stands now (a fault removed meanwhile stays removed)."""
    await tx.executemany(
        "UPDATE faults SET remaining = ?, fired_count = ?, rng_state = ? WHERE id = ?",
        [(f.remaining, f.fired_count, f.rng_state_json, f.id) for f in faults],
    )


async def delete(tx: Tx, fault_id: str) -> bool:
    return await tx.execute("DELETE FROM faults WHERE id = ?", (fault_id,)) > 0


async def clear(tx: Tx) -> None:
    await tx.execute("DELETE FROM faults")
