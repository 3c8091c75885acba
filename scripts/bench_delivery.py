"""Benchmark the delivery engine: attempts to a local receiver, against a bare sender.

Prints figures; it never asserts on timing. Targets are marked, not enforced (issues 5
and 20): emulator/bare deliveries per second >= 0.7 at 1, 16 and 64 concurrent attempts
(c=1 is the common case in tests), emulator p99 attempt latency < 100 ms at 64, and a
72 h fast-forward of 1,000 always-failing deliveries (8,000 real attempts) in < 4 s, i.e.
>= 2,000 attempts/s.

1. Throughput. For each N in --concurrency, a fresh `harbor-emulator start
   --delivery-concurrency N --rate-limit 0` gets its webhook(s) created paused and the
   events created (their deliveries are held, no attempt yet). The clock starts at the
   resume (PATCH status active): every held delivery falls due at once, and the run ends
   when POST /_control/deliveries/drain reports drained. So the figure is the engine's, not
   event creation's. p99 is of the attempts' `duration_ms` (GET /_control/export).
   The emulator lets one endpoint hold at most a quarter of the slots (N // 4, so a hanging
   receiver cannot starve others), so each N runs with 1 endpoint and with 4 endpoints on
   the same receiver; only 4 endpoints can use all N slots, and the targets apply to that.
   The bare sender (scripts/_bench_bare_sender.py) then posts the same envelopes with the
   same signed headers from N asyncio workers, each owning an httpx.AsyncClient, with
   no queue or database; `--shared-client` adds a variant whose workers share one client,
   and `--lean-bare` one whose workers each own the emulator's own HTTP transport
   (delivery/plainhttp.py), which shows what the engine costs beyond its HTTP client.
   `--candidates` sets that transport beside the maintained clients that could replace it
   (issue 25), each with the receiver limits it has: the lean transport, aiohttp's client
   (`pip install aiohttp`) and h11 driven directly; the plain bare sender is the third,
   httpx's own transport (httpcore over h11). Each bare row also gives the sender's CPU
   time per request, the figure that does not depend on how fast the receiver answers.
2. Fast-forward. A webhook to a receiver that always answers 500, created paused; 1,000
   events; the clock frozen; resume and drain (the 1,000 first attempts), then one
   POST /_control/clock/advance {"duration": "72h"} (attempts 2-8). The receiver counts
   what reached it, and every delivery must then be `failed` with attempt_count 8. Then
   the bare sender makes the same 8,000 requests (each envelope 8 times) to the same
   receiver, with as many workers as the emulator has slots for one endpoint
   (--ff-concurrency // 4).

Cores: the emulator and the bare sender run on core 0, the receivers on core 1; this
script, idle while a run is timed, also on core 1.

Exit status: 0 when every run did what it should (whatever the timings), 1 when a run is
flagged (a delivery not succeeded, a bare request not 200, the fast-forward not ending
in 8 attempts each...), 2 when the bench itself could not run.

Examples:
    python scripts/bench_delivery.py --shared-client
    python scripts/bench_delivery.py --candidates --concurrency 1,16,64 --repeat 3
    python scripts/bench_delivery.py --concurrency 64 --repeat 3 --json
    python scripts/bench_delivery.py --candidates --write docs/benchmarks   # the docs' tables
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _bench_common import (
    BenchError,
    Processes,
    check_cores,
    command,
    free_port,
    handle_interrupts,
    mark,
    percentile,
    tail,
)
from _bench_tables import Run, Table, add_write_option, fmt, target_notes

SCRIPTS = Path(__file__).resolve().parent
RECEIVER_APP = SCRIPTS / "_bench_receiver.py"
BARE_SENDER = SCRIPTS / "_bench_bare_sender.py"

API_KEY = "hb_test_bench"
EVENT_TYPE = "order.created"
EVENT_PAYLOAD = {"order_id": "ord_123", "amount_cents": 4500}
HEALTH_PATH = "/_control/health"

EMULATOR_CORE = "0"  # the emulator and the bare sender: the side being measured
RECEIVER_CORE = "1"  # the receivers, and this driver (idle while a run is timed)
ENDPOINT_COUNTS = (1, 4)
CAP_ENDPOINTS = 4  # the emulator caps one endpoint at a quarter of its slots
CREATE_WORKERS = 16
DRAIN_TIMEOUT_S = 600  # the most the drain route accepts
HTTP_TIMEOUT_S = DRAIN_TIMEOUT_S + 60
FF_DURATION = "72h"
FF_ATTEMPTS = 8  # the default schedule: attempts at 0, 5 min, ..., 68 h 35 min, then failed

# The bare sender's clients (see scripts/_bench_bare_sender.py) and their rows' names.
BARE_TARGETS = {
    "own": "bare",
    "shared": "bare-shared",
    "lean": "bare-lean",
    "aiohttp": "bare-aiohttp",
    "h11": "bare-h11",
}
CANDIDATES = ["aiohttp", "h11"]  # maintained clients that could replace the lean transport
BARE_LABELS = {
    "bare": "httpx (httpcore over h11), one client per worker: the bare sender",
    "bare-shared": "one httpx.AsyncClient with httpx's default pool limits for all workers",
    "bare-lean": "the emulator's own HTTP transport, delivery/plainhttp.py (llhttp)",
    "bare-aiohttp": "aiohttp's client (C parser), one ClientSession per worker",
    "bare-h11": "h11 driven directly, one connection per worker, no httpcore",
}

# The rows of the docs' tables (`tables`).
ROW_LABELS = {
    "bare": "bare sender (httpx, a client per worker)",
    "bare-shared": "bare sender, one shared httpx client",
    "bare-lean": "bare sender on the lean transport",
    "bare-aiohttp": "bare sender on aiohttp's client",
    "bare-h11": "bare sender on h11",
}
CLIENT_LABELS = {
    "bare-lean": "lean transport (`harbor_emulator.delivery.plainhttp`, with the receiver limits)",
    "bare-aiohttp": "aiohttp",
    "bare-h11": "h11, no httpcore",
    "bare": "httpx (httpcore over h11)",
}

TARGET_RATIO = 0.7
TARGET_RATIO_CONCURRENCIES = (1, 16, 64)
TARGET_P99_CONCURRENCY = 64
TARGET_P99_MS = 100.0
TARGET_FF_S = 4.0
TARGET_FF_RATE = 2000.0  # attempts/s: 8,000 attempts in TARGET_FF_S
BUSY_LOAD = 1.0  # above this 1-minute load average the report warns that others compete

# Measured earlier on this machine (issue 5), for comparison with the bare variants.
REFERENCE = (
    "reference (issue 5, this machine): at 64 concurrent senders one shared "
    "httpx.AsyncClient ~345 deliveries/s, p99 1.2 s; one client per worker ~1,600/s, p99 81 ms"
)


# -- results --------------------------------------------------------------------------


@dataclass
class Sample:
    """One timed run: `target` is emulator or bare[-CLIENT] (see BARE_TARGETS)."""

    target: str
    concurrency: int
    endpoints: int
    deliveries: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    problems: list[str] = field(default_factory=list)
    cpu_us: float | None = None  # the bare sender's CPU time per request

    @classmethod
    def of(
        cls,
        target: str,
        concurrency: int,
        endpoints: int,
        seconds: float,
        durations_ms: list[float],
        problems: list[str],
        cpu_s: float | None = None,
    ) -> Sample:
        n = len(durations_ms)
        return cls(
            target=target,
            concurrency=concurrency,
            endpoints=endpoints,
            deliveries=n,
            seconds=round(seconds, 4),
            rate=n / seconds if seconds > 0 else 0.0,
            p50_ms=percentile(durations_ms, 50),
            p99_ms=percentile(durations_ms, 99),
            max_ms=float(max(durations_ms, default=0.0)),
            problems=problems,
            cpu_us=cpu_s / n * 1e6 if cpu_s is not None and n else None,
        )

    @classmethod
    def median_of(cls, runs: list[Sample]) -> Sample:
        if len(runs) == 1:
            return runs[0]

        def med(attr: str) -> float:
            return statistics.median(getattr(r, attr) for r in runs)

        return cls(
            target=runs[0].target,
            concurrency=runs[0].concurrency,
            endpoints=runs[0].endpoints,
            deliveries=sum(r.deliveries for r in runs),
            seconds=round(sum(r.seconds for r in runs), 4),
            rate=med("rate"),
            p50_ms=med("p50_ms"),
            p99_ms=med("p99_ms"),
            max_ms=max(r.max_ms for r in runs),
            problems=[p for r in runs for p in r.problems],
            cpu_us=med("cpu_us") if runs[0].cpu_us is not None else None,
        )


@dataclass
class FastForward:
    deliveries: int
    concurrency: int
    first_s: float  # resume + drain: the first attempt of each delivery
    advance_s: float  # the one 72 h advance: every retry
    first_attempts: int  # as counted by the receiver
    advance_attempts: int
    problems: list[str] = field(default_factory=list)
    # The bare sender, the same requests to the same receiver (None: not run), and its
    # other clients (bare-lean, bare-aiohttp, bare-h11) when asked for.
    bare: Sample | None = None
    variants: list[Sample] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return self.first_s + self.advance_s

    @property
    def attempts(self) -> int:
        return self.first_attempts + self.advance_attempts


@dataclass
class Target:
    name: str
    value: float
    goal: str
    met: bool


@dataclass
class Report:
    deliveries: int
    concurrencies: list[int]
    emulator_cmd: str
    repeat: int = 1
    shared_client: bool = False
    lean_bare: bool = False
    candidates: bool = False
    samples: list[Sample] = field(default_factory=list)
    fast_forward: FastForward | None = None
    # 1-minute load averages around the bench: on 2 cores, anything else running skews
    # both sides of a ratio differently and every absolute figure.
    load_before: float = 0.0
    load_after: float = 0.0

    def bare_clients(self) -> list[str]:
        """The bare sender's clients to run besides "own", in the order of the columns."""
        clients = ["shared"] if self.shared_client else []
        if self.lean_bare or self.candidates:
            clients.append("lean")
        if self.candidates:
            clients += CANDIDATES
        return clients

    def run(self, target: str, concurrency: int, endpoints: int = 1) -> Sample | None:
        found = [
            s
            for s in self.samples
            if (s.target, s.concurrency, s.endpoints) == (target, concurrency, endpoints)
        ]
        return Sample.median_of(found) if found else None

    def ratio(self, concurrency: int, endpoints: int) -> float | None:
        emu = self.run("emulator", concurrency, endpoints)
        bare = self.run("bare", concurrency)
        return emu.rate / bare.rate if emu and bare and bare.rate else None

    @property
    def problems(self) -> list[str]:
        out = [
            f"{s.target} c={s.concurrency} endpoints={s.endpoints}: {p}"
            for s in self.samples
            for p in s.problems
        ]
        if self.fast_forward:
            out += [f"fast-forward: {p}" for p in self.fast_forward.problems]
            bare = self.fast_forward.bare
            for sample in ([bare] if bare else []) + self.fast_forward.variants:
                out += [f"fast-forward {sample.target}: {p}" for p in sample.problems]
        return out

    def targets(self) -> list[Target]:
        out = []
        for c in TARGET_RATIO_CONCURRENCIES:
            if (ratio := self.ratio(c, CAP_ENDPOINTS)) is not None:
                name = f"ratio emulator/bare at c={c}, {CAP_ENDPOINTS} endpoints"
                goal = f">= {TARGET_RATIO}"
                out.append(Target(name, round(ratio, 3), goal, ratio >= TARGET_RATIO))
        c = TARGET_P99_CONCURRENCY
        if emu := self.run("emulator", c, CAP_ENDPOINTS):
            name = f"emulator p99 at c={c}, {CAP_ENDPOINTS} endpoints (ms)"
            p99 = emu.p99_ms
            out.append(Target(name, p99, f"< {TARGET_P99_MS:g}", p99 < TARGET_P99_MS))
        if ff := self.fast_forward:
            name = f"fast-forward {FF_DURATION}, {ff.deliveries} deliveries, all attempts (s)"
            total = round(ff.total_s, 2)
            out.append(Target(name, total, f"< {TARGET_FF_S:g}", total < TARGET_FF_S))
            rate = round(ff.attempts / ff.total_s if ff.total_s else 0.0, 1)
            name = "fast-forward attempts/s"
            out.append(Target(name, rate, f">= {TARGET_FF_RATE:g}", rate >= TARGET_FF_RATE))
        return out

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        cells = [
            (t, c, e)
            for c in self.concurrencies
            for t, e in [("emulator", 1), ("emulator", CAP_ENDPOINTS), ("bare", 1)]
            + [(BARE_TARGETS[client], 1) for client in self.bare_clients()]
        ]
        out["runs"] = [asdict(r) for t, c, e in cells if (r := self.run(t, c, e)) is not None]
        out["ratios"] = {
            f"c={c},endpoints={e}": self.ratio(c, e)
            for c in self.concurrencies
            for e in ENDPOINT_COUNTS
        }
        if ff := self.fast_forward:
            out["fast_forward"] |= {
                "total_s": ff.total_s,
                "attempts": ff.attempts,
                "attempts_per_s": ff.attempts / ff.total_s if ff.total_s else 0.0,
                "bare_per_s": ff.bare.rate if ff.bare else None,
            }
            for variant in ff.variants:
                key = variant.target.replace("-", "_")
                out["fast_forward"][key] = asdict(variant)
                out["fast_forward"][f"{key}_per_s"] = variant.rate
        out["targets"] = [asdict(t) for t in self.targets()]
        out["problems"] = self.problems
        out["flagged"] = bool(self.problems)
        return out


