"""Keyset pages of events and deliveries: every filter walks each row once, newest first,
and reads an index range rather than scanning the table (issue 20: flat pages at scale)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from harbor_emulator.store import deliveries, events, workspaces
from harbor_emulator.store.db import Database, Tx
from harbor_emulator.store.rows import Delivery, Event
from tests.waiting import rounds

WORKSPACES = ("ws_a", "ws_b")
TYPES = ("order.paid", "order.created", "invoice.paid")
EVENTS = 150
ENDPOINT_BY_MODE = {False: "wh_test", True: "wh_live"}


def _event(i: int) -> Event:
    # Four events per millisecond, inserted out of id order: the keyset's id tie-break
    # and the merge of the two modes both have to hold for the walk to come out right.
    return Event(
        id=f"evt_{(i * 37) % EVENTS:04d}",
        workspace_id=WORKSPACES[i % 2],
        livemode=i % 5 == 0,
        type=TYPES[i % 3],
        payload_json="{}",
        created_ms=1_000 + i // 4,
    )


def _delivery(event: Event) -> Delivery:
    return Delivery(
        id=event.id.replace("evt_", "dlv_"),
        event_id=event.id,
        endpoint_id=ENDPOINT_BY_MODE[event.livemode],
        workspace_id=event.workspace_id,
        livemode=event.livemode,
        event_type=event.type,
        status="succeeded" if event.created_ms % 2 else "pending",
        attempt_count=0,
        response_code=None,
        envelope=b"{}",
        first_attempt_ms=None,
        last_attempt_ms=None,
        next_attempt_ms=None,
        created_ms=event.created_ms,
    )


ALL_EVENTS = [_event(i) for i in range(EVENTS)]
ALL_DELIVERIES = [_delivery(e) for e in ALL_EVENTS if e.type != "order.created"]


async def _fill(db: Database) -> None:
    async def work(tx: Tx) -> None:
        for workspace_id in WORKSPACES:
            await workspaces.ensure(tx, workspace_id, 0)
        for livemode, endpoint_id in ENDPOINT_BY_MODE.items():
            await tx.execute(
                "INSERT INTO endpoints (id, kind, workspace_id, livemode, url, status,"
                " created_ms, updated_ms) VALUES (?, 'webhook', 'ws_a', ?, 'http://x', "
                "'active', 0, 0)",
                (endpoint_id, int(livemode)),
            )
        await events.insert_many(tx, ALL_EVENTS)
        await deliveries.insert_many(tx, ALL_DELIVERIES)

    await db.write(work)


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pages") / "state.db"

    async def build() -> None:
        db = await Database.open(str(path))
        try:
            await _fill(db)
        finally:
            await db.close()

    asyncio.run(build())
    return path


def _newest_first(rows: list[Any]) -> list[str]:
    return [r.id for r in sorted(rows, key=lambda r: (r.created_ms, r.id), reverse=True)]


async def _walk(lister: Any, **filters: Any) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in rounds(1000, seen):
        page = await lister(**filters, after=after, limit=7)
        seen += [row.id for row in page]
        if len(page) < 7:
            return seen
        after = (page[-1].created_ms, page[-1].id)


EVENT_FILTERS = [
    {"workspace_id": w, "livemode": m, "event_type": t}
    for w in (None, "ws_a")
    for m in (None, False, True)
    for t in (None, "order.paid")
]
DELIVERY_FILTERS = [
    {"workspace_id": w, "livemode": m, "status": None, "event_id": None, "endpoint_id": None}
    for w in (None, "ws_b")
    for m in (None, False, True)
] + [
    {"workspace_id": None, "livemode": None, "status": "pending", "event_id": None,
     "endpoint_id": "wh_test"},
    {"workspace_id": "ws_a", "livemode": False, "status": None, "event_id": None,
     "endpoint_id": "wh_test", "event_type": "order.*"},
    {"workspace_id": None, "livemode": None, "status": None, "event_id": "evt_0000",
     "endpoint_id": None},
]  # fmt: skip


def _matches(row: Any, filters: dict[str, Any]) -> bool:
    for name, value in filters.items():
        if value is None:
            continue
        if name == "event_type":
            row_type = row.type if isinstance(row, Event) else row.event_type
            wanted = value[:-1] if value.endswith(".*") else None
            if row_type != value and not (wanted and row_type.startswith(wanted)):
                return False
        elif getattr(row, name) != value:
            return False
    return True


@pytest.mark.parametrize("filters", EVENT_FILTERS, ids=str)
def test_an_events_walk_by_cursor_shows_every_row_once_newest_first(
    db_path: Path, filters: dict[str, Any]
) -> None:
    async def scenario() -> list[str]:
        db = await Database.open(str(db_path))
        try:
            return await _walk(lambda **kw: events.list_page(db, **kw), **filters)
        finally:
            await db.close()

    expected = _newest_first([e for e in ALL_EVENTS if _matches(e, filters)])
    assert expected and asyncio.run(scenario()) == expected


@pytest.mark.parametrize("filters", DELIVERY_FILTERS, ids=str)
def test_a_deliveries_walk_by_cursor_shows_every_row_once_newest_first(
    db_path: Path, filters: dict[str, Any]
) -> None:
    async def scenario() -> list[str]:
        db = await Database.open(str(db_path))
        try:
            return await _walk(lambda **kw: deliveries.list_page(db, **kw), **filters)
        finally:
            await db.close()

    expected = _newest_first([d for d in ALL_DELIVERIES if _matches(d, filters)])
    assert expected and asyncio.run(scenario()) == expected


class _Recorder:
    """Stands in for the Database: keeps the SQL a list would run."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, list[object]]] = []

    async def fetch_all(self, sql: str, params: list[object]) -> list[Any]:
        self.queries.append((sql, list(params)))
        return []


def _plan(db_path: Path, lister: Any, **filters: Any) -> list[str]:
    recorder = _Recorder()
    asyncio.run(lister(recorder, **filters, after=(1_010, "evt_0100"), limit=25))
    (sql, params), = recorder.queries  # fmt: skip
    with sqlite3.connect(db_path) as conn:
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


@pytest.mark.parametrize("livemode", [False, None])
@pytest.mark.parametrize("workspace_id", [None, "ws_a"])
def test_a_page_reads_an_index_range_not_the_whole_table(
    db_path: Path, workspace_id: str | None, livemode: bool | None
) -> None:
    event_plan = _plan(
        db_path, events.list_page, workspace_id=workspace_id, livemode=livemode, event_type=None
    )
    delivery_plan = _plan(
        db_path,
        deliveries.list_page,
        workspace_id=workspace_id,
        livemode=livemode,
        status=None,
        event_id=None,
        endpoint_id=None,
    )
    index = "by_mode" if workspace_id is None else "by_time"
    for table, plan in (("events", event_plan), ("deliveries", delivery_plan)):
        searches = [step for step in plan if step.startswith(f"SEARCH {table}")]
        # The keyset bounds the range: the index is read from the cursor down.
        assert searches and all(
            f"{table}_{index}" in step and "(created_ms,id)<(?,?)" in step for step in searches
        ), plan
        assert not any(step.startswith(f"SCAN {table}") for step in plan), plan


def test_the_deliveries_of_one_event_are_read_through_the_event_index(db_path: Path) -> None:
    plan = _plan(
        db_path,
        deliveries.list_page,
        workspace_id="ws_a",
        livemode=False,
        status=None,
        event_id="evt_0000",
        endpoint_id=None,
    )
    assert any("deliveries_by_event (event_id=?)" in step for step in plan), plan
