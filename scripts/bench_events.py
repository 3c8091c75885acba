"""Benchmark POST /v1/events: the emulator against the durable ceiling.

Measures throughput and latency with wrk and prints figures; it never asserts on
timing. Targets are marked, not enforced: ratio emulator/baseline >= 0.6 at c=16,
emulator p99 < 25 ms at c=64, startup to first healthy response < 1 s.

The baseline ("durable ceiling") is scripts/_bench_baseline_app.py: bare Starlette on
uvicorn (uvloop + httptools) doing one aiosqlite INSERT + commit per request into a
WAL, synchronous=FULL database. The server runs pinned to core 0, wrk (-t1) to core
1, so the load generator does not steal the CPU it is measuring.

Exit status: 0 when every run answered 2xx without socket errors (whatever the
timings), 1 when a run is flagged (non-2xx or socket errors: its figures measured
failures, not work), 2 when the bench itself could not run.

Examples:
    python scripts/bench_events.py
    python scripts/bench_events.py --seconds 10 --json
    # Self-test of the harness: the baseline stands in for the emulator.
    python scripts/bench_events.py --emulator-cmd '{python} {baseline_app} --port {port} --db {db}'
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE_APP = Path(__file__).resolve().parent / "_bench_baseline_app.py"

EVENT_BODY = '{"type":"order.created","payload":{"order_id":"ord_123","amount_cents":4500}}'
API_KEY = "hb_test_bench"
HEALTH_PATH = "/_control/health"

DEFAULT_EMULATOR_CMD = (
    "{python} -m harbor_emulator.cli start --port {port} --db {db} --rate-limit 0"
)
DEFAULT_BASELINE_CMD = "{python} {baseline_app} --port {port} --db {db}"

SERVER_CORE = "0"
WRK_CORE = "1"
READY_TIMEOUT_S = 30.0
RESULT_MARKER = "BENCH_RESULT "

TARGET_RATIO_CONCURRENCY = 16
TARGET_RATIO = 0.6
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


class BenchError(RuntimeError):
    """The bench could not produce figures (as opposed to producing bad ones)."""


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
    socket_errors: dict[str, int]

    @property
    def flagged(self) -> bool:
        return self.non2xx > 0 or any(self.socket_errors.values())


@dataclass
class Report:
    seconds: float
    concurrencies: list[int]
    emulator_cmd: str
    baseline_cmd: str
    runs: list[RunResult] = field(default_factory=list)
    startup_s: list[float] = field(default_factory=list)
    startup_cmd: str = ""
    db_filesystem: str = "?"

    def run(self, target: str, concurrency: int) -> RunResult | None:
        for r in self.runs:
            if r.target == target and r.concurrency == concurrency:
                return r
        return None

    def ratio(self, concurrency: int) -> float | None:
        emu, base = self.run("emulator", concurrency), self.run("baseline", concurrency)
        if emu is None or base is None or base.rps == 0:
            return None
        return emu.rps / base.rps

    @property
    def startup_median_s(self) -> float | None:
        return statistics.median(self.startup_s) if self.startup_s else None

    @property
    def flagged_runs(self) -> list[RunResult]:
        return [r for r in self.runs if r.flagged]

    def targets(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        ratio = self.ratio(TARGET_RATIO_CONCURRENCY)
        if ratio is not None:
            out.append(
                {
                    "name": f"ratio emulator/baseline at c={TARGET_RATIO_CONCURRENCY}",
                    "value": round(ratio, 3),
                    "target": f">= {TARGET_RATIO}",
                    "met": ratio >= TARGET_RATIO,
                }
            )
        emu = self.run("emulator", TARGET_P99_CONCURRENCY)
        if emu is not None:
            out.append(
                {
                    "name": f"emulator p99 at c={TARGET_P99_CONCURRENCY} (ms)",
                    "value": round(emu.p99_ms, 2),
                    "target": f"< {TARGET_P99_MS:g}",
                    "met": emu.p99_ms < TARGET_P99_MS,
                }
            )
        median = self.startup_median_s
        if median is not None:
            out.append(
                {
                    "name": f"startup to healthy, median of {len(self.startup_s)} (s)",
                    "value": round(median, 3),
                    "target": f"< {TARGET_STARTUP_S:g}",
                    "met": median < TARGET_STARTUP_S,
                }
            )
        return out

    def to_json(self) -> dict[str, Any]:
        runs = []
        for r in self.runs:
            d = asdict(r)
            d["flagged"] = r.flagged
            runs.append(d)
        return {
            "seconds": self.seconds,
            "concurrencies": self.concurrencies,
            "emulator_cmd": self.emulator_cmd,
            "baseline_cmd": self.baseline_cmd,
            "startup_cmd": self.startup_cmd,
            "db_filesystem": self.db_filesystem,
            "runs": runs,
            "ratios": {str(c): self.ratio(c) for c in self.concurrencies},
            "startup_s": self.startup_s,
            "startup_median_s": self.startup_median_s,
            "targets": self.targets(),
            "flagged": bool(self.flagged_runs),
        }


class Processes:
    """Every server this bench starts, so that any exit path can stop them."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        with open(log_path, "ab") as log:
            # A session of its own: Ctrl-C in the terminal then reaches only us,
            # and we stop the whole group (uvicorn may fork workers) in order.
            proc = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        else:
            # The leader is gone but a child it forked may still hold the port.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        if proc in self._procs:
            self._procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self._procs):
            self.stop(proc)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health_ok(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", HEALTH_PATH)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def wait_healthy(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(
                f"server exited with {proc.returncode} before it was healthy:\n" + tail(log_path)
            )
        if health_ok(port):
            return
        time.sleep(0.005)
    raise BenchError(f"server not healthy after {READY_TIMEOUT_S:g} s:\n" + tail(log_path))


