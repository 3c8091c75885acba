"""Benchmark POST /v1/events: the emulator against the durable ceiling and two mock peers.

Measures throughput and latency with wrk and prints figures; it never asserts on
timing. Targets (issue 20) are marked, not enforced: emulator/baseline >= 0.75 at
c=16, emulator/WireMock >= 1.0 at c=16, emulator p99 at c=64 below each peer's p99 and
below 25 ms, startup to first healthy response < 1 s.

The baseline ("durable ceiling") is scripts/_bench_baseline_app.py: bare Starlette on
uvicorn (uvloop + httptools) doing one aiosqlite INSERT + commit per request into a
WAL, synchronous=FULL database. The emulator runs with --db (durable) at log level info.

The peers (scripts/_bench_peers.py) are the stateless mocks a user might pick instead:
WireMock standalone with one canned stub (jar from the npm package `wiremock`, run with
java) and Prism mocking the emulator's own OpenAPI document (npm `@stoplight/prism-cli`,
run with node). Each is installed at a pinned version into
~/.cache/harbor-emulator/bench-peers/ on first use, gets a longer warm-up for its JIT
(--peer-warmup) and must answer 201 to the bench's exact request before it is timed.
A peer whose java, node, npm or install is missing is skipped with the reason printed;
--peers none leaves them out.

Every server runs pinned to core 0 and wrk (-t1, the same Lua script for all) to core
1, so the load generator does not steal the CPU it is measuring. Targets take turns,
each run on a fresh server; --repeat N reports medians of N runs.

Exit status: 0 when every run answered 2xx without socket errors (whatever the
timings), 1 when a run or a peer is flagged (non-2xx or socket errors: its figures
measured failures, not work), 2 when the bench itself could not run. A skipped peer
is not a failure.

Examples:
    python scripts/bench_events.py
    python scripts/bench_events.py --repeat 3 --json
    python scripts/bench_events.py --peers none --concurrency 16
    python scripts/bench_events.py --repeat 3 --write docs/benchmarks   # the table docs embed
    # Self-test of the harness: the baseline stands in for the emulator.
    python scripts/bench_events.py --emulator-cmd '{python} {baseline_app} --port {port} --db {db}'
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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
from _bench_peers import (
    PEERS,
    Peer,
    PeerUnavailable,
    default_cache_dir,
    parse_peers,
    post_once,
    prepare,
)
from _bench_tables import Run, Table, add_write_option, fmt, target_notes

BASELINE_APP = Path(__file__).resolve().parent / "_bench_baseline_app.py"

EVENT_BODY = '{"type":"order.created","payload":{"order_id":"ord_123","amount_cents":4500}}'
API_KEY = "hb_test_bench"
HEALTH_PATH = "/_control/health"

DEFAULT_EMULATOR_CMD = (
    "{python} -m harbor_emulator.cli start --port {port} --db {db} --rate-limit 0"
)
DEFAULT_BASELINE_CMD = "{python} {baseline_app} --port {port} --db {db}"
EMULATOR, BASELINE = "emulator", "baseline"
ROW_LABELS = {
    EMULATOR: "emulator, req/s (p99 ms)",
    BASELINE: "durable baseline (bare Starlette + aiosqlite INSERT and commit)",
    "wiremock": "WireMock {version}, one canned stub",
    "prism": "Prism {version} mocking `openapi.yaml`",
}

SERVER_CORE = "0"
WRK_CORE = "1"
RESULT_MARKER = "BENCH_RESULT "

TARGET_RATIO_CONCURRENCY = 16
TARGET_RATIO = 0.75
TARGET_PEER = "wiremock"  # emulator req/s >= this peer's at TARGET_RATIO_CONCURRENCY
TARGET_PEER_RATIO = 1.0
TARGET_P99_CONCURRENCY = 64
TARGET_P99_MS = 25.0
TARGET_STARTUP_S = 1.0

# wrk's own summary.errors.status only counts status >= 400, so a 3xx (say a
# redirect_slashes 307) would pass as success; response() sees every status.
# Defining response() makes wrk parse each reply into Lua, which costs little at
# the rates a Python server reaches and runs on wrk's own core anyway.
WRK_LUA = r"""
wrk.method = "POST"
wrk.body = [==[@BODY@]==]
wrk.headers["Authorization"] = "Bearer @KEY@"
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  statuses = {}
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  local merged = {}
  for _, t in ipairs(threads) do
    total = total + t:get("non2xx")
    for code, n in pairs(t:get("statuses")) do
      merged[code] = (merged[code] or 0) + n
    end
  end
  local parts = {}
  for code, n in pairs(merged) do
    table.insert(parts, string.format('"%s":%d', code, n))
  end
  local e = summary.errors
  io.write(string.format(
    '@MARKER@{"requests":%d,"duration_us":%d,"non2xx":%d,"non2xx_by_status":{%s},'
    .. '"errors_status":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,'
    .. '"errors_timeout":%d,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,'
    .. '"mean_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, summary.duration, total, table.concat(parts, ","),
    e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.mean / 1000, latency.max / 1000))
