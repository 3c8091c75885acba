"""Benchmark starting an emulator inside the test process, as the pytest plugin does.

Times `EmulatorServer().start()` (fresh state, free port, lifespan done, socket listening)
and the first answered `GET /_control/health` after it, over several starts, and prints
the median and p90. Target, marked, not enforced: start to ready under 300 ms. Imports
are done before the first start: a test session pays them once, whatever it starts.

(scripts/bench_startup.py measures the `harbor-emulator start` process instead.)

Examples:
    python scripts/bench_inprocess.py
    python scripts/bench_inprocess.py --runs 30 --json
    python scripts/bench_inprocess.py --write docs/benchmarks   # the table docs embed
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from _bench_tables import Run, Table, add_write_option, fmt

from harbor_emulator.testing import EmulatorServer

TARGET_MS = 300.0
LABELS = {
    "start": "`EmulatorServer().start()`",
    "start_to_first_health": "start to the first health answer",
    "stop": "stop",
}


def one_start() -> tuple[float, float, float]:
    """Milliseconds to start(), to the first healthy answer, and to stop()."""
    began = time.perf_counter()
    server = EmulatorServer()
    url = server.start()
    started = time.perf_counter()
    try:
        # http.client, not httpx: building an httpx.Client makes an SSL context, which
        # costs tens of milliseconds that have nothing to do with the server.
        host, port = urlsplit(url).hostname, urlsplit(url).port
        connection = http.client.HTTPConnection(host or "127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", "/_control/health")
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"health answered {response.status}")
        healthy = time.perf_counter()
    finally:
        server.stop()
    stopped = time.perf_counter()
    return (started - began) * 1000, (healthy - began) * 1000, (stopped - healthy) * 1000


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    # Nearest-rank p90: with 10 runs, the 9th fastest; never an interpolated value.
    p90 = ordered[max(0, -(-9 * len(ordered) // 10) - 1)]
    return {"median_ms": round(statistics.median(ordered), 1), "p90_ms": round(p90, 1)}


def tables(result: dict[str, Any]) -> list[Table]:
    rows = [
        [label, fmt(result[key]["median_ms"], 1), fmt(result[key]["p90_ms"], 1)]
        for key, label in LABELS.items()
    ]
    met = "met" if result["target_met"] else "NOT met"
    note = f"Target: start to ready p90 under {result['target_ms']:g} ms: {met}."
    columns = ["in-process emulator, fresh state, port 0", "median ms", "p90 ms"]
    title = f"{result['runs']} starts, imports done before the first."
    return [Table(columns, rows, title=title, notes=[note])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="starts to measure (default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_write_option(parser)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    run = Run(__file__, argv)
    runs = [one_start() for _ in range(args.runs)]
    result = {
        "runs": args.runs,
        "start": summary([run[0] for run in runs]),
        "start_to_first_health": summary([run[1] for run in runs]),
        "stop": summary([run[2] for run in runs]),
        "target_ms": TARGET_MS,
    }
    result["target_met"] = result["start_to_first_health"]["p90_ms"] < TARGET_MS
    if args.write:
        run.write(args.write, "inprocess", "In-process start", result, tables)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"in-process emulator, {args.runs} starts (fresh state, port 0):")
    for label in ("start", "start_to_first_health", "stop"):
        figures = result[label]
        print(
            f"  {label:<22} median {figures['median_ms']:7.1f} ms   p90 {figures['p90_ms']:7.1f} ms"
        )
    verdict = "met" if result["target_met"] else "NOT met"
    print(f"  target: start to ready (first health answer) p90 < {TARGET_MS:.0f} ms: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
