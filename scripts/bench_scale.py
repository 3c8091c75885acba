"""Benchmark the emulator at scale: memory, list pages deep in a big state, bytes on disk.

Prints figures; it never asserts on timing. Targets are marked, not enforced (issue 20):
the server's RSS after 1,000,000 events and 100,000 deliveries < 150 MB, and every list's
page 1,000 (reached by cursor) within 1.5x of its page 1.

1. Fill. A real `harbor-emulator start --db <file> --rate-limit 0` pinned to core 0 gets
   one webhook subscribed to `order.paid`, pointing to scripts/_bench_receiver.py (on
   core 1, answers 200), then --events events through POST /v1/events from
   --concurrency keep-alive connections. Exactly --deliveries of them, spread evenly, are
   `order.paid`, so each makes one delivery; the others are `order.created`, which nothing
   receives. The client writes raw HTTP/1.1 on asyncio streams: an httpx client per
   worker costs about as much CPU per request as the server does, and would measure itself.
   With --paused the webhook is paused first: deliveries are created (held), never tried.
2. Drain (unless --paused), then --settle seconds idle. VmRSS and VmHWM (peak) of the
   server from /proc/<pid>/status after the fill, after the settle, after the reads.
3. Counts from the database file itself (a second, read-only SQLite connection).
4. Lists. Each listing is walked by `next_cursor` (limit --limit) down to page --page (or
   its last page, if it has fewer); then page 1 and that page are read alternately
   --reads times each on one keep-alive connection; medians. Also probed: the
   deliveries of the oldest vs the newest `order.paid` event (?event_id=).
5. Size. A TRUNCATE checkpoint from the bench, then the file sizes, and per table with
   its indexes from the dbstat table (when this SQLite has it): bytes per event
   (events) and per delivery (deliveries and attempts).

Cores: the emulator on core 0; the receiver and this script (the fill client) on core 1.

Exit status: 0 when every step did what it should (whatever the timings), 1 when the run
is flagged (a create not 201, a count not what was sent, a walk that repeats or loses
rows), 2 when the bench itself could not run.

Examples:
    python scripts/bench_scale.py                     # 1,000,000 events: several minutes
    python scripts/bench_scale.py --events 20000 --deliveries 2000 --page 100
    python scripts/bench_scale.py --write docs/benchmarks   # the tables docs embed
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from _bench_common import (
    BenchError,
    Processes,
    check_cores,
    command,
    filesystem_type,
    free_port,
    handle_interrupts,
    mark,
    tail,
)
from _bench_tables import Run, Table, add_write_option, fmt

SCRIPTS = Path(__file__).resolve().parent
RECEIVER_APP = SCRIPTS / "_bench_receiver.py"

API_KEY = "hb_test_scale"
DELIVERED_TYPE = "order.paid"
OTHER_TYPE = "order.created"
HEALTH_PATH = "/_control/health"
DEFAULT_EMULATOR_CMD = (
    "{python} -m harbor_emulator.cli start --port {port} --db {db} --rate-limit 0"
    " --log-level warning"  # info would write one line per request: 1M lines of log
)

EMULATOR_CORE = "0"
CLIENT_CORE = "1"  # the receiver and this script
DRAIN_TIMEOUT_S = 600  # the most the drain route accepts

TARGET_RSS_MB = 150.0
TARGET_PAGE_RATIO = 1.5
BUSY_LOAD = 1.0
PROGRESS_EVERY = 100_000  # a line on stderr, so a run of minutes shows it is alive


# -- results --------------------------------------------------------------------------


@dataclass
class Memory:
    moment: str
    rss_mb: float
    peak_mb: float  # VmHWM: the most RSS the process ever had


@dataclass
class Listing:
    name: str
    rows: int  # the listing's rows that exist
    page: int  # the deep page read (--page, or the last page when there are fewer)
    walk_s: float  # following next_cursor from page 1 down to `page`
    walk_ok: bool  # every row once, newest first
    page1_ms: float
    deep_ms: float

    @property
    def ratio(self) -> float:
        return self.deep_ms / self.page1_ms if self.page1_ms else 0.0


@dataclass
class Probe:
    name: str
    first_ms: float  # the oldest object's filter
    last_ms: float  # the newest object's filter

    @property
    def ratio(self) -> float:
        return self.first_ms / self.last_ms if self.last_ms else 0.0


@dataclass
class Size:
    db_bytes: int
    wal_bytes: int
    wal_before_checkpoint_bytes: int  # what the server's own auto-checkpoints left
    by_table: dict[str, int]  # table name -> bytes of the table and its indexes (dbstat)


@dataclass
class Report:
    events: int
    deliveries: int
    concurrency: int
    paused: bool
    emulator_cmd: str
    db_filesystem: str
    fill_s: float = 0.0
    fill_errors: dict[str, int] = field(default_factory=dict)
    drain_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    memory: list[Memory] = field(default_factory=list)
    listings: list[Listing] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    size: Size | None = None
    load_before: float = 0.0
    load_after: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def fill_rate(self) -> float:
        return self.events / self.fill_s if self.fill_s else 0.0


# -- the fill ---------------------------------------------------------------------------


def event_body(i: int, total: int, deliveries: int) -> bytes:
    # Event i is delivered when it crosses the next multiple of total/deliveries: exactly
    # `deliveries` of them, evenly spread over the run.
    delivered = (i + 1) * deliveries // total > i * deliveries // total
    body = {
        "type": DELIVERED_TYPE if delivered else OTHER_TYPE,
        "payload": {"order_id": f"ord_{i:07d}", "amount_cents": 100 + i % 9900},
    }
    return json.dumps(body, separators=(",", ":")).encode()


class Filler:
    """Posts events 0..total-1 from `concurrency` raw keep-alive connections."""

    def __init__(self, port: int, total: int, deliveries: int) -> None:
        self._port = port
        self._total = total
        self._deliveries = deliveries
        self._next = 0
        self.errors: dict[str, int] = {}
        self.delivered_ids: dict[int, str] = {}  # event index -> id, for delivered events

    async def run(self, concurrency: int) -> None:
        await asyncio.gather(*(self._worker() for _ in range(concurrency)))

    async def _worker(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self._port)
        head = (
            f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:{self._port}\r\n"
            f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        ).encode()
        try:
            while self._next < self._total:
                i = self._next
                self._next += 1
                if i and i % PROGRESS_EVERY == 0:
                    print(f"  {i:,} events sent", file=sys.stderr, flush=True)
                body = event_body(i, self._total, self._deliveries)
                writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
                status, reply = await _read_response(reader)
                if status != 201:
                    key = str(status)
                    self.errors[key] = self.errors.get(key, 0) + 1
                elif DELIVERED_TYPE.encode() in body:
                    self.delivered_ids[i] = json.loads(reply)["id"]
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        raise BenchError(f"a reply without Content-Length: {lines[0]}")
    return status, await reader.readexactly(length)


def fill(report: Report, port: int) -> Filler:
    filler = Filler(port, report.events, report.deliveries)
    started = time.perf_counter()
    asyncio.run(filler.run(report.concurrency))
    report.fill_s = time.perf_counter() - started
    report.fill_errors = filler.errors
    if filler.errors:
        report.problems.append(f"creates not 201: {filler.errors}")
    return filler


# -- HTTP helpers for the rest ---------------------------------------------------------


class Client:
    """One keep-alive connection, as a dashboard or SDK would hold."""

    def __init__(self, port: int) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DRAIN_TIMEOUT_S + 60)

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any, float]:
        """(status, parsed JSON or None, seconds)."""
        headers = {"Authorization": f"Bearer {API_KEY}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            self._conn.request(method, path, body=data, headers=headers)
            response = self._conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            # uvicorn closes a connection idle for 5 s, as this one is during the fill:
            # open a new one, and time the request from there.
            self._conn.close()
            started = time.perf_counter()
            self._conn.request(method, path, body=data, headers=headers)
            response = self._conn.getresponse()
        raw = response.read()
        elapsed = time.perf_counter() - started
        return response.status, (json.loads(raw) if raw else None), elapsed

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        status, parsed, _ = self.call(method, path, body)
        if not 200 <= status < 300:
            raise BenchError(f"{method} {path} answered {status}: {parsed}")
        return parsed

    def close(self) -> None:
        self._conn.close()


def memory(pid: int, moment: str) -> Memory:
    fields: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024  # kB -> MB
    return Memory(moment, round(fields["VmRSS"], 1), round(fields["VmHWM"], 1))


def drain(client: Client) -> None:
    while True:
        result = client.ok("POST", "/_control/deliveries/drain", {"timeout_seconds": 60})
        if result["drained"]:
            return


# -- lists ------------------------------------------------------------------------------


def walk_and_read(
    client: Client, name: str, path: str, query: dict[str, str], rows: int, args: Any
) -> Listing:
    """Follow next_cursor down to the deep page, then time page 1 against it."""
    deep = max(1, min(args.page, -(-rows // args.limit)))
    base = {**query, "limit": str(args.limit)}
    cursor: str | None = None
    seen: set[str] = set()
    # created_at has whole seconds only, so within one second the order is not visible.
    last_created = "9999"
    ordered = True
    started = time.perf_counter()
    for _ in range(deep - 1):
        page = client.ok(
            "GET", f"{path}?{urlencode(base | {'cursor': cursor} if cursor else base)}"
        )
        for item in page["data"]:
            ordered = ordered and item["created_at"] <= last_created and item["id"] not in seen
            seen.add(item["id"])
            last_created = item["created_at"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    walk_s = time.perf_counter() - started
    deep_path = f"{path}?{urlencode(base | {'cursor': cursor} if cursor else base)}"
    first_path = f"{path}?{urlencode(base)}"
    deep_page = client.ok("GET", deep_path)
    seen.update(item["id"] for item in deep_page["data"])
    counted = len(seen)
    expected = min(rows, deep * args.limit)
    walk_ok = deep == 1 or (ordered and counted == expected and cursor is not None)
    firsts, deeps = [], []
    for _ in range(args.reads):
        firsts.append(_timed(client, first_path))
        deeps.append(_timed(client, deep_path))
    return Listing(
        name=name,
        rows=rows,
        page=deep,
        walk_s=round(walk_s, 3),
        walk_ok=walk_ok,
        page1_ms=round(statistics.median(firsts) * 1000, 2),
        deep_ms=round(statistics.median(deeps) * 1000, 2),
    )


def _timed(client: Client, path: str) -> float:
    status, parsed, elapsed = client.call("GET", path)
    if status != 200:
        raise BenchError(f"GET {path} answered {status}: {parsed}")
    return elapsed


def read_lists(report: Report, client: Client, webhook_id: str, filler: Filler, args: Any) -> None:
    n, m = report.events, report.deliveries
    plan = [
        ("GET /v1/events", "/v1/events", {}, n),
        ("GET /v1/events?type=", "/v1/events", {"type": DELIVERED_TYPE}, m),
        ("GET /v1/deliveries?webhook_id=", "/v1/deliveries", {"webhook_id": webhook_id}, m),
        ("GET /v1/deliveries", "/v1/deliveries", {}, m),
        ("GET /_control/events", "/_control/events", {}, n),
        ("GET /_control/deliveries", "/_control/deliveries", {}, m),
    ]
    for name, path, query, rows in plan:
        if rows == 0:
            continue
        listing = walk_and_read(client, name, path, query, rows, args)
        if not listing.walk_ok:
            report.problems.append(f"{name}: the cursor walk repeated, lost or misordered rows")
        report.listings.append(listing)
    if filler.delivered_ids:
        oldest = filler.delivered_ids[min(filler.delivered_ids)]
        newest = filler.delivered_ids[max(filler.delivered_ids)]
        times: dict[str, list[float]] = {oldest: [], newest: []}
        for _ in range(args.reads):
            for event_id in times:
                times[event_id].append(_timed(client, f"/v1/deliveries?event_id={event_id}"))
        report.probes.append(
            Probe(
                "GET /v1/deliveries?event_id= (oldest vs newest event)",
                round(statistics.median(times[oldest]) * 1000, 2),
                round(statistics.median(times[newest]) * 1000, 2),
            )
        )


# -- the database file ------------------------------------------------------------------


def count(report: Report, db_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        for table in ("events", "deliveries", "attempts"):
            report.counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for status, n in conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status"):
            report.counts[f"deliveries {status}"] = n
    if report.counts["events"] != report.events:
        report.problems.append(f"{report.counts['events']} events stored, {report.events} sent")
    if report.counts["deliveries"] != report.deliveries:
        report.problems.append(
            f"{report.counts['deliveries']} deliveries stored, {report.deliveries} expected"
        )
    settled = "held" if report.paused else "succeeded"
    if report.counts.get(f"deliveries {settled}", 0) != report.deliveries:
        report.problems.append(f"not every delivery is {settled}: {report.counts}")


def measure_size(report: Report, db_path: Path) -> None:
    wal = Path(f"{db_path}-wal")
    wal_before = wal.stat().st_size if wal.exists() else 0
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            report.problems.append("the checkpoint was blocked: sizes include a WAL")
        by_table: dict[str, int] = {}
        with contextlib.suppress(sqlite3.OperationalError):  # no dbstat in this SQLite
            rows = conn.execute(
                "SELECT coalesce(m.tbl_name, s.name), sum(s.pgsize) FROM dbstat AS s "
                "LEFT JOIN sqlite_master AS m ON m.name = s.name GROUP BY 1"
            ).fetchall()
            by_table = {name: int(size) for name, size in rows}
    report.size = Size(
        db_bytes=db_path.stat().st_size,
        wal_bytes=wal.stat().st_size if wal.exists() else 0,
        wal_before_checkpoint_bytes=wal_before,
        by_table=by_table,
    )


# -- the run ------------------------------------------------------------------------------


def run(args: Any, report: Report, procs: Processes, workdir: Path) -> None:
    db_path = workdir / "scale.db"
    port = free_port()
    values = {"python": sys.executable, "port": str(port), "db": str(db_path)}
    server = procs.start_server(
        "emulator",
        command(args.emulator_cmd, values),
        port=port,
        log_path=workdir / "emulator.log",
        health_path=HEALTH_PATH,
        core=EMULATOR_CORE,
    )
    receiver_port = free_port()
    procs.start_server(
        "receiver",
        [sys.executable, str(RECEIVER_APP), "--port", str(receiver_port)],
        port=receiver_port,
        log_path=workdir / "receiver.log",
        health_path="/health",
        core=CLIENT_CORE,
    )
    client = Client(port)
    try:
        webhook = client.ok(
            "POST",
            "/v1/webhooks",
            {"url": f"http://127.0.0.1:{receiver_port}/hook", "events": [DELIVERED_TYPE]},
        )
        if args.paused:
            client.ok("PATCH", f"/v1/webhooks/{webhook['id']}", {"status": "paused"})
        report.memory.append(memory(server.pid, "empty"))
        print(f"filling {report.events:,} events ...", file=sys.stderr, flush=True)
        filler = fill(report, port)
        report.memory.append(memory(server.pid, "after the fill"))
        if not args.paused:
            started = time.perf_counter()
            drain(client)
            report.drain_s = time.perf_counter() - started
        time.sleep(args.settle)
        report.memory.append(memory(server.pid, f"after {args.settle:g} s settle"))
        count(report, db_path)
        print("reading lists ...", file=sys.stderr, flush=True)
        read_lists(report, client, webhook["id"], filler, args)
        report.memory.append(memory(server.pid, "after the list reads"))
        measure_size(report, db_path)
    finally:
        client.close()
    if server.poll() is not None:
        raise BenchError("the emulator exited:\n" + tail(workdir / "emulator.log"))


# -- output --------------------------------------------------------------------------------


def print_report(report: Report) -> None:
    print(
        f"bench_scale: {report.events:,} events, {report.deliveries:,} deliveries "
        f"({'paused: held' if report.paused else 'sent to a 200 receiver'}), "
        f"db on {report.db_filesystem}; load {report.load_before:.2f} -> {report.load_after:.2f}"
        + (
            "  (busy machine: others compete for the 2 cores)"
            if report.load_before > BUSY_LOAD
            else ""
        )
    )
    print(f"emulator: {report.emulator_cmd}")
    print(
        f"\nfill: {report.fill_s:.1f} s, {report.fill_rate:,.0f} events/s at "
        f"c={report.concurrency}"
        + (f"; drain after it {report.drain_s:.1f} s" if report.drain_s else "")
    )
    print("counts: " + ", ".join(f"{k} {v:,}" for k, v in report.counts.items()))
    print(f"\n{'memory of the server':<28}{'RSS MB':>9}{'peak MB':>9}")
    for m in report.memory:
        print(f"{m.moment:<28}{m.rss_mb:>9.1f}{m.peak_mb:>9.1f}")
    last = report.memory[-1] if report.memory else None
    if last is not None:
        print(
            f"target RSS < {TARGET_RSS_MB:g} MB after the fill and reads: "
            f"{mark(max(m.rss_mb for m in report.memory) < TARGET_RSS_MB)}"
        )
    print(
        f"\n{'listing (by cursor)':<34}{'rows':>10}{'page':>6}{'walk s':>8}"
        f"{'p1 ms':>8}{'deep ms':>9}{'ratio':>7}"
    )
    for li in report.listings:
        print(
            f"{li.name:<34}{li.rows:>10,}{li.page:>6}{li.walk_s:>8.2f}{li.page1_ms:>8.2f}"
            f"{li.deep_ms:>9.2f}{li.ratio:>7.2f}  {mark(li.ratio <= TARGET_PAGE_RATIO)}"
        )
    for probe in report.probes:
        print(
            f"{probe.name}: {probe.first_ms:.2f} ms vs {probe.last_ms:.2f} ms "
            f"(ratio {probe.ratio:.2f})"
        )
    print(f"target: deep page within {TARGET_PAGE_RATIO}x of page 1 (medians)")
    if report.size is not None:
        size = report.size
        total = size.db_bytes + size.wal_bytes
        print(
            f"\ndatabase after a checkpoint: {size.db_bytes:,} B + WAL {size.wal_bytes:,} B"
            f" = {total / report.events:,.0f} B per event (whole file); the WAL before"
            f" it: {size.wal_before_checkpoint_bytes:,} B"
        )
        tables = size.by_table
        if tables:
            per_event = tables.get("events", 0) / report.events
            print(f"events table + indexes: {per_event:,.0f} B per event")
            if report.deliveries:
                per_delivery = (tables.get("deliveries", 0) + tables.get("attempts", 0)) / (
                    report.deliveries
                )
                print(f"deliveries + attempts tables + indexes: {per_delivery:,.0f} B per delivery")
            print("by table: " + ", ".join(f"{k} {v:,}" for k, v in sorted(tables.items())))
    for problem in report.problems:
        print(f"FLAGGED: {problem}")


def tables(figures: dict[str, Any]) -> list[Table]:
    """The docs' tables, from the report's JSON: fill, memory and disk, then the lists."""
    events, deliveries = figures["events"], figures["deliveries"]
    rows = [
        [
            f"fill through the API ({figures['concurrency']} connections, `--db` on "
            f"{figures['db_filesystem']})",
            f"{fmt(figures['fill_rate'])} events/s",
        ]
    ]
    if figures["drain_s"]:
        rows.append(["the drain of the deliveries after the fill", f"{figures['drain_s']:.1f} s"])
    rows += [
        [f"server RSS, {m['moment']}", f"{m['rss_mb']:.1f} MB (peak {m['peak_mb']:.1f} MB)"]
        for m in figures["memory"]
    ]
    if size := figures["size"]:
        whole = (size["db_bytes"] + size["wal_bytes"]) / events
        rows.append(
            ["database on disk after a checkpoint, whole file", f"{fmt(whole)} B per event"]
        )
        if by_table := size["by_table"]:
            per_event = by_table.get("events", 0) / events
            rows.append(["events with their indexes", f"{fmt(per_event)} B per event"])
            if deliveries:
                per_delivery = (by_table.get("deliveries", 0) + by_table.get("attempts", 0)) / (
                    deliveries
                )
                rows.append(
                    [
                        "deliveries and attempts with their indexes",
                        f"{fmt(per_delivery)} B per delivery",
                    ]
                )
    peak_rss = max((m["rss_mb"] for m in figures["memory"]), default=0.0)
    notes = [
        f"Target RSS < {TARGET_RSS_MB:g} MB: {'met' if peak_rss < TARGET_RSS_MB else 'MISSED'}."
    ]
    title = f"{events:,} events through the API, {deliveries:,} of them " + (
        "held (webhook paused)." if figures["paused"] else "delivered to a local receiver."
    )
    out = [Table(["", ""], rows, title=title, notes=notes + figures["problems"])]
    lists = [
        [
            li["name"],
            fmt(li["rows"]),
            fmt(li["page"]),
            fmt(li["page1_ms"], 2),
            fmt(li["deep_ms"], 2),
            f"{li['deep_ms'] / li['page1_ms']:.2f}" if li["page1_ms"] else "-",
        ]
        for li in figures["listings"]
    ]
    notes = [
        f"{probe['name']}: {probe['first_ms']:.2f} ms against {probe['last_ms']:.2f} ms "
        f"({probe['first_ms'] / probe['last_ms']:.2f}x)."
        for probe in figures["probes"]
        if probe["last_ms"]
    ]
    notes.append(f"Target: a deep page within {TARGET_PAGE_RATIO}x of page 1 (medians).")
    columns = ["list (by cursor)", "rows", "deep page", "page 1 ms", "deep page ms", "deep / 1"]
    title = (
        f"Page 1 against a deep page, {figures['limit']} rows a page, medians of "
        f"{figures['reads']} reads."
    )
    out.append(Table(columns, lists, title=title, notes=notes))
    return out


def parse_args(argv: list[str] | None) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16, help="fill connections")
    parser.add_argument("--page", type=int, default=1000, help="the deep page to read")
    parser.add_argument("--limit", type=int, default=100, help="rows per page")
    parser.add_argument("--reads", type=int, default=7, help="timed reads of each page")
    parser.add_argument("--settle", type=float, default=10.0, help="idle seconds after the fill")
    parser.add_argument("--paused", action="store_true", help="hold deliveries, never send")
    parser.add_argument("--emulator-cmd", default=DEFAULT_EMULATOR_CMD)
    parser.add_argument("--db-dir", type=Path, help="where the database lives (default: a tmp dir)")
    parser.add_argument("--json", action="store_true", help="also print the report as JSON")
    add_write_option(parser)
    args = parser.parse_args(argv)
    if not 0 <= args.deliveries <= args.events or args.events < 1:
        parser.error("need 1 <= events and 0 <= deliveries <= events")
    if not 1 <= args.limit <= 100:
        parser.error("--limit is 1 to 100, as the API's")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handle_interrupts()
    run_facts = Run(__file__, argv)
    procs = Processes()
    try:
        check_cores("the emulator on core 0, the receiver and this client on core 1")
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {int(CLIENT_CORE)})
        with tempfile.TemporaryDirectory(prefix="bench_scale_", dir=args.db_dir) as tmp:
            workdir = Path(tmp)
            report = Report(
                events=args.events,
                deliveries=args.deliveries,
                concurrency=args.concurrency,
                paused=args.paused,
                emulator_cmd=args.emulator_cmd,
                db_filesystem=filesystem_type(workdir),
                load_before=os.getloadavg()[0],
            )
            try:
                run(args, report, procs, workdir)
            finally:
                procs.stop_all()
            report.load_after = os.getloadavg()[0]
    except BenchError as exc:
        print(f"bench_scale: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench_scale: interrupted", file=sys.stderr)
        return 2
    finally:
        procs.stop_all()
    print_report(report)
    if args.write:
        figures = asdict(report) | {
            "fill_rate": report.fill_rate,
            "limit": args.limit,
            "reads": args.reads,
        }
        run_facts.write(args.write, "scale", "Scale", figures, tables)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