end
"""


@dataclass
class RunResult:
    target: str
    concurrency: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non2xx: int
    non2xx_by_status: dict[str, int]
    wrk_status_errors: int  # wrk's own count: status >= 400 only
    socket_errors: dict[str, int]

    @classmethod
    def from_wrk(cls, target: str, concurrency: int, raw: dict[str, Any]) -> RunResult:
        seconds = raw["duration_us"] / 1e6
        return cls(
            target=target,
            concurrency=concurrency,
            seconds=round(seconds, 3),
            requests=raw["requests"],
            rps=raw["requests"] / seconds if seconds else 0.0,
            **{k: raw[k] for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms")},
            non2xx=raw["non2xx"],
            non2xx_by_status=raw["non2xx_by_status"],
            wrk_status_errors=raw["errors_status"],
            socket_errors={k: raw[f"errors_{k}"] for k in ("connect", "read", "write", "timeout")},
        )

    @classmethod
    def median_of(cls, runs: list[RunResult]) -> RunResult:
        """Medians of the rates and latencies, sums of the counts."""
        if len(runs) == 1:
            return runs[0]

        def med(attr: str) -> float:
            return statistics.median(getattr(r, attr) for r in runs)

        def total(attr: str) -> dict[str, int]:
            out: dict[str, int] = {}
            for r in runs:
                for key, n in getattr(r, attr).items():
                    out[key] = out.get(key, 0) + n
            return out

        return cls(
            target=runs[0].target,
            concurrency=runs[0].concurrency,
            seconds=round(sum(r.seconds for r in runs), 3),
            requests=sum(r.requests for r in runs),
            **{k: med(k) for k in ("rps", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms")},
            non2xx=sum(r.non2xx for r in runs),
            non2xx_by_status=total("non2xx_by_status"),
            wrk_status_errors=sum(r.wrk_status_errors for r in runs),
            socket_errors=total("socket_errors"),
        )

    @property
    def flagged(self) -> bool:
        return self.non2xx > 0 or any(self.socket_errors.values())

    def problems(self) -> str:
        statuses = ", ".join(f"{n}x{code}" for code, n in sorted(self.non2xx_by_status.items()))
        parts = [f"non-2xx {self.non2xx} ({statuses})"] if self.non2xx else []
        parts += [f"{kind} errors {n}" for kind, n in self.socket_errors.items() if n]
        return "; ".join(parts)


@dataclass
class Target:
    name: str
    value: float | None  # None: not measured, `note` says why
    goal: str
    met: bool | None
    note: str = ""


@dataclass
class PeerStatus:
    """What became of a peer asked for with --peers."""

    name: str
    version: str
    state: str  # "ran", "skipped" (could not run: not a failure) or "flagged" (non-2xx)
    reason: str = ""


@dataclass
class Report:
    seconds: int
    concurrencies: list[int]
    emulator_cmd: str
    baseline_cmd: str
    startup_cmd: str = ""
    db_filesystem: str = "?"
    repeat: int = 1
    peer_warmup_s: float = 0.0
    samples: list[RunResult] = field(default_factory=list)  # every run, before medians
    startup_s: list[float] = field(default_factory=list)
    peers: list[PeerStatus] = field(default_factory=list)

    def run(self, target: str, concurrency: int) -> RunResult | None:
        found = [r for r in self.samples if (r.target, r.concurrency) == (target, concurrency)]
        return RunResult.median_of(found) if found else None

    @property
    def target_names(self) -> list[str]:
        """The emulator, the baseline, then each peer asked for, in --peers order."""
        return [EMULATOR, BASELINE, *(p.name for p in self.peers)]

    @property
    def runs(self) -> list[RunResult]:
        found = (self.run(t, c) for c in self.concurrencies for t in self.target_names)
        return [r for r in found if r is not None]

    def ratio(self, concurrency: int, other: str = BASELINE) -> float | None:
        """Emulator req/s over `other`'s at `concurrency`."""
        emu, base = self.run(EMULATOR, concurrency), self.run(other, concurrency)
        return emu.rps / base.rps if emu and base and base.rps else None

    def peer(self, name: str) -> PeerStatus | None:
        return next((p for p in self.peers if p.name == name), None)

    @property
    def startup_median_s(self) -> float | None:
        return statistics.median(self.startup_s) if self.startup_s else None

    @property
    def flagged_runs(self) -> list[RunResult]:
        return [r for r in self.runs if r.flagged]

    @property
    def flagged(self) -> bool:
        return bool(self.flagged_runs) or any(p.state == "flagged" for p in self.peers)

    def _unmeasured(self, peer: str) -> str:
        status = self.peer(peer)
        if status is None:
            return f"{peer} not in --peers"
        return f"{peer} {status.state}: {status.reason}" if status.reason else status.state

    def targets(self) -> list[Target]:
        out = []
        c = TARGET_RATIO_CONCURRENCY
        if (ratio := self.ratio(c)) is not None:
            name = f"ratio emulator/baseline at c={c}"
            out.append(Target(name, round(ratio, 3), f">= {TARGET_RATIO}", ratio >= TARGET_RATIO))
        if self.run(EMULATOR, c) is not None:
            name, goal = f"ratio emulator/{TARGET_PEER} at c={c}", f">= {TARGET_PEER_RATIO}"
            if (ratio := self.ratio(c, TARGET_PEER)) is not None:
                out.append(Target(name, round(ratio, 3), goal, ratio >= TARGET_PEER_RATIO))
            else:
                out.append(Target(name, None, goal, None, self._unmeasured(TARGET_PEER)))
        c = TARGET_P99_CONCURRENCY
        if emu := self.run(EMULATOR, c):
            p99, goal = emu.p99_ms, TARGET_P99_MS
            out.append(Target(f"emulator p99 at c={c} (ms)", p99, f"< {goal:g}", p99 < goal))
            for peer in PEERS:
                name = f"emulator p99 at c={c} (ms) vs {peer}"
                if other := self.run(peer, c):
                    goal = f"< {peer} p99 {other.p99_ms:.2f}"
                    out.append(Target(name, p99, goal, p99 < other.p99_ms))
                else:
                    goal = f"< {peer} p99"
                    out.append(Target(name, None, goal, None, self._unmeasured(peer)))
        if (median := self.startup_median_s) is not None:
            name, goal = (
                f"startup to healthy, median of {len(self.startup_s)} (s)",
                TARGET_STARTUP_S,
            )
            out.append(Target(name, round(median, 3), f"< {goal:g}", median < goal))
        return out

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["runs"] = [asdict(r) | {"flagged": r.flagged} for r in self.runs]
        out["samples"] = [asdict(r) | {"flagged": r.flagged} for r in self.samples]
        out["ratios"] = {str(c): self.ratio(c) for c in self.concurrencies}
        out["ratios_vs"] = {
            other: {str(c): self.ratio(c, other) for c in self.concurrencies}
            for other in self.target_names[1:]
        }
        out["startup_median_s"] = self.startup_median_s
        out["targets"] = [asdict(t) for t in self.targets()]
        out["flagged"] = self.flagged
        return out