# -- talking to the emulator ----------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    secret: str


class Api:
    """The few emulator calls the bench makes; any unexpected answer is a BenchError."""

    def __init__(self, port: int) -> None:
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {API_KEY}"},
            # Drain and advance answer only when their work is done.
            timeout=HTTP_TIMEOUT_S,
            trust_env=False,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.client.request(method, path, json=body)
        if not 200 <= response.status_code < 300:
            raise BenchError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    async def create_webhook(self, url: str, *, paused: bool) -> Webhook:
        created = await self.call("POST", "/v1/webhooks", {"url": url, "events": [EVENT_TYPE]})
        if paused:
            # Create takes no status: pause it before any event can match it.
            await self.call("PATCH", f"/v1/webhooks/{created['id']}", {"status": "paused"})
        return Webhook(created["id"], url, created["secret"])

    async def create_events(self, count: int) -> None:
        body = {"type": EVENT_TYPE, "payload": EVENT_PAYLOAD}
        todo = iter(range(count))

        async def worker() -> None:
            for _ in todo:
                await self.call("POST", "/v1/events", body)

        await asyncio.gather(*(worker() for _ in range(min(CREATE_WORKERS, count))))

    async def resume(self, hooks: list[Webhook]) -> None:
        for hook in hooks:
            await self.call("PATCH", f"/v1/webhooks/{hook.id}", {"status": "active"})

    async def drain(self) -> dict[str, Any]:
        return dict(
            await self.call(
                "POST", "/_control/deliveries/drain", {"timeout_seconds": DRAIN_TIMEOUT_S}
            )
        )

    async def deliveries_of(self, hook: Webhook) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = f"/v1/deliveries?webhook_id={hook.id}&limit=100"
            if cursor:
                query += f"&cursor={cursor}"
            page = await self.call("GET", query)
            found += page["data"]
            cursor = page.get("next_cursor")
            if not page["has_more"] or not cursor:
                return found


