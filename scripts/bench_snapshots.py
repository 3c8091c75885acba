"""Benchmark snapshot save and restore against reset + fixtures load of the same state.

Starts `harbor-emulator start` as a process, builds a state of 1,000 endpoints (webhooks,
one signing key each) and 10,000 events, then times, over several rounds in the same run:

- reset + fixtures load: `POST /_control/reset` then `POST /_control/fixtures` of the
  document (how a test suite gets that state back without snapshots);
- save: `POST /_control/snapshots {"name": "bench"}`;
- restore: `POST /_control/snapshots/bench/restore` after a mutation.

Prints the median and the worst of each. Target, marked, not enforced: restore costs no
more than reset + load. `--db` runs on a durable file (fsync on every commit and save)
instead of the default private tmpfs state.

Examples:
    python scripts/bench_snapshots.py
    python scripts/bench_snapshots.py --rounds 7 --db /tmp/bench.db --json
    python scripts/bench_snapshots.py --write docs/benchmarks   # the table docs embed
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from _bench_common import filesystem_type
from _bench_tables import Run, Table, add_write_option, fmt

WORKSPACE = "ws_bench"
STEPS = {
    "reset_and_load": "reset + fixtures load",
    "save": "snapshot save",
    "restore": "snapshot restore",
}


def document(endpoints: int, events: int) -> dict[str, Any]:
    return {
        "workspaces": [{"id": WORKSPACE, "name": "bench"}],
        "webhooks": [
            {
                "id": f"wh_bench{n}",
                "workspace_id": WORKSPACE,
                "url": f"https://example.com/hooks/{n}",
                "events": ["order.*"],
            }
            for n in range(endpoints)
        ],
        "events": [
            {
                "id": f"evt_bench{n}",
                "workspace_id": WORKSPACE,
                "type": "order.paid",
                "payload": {"order_id": f"o_{n}", "total": n, "note": "x" * 64},
                "created_at": "2026-01-01T00:00:00Z",
            }
            for n in range(events)
        ],
    }


def start(endpoints: int, db: str | None) -> tuple[subprocess.Popen[str], str]:
    args = ["--port", "0", "--rate-limit", "0", "--max-endpoints", str(endpoints)]
    if db:
        args += ["--db", db]
    process = subprocess.Popen(
        [sys.executable, "-m", "harbor_emulator.cli", "start", "--log-level", "warning", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    match = re.search(r"http://\S+", process.stdout.readline())
    if not match:
        process.kill()
        raise SystemExit("the emulator did not start")
    return process, match.group(0)


def timed(call: Any) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def check(response: httpx.Response) -> None:
    if response.is_error:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.text}")


def tables(summary: dict[str, Any]) -> list[Table]:
    rows = [
        [label, fmt(summary[step]["median_ms"], 1), fmt(summary[step]["max_ms"], 1)]
        for step, label in STEPS.items()
    ]
    rebuild, restore = summary["reset_and_load"]["median_ms"], summary["restore"]["median_ms"]
    times = f"{rebuild / restore:,.1f}x" if restore else "-"
    rows.append(["reset + load / restore (medians)", times, ""])
    state = f"a durable --db on {summary['db_filesystem']}" if summary["db"] else "tmpfs state"
    title = (
        f"{summary['endpoints']:,} endpoints and {summary['events']:,} events, {state}, "
        f"{summary['rounds']} rounds; snapshot {summary['snapshot_bytes'] / 1e6:.1f} MB."
    )
    return [Table(["", "median ms", "max ms"], rows, title=title)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoints", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", default=None, help="a durable --db file (default: tmpfs)")
    parser.add_argument("--json", action="store_true")
    add_write_option(parser)
    options = parser.parse_args(argv)
    run = Run(__file__, argv)

    body = json.dumps(document(options.endpoints, options.events)).encode()
    if options.db:
        for suffix in ("", "-wal", "-shm"):
            Path(options.db + suffix).unlink(missing_ok=True)
    process, url = start(options.endpoints, options.db)
    results: dict[str, list[float]] = {"reset_and_load": [], "save": [], "restore": []}
    headers = {"Content-Type": "application/json"}
    try:
        with httpx.Client(base_url=url, timeout=600) as http:

            def reset_and_load() -> None:
                check(http.post("/_control/reset"))
                check(http.post("/_control/fixtures", content=body, headers=headers))

            for _ in range(options.rounds):
                results["reset_and_load"].append(timed(reset_and_load))
            results["save"] = [
                timed(lambda: check(http.post("/_control/snapshots", json={"name": "bench"})))
                for _ in range(options.rounds)
            ]
            for _ in range(options.rounds):
                check(http.post("/_control/reset"))  # the mutation: everything gone
                results["restore"].append(
                    timed(lambda: check(http.post("/_control/snapshots/bench/restore")))
                )
            exported = http.get("/_control/export").json()
            assert len(exported["events"]) == options.events, len(exported["events"])
            assert len(exported["webhooks"]) == options.endpoints
            size = http.get("/_control/snapshots").json()["data"][0]["size_bytes"]
    finally:
        process.terminate()
        process.wait(timeout=60)

    summary: dict[str, Any] = {
        name: {"median_ms": round(statistics.median(v), 1), "max_ms": round(max(v), 1)}
        for name, v in results.items()
    }
    summary |= {
        "snapshot_bytes": size,
        "endpoints": options.endpoints,
        "events": options.events,
        "rounds": options.rounds,
        "db": bool(options.db),
        "db_filesystem": filesystem_type(Path(options.db).resolve()) if options.db else "tmpfs",
    }
    if options.write:
        # The durable run is a table of its own: docs show both side by side.
        name = "snapshots-db" if options.db else "snapshots"
        title = "Snapshots, durable --db" if options.db else "Snapshots, tmpfs state"
        run.write(options.write, name, title, summary, tables)
    if options.json:
        print(json.dumps(summary, indent=2))
        return
    mode = f"--db {options.db}" if options.db else "tmpfs state"
    print(
        f"{options.endpoints:,} endpoints, {options.events:,} events, {mode}, "
        f"{options.rounds} rounds; snapshot {size / 1e6:.1f} MB"
    )
    for name in ("reset_and_load", "save", "restore"):
        figures = summary[name]
        median, worst = figures["median_ms"], figures["max_ms"]
        print(f"  {name:<15} median {median:>8.1f} ms   max {worst:>8.1f} ms")
    ok = summary["restore"]["median_ms"] <= summary["reset_and_load"]["median_ms"]
    verdict = (
        "restore <= reset + load" if ok else "restore SLOWER than reset + load (target missed)"
    )
    print(f"  target: {verdict}")


if __name__ == "__main__":
    main()
