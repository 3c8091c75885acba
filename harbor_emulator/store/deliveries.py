"""SQL for deliveries and their attempts: the persistent delivery queue."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import NamedTuple

from . import pages
from .db import Database, Row, Tx
from .rows import Attempt, Delivery, Target

Keyset = tuple[int, str]


def _delivery(row: Row) -> Delivery:
    return Delivery(
        id=row["id"],
        event_id=row["event_id"],
        endpoint_id=row["endpoint_id"],
        workspace_id=row["workspace_id"],
        livemode=bool(row["livemode"]),
        event_type=row["event_type"],
        status=row["status"],
        attempt_count=row["attempt_count"],
        response_code=row["response_code"],
        envelope=bytes(row["envelope"]),
        first_attempt_ms=row["first_attempt_ms"],
        last_attempt_ms=row["last_attempt_ms"],
        next_attempt_ms=row["next_attempt_ms"],
        created_ms=row["created_ms"],
        chaos_delay_seconds=row["chaos_delay_seconds"],
    )


def _attempt(row: Row) -> Attempt:
    return Attempt(
        id=row["id"],
        delivery_id=row["delivery_id"],
        attempt_number=row["attempt_number"],
        attempted_ms=row["attempted_ms"],
        duration_ms=row["duration_ms"],
        response_code=row["response_code"],
        response_body=row["response_body"],
        error=row["error"],
        request_headers=None
        if row["request_headers"] is None
        else json.loads(row["request_headers"]),
        error_detail=row["error_detail"],
        timeout_ms=row["timeout_ms"],
        response_headers=None
        if row["response_headers"] is None
        else tuple((name, value) for name, value in json.loads(row["response_headers"])),
        chaos=row["chaos"],
    )


def _headers_json(attempt: Attempt) -> str | None:
    return None if attempt.request_headers is None else json.dumps(attempt.request_headers)


# -- fan-out ----------------------------------------------------------------------------


async def insert_many(tx: Tx, deliveries: Sequence[Delivery]) -> None:
    await tx.executemany(
        "INSERT INTO deliveries (id, event_id, endpoint_id, workspace_id, livemode, event_type, "
        "status, attempt_count, response_code, envelope, first_attempt_ms, last_attempt_ms, "
        "next_attempt_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                d.id,
                d.event_id,
                d.endpoint_id,
                d.workspace_id,
                int(d.livemode),
                d.event_type,
                d.status,
                d.attempt_count,
                d.response_code,
                d.envelope,
                d.first_attempt_ms,
                d.last_attempt_ms,
                d.next_attempt_ms,
                d.created_ms,
            )
            for d in deliveries
        ],
    )


# -- the queue --------------------------------------------------------------------------


async def due(
    db: Database,
    *,
    horizon_ms: int,
    per_endpoint: int,
    limit: int,
    exclude: Collection[str] = (),
    full_endpoints: Collection[str] = (),
) -> list[tuple[Delivery, Target]]:
    """Pending deliveries due by `horizon_ms`, oldest due first, at most `per_endpoint` per
    endpoint (so a backlog for one endpoint cannot hide the others' due deliveries), each
    with its endpoint and signing keys: one round trip per dispatch. Deliveries in
    `exclude` (in flight: their rows are still pending) and endpoints in `full_endpoints`
    (no free slot) are left out, so they take none of the rows read."""
    # One index probe per endpoint (deliveries_due_by_endpoint), so the cost follows the
    # number of endpoints, not the size of the backlog.
    rows = await db.fetch_all(
        "SELECT d.*, e.url AS e_url, e.status AS e_status, e.deleted_ms AS e_deleted_ms,"
        " e.retry_policy AS e_retry_policy, (SELECT json_group_array(json_array(secret,"
        "  expires_ms)) FROM (SELECT secret, expires_ms FROM signing_keys AS k"
        "  WHERE k.endpoint_id = e.id ORDER BY k.created_ms DESC, k.id DESC)) AS e_keys"
        " FROM endpoints AS e JOIN deliveries AS d ON d.id IN ("
        "  SELECT id FROM deliveries WHERE endpoint_id = e.id AND status = 'pending'"
        "  AND next_attempt_ms <= :horizon AND id NOT IN (SELECT value FROM json_each(:exclude))"
        "  ORDER BY next_attempt_ms, id LIMIT :per_endpoint"
        ") WHERE e.id NOT IN (SELECT value FROM json_each(:full))"
        " ORDER BY d.next_attempt_ms, d.id LIMIT :limit",
        {
            "horizon": horizon_ms,
            "exclude": json.dumps(list(exclude)),
            "per_endpoint": per_endpoint,
            "full": json.dumps(list(full_endpoints)),
            "limit": limit,
        },
    )
    return [
        (
            _delivery(row),
            Target(
                endpoint_id=row["endpoint_id"],
                url=row["e_url"],
                status=row["e_status"],
                deleted=row["e_deleted_ms"] is not None,
                retry_policy_json=row["e_retry_policy"],
                keys=tuple((secret, expires) for secret, expires in json.loads(row["e_keys"])),
            ),
        )
        for row in rows
    ]


async def next_due_ms(db: Database) -> int | None:
    row = await db.fetch_one(
        "SELECT MIN(next_attempt_ms) AS at FROM deliveries WHERE status = 'pending'"
    )
    return None if row is None else row["at"]


async def count_due(db: Database, horizon_ms: int) -> int:
    row = await db.fetch_one(
        "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending' AND next_attempt_ms <= ?",
        (horizon_ms,),
    )
    return 0 if row is None else int(row["n"])


async def hold(tx: Tx, delivery_id: str) -> None:
    await tx.execute(
        "UPDATE deliveries SET status = 'held', next_attempt_ms = NULL "
        "WHERE id = ? AND status = 'pending'",
        (delivery_id,),
    )


async def cancel(tx: Tx, delivery_id: str) -> None:
    await tx.execute(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_ms = NULL "
        "WHERE id = ? AND status IN ('pending', 'held')",
        (delivery_id,),
    )


async def cancel_for_endpoint(tx: Tx, endpoint_id: str) -> None:
    """A deleted endpoint's pending and held deliveries are cancelled (contract)."""
    await tx.execute(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_ms = NULL "
        "WHERE endpoint_id = ? AND status IN ('pending', 'held')",
        (endpoint_id,),
    )


async def release_held(tx: Tx, endpoint_id: str, now_ms: int) -> int:
    """On resume each held delivery is attempted at once (contract); returns how many."""
    return await tx.execute(
        "UPDATE deliveries SET status = 'pending', next_attempt_ms = ? "
        "WHERE endpoint_id = ? AND status = 'held'",
        (now_ms, endpoint_id),
    )


class AttemptOutcome(NamedTuple):
    """One attempt to record and where it moves its delivery: `status` and `next_attempt_ms`
    as the attempt decided them, `first_attempt_ms` kept if the delivery has one already."""

    attempt: Attempt
    status: str
    next_attempt_ms: int | None
    first_attempt_ms: int


# Every SET expression reads the row as it was before the statement, so the CASEs test the
# status and schedule the attempt was made for: a delivery cancelled, held or replayed
# meanwhile keeps that status, and the attempt is still recorded, as it happened.
_MOVE_ON = (
    "UPDATE deliveries SET attempt_count = attempt_count + 1, response_code = :code, "
    "last_attempt_ms = :at, first_attempt_ms = COALESCE(first_attempt_ms, :first), "
    "status = CASE WHEN status = 'pending' AND next_attempt_ms <= :at "
    "THEN :status ELSE status END, "
    "next_attempt_ms = CASE WHEN status = 'pending' AND next_attempt_ms <= :at "
    "THEN :next ELSE next_attempt_ms END, chaos_delay_seconds = NULL "
    "WHERE id = :id"
)


def _move_on_params(outcome: AttemptOutcome) -> dict[str, object]:
    return {
        "code": outcome.attempt.response_code,
        "at": outcome.attempt.attempted_ms,
        "first": outcome.first_attempt_ms,
        "status": outcome.status,
        "next": outcome.next_attempt_ms,
        "id": outcome.attempt.delivery_id,
    }


async def record_attempts(tx: Tx, outcomes: Sequence[AttemptOutcome]) -> None:
    """Store attempts and move their deliveries on: two statements for any number of
    attempts (the scheduler writes them inline: one trip to the database thread, commit
    included). An attempt whose delivery is gone (the state was reset while it ran) is
    left out."""
    if not outcomes:
        return
    await tx.executemany(_MOVE_ON, [_move_on_params(o) for o in outcomes])
    await tx.executemany(
        f"INSERT INTO attempts ({_ATTEMPT_COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? "
        "WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?)",
        [(*_attempt_params(o.attempt), o.attempt.delivery_id) for o in outcomes],
    )


async def postpone(tx: Tx, delivery_id: str, due_ms: int, delay_seconds: int) -> int:
    """Move a pending delivery due at `due_ms` `delay_seconds` later (a chaos delay), noting
    the delay its next attempt took: one replayed, held or cancelled meanwhile keeps what
    that did."""
    return await tx.execute(
        "UPDATE deliveries SET next_attempt_ms = ?, chaos_delay_seconds = ? "
        "WHERE id = ? AND status = 'pending' AND next_attempt_ms = ?",
        (due_ms + delay_seconds * 1000, delay_seconds, delivery_id, due_ms),
    )


async def replay(tx: Tx, delivery_id: str, now_ms: int) -> int:
    return await tx.execute(
        "UPDATE deliveries SET status = 'pending', next_attempt_ms = ?, "
        "chaos_delay_seconds = NULL WHERE id = ? AND status != 'cancelled'",
        (now_ms, delivery_id),
    )


# -- reads ------------------------------------------------------------------------------


async def get(db: Database, delivery_id: str, livemode: bool) -> Delivery | None:
    row = await db.fetch_one(
        "SELECT * FROM deliveries WHERE id = ? AND livemode = ?", (delivery_id, int(livemode))
    )
    return None if row is None else _delivery(row)


async def get_in(tx: Tx, delivery_id: str) -> Delivery | None:
    row = await tx.fetch_one("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
    return None if row is None else _delivery(row)


async def list_page(
    db: Database,
    *,
    workspace_id: str | None,
    livemode: bool | None,
    status: str | None,
    event_id: str | None,
    endpoint_id: str | None,
    after: Keyset | None,
    limit: int,
    event_type: str | None = None,
    created_from_ms: int | None = None,
    created_before_ms: int | None = None,
) -> list[Delivery]:
    """Newest first. `workspace_id=None` covers every workspace (the dashboard),
    `livemode=None` both modes (the control API's listing). `event_type` is an exact type
    or a `prefix.*` pattern; the created range is [from, before)."""
    filters: list[tuple[str, object]] = [
        (f"{column} = ?", value)
        for column, value in (
            ("workspace_id", workspace_id),
            ("status", status),
            ("event_id", event_id),
            ("endpoint_id", endpoint_id),
        )
        if value is not None
    ]
    if event_type is not None and event_type != "*":
        if event_type.endswith(".*"):
            # substr, not LIKE: a type may hold % or _, which LIKE would read as wildcards.
            filters.append((f"substr(event_type, 1, {len(event_type) - 1}) = ?", event_type[:-1]))
        else:
            filters.append(("event_type = ?", event_type))
    if created_from_ms is not None:
        filters.append(("created_ms >= ?", created_from_ms))
    if created_before_ms is not None:
        filters.append(("created_ms < ?", created_before_ms))
    # An event has a handful of deliveries; left to itself the planner walks the
    # workspace's time index down to the event instead, which grows with the deliveries
    # made since.
    source = "deliveries INDEXED BY deliveries_by_event" if event_id is not None else "deliveries"
    sql, params = pages.newest_first(source, filters, livemode=livemode, after=after, limit=limit)
    return [_delivery(row) for row in await db.fetch_all(sql, params)]


async def change_marker(db: Database) -> tuple[int, int]:
    """(newest delivery rowid, newest attempt rowid): grows whenever a delivery or an
    attempt is added, read from the end of two B-trees, so a dashboard can poll it often."""
    row = await db.fetch_one(
        "SELECT (SELECT coalesce(max(rowid), 0) FROM deliveries) AS d, "
        "(SELECT coalesce(max(rowid), 0) FROM attempts) AS a"
    )
    assert row is not None
    return int(row["d"]), int(row["a"])


async def get_attempt(db: Database, attempt_id: str) -> Attempt | None:
    row = await db.fetch_one("SELECT * FROM attempts WHERE id = ?", (attempt_id,))
    return None if row is None else _attempt(row)


async def attempts_page(
    db: Database, delivery_id: str, *, after: Keyset | None, limit: int
) -> list[Attempt]:
    """Newest attempt first; the keyset is (attempt_number, id)."""
    sql = "SELECT * FROM attempts WHERE delivery_id = ?"
    params: list[object] = [delivery_id]
    if after is not None:
        sql += " AND (attempt_number, id) < (?, ?)"
        params.extend(after)
    sql += " ORDER BY attempt_number DESC, id DESC LIMIT ?"
    params.append(limit)
    return [_attempt(row) for row in await db.fetch_all(sql, params)]


async def attempts_between(
    db: Database, *, livemode: bool, since_ms: int, until_ms: int, limit: int
) -> list[tuple[Attempt, Delivery]]:
    """Attempts made in (since_ms, until_ms], oldest first, with their deliveries: what fell
    due during a clock advance (its attempts carry their scheduled times)."""
    rows = await db.fetch_all(
        "SELECT a.*, d.event_id AS d_event_id FROM attempts a "
        "JOIN deliveries d ON d.id = a.delivery_id "
        "WHERE d.livemode = ? AND a.attempted_ms > ? AND a.attempted_ms <= ? "
        "ORDER BY a.attempted_ms, a.id LIMIT ?",
        (int(livemode), since_ms, until_ms, limit),
    )
    found: list[tuple[Attempt, Delivery]] = []
    for row in rows:
        delivery = await get(db, row["delivery_id"], livemode)
        if delivery is not None:
            found.append((_attempt(row), delivery))
    return found


async def endpoint_status(tx: Tx, endpoint_id: str) -> str:
    row = await tx.fetch_one("SELECT status FROM endpoints WHERE id = ?", (endpoint_id,))
    return "active" if row is None else str(row["status"])


async def list_all(db: Database) -> list[Delivery]:
    """Every delivery, oldest first (export)."""
    rows = await db.fetch_all("SELECT * FROM deliveries ORDER BY created_ms, id")
    return [_delivery(row) for row in rows]


async def attempts_all(db: Database) -> list[Attempt]:
    rows = await db.fetch_all("SELECT * FROM attempts ORDER BY delivery_id, attempt_number")
    return [_attempt(row) for row in rows]


_ATTEMPT_COLUMNS = (
    "id, delivery_id, attempt_number, attempted_ms, duration_ms, response_code, "
    "response_body, error, request_headers, error_detail, timeout_ms, response_headers, chaos"
)


def _attempt_params(a: Attempt) -> tuple[object, ...]:
    return (
        a.id,
        a.delivery_id,
        a.attempt_number,
        a.attempted_ms,
        a.duration_ms,
        a.response_code,
        a.response_body,
        a.error,
        _headers_json(a),
        a.error_detail,
        a.timeout_ms,
        None if a.response_headers is None else json.dumps(a.response_headers),
        a.chaos,
    )


async def insert_attempts(tx: Tx, attempts: Sequence[Attempt]) -> None:
    await tx.executemany(
        f"INSERT INTO attempts ({_ATTEMPT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [_attempt_params(a) for a in attempts],
    )


# -- reading attempts as they happen ----------------------------------------------------


async def last_attempts(db: Database, delivery_ids: Collection[str]) -> dict[str, Attempt]:
    """Each listed delivery's newest attempt, by delivery id (none for one not yet tried)."""
    if not delivery_ids:
        return {}
    marks = ",".join("?" * len(delivery_ids))
    rows = await db.fetch_all(
        f"SELECT a.* FROM attempts a WHERE a.delivery_id IN ({marks}) AND a.attempt_number = "
        "(SELECT max(attempt_number) FROM attempts WHERE delivery_id = a.delivery_id)",
        list(delivery_ids),
    )
    return {row["delivery_id"]: _attempt(row) for row in rows}


class RecordedAttempt(NamedTuple):
    sequence: int
    attempt: Attempt
    delivery: Delivery


async def attempts_after(
    db: Database, sequence: int, *, endpoint_id: str | None, limit: int
) -> list[RecordedAttempt]:
    """Attempts recorded after `sequence`, in the order they were recorded, with their
    deliveries. The sequence is the attempt's rowid: attempts made during a clock advance
    carry their scheduled times, so `attempted_ms` does not grow in the order they land."""
    sql = "SELECT a.rowid AS a_sequence, a.* FROM attempts a"
    params: list[object] = []
    if endpoint_id is not None:
        sql += " JOIN deliveries d ON d.id = a.delivery_id AND d.endpoint_id = ?"
        params.append(endpoint_id)
    sql += " WHERE a.rowid > ? ORDER BY a.rowid LIMIT ?"
    params.extend((sequence, limit))
    rows = await db.fetch_all(sql, params)
    if not rows:
        return []
    ids = sorted({row["delivery_id"] for row in rows})
    marks = ",".join("?" * len(ids))
    found = await db.fetch_all(f"SELECT * FROM deliveries WHERE id IN ({marks})", ids)
    by_id = {row["id"]: _delivery(row) for row in found}
    return [
        RecordedAttempt(row["a_sequence"], _attempt(row), by_id[row["delivery_id"]])
        for row in rows
        if row["delivery_id"] in by_id
    ]