def filesystem_type(path: Path) -> str:
    # On tmpfs fsync costs nothing, so synchronous=FULL would measure no
    # durability at all: the report says where the databases lived.
    best, fstype = "", "?"
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mount_point = fields[1]
                if str(path).startswith(mount_point.rstrip("/") + "/") and len(mount_point) > len(
                    best
                ):
                    best, fstype = mount_point, fields[2]
    except OSError:
        pass
    return fstype


def tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def expand(template: str, **values: str) -> list[str]:
    # Split first, then fill in: a path with spaces stays one argument.
    return [part.format(**values) for part in shlex.split(template)]


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing it with apt-get", file=sys.stderr)
    install = ["apt-get", "install", "-y", "wrk"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if subprocess.run(install, check=False, **quiet).returncode != 0:
        # A fresh machine has no package lists yet; only then is the update worth it.
        subprocess.run(["apt-get", "update"], check=False, **quiet)
        subprocess.run(install, check=False, **quiet)
    found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk is not installed and `apt-get install -y wrk` failed")
    return found


def check_cores() -> None:
    if shutil.which("taskset") is None:
        raise BenchError("taskset not found (package util-linux)")
    if (os.cpu_count() or 1) < 2:
        raise BenchError("need at least 2 cores: server on core 0, wrk on core 1")


def run_wrk(wrk: str, lua: Path, url: str, concurrency: int, seconds: float) -> dict[str, Any]:
    argv = [
        "taskset", "-c", WRK_CORE, wrk,
        "-t1", f"-c{concurrency}", f"-d{seconds:g}s",
        # Well past any plausible p99: a timed-out request leaves no latency
        # sample, so a short timeout would hide the very tail we report.
        "--timeout", "10s",
        "-s", str(lua), url,
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
            return json.loads(line[len(RESULT_MARKER) :])
    raise BenchError(f"wrk exited with {proc.returncode} and no result:\n{text}")


def bench_target(
    name: str,
    template: str,
    *,
    procs: Processes,
    workdir: Path,
    wrk: str,
    lua: Path,
    concurrencies: list[int],
    seconds: float,
    warmup: float,
    log: Any,
) -> list[RunResult]:
    port = free_port()
    db = workdir / f"{name}.db"
    log_path = workdir / f"{name}.log"
    argv = expand(
        template,
        python=sys.executable,
        port=str(port),
        db=str(db),
        baseline_app=str(BASELINE_APP),
    )
    server = procs.spawn(["taskset", "-c", SERVER_CORE, *argv], log_path)
    try:
        wait_healthy(server, port, log_path)
        url = f"http://127.0.0.1:{port}/v1/events"
        if warmup > 0:
            # Warms imports, the page cache and the WAL; its figures are dropped.
            log(f"  {name}: warmup {warmup:g}s")
            run_wrk(wrk, lua, url, max(concurrencies), warmup)
        results = []
        for c in concurrencies:
            log(f"  {name}: c={c} for {seconds:g}s")
            raw = run_wrk(wrk, lua, url, c, seconds)
            if server.poll() is not None:
                raise BenchError(f"{name} died during the run:\n" + tail(log_path))
            duration_s = raw["duration_us"] / 1e6
            results.append(
                RunResult(
                    target=name,
                    concurrency=c,
                    seconds=round(duration_s, 3),
                    requests=raw["requests"],
                    rps=raw["requests"] / duration_s if duration_s else 0.0,
                    p50_ms=raw["p50_ms"],
                    p90_ms=raw["p90_ms"],
                    p99_ms=raw["p99_ms"],
                    mean_ms=raw["mean_ms"],
                    max_ms=raw["max_ms"],
                    non2xx=raw["non2xx"],
                    non2xx_by_status=raw["non2xx_by_status"],
                    socket_errors={
                        k: raw[f"errors_{k}"] for k in ("connect", "read", "write", "timeout")
                    },
                )
            )
        return results
    finally:
        procs.stop(server)


def startup_command(emulator_cmd: str | None) -> str:
    if emulator_cmd is not None:
        return emulator_cmd
    # What a user types: the console script, when the venv has one.
    script = Path(sys.executable).parent / "harbor-emulator"
    if script.exists():
        return shlex.quote(str(script)) + " start --port {port} --db {db}"
    return "{python} -m harbor_emulator.cli start --port {port} --db {db}"


def measure_startup(template: str, runs: int, *, procs: Processes, workdir: Path) -> list[float]:
    times = []
    for i in range(runs):
        port = free_port()
        # A fresh database each time: first start includes creating the schema,
        # which is what a user of a new project sees.
        db = workdir / f"startup{i}.db"
        log_path = workdir / f"startup{i}.log"
        argv = expand(
            template,
            python=sys.executable,
            port=str(port),
            db=str(db),
            baseline_app=str(BASELINE_APP),
        )
        # Not pinned: this is the wall time a user waits, imports and all.
        start = time.perf_counter()
        proc = procs.spawn(argv, log_path)
        try:
            wait_healthy(proc, port, log_path)
            times.append(time.perf_counter() - start)
        finally:
            procs.stop(proc)
    return times


def mark(met: bool) -> str:
    return "ok" if met else "MISSED"


def format_report(report: Report) -> str:
    lines = [
        f"POST /v1/events, {report.seconds:g}s per run; server on core {SERVER_CORE}, "
        f"wrk -t1 on core {WRK_CORE}; databases on {report.db_filesystem}",
        "",
        f"{'conc':>4}  {'emulator req/s':>14} {'p99 ms':>8}  "
        f"{'baseline req/s':>14} {'p99 ms':>8}  {'ratio':>6}",
    ]

    def cell(r: RunResult | None) -> str:
        if r is None:
            return f"{'-':>14} {'-':>8} "
        flag = "!" if r.flagged else " "
        return f"{r.rps:>14.1f} {r.p99_ms:>8.2f}{flag}"

    for c in report.concurrencies:
        ratio = report.ratio(c)
        ratio_s = f"{ratio:>6.2f}" if ratio is not None else f"{'-':>6}"
        lines.append(
            f"{c:>4}  {cell(report.run('emulator', c))} {cell(report.run('baseline', c))} {ratio_s}"
        )
    if report.startup_s:
        each = ", ".join(f"{t:.3f}" for t in report.startup_s)
        lines += ["", f"startup to healthy: median {report.startup_median_s:.3f} s ({each})"]
    targets = report.targets()
    if targets:
        lines += ["", "targets:"]
        for t in targets:
            lines.append(f"  {t['name']}: {t['value']} (target {t['target']}) {mark(t['met'])}")
    flagged = report.flagged_runs
    if flagged:
        lines += ["", "FLAGGED runs (marked ! above; their figures measure failures):"]
        for r in flagged:
            statuses = ", ".join(f"{k}x{v}" for k, v in sorted(r.non2xx_by_status.items()))
            errors = ", ".join(f"{k} {v}" for k, v in r.socket_errors.items() if v)
            detail = "; ".join(
                s for s in (f"non-2xx {r.non2xx} ({statuses})" if r.non2xx else "", errors) if s
            )
            lines.append(f"  {r.target} c={r.concurrency}: {detail}")
    else:
        lines += ["", "non-2xx: none"]
    if report.db_filesystem in ("tmpfs", "ramfs"):
        lines.append("WARNING: databases on tmpfs, fsync is free: set TMPDIR to a disk")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Command templates may use {python} (this interpreter), {port}, {db} "
        "and {baseline_app}.",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per run (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="per target (default 1)")
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
    parser.add_argument("--startup-runs", type=int, default=3, help="0 skips it (default 3)")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args(argv)
    try:
        args.concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        parser.error("--concurrency takes integers, e.g. 1,16,64")
    if not args.concurrencies or min(args.concurrencies) < 1:
        parser.error("--concurrency needs at least one value >= 1")
    return args


def _raise_interrupt(signum: int, _frame: Any) -> None:
    # SIGTERM (a CI timeout, `kill`) must clean up exactly like Ctrl-C does.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Set both explicitly: a shell starts background jobs with SIGINT ignored,
    # and Python then never turns it into KeyboardInterrupt.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)

    def log(msg: str) -> None:
        # Progress goes to stderr so that --json output stays parseable.
        print(msg, file=sys.stderr, flush=True)

    emulator_cmd = args.emulator_cmd or DEFAULT_EMULATOR_CMD
    report = Report(
        seconds=args.seconds,
        concurrencies=args.concurrencies,
        emulator_cmd=emulator_cmd,
        baseline_cmd=args.baseline_cmd,
    )
    procs = Processes()
    try:
        with tempfile.TemporaryDirectory(prefix="bench_events_") as tmp:
            workdir = Path(tmp)
            report.db_filesystem = filesystem_type(workdir.resolve())
            try:
                check_cores()
                wrk = ensure_wrk()
                lua = workdir / "post_event.lua"
                lua.write_text(
                    WRK_LUA.replace("@BODY@", EVENT_BODY)
                    .replace("@KEY@", API_KEY)
                    .replace("@MARKER@", RESULT_MARKER)
                )
                if args.startup_runs > 0:
                    report.startup_cmd = startup_command(args.emulator_cmd)
                    log(f"startup: {args.startup_runs} runs of {report.startup_cmd}")
                    report.startup_s = measure_startup(
                        report.startup_cmd, args.startup_runs, procs=procs, workdir=workdir
                    )
                for name, template in (("emulator", emulator_cmd), ("baseline", args.baseline_cmd)):
                    report.runs += bench_target(
                        name,
                        template,
                        procs=procs,
                        workdir=workdir,
                        wrk=wrk,
                        lua=lua,
                        concurrencies=args.concurrencies,
                        seconds=args.seconds,
                        warmup=args.warmup,
                        log=log,
                    )
            finally:
                # Before the temp dir goes: servers must release their databases.
                procs.stop_all()
    except KeyboardInterrupt:
        log("interrupted: servers stopped, temp files removed")
        return 130
    except BenchError as exc:
        log(f"bench failed: {exc}")
        return 2

    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report))
    return 1 if report.flagged_runs else 0


if __name__ == "__main__":
    sys.exit(main())
