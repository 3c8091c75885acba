"""SQL for the built-in receivers: each sink, the requests it keeps and its scripted answers."""

from __future__ import annotations

import json
from collections.abc import Iterable

from .db import Database, Row, Tx
from .rows import ScriptedResponse, SinkRequest, SinkSummary, StoredSink


def _answer(row: Row) -> ScriptedResponse:
    return ScriptedResponse(
        status=row["status"],
        delay_ms=row["delay_ms"],
        body=row["body"],
        headers=json.loads(row["headers"]),
    )


def _request(row: Row) -> SinkRequest:
    return SinkRequest(
        method=row["method"],
        path=row["path"],
        headers=json.loads(row["headers"]),
        body=bytes(row["body"]),
        received_ms=row["received_ms"],
        truncated=bool(row["truncated"]),
    )


async def record(tx: Tx, name: str, request: SinkRequest, keep: int) -> ScriptedResponse | None:
    """Store a request `name` received, keeping its newest `keep`, and take the next scripted
    answer (None once the script is used up).

    Only statements: it may run as an inline write. (RETURNING rows are fetched whole, so
    no statement is left in progress at the commit.)"""
    [row] = await tx.fetch_all(
        "INSERT INTO sinks (name, received_count) VALUES (?, 1) "
        "ON CONFLICT (name) DO UPDATE SET received_count = received_count + 1 "
        "RETURNING received_count",
        (name,),
    )
    number = int(row["received_count"])
    await tx.execute(
        "INSERT INTO sink_requests "
        "(sink, number, method, path, headers, body, received_ms, truncated) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            name,
            number,
            request.method,
            request.path,
            json.dumps(request.headers),
            request.body,
            request.received_ms,
            request.truncated,
        ),
    )
    if number > keep:
        await tx.execute(
            "DELETE FROM sink_requests WHERE sink = ? AND number <= ?", (name, number - keep)
        )
    answers = await tx.fetch_all(
        "DELETE FROM sink_script WHERE sink = ? AND position = "
        "(SELECT MIN(position) FROM sink_script WHERE sink = ?) "
        "RETURNING status, delay_ms, body, headers",
        (name, name),
    )
    return _answer(answers[0]) if answers else None


async def script(tx: Tx, name: str, answers: Iterable[ScriptedResponse]) -> None:
    """Replace the sink's queue of scripted answers (creating the sink)."""
    await tx.execute(
        "INSERT INTO sinks (name, received_count) VALUES (?, 0) ON CONFLICT (name) DO NOTHING",
        (name,),
    )
    await tx.execute("DELETE FROM sink_script WHERE sink = ?", (name,))
    await tx.executemany(
        "INSERT INTO sink_script (sink, position, status, delay_ms, body, headers) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (name, position, a.status, a.delay_ms, a.body, json.dumps(a.headers))
            for position, a in enumerate(answers)
        ],
    )


async def clear(tx: Tx, name: str) -> None:
    """Forget one sink: its requests, script and count."""
    await tx.execute("DELETE FROM sink_requests WHERE sink = ?", (name,))
    await tx.execute("DELETE FROM sink_script WHERE sink = ?", (name,))
    await tx.execute("DELETE FROM sinks WHERE name = ?", (name,))


async def clear_all(tx: Tx) -> None:
    for table in ("sink_requests", "sink_script", "sinks"):  # children first
        await tx.execute(f"DELETE FROM {table}")


async def put(tx: Tx, sink: StoredSink) -> None:
    """Store a whole sink as given (a snapshot from before sinks were in the database)."""
    await tx.execute(
        "INSERT INTO sinks (name, received_count) VALUES (?, ?)", (sink.name, sink.received_count)
    )
    first = sink.received_count - len(sink.requests) + 1
    await tx.executemany(
        "INSERT INTO sink_requests "
        "(sink, number, method, path, headers, body, received_ms, truncated) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                sink.name,
                first + index,
                r.method,
                r.path,
                json.dumps(r.headers),
                r.body,
                r.received_ms,
                r.truncated,
            )
            for index, r in enumerate(sink.requests)
        ],
    )
    await script(tx, sink.name, sink.script)


async def requests(db: Database, name: str) -> list[SinkRequest]:
    """What the sink keeps, oldest first."""
    rows = await db.fetch_all("SELECT * FROM sink_requests WHERE sink = ? ORDER BY number", (name,))
    return [_request(row) for row in rows]


async def request_count(db: Database, name: str) -> int:
    """How many requests the sink keeps now."""
    row = await db.fetch_one("SELECT COUNT(*) AS n FROM sink_requests WHERE sink = ?", (name,))
    return 0 if row is None else int(row["n"])


async def received_count(db: Database, name: str) -> int:
    row = await db.fetch_one("SELECT received_count FROM sinks WHERE name = ?", (name,))
    return 0 if row is None else int(row["received_count"])


async def pending_script(db: Database, name: str) -> list[ScriptedResponse]:
    rows = await db.fetch_all("SELECT * FROM sink_script WHERE sink = ? ORDER BY position", (name,))
    return [_answer(row) for row in rows]


async def summaries(db: Database) -> list[SinkSummary]:
    rows = await db.fetch_all(
        "SELECT name, "
        "(SELECT COUNT(*) FROM sink_requests WHERE sink = name) AS request_count, "
        "(SELECT COUNT(*) FROM sink_script WHERE sink = name) AS scripted_responses "
        "FROM sinks ORDER BY name"
    )
    return [
        SinkSummary(row["name"], row["request_count"], row["scripted_responses"]) for row in rows
    ]