# -- the bench ------------------------------------------------------------------------


class Bench:
    def __init__(
        self, workdir: Path, emulator_cmd: str, deliveries: int, log: Callable[[str], None]
    ) -> None:
        self.workdir = workdir
        self.emulator_cmd = emulator_cmd
        self.deliveries = deliveries
        self.log = log
        self.procs = Processes()
        self._runs = 0

    def start_receiver(self, name: str, status: int) -> str:
        port = free_port()
        argv = [sys.executable, str(RECEIVER_APP), "--port", str(port), "--status", str(status)]
        self.procs.start_server(
            name,
            argv,
            port=port,
            log_path=self.workdir / f"{name}.log",
            health_path="/health",
            core=RECEIVER_CORE,
        )
        return f"http://127.0.0.1:{port}"

    def start_emulator(self, concurrency: int) -> tuple[subprocess.Popen[bytes], int, str]:
        self._runs += 1
        name = f"emulator{self._runs}"
        port = free_port()
        values = {"python": sys.executable, "port": str(port), "concurrency": str(concurrency)}
        proc = self.procs.start_server(
            name,
            command(self.emulator_cmd, values),
            port=port,
            log_path=self.workdir / f"{name}.log",
            health_path=HEALTH_PATH,
            core=EMULATOR_CORE,
        )
        return proc, port, name

    def check_alive(self, proc: subprocess.Popen[bytes], name: str) -> None:
        if proc.poll() is not None:
            raise BenchError(f"{name} died during the run:\n{tail(self.workdir / f'{name}.log')}")

    async def emulator_run(
        self, receiver: str, concurrency: int, endpoints: int
    ) -> tuple[Sample, list[dict[str, Any]]]:
        """One timed run; also returns what the bare sender needs to send the same bodies."""
        proc, port, name = self.start_emulator(concurrency)
        api = Api(port)
        try:
            hooks = [
                await api.create_webhook(f"{receiver}/hook/{i}", paused=True)
                for i in range(endpoints)
            ]
            await api.create_events(self.deliveries // endpoints)
            started = time.perf_counter()
            await api.resume(hooks)
            drained = await api.drain()
            seconds = time.perf_counter() - started
            self.check_alive(proc, name)
            export = await api.call("GET", "/_control/export")
        finally:
            await api.close()
            self.procs.stop(proc)
        by_id = {hook.id: hook for hook in hooks}
        problems = [] if drained.get("drained") else [f"drain answered {drained}"]
        durations: list[float] = []
        bad: dict[str, int] = {}
        requests: list[dict[str, Any]] = []
        for delivery in export["deliveries"]:
            hook = by_id[delivery["webhook_id"]]
            attempts = delivery["attempts"]
            durations += [a["duration_ms"] for a in attempts]
            outcome = (
                f"{delivery['status']}/{delivery['attempt_count']}/{delivery.get('response_code')}"
            )
            if outcome != "succeeded/1/200":
                bad[outcome] = bad.get(outcome, 0) + 1
            requests.append(
                {
                    "url": hook.url,
                    "body": delivery["envelope"],
                    "delivery_id": delivery["id"],
                    "event_type": EVENT_TYPE,
                    "secrets": [hook.secret],
                }
            )
        if bad:
            shown = ", ".join(f"{n}x {k}" for k, n in sorted(bad.items()))
            problems.append(f"deliveries not succeeded/1 attempt/200: {shown}")
        sample = Sample.of("emulator", concurrency, endpoints, seconds, durations, problems)
        return sample, requests

    def bare_run(
        self,
        requests: list[dict[str, Any]],
        concurrency: int,
        *,
        client: str = "own",
        expected_status: str = "200",
    ) -> Sample:
        """`client`: own (an httpx client per worker), shared, lean, aiohttp or h11 (see
        the bare sender)."""
        self._runs += 1
        job_path = self.workdir / f"bare{self._runs}.json"
        result_path = self.workdir / f"bare{self._runs}.result.json"
        job = {"concurrency": concurrency, "client": client, "requests": requests}
        job_path.write_text(json.dumps(job))
        argv = ["taskset", "-c", EMULATOR_CORE, sys.executable, str(BARE_SENDER)]
        argv += [str(job_path), str(result_path)]
        proc = subprocess.Popen(
            argv,
            cwd=SCRIPTS.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=HTTP_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            raise BenchError(f"bare sender exited with {proc.returncode}:\n{err.decode()[-2000:]}")
        result = json.loads(result_path.read_text())
        problems = []
        if result["errors"]:
            problems.append(f"{result['errors']} requests failed (connection/timeout)")
        if other := {k: n for k, n in result["statuses"].items() if k != expected_status}:
            problems.append(f"answers other than {expected_status}: {other}")
        return Sample.of(
            BARE_TARGETS[client],
            concurrency,
            1,
            result["elapsed_s"],
            result["durations_ms"],
            problems,
            result["cpu_s"],
        )

    async def throughput(
        self, receiver: str, concurrencies: list[int], repeat: int, clients: list[str]
    ) -> list[Sample]:
        samples: list[Sample] = []
        for c in concurrencies:
            for rep in range(repeat):
                requests: list[dict[str, Any]] = []
                for endpoints in ENDPOINT_COUNTS:
                    self.log(f"  emulator: c={c}, {endpoints} endpoint(s), run {rep + 1}")
                    sample, sent = await self.emulator_run(receiver, c, endpoints)
                    samples.append(sample)
                    requests = requests or sent  # the 1-endpoint bodies, to one URL
                self.log(f"  bare: c={c}, one client per worker, run {rep + 1}")
                samples.append(self.bare_run(requests, c))
                for client in clients:
                    self.log(f"  bare: c={c}, client {client}, run {rep + 1}")
                    samples.append(self.bare_run(requests, c, client=client))
        return samples

    async def fast_forward(
        self, receiver: str, deliveries: int, concurrency: int, *, clients: list[str]
    ) -> FastForward:
        proc, port, name = self.start_emulator(concurrency)
        api = Api(port)
        stats = httpx.AsyncClient(base_url=receiver, trust_env=False)
        try:

            async def received() -> int:
                return int((await stats.get("/stats")).json()["requests"])

            hook = await api.create_webhook(f"{receiver}/hook/failing", paused=True)
            await api.call("POST", "/_control/clock/freeze")
            await api.create_events(deliveries)
            before = await received()
            started = time.perf_counter()
            await api.resume([hook])
            drained = await api.drain()
            first_s = time.perf_counter() - started
            after_first = await received()
            started = time.perf_counter()
            await api.call("POST", "/_control/clock/advance", {"duration": FF_DURATION})
            advance_s = time.perf_counter() - started
            after_advance = await received()
            self.check_alive(proc, name)
            found = await api.deliveries_of(hook)
            export = await api.call("GET", "/_control/export")
        finally:
            await stats.aclose()
            await api.close()
            self.procs.stop(proc)
        problems = [] if drained.get("drained") else [f"drain answered {drained}"]
        if len(found) != deliveries:
            problems.append(f"{len(found)} deliveries listed, {deliveries} expected")
        bad: dict[str, int] = {}
        for delivery in found:
            outcome = f"{delivery['status']}/{delivery['attempt_count']}"
            if outcome != f"failed/{FF_ATTEMPTS}":
                bad[outcome] = bad.get(outcome, 0) + 1
        if bad:
            shown = ", ".join(f"{n}x {k}" for k, n in sorted(bad.items()))
            problems.append(f"deliveries not failed after {FF_ATTEMPTS} attempts: {shown}")
        result = FastForward(
            deliveries=deliveries,
            concurrency=concurrency,
            first_s=first_s,
            advance_s=advance_s,
            first_attempts=after_first - before,
            advance_attempts=after_advance - after_first,
            problems=problems,
        )
        if result.attempts != deliveries * FF_ATTEMPTS:
            problems.append(
                f"the receiver got {result.attempts} attempts, {deliveries * FF_ATTEMPTS} expected"
            )
        # The same 8,000 requests from the bare sender, with the slots the emulator has
        # for one endpoint (its per-endpoint cap), to the same receiver.
        requests = [
            {
                "url": hook.url,
                "body": delivery["envelope"],
                "delivery_id": delivery["id"],
                "event_type": EVENT_TYPE,
                "secrets": [hook.secret],
            }
            for delivery in export["deliveries"]
        ] * FF_ATTEMPTS
        self.log(f"  bare: {len(requests)} requests to the failing receiver")
        workers = max(1, concurrency // 4)
        result.bare = self.bare_run(requests, workers, expected_status="500")
        for client in clients:
            if client == "shared":
                continue  # one worker per slot of one endpoint: nothing to share
            self.log(f"  bare: {len(requests)} requests, client {client}")
            result.variants.append(
                self.bare_run(requests, workers, client=client, expected_status="500")
            )
        return result


# -- output ---------------------------------------------------------------------------


def format_clients(report: Report) -> str:
    """The HTTP clients side by side: the sender's CPU per request, its rate, and each
    against the lean transport (issue 25's decision)."""
    targets = ["bare-lean", "bare", *(BARE_TARGETS[c] for c in CANDIDATES)]
    lines = [
        "HTTP clients, bare sender (CPU us per request: this process's CPU time / requests;",
        "  x lean: that CPU against the lean transport's, rate: requests/s)",
        f"{'conc':>4}  " + "  ".join(f"{t.removeprefix('bare-'):>22}" for t in targets),
    ]
    for c in report.concurrencies:
        lean = report.run("bare-lean", c)
        cells = []
        for target in targets:
            sample = report.run(target, c)
            if sample is None or sample.cpu_us is None:
                cells.append(f"{'-':>22}")
                continue
            times = sample.cpu_us / lean.cpu_us if lean and lean.cpu_us else 0.0
            cells.append(f"{sample.cpu_us:6.0f} us {times:4.1f}x {sample.rate:6.0f}/s")
        lines.append(f"{c:>4}  " + "  ".join(cells))
    return "\n".join(lines)


def tables(figures: dict[str, Any]) -> list[Table]:
    """The docs' tables, from `Report.to_json()`: throughput, the clients' CPU when
    measured, the fast-forward when run."""
    concurrencies = figures["concurrencies"]
    columns = [*(f"c={c}" for c in concurrencies)]
    runs = {(r["target"], r["concurrency"], r["endpoints"]): r for r in figures["runs"]}
    bare_targets = [t for t in ROW_LABELS if any(key[0] == t for key in runs)]

    def cell(run: dict[str, Any] | None) -> str:
        if run is None:
            return "-"
        flag = " (flagged)" if run["problems"] else ""
        return f"{fmt(run['rate'])} ({fmt(run['p99_ms'], 1)}){flag}"

    rows = [
        [label] + [cell(runs.get((target, c, endpoints))) for c in concurrencies]
        for target, endpoints, label in [
            ("emulator", CAP_ENDPOINTS, f"emulator, {CAP_ENDPOINTS} endpoints on one receiver"),
            ("emulator", 1, "emulator, 1 endpoint (at most a quarter of the slots)"),
            *((target, 1, ROW_LABELS[target]) for target in bare_targets),
        ]
    ]
    for endpoints in (CAP_ENDPOINTS, 1):
        ratios = [fmt(figures["ratios"][f"c={c},endpoints={endpoints}"], 2) for c in concurrencies]
        label = f"{endpoints} endpoints" if endpoints > 1 else "1 endpoint"
        rows.append([f"emulator / bare sender, {label}", *ratios])
    title = (
        f"Deliveries to a local receiver, {figures['deliveries']:,} a run"
        + (f", medians of {figures['repeat']}" if figures["repeat"] > 1 else "")
        + f"; emulator and bare sender on core {EMULATOR_CORE}, receiver on core "
        f"{RECEIVER_CORE}. Deliveries/s (p99 ms)."
    )
    notes = figures["problems"] + target_notes(figures["targets"])
    out = [Table(["deliveries/s (p99 ms)", *columns], rows, title=title, notes=notes)]
    if figures["candidates"]:
        out.append(_clients_table(concurrencies, runs))
    if forward := figures["fast_forward"]:
        out.append(_fast_forward_table(forward))
    return out


def _clients_table(concurrencies: list[int], runs: dict[tuple[str, int, int], Any]) -> Table:
    rows = []
    for target, label in CLIENT_LABELS.items():
        cells = []
        for c in concurrencies:
            sample, lean = runs.get((target, c, 1)), runs.get(("bare-lean", c, 1))
            if sample is None or sample["cpu_us"] is None or not lean or not lean["cpu_us"]:
                cells.append("-")
                continue
            times = sample["cpu_us"] / lean["cpu_us"]
            cells.append(f"{fmt(sample['cpu_us'])} us, {times:.1f}x ({fmt(sample['rate'])}/s)")
        rows.append([label, *cells])
    title = (
        "The HTTP clients: the bare sender's CPU per request (this process's CPU time over "
        "its requests), against the lean transport's, and its rate."
    )
    columns = ["CPU per request, x lean (requests/s)", *(f"c={c}" for c in concurrencies)]
    return Table(columns, rows, title=title)


def _fast_forward_table(forward: dict[str, Any]) -> Table:
    emulator_rate = forward["attempts_per_s"]
    rows = [
        [
            f"emulator, --delivery-concurrency {forward['concurrency']}: resume and drain, "
            f"then one {FF_DURATION} advance",
            f"{forward['total_s']:.2f}",
            fmt(forward["attempts"]),
            fmt(emulator_rate),
            "",
        ]
    ]
    for bare in [forward["bare"], *forward["variants"]] if forward["bare"] else []:
        rows.append(
            [
                f"{ROW_LABELS[bare['target']]}, {bare['concurrency']} workers",
                f"{bare['seconds']:.2f}",
                fmt(bare["deliveries"]),
                fmt(bare["rate"]),
                f"{emulator_rate / bare['rate']:.2f}" if bare["rate"] else "-",
            ]
        )
    title = (
        f"Fast-forward {FF_DURATION}: {forward['deliveries']:,} deliveries to a receiver "
        f"answering 500, clock frozen, every attempt counted by the receiver; the bare "
        f"senders make the same requests."
    )
    columns = ["", "seconds", "attempts", "attempts/s", "emulator / this"]
    return Table(columns, rows, title=title, notes=list(forward["problems"]))


def format_report(report: Report) -> str:
    cap = ", ".join(f"{max(1, c // 4)} at c={c}" for c in report.concurrencies)
    lines = [
        f"Deliveries to a local receiver, {report.deliveries} per run"
        + (f", median of {report.repeat}" if report.repeat > 1 else ""),
        f"  emulator: {report.emulator_cmd}",
        f"  cores: emulator and bare sender on core {EMULATOR_CORE}; receiver (uvicorn, "
        f'httptools, uvloop, no access log, answers 200 "ok") and this script on core '
        f"{RECEIVER_CORE}",
        "  emulator: webhooks created paused, events created, timed from the resume to "
        "drain reporting drained;",
        "    p99 of the attempts' duration_ms. bare: the same envelopes and signed headers, "
        "N workers, p99 of each POST",
        f"  per-endpoint cap c // 4 ({cap}): 1 endpoint uses only that many slots; "
        f"{CAP_ENDPOINTS} endpoints (same",
        f"    receiver) can use all c. Targets apply to {CAP_ENDPOINTS} endpoints, the "
        "like-for-like comparison with the bare sender.",
        "",
    ]
    variants = [BARE_TARGETS[client] for client in report.bare_clients()]
    header = (
        f"{'conc':>4}  {'emu 1 ep/s':>10} {'p99 ms':>7}  {'emu 4 ep/s':>10} {'p99 ms':>7}  "
        f"{'bare dlv/s':>10} {'p99 ms':>7}"
    )
    for target in variants:
        header += f"  {target.removeprefix('bare-') + ' dlv/s':>12} {'p99 ms':>7}"
    header += f"  {'ratio 1ep':>9} {'ratio 4ep':>9}"
    lines.append(header)

    def cell(sample: Sample | None, width: int = 10) -> str:
        if sample is None:
            return f"{'-':>{width}} {'-':>7}"
        flag = "!" if sample.problems else " "
        return f"{sample.rate:>{width}.1f} {sample.p99_ms:>7.1f}{flag}"

    def ratio(value: float | None) -> str:
        return f"{value:>9.2f}" if value is not None else f"{'-':>9}"

    for c in report.concurrencies:
        row = (
            f"{c:>4}  {cell(report.run('emulator', c, 1))} "
            f"{cell(report.run('emulator', c, CAP_ENDPOINTS))} {cell(report.run('bare', c))}"
        )
        for target in variants:
            row += f" {cell(report.run(target, c), 12)}"
        row += f" {ratio(report.ratio(c, 1))} {ratio(report.ratio(c, CAP_ENDPOINTS))}"
        lines.append(row)
    lines += ["", REFERENCE]
    if variants:
        lines.append("  bare senders (the ratios stay against bare):")
        lines += [f"    {t}: {BARE_LABELS[t]}" for t in ["bare", *variants]]
    if report.candidates:
        lines += ["", format_clients(report)]
    if ff := report.fast_forward:
        lines += [
            "",
            f"Fast-forward {FF_DURATION}: {ff.deliveries} deliveries to a receiver answering "
            f"500, one webhook, --delivery-concurrency {ff.concurrency}, clock frozen",
            f"  resume + drain (first attempts): {ff.first_s:7.2f} s  {ff.first_attempts:>5} "
            f"attempts  {ff.first_attempts / ff.first_s if ff.first_s else 0:7.1f} attempts/s",
            f"  one advance {FF_DURATION} (retries): {ff.advance_s:7.2f} s  "
            f"{ff.advance_attempts:>5} attempts  "
            f"{ff.advance_attempts / ff.advance_s if ff.advance_s else 0:7.1f} attempts/s",
            f"  all:                             {ff.total_s:7.2f} s  {ff.attempts:>5} "
            f"attempts  {ff.attempts / ff.total_s if ff.total_s else 0:7.1f} attempts/s "
            "(attempts as counted by the receiver)",
        ]
        for bare in ([ff.bare] if ff.bare else []) + ff.variants:
            what = "bare sender" if bare.target == "bare" else bare.target
            ratio = (ff.attempts / ff.total_s) / bare.rate if ff.total_s and bare.rate else 0.0
            lines.append(
                f"  {what}, same {bare.deliveries} requests, {bare.concurrency} workers "
                f"(the emulator's slots for one endpoint): {bare.seconds:7.2f} s  "
                f"{bare.rate:7.1f} requests/s  ratio emulator/{bare.target} {ratio:.2f}"
            )
        if not ff.problems:
            lines.append(
                f"  verified via GET /v1/deliveries: all {ff.deliveries} failed with "
                f"attempt_count {FF_ATTEMPTS}"
            )
    if targets := report.targets():
        lines += ["", "targets:"]
        lines += [f"  {t.name}: {t.value:g} (target {t.goal}) {mark(t.met)}" for t in targets]
    load = f"load average (1 min): {report.load_before:.2f} before, {report.load_after:.2f} after"
    lines += ["", load]
    if max(report.load_before, report.load_after) > BUSY_LOAD:
        lines.append(
            "WARNING: the machine was busy with other work: absolute figures are low and "
            "noisy; compare ratios, or rerun on a quiet machine (--repeat 3)"
        )
    if problems := report.problems:
        lines += ["", "WARNING, flagged runs (marked ! above; their figures measure failures):"]
        lines += [f"  {p}" for p in problems]
    else:
        lines += ["", "every delivery succeeded on its first attempt; bare requests all 200"]
    return "\n".join(lines)


# -- command line ---------------------------------------------------------------------


def default_emulator_cmd() -> str:
    # What a user types: the console script, when the venv has one.
    script = Path(sys.executable).parent / "harbor-emulator"
    program = shlex.quote(str(script)) if script.exists() else "{python} -m harbor_emulator.cli"
    return program + " start --port {port} --delivery-concurrency {concurrency} --rate-limit 0"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="The emulator command template may use {python}, {port} and {concurrency}.",
    )
    parser.add_argument(
        "--concurrency", default="1,16,64", help="comma-separated N (default 1,16,64)"
    )
    parser.add_argument(
        "--deliveries", type=int, default=2000, help="per throughput run (default 2000)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per cell, reported as medians (default 1)"
    )
    parser.add_argument(
        "--shared-client",
        action="store_true",
        help="also run the bare sender with one httpx.AsyncClient shared by all workers",
    )
    parser.add_argument(
        "--lean-bare",
        action="store_true",
        help="also run the bare sender with the emulator's own HTTP transport",
    )
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="also run the bare sender with the lean transport, aiohttp's client and h11, "
        "and compare their CPU per request (aiohttp must be installed)",
    )
    parser.add_argument(
        "--ff-deliveries", type=int, default=1000, help="fast-forward deliveries; 0 skips it"
    )
    parser.add_argument(
        "--ff-concurrency",
        type=int,
        default=32,
        help="--delivery-concurrency of the fast-forward (default 32, the emulator's default)",
    )
    parser.add_argument("--emulator-cmd", default=None, help="how to start the emulator")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    add_write_option(parser)
    args = parser.parse_args(argv)
    try:
        args.concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        parser.error("--concurrency takes integers, e.g. 1,16,64")
    if not args.concurrencies or min(args.concurrencies) < 1 or args.ff_concurrency < 1:
        parser.error("concurrencies need at least 1")
    if args.repeat < 1 or args.deliveries < max(ENDPOINT_COUNTS) or args.ff_deliveries < 0:
        parser.error(f"--repeat needs >= 1, --deliveries >= {max(ENDPOINT_COUNTS)}")
    return args


async def run_bench(bench: Bench, args: argparse.Namespace, report: Report) -> None:
    if args.candidates and importlib.util.find_spec("aiohttp") is None:
        raise BenchError("--candidates runs aiohttp's client: pip install aiohttp")
    receiver = bench.start_receiver("receiver", 200)
    bench.log(f"throughput: receiver {receiver}, {args.deliveries} deliveries per run")
    clients = report.bare_clients()
    report.samples = await bench.throughput(receiver, args.concurrencies, args.repeat, clients)
    if args.ff_deliveries:
        failing = bench.start_receiver("failing", 500)
        bench.log(f"fast-forward: {args.ff_deliveries} deliveries to {failing} (500)")
        report.fast_forward = await bench.fast_forward(
            failing, args.ff_deliveries, args.ff_concurrency, clients=clients
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handle_interrupts()
    run = Run(__file__, argv)

    def log(msg: str) -> None:
        # Progress goes to stderr so that --json output stays parseable.
        print(msg, file=sys.stderr, flush=True)

    emulator_cmd = args.emulator_cmd or default_emulator_cmd()
    report = Report(
        args.deliveries,
        args.concurrencies,
        emulator_cmd,
        repeat=args.repeat,
        shared_client=args.shared_client,
        lean_bare=args.lean_bare,
        candidates=args.candidates,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench_delivery_") as tmp:
            check_cores(
                f"emulator and bare sender on core {EMULATOR_CORE}, receiver on core "
                f"{RECEIVER_CORE}"
            )
            # This driver makes the setup calls and then waits on one drain or advance
            # answer; kept off the measured core, its wake-ups cost that core nothing.
            os.sched_setaffinity(0, {int(RECEIVER_CORE)})
            bench = Bench(Path(tmp), emulator_cmd, args.deliveries, log)
            report.load_before = os.getloadavg()[0]
            try:
                asyncio.run(run_bench(bench, args, report))
                report.load_after = os.getloadavg()[0]
            finally:
                # Before the temp dir goes: servers must release their files.
                bench.procs.stop_all()
    except KeyboardInterrupt:
        log("interrupted: servers stopped, temp files removed")
        return 130
    except BenchError as exc:
        log(f"bench failed: {exc}")
        return 2

    if args.write:
        run.write(args.write, "delivery", "Deliveries", report.to_json(), tables)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