def ensure_wrk() -> str:
    if found := shutil.which("wrk"):
        return found
    print("wrk not found: installing it with apt-get", file=sys.stderr)
    install = ["apt-get", "install", "-y", "wrk"]
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if subprocess.run(install, check=False, **quiet).returncode != 0:
        # A fresh machine has no package lists yet; only then is the update worth it.
        subprocess.run(["apt-get", "update"], check=False, **quiet)
        subprocess.run(install, check=False, **quiet)
    if found := shutil.which("wrk"):
        return found
    raise BenchError("wrk is not installed and `apt-get install -y wrk` failed")


def startup_command(emulator_cmd: str | None) -> str:
    if emulator_cmd is not None:
        return emulator_cmd
    # What a user types: the console script, when the venv has one.
    script = Path(sys.executable).parent / "harbor-emulator"
    if script.exists():
        return shlex.quote(str(script)) + " start --port {port} --db {db}"
    return "{python} -m harbor_emulator.cli start --port {port} --db {db}"


@dataclass(frozen=True)
class Server:
    """How to start one target of the bench on a given port."""

    name: str
    argv: Callable[[int], list[str]]
    health_path: str = HEALTH_PATH
    warmup_s: float | None = None  # None: the run's --warmup
    peer: bool = False  # may be skipped; must answer 2xx to the request before timing


class PeerFailed(Exception):
    def __init__(self, state: str, reason: str) -> None:
        super().__init__(reason)
        self.state, self.reason = state, reason


class Harness:
    """Starts servers and points wrk at them."""

    def __init__(self, workdir: Path, wrk: str, log: Callable[[str], None]) -> None:
        self.workdir = workdir
        self.wrk = wrk
        self.log = log
        self.procs = Processes()
        self.lua = workdir / "post_event.lua"
        self.lua.write_text(
            WRK_LUA.replace("@BODY@", EVENT_BODY)
            .replace("@KEY@", API_KEY)
            .replace("@MARKER@", RESULT_MARKER)
        )

    def template_server(self, name: str, template: str) -> Server:
        """A server started from a command template, with a database of its own."""

        def argv(port: int) -> list[str]:
            values = {
                "python": sys.executable,
                "port": str(port),
                "db": str(self.workdir / f"{name}.db"),
                "baseline_app": str(BASELINE_APP),
            }
            return command(template, values)

        return Server(name, argv)

    def peer_server(self, peer: Peer, warmup_s: float) -> Server:
        spec = peer.spec
        return Server(spec.name, peer.argv, spec.health_path, warmup_s, peer=True)

    def start(self, server: Server, *, pin: bool) -> tuple[subprocess.Popen[bytes], int]:
        """Start a server on a free port; return once healthy."""
        port = free_port()
        proc = self.procs.start_server(
            server.name,
            server.argv(port),
            port=port,
            log_path=self.workdir / f"{server.name}.log",
            health_path=server.health_path,
            core=SERVER_CORE if pin else None,
        )
        return proc, port

    def check_answers_2xx(self, port: int) -> None:
        """The bench's exact request must succeed, or the timings would measure refusals."""
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        try:
            status, body = post_once(port, "/v1/events", EVENT_BODY, headers)
        except OSError as exc:
            raise PeerFailed("skipped", f"POST /v1/events failed: {exc}") from None
        if not 200 <= status <= 299:
            raise PeerFailed("flagged", f"answered {status} to the bench's request: {body}")

    def wrk_run(self, url: str, concurrency: int, seconds: int) -> dict[str, Any]:
        argv = [
            "taskset", "-c", WRK_CORE, self.wrk,
            "-t1", f"-c{concurrency}", f"-d{seconds:g}s",
            # Well past any plausible p99: a timed-out request leaves no latency
            # sample, so a short timeout would hide the very tail we report.
            "--timeout", "10s",
            "-s", str(self.lua), url,
        ]  # fmt: skip
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            out, _ = proc.communicate(timeout=seconds + 60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        text = out.decode(errors="replace")
        for line in text.splitlines():
            if line.startswith(RESULT_MARKER):
                return json.loads(line.removeprefix(RESULT_MARKER))
        raise BenchError(f"wrk exited with {proc.returncode} and no result:\n{text}")

    def bench(
        self,
        servers: list[Server],
        concurrencies: list[int],
        seconds: int,
        warmup: float,
        repeat: int,
    ) -> tuple[list[RunResult], dict[str, PeerFailed]]:
        """`repeat` runs per target and concurrency, the targets taking turns.

        Taking turns, rather than all of one target then all of the other, spreads
        the machine's drift (fsync latency on a VM wanders by the minute) over all
        instead of reporting it as a ratio. Each run gets a fresh server (on its
        target's database), alone on core 0: an idle one may still have timers.

        A peer that fails is dropped from the remaining runs and returned with why;
        its runs so far stay in the results. Any other failure raises BenchError.
        """
        results: list[RunResult] = []
        dropped: dict[str, PeerFailed] = {}
        for c, _rep, server in itertools.product(concurrencies, range(repeat), servers):
            if server.name in dropped:
                continue
            try:
                results.append(self.one_run(server, c, seconds, warmup))
            except (BenchError, PeerFailed) as exc:
                if not server.peer:
                    raise
                failed = exc if isinstance(exc, PeerFailed) else PeerFailed("skipped", str(exc))
                self.log(f"  {server.name} {failed.state}: {failed.reason}")
                dropped[server.name] = failed
        return results, dropped

    def one_run(self, server: Server, concurrency: int, seconds: int, warmup: float) -> RunResult:
        proc, port = self.start(server, pin=True)
        try:
            if server.peer:
                self.check_answers_2xx(port)
            url = f"http://127.0.0.1:{port}/v1/events"
            warmup = warmup if server.warmup_s is None else server.warmup_s
            self.log(f"  {server.name}: c={concurrency}, warmup {warmup:g}s + {seconds:g}s")
            if warmup > 0:
                # wrk's -d takes whole seconds.
                self.wrk_run(url, concurrency, max(1, round(warmup)))
            raw = self.wrk_run(url, concurrency, seconds)
            if proc.poll() is not None:
                log_text = tail(self.workdir / f"{server.name}.log")
                raise BenchError(f"{server.name} died during the run:\n{log_text}")
            return RunResult.from_wrk(server.name, concurrency, raw)
        finally:
            self.procs.stop(proc)

    def startup_times(self, template: str, runs: int) -> list[float]:
        times = []
        for i in range(runs):
            # A fresh database each time: the first start creates the schema, and
            # that is what a new user waits for. Not pinned: this is wall time.
            started = time.perf_counter()
            proc, _port = self.start(self.template_server(f"startup{i}", template), pin=False)
            times.append(time.perf_counter() - started)
            self.procs.stop(proc)
        return times


def format_report(report: Report) -> str:
    """One row per target and a column pair per concurrency, then the ratios."""
    lines = [
        f"POST /v1/events, {report.seconds:g}s per run"
        + (f", median of {report.repeat}" if report.repeat > 1 else "")
        + f"; server on core {SERVER_CORE}, "
        f"wrk -t1 on core {WRK_CORE}; databases on {report.db_filesystem}",
        "",
    ]
    labels = {EMULATOR: EMULATOR, BASELINE: BASELINE}
    labels |= {p.name: f"{p.name} {p.version}" for p in report.peers}
    width = max(len(label) for label in [*labels.values(), "emulator/baseline"])
    lines.append(" " * width + "".join(f"{f'c={c}':>18} " for c in report.concurrencies))
    lines.append(f"{'':<{width}}" + f"{'req/s':>10}{'p99 ms':>9}" * len(report.concurrencies))

    def cell(r: RunResult | None) -> str:
        if r is None:
            return f"{'-':>10}{'-':>8} "
        return f"{r.rps:>10.1f}{r.p99_ms:>8.2f}{'!' if r.flagged else ' '}"

    for name in report.target_names:
        cells = "".join(cell(report.run(name, c)) for c in report.concurrencies)
        lines.append(f"{labels[name]:<{width}}{cells}")
    for other in report.target_names[1:]:
        ratios = (report.ratio(c, other) for c in report.concurrencies)
        cells = "".join(
            f"{r:>10.2f}{'':9}" if r is not None else f"{'-':>10}{'':9}" for r in ratios
        )
        lines.append(f"{'emulator/' + other:<{width}}{cells.rstrip()}")
    if report.peers:
        lines += ["", f"peers (--peer-warmup {report.peer_warmup_s:g}s before each run):"]
        for peer in report.peers:
            spec = PEERS[peer.name]
            state = f"{peer.state}: {peer.reason}" if peer.reason else peer.state
            lines.append(f"  {spec.label}: {state} ({spec.describe})")
    if report.startup_s:
        each = ", ".join(f"{t:.3f}" for t in report.startup_s)
        lines += ["", f"startup to healthy: median {report.startup_median_s:.3f} s ({each})"]
    if targets := report.targets():
        lines += ["", "targets (marked, not enforced):"]
        for t in targets:
            if t.met is None:
                lines.append(f"  {t.name}: not measured (target {t.goal}): {t.note}")
            else:
                lines.append(f"  {t.name}: {t.value} (target {t.goal}) {mark(t.met)}")
    if flagged := report.flagged_runs:
        lines += ["", "FLAGGED runs (marked ! above; their figures measure failures):"]
        lines += [f"  {r.target} c={r.concurrency}: {r.problems()}" for r in flagged]
    else:
        lines += ["", "non-2xx: none"]
    if flagged_peers := [p for p in report.peers if p.state == "flagged"]:
        lines += ["FLAGGED peers (not timed further):"]
        lines += [f"  {p.name}: {p.reason}" for p in flagged_peers]
    if report.db_filesystem in ("tmpfs", "ramfs"):
        lines.append("WARNING: databases on tmpfs, where fsync is free: set TMPDIR to a disk")
    return "\n".join(lines)


def tables(figures: dict[str, Any]) -> list[Table]:
    """The docs' table, from `Report.to_json()`: req/s (p99 ms) per target, then ratios."""
    concurrencies = figures["concurrencies"]
    versions = {EMULATOR: "", BASELINE: ""} | {
        peer["name"]: peer["version"] for peer in figures["peers"] if peer["state"] == "ran"
    }
    runs = {(run["target"], run["concurrency"]): run for run in figures["runs"]}

    def cell(run: dict[str, Any] | None) -> str:
        if run is None:
            return "-"
        flag = " (flagged)" if run["flagged"] else ""
        return f"{fmt(run['rps'])} ({fmt(run['p99_ms'], 1)}){flag}"

    rows = [
        [ROW_LABELS[name].format(version=version)]
        + [cell(runs.get((name, c))) for c in concurrencies]
        for name, version in versions.items()
    ]
    for other in list(versions)[1:]:
        ratios = figures["ratios_vs"][other]
        rows.append([f"emulator / {other}"] + [fmt(ratios[str(c)], 2) for c in concurrencies])
    notes = [
        f"{peer['name']} {peer['version']} {peer['state']}: {peer['reason']}"
        for peer in figures["peers"]
        if peer["state"] != "ran"
    ]
    if figures["startup_median_s"] is not None:
        notes.append(
            f"Start-up of `harbor-emulator start --db` to healthy: median "
            f"{figures['startup_median_s']:.3f} s of {len(figures['startup_s'])}."
        )
    title = (
        f"`POST /v1/events` with `--db` (durable: WAL, `synchronous=FULL`), "
        f"{figures['seconds']:g} s a run"
        + (f", medians of {figures['repeat']}" if figures["repeat"] > 1 else "")
        + f"; server on core {SERVER_CORE}, wrk on core {WRK_CORE}; databases on "
        f"{figures['db_filesystem']}."
    )
    columns = ["", *(f"c={c}" for c in concurrencies)]
    return [Table(columns, rows, title=title, notes=notes + target_notes(figures["targets"]))]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Command templates may use {python} (this interpreter), {port}, {db} "
        "and {baseline_app}.",
    )
    parser.add_argument("--seconds", type=int, default=5.0, help="per run (default 5)")
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="before each run, dropped (default 1)"
    )
    parser.add_argument(
        "--concurrency",
        default="1,16,64",
        help="comma-separated wrk -c values (default 1,16,64)",
    )
    parser.add_argument(
        "--emulator-cmd",
        default=None,
        help=f"how to start the emulator (default: {DEFAULT_EMULATOR_CMD!r}); "
        "also used for the startup timing when given",
    )
    parser.add_argument("--baseline-cmd", default=DEFAULT_BASELINE_CMD, help=argparse.SUPPRESS)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per target and concurrency, reported as medians (default 1)",
    )
    parser.add_argument("--startup-runs", type=int, default=3, help="0 skips it (default 3)")
    parser.add_argument(
        "--peers",
        default=",".join(PEERS),
        help=f"mock servers to measure beside the emulator: none, or some of "
        f"{','.join(PEERS)} (default all; installed with npm on first use)",
    )
    parser.add_argument(
        "--peer-warmup",
        type=float,
        default=5.0,
        help="warmup before each peer run, dropped: their JITs (JVM, V8) take longer "
        "to settle than the emulator (default 5)",
    )
    parser.add_argument(
        "--peers-cache",
        type=Path,
        default=None,
        help=f"where the peers are installed (default {default_cache_dir()})",
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    add_write_option(parser)
    args = parser.parse_args(argv)
    try:
        args.concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        parser.error("--concurrency takes integers, e.g. 1,16,64")
    # Whole seconds: wrk's -d takes no fractions.
    if args.repeat < 1 or args.seconds < 1 or args.warmup < 0 or args.peer_warmup < 0:
        parser.error("--repeat and --seconds need at least 1, the warmups at least 0")
    try:
        args.peer_names = parse_peers(args.peers)
    except ValueError as exc:
        parser.error(str(exc))
    if not args.concurrencies or min(args.concurrencies) < 1:
        parser.error("--concurrency needs at least one value >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handle_interrupts()
    run = Run(__file__, argv)

    def log(msg: str) -> None:
        # Progress goes to stderr so that --json output stays parseable.
        print(msg, file=sys.stderr, flush=True)

    emulator_cmd = args.emulator_cmd or DEFAULT_EMULATOR_CMD
    report = Report(
        args.seconds,
        args.concurrencies,
        emulator_cmd,
        args.baseline_cmd,
        repeat=args.repeat,
        peer_warmup_s=args.peer_warmup,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench_events_") as tmp:
            check_cores(f"server on core {SERVER_CORE}, wrk on core {WRK_CORE}")
            harness = Harness(Path(tmp), ensure_wrk(), log)
            report.db_filesystem = filesystem_type(Path(tmp).resolve())
            try:
                if args.startup_runs > 0:
                    report.startup_cmd = startup_command(args.emulator_cmd)
                    log(f"startup: {args.startup_runs} runs of {report.startup_cmd}")
                    report.startup_s = harness.startup_times(report.startup_cmd, args.startup_runs)
                servers = [
                    harness.template_server(EMULATOR, emulator_cmd),
                    harness.template_server(BASELINE, args.baseline_cmd),
                ]
                cache_dir = args.peers_cache or default_cache_dir()
                for name in args.peer_names:
                    try:
                        peer = prepare(name, cache_dir, Path(tmp), log)
                    except PeerUnavailable as exc:
                        log(f"peer {name} skipped: {exc}")
                        report.peers.append(
                            PeerStatus(name, PEERS[name].version, "skipped", str(exc))
                        )
                        continue
                    report.peers.append(PeerStatus(name, PEERS[name].version, "ran"))
                    servers.append(harness.peer_server(peer, args.peer_warmup))
                report.samples, dropped = harness.bench(
                    servers, args.concurrencies, args.seconds, args.warmup, args.repeat
                )
                for status in report.peers:
                    if failed := dropped.get(status.name):
                        status.state, status.reason = failed.state, failed.reason
            finally:
                # Before the temp dir goes: servers must release their databases.
                harness.procs.stop_all()
    except KeyboardInterrupt:
        log("interrupted: servers stopped, temp files removed")
        return 130
    except BenchError as exc:
        log(f"bench failed: {exc}")
        return 2

    if args.write:
        run.write(args.write, "events", "POST /v1/events", report.to_json(), tables)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report))
    return 1 if report.flagged else 0


if __name__ == "__main__":
    sys.exit(main())
