"""scripts/bench_events.py and its peers: the parts that decide what a run reports.

Figures are never asserted (the bench compares timings; a test must not). What is: how a
peer is installed and started, that a peer which cannot run is skipped with its reason and
one answering non-2xx is flagged, that the report and its JSON carry every target, and
one short real run of the harness with the baseline standing in for the emulator.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests import skip_policy

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"


def _load(name: str) -> ModuleType:
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec = importlib.util.spec_from_file_location(f"{name}_under_test", SCRIPTS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # dataclasses resolve the script's string annotations through sys.modules.
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPTS))


bench = _load("bench_events")
peers = _load("_bench_peers")


def _run(target: str, concurrency: int, rps: float, p99_ms: float, non2xx: int = 0) -> Any:
    return bench.RunResult(
        target=target,
        concurrency=concurrency,
        seconds=1.0,
        requests=int(rps),
        rps=rps,
        p50_ms=p99_ms / 2,
        p90_ms=p99_ms / 1.5,
        p99_ms=p99_ms,
        mean_ms=p99_ms / 2,
        max_ms=p99_ms * 2,
        non2xx=non2xx,
        non2xx_by_status={"401": non2xx} if non2xx else {},
        wrk_status_errors=non2xx,
        socket_errors={"connect": 0, "read": 0, "write": 0, "timeout": 0},
    )


def _report(peer_states: list[Any]) -> Any:
    report = bench.Report(5, [16, 64], "emu", "base", peer_warmup_s=5.0)
    report.peers = peer_states
    report.samples = [
        _run("emulator", 16, 3000, 10),
        _run("baseline", 16, 3600, 8),
        _run("emulator", 64, 3100, 30),
        _run("baseline", 64, 3700, 25),
    ]
    return report


def test_peers_flag_takes_none_or_known_names() -> None:
    assert peers.parse_peers("none") == []
    assert peers.parse_peers("prism, wiremock,prism") == ["prism", "wiremock"]
    for bad in ("", "wiremock,mockoon", "none,prism"):
        with pytest.raises(ValueError, match="--peers"):
            peers.parse_peers(bad)
    assert bench.parse_args(["--peers", "none"]).peer_names == []
    assert bench.parse_args([]).peer_names == list(peers.PEERS)


def test_peers_install_at_their_pinned_version_without_scripts(tmp_path: Path) -> None:
    for spec in peers.PEERS.values():
        argv = peers.npm_install_argv("npm", spec, tmp_path / "p")
        assert argv[-1] == f"{spec.package}@{spec.version}"
        assert spec.version.count(".") == 2 and spec.version[0].isdigit()
        assert {"--ignore-scripts", "--no-audit", "--no-fund"} <= set(argv)
        assert argv[argv.index("--prefix") + 1] == str(tmp_path / "p")
    # One cache directory per pinned package, so a new pin never reuses an old install.
    prism = peers.PEERS["prism"]
    assert peers.install_dir(prism, tmp_path).name == f"@stoplight+prism-cli@{prism.version}"


def test_an_install_of_the_pinned_version_is_reused(tmp_path: Path) -> None:
    spec = peers.PEERS["wiremock"]
    prefix = peers.install_dir(spec, tmp_path)
    manifest = prefix / "node_modules" / "wiremock" / "package.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"name": "wiremock", "version": spec.version}))

    def fail(_line: str) -> None:
        raise AssertionError("installed again")

    assert peers.ensure_installed(spec, tmp_path, fail) == prefix
    manifest.write_text(json.dumps({"name": "wiremock", "version": "3.0.0"}))
    # Another version is not reused: without npm that is a reason, not a crash.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(tmp_path / "empty"))
        with pytest.raises(peers.PeerUnavailable, match="npm not found"):
            peers.ensure_installed(spec, tmp_path, lambda _line: None)


def test_peer_commands(tmp_path: Path) -> None:
    root = peers.write_wiremock_root(tmp_path / "root")
    stub = json.loads((root / "mappings" / "post_events.json").read_text())
    assert stub["request"] == {"method": "POST", "urlPath": "/v1/events"}
    assert stub["response"]["status"] == 201
    body = json.loads(stub["response"]["body"])
    assert body["object"] == "event" and body["payload"] == json.loads(bench.EVENT_BODY)["payload"]

    argv = peers.wiremock_argv("java", tmp_path / "w.jar", root, 4321)
    assert argv[:3] == ["java", "-jar", str(tmp_path / "w.jar")]
    assert argv[argv.index("--port") + 1] == "4321"
    assert argv[argv.index("--root-dir") + 1] == str(root)
    assert "--no-request-journal" in argv

    argv = peers.prism_argv("node", tmp_path / "index.js", peers.OPENAPI_DOCUMENT, 4321)
    assert argv[:3] == ["node", str(tmp_path / "index.js"), "mock"]
    assert argv[argv.index("-p") + 1] == "4321"
    assert argv[-1] == str(peers.OPENAPI_DOCUMENT) and peers.OPENAPI_DOCUMENT.is_file()


def test_a_peer_without_its_runtime_is_unavailable_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for name, runtime in (("wiremock", "java"), ("prism", "node")):
        with pytest.raises(peers.PeerUnavailable, match=f"{runtime} not found"):
            peers.prepare(name, tmp_path / "cache", tmp_path, lambda _line: None)
    assert not (tmp_path / "cache").exists()


@pytest.fixture
def answering() -> Iterator[list[int]]:
    """A server whose POST answers the status at the head of the yielded list."""
    statuses = [201]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            ok = self.headers["Authorization"] == f"Bearer {bench.API_KEY}"
            self.send_response(statuses[0] if ok else 400)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    statuses.append(server.server_address[1])
    try:
        yield statuses
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_peer_must_answer_2xx_to_the_bench_request(tmp_path: Path, answering: list[int]) -> None:
    harness = bench.Harness(tmp_path, "wrk", lambda _line: None)
    port = answering[1]
    harness.check_answers_2xx(port)
    answering[0] = 422
    with pytest.raises(bench.PeerFailed) as failed:
        harness.check_answers_2xx(port)
    assert failed.value.state == "flagged" and "answered 422" in failed.value.reason


def test_report_with_a_peer_skipped_and_one_run() -> None:
    report = _report(
        [
            bench.PeerStatus("wiremock", "3.13.2", "skipped", "java not found"),
            bench.PeerStatus("prism", "5.16.0", "ran"),
        ]
    )
    report.samples += [_run("prism", 16, 1000, 40), _run("prism", 64, 1000, 50)]
    assert not report.flagged

    targets = {t.name: t for t in report.targets()}
    assert targets["ratio emulator/baseline at c=16"].value == round(3000 / 3600, 3)
    assert targets["ratio emulator/baseline at c=16"].met is True
    assert targets["ratio emulator/wiremock at c=16"].met is None
    assert "java not found" in targets["ratio emulator/wiremock at c=16"].note
    assert targets["emulator p99 at c=64 (ms) vs prism"].met is True
    assert targets["emulator p99 at c=64 (ms) vs wiremock"].met is None

    text = bench.format_report(report)
    assert "wiremock 3.13.2: skipped: java not found" in text
    assert "emulator/prism" in text and "not measured" in text
    prism_row = next(line for line in text.splitlines() if line.startswith("prism 5.16.0"))
    assert "1000.0" in prism_row and "50.00" in prism_row

    data = json.loads(json.dumps(report.to_json()))
    assert {p["name"]: p["state"] for p in data["peers"]} == {"wiremock": "skipped", "prism": "ran"}
    assert {r["target"] for r in data["runs"]} == {"emulator", "baseline", "prism"}
    assert data["ratios_vs"]["prism"]["16"] == 3.0 and data["ratios_vs"]["wiremock"]["16"] is None
    assert data["flagged"] is False


def test_a_peer_answering_non_2xx_flags_the_report() -> None:
    report = _report([bench.PeerStatus("prism", "5.16.0", "flagged", "answered 401")])
    assert report.flagged and "FLAGGED peers" in bench.format_report(report)
    report = _report([bench.PeerStatus("prism", "5.16.0", "ran")])
    report.samples.append(_run("prism", 16, 1000, 40, non2xx=3))
    assert report.flagged and "prism c=16: non-2xx 3 (3x401)" in bench.format_report(report)


def test_the_durable_target_is_three_quarters_of_the_baseline() -> None:
    report = _report([])
    report.samples[0] = _run("emulator", 16, 0.75 * 3600, 10)
    assert {t.name: t.met for t in report.targets()}["ratio emulator/baseline at c=16"] is True
    report.samples[0] = _run("emulator", 16, 0.74 * 3600, 10)
    assert {t.name: t.met for t in report.targets()}["ratio emulator/baseline at c=16"] is False


@skip_policy.skip_if(
    skip_policy.tools_missing("wrk", "taskset", install="apt-get install wrk util-linux")
    or skip_policy.cores_missing(2)
)
def test_a_one_second_run_with_the_baseline_as_emulator(tmp_path: Path) -> None:
    emulator_cmd = "{python} {baseline_app} --port {port} --db {db}"
    done = subprocess.run(
        [
            sys.executable, str(SCRIPTS / "bench_events.py"),
            "--seconds", "1", "--warmup", "0", "--startup-runs", "0", "--concurrency", "1",
            "--peers", "none", "--emulator-cmd", emulator_cmd, "--json",
            "--write", str(tmp_path / "tables"),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    assert [(r["target"], r["concurrency"]) for r in data["runs"]] == [
        ("emulator", 1),
        ("baseline", 1),
    ]
    assert all(r["requests"] > 0 and not r["flagged"] for r in data["runs"])
    assert data["peers"] == [] and data["flagged"] is False
    # --write: the same figures, and the table the docs embed made from them.
    written = json.loads((tmp_path / "tables" / "events.json").read_text())
    assert written["figures"]["runs"] == data["runs"]
    assert written["tables"] == [asdict(t) for t in bench.tables(written["figures"])]
    rows = written["tables"][0]["rows"]
    assert [row[0] for row in rows] == [
        "emulator, req/s (p99 ms)",
        "durable baseline (bare Starlette + aiosqlite INSERT and commit)",
        "emulator / baseline",
    ]
    assert (tmp_path / "tables" / "events.md").is_file()


def test_a_short_delivery_run_with_every_bare_variant(tmp_path: Path) -> None:
    """scripts/bench_delivery.py end to end, tiny: the emulator, the bare sender with each
    client (own, shared, the emulator's lean transport), and a fast-forward whose every
    delivery must end failed after 8 attempts, counted by the receiver."""
    done = subprocess.run(
        [
            sys.executable, str(SCRIPTS / "bench_delivery.py"),
            "--concurrency", "4", "--deliveries", "8", "--ff-deliveries", "5",
            "--ff-concurrency", "4", "--shared-client", "--lean-bare", "--json",
            "--write", str(tmp_path / "tables"),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    assert data["flagged"] is False, data["problems"]
    assert sorted((r["target"], r["endpoints"]) for r in data["runs"]) == [
        ("bare", 1),
        ("bare-lean", 1),
        ("bare-shared", 1),
        ("emulator", 1),
        ("emulator", 4),
    ]
    assert all(r["deliveries"] == 8 for r in data["runs"])
    forward = data["fast_forward"]
    assert forward["attempts"] == 5 * 8
    assert forward["bare"]["deliveries"] == forward["bare_lean"]["deliveries"] == 40
    # Ratio targets are for c=1, 16 and 64 only; the fast-forward's apply to any run.
    assert [t["name"] for t in data["targets"]] == [
        "fast-forward 72h, 5 deliveries, all attempts (s)",
        "fast-forward attempts/s",
    ]
    written = json.loads((tmp_path / "tables" / "delivery.json").read_text())
    delivery = _load("bench_delivery")
    assert written["tables"] == [asdict(t) for t in delivery.tables(written["figures"])]
    throughput, forward = written["tables"]  # no clients' table without --candidates
    assert len(throughput["rows"]) == 2 + 3 + 2  # emulator twice, 3 bare senders, 2 ratios
    # The emulator, the bare sender and the lean one (the shared client is not run here).
    assert [row[2] for row in forward["rows"]] == ["40", "40", "40"]


def test_a_short_delivery_run_with_the_http_client_candidates(tmp_path: Path) -> None:
    """`--candidates` (issue 25): the bare sender on the lean transport, aiohttp's client
    and h11, each a row with the sender's CPU per request."""
    done = subprocess.run(
        [
            sys.executable, str(SCRIPTS / "bench_delivery.py"),
            "--concurrency", "2", "--deliveries", "8", "--ff-deliveries", "0", "--candidates",
            "--json", "--write", str(tmp_path / "tables"),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    assert data["flagged"] is False, data["problems"]
    bare = {r["target"]: r for r in data["runs"] if r["target"].startswith("bare")}
    assert sorted(bare) == ["bare", "bare-aiohttp", "bare-h11", "bare-lean"]
    assert all(r["deliveries"] == 8 and r["cpu_us"] > 0 for r in bare.values())
    written = json.loads((tmp_path / "tables" / "delivery.json").read_text())
    clients = written["tables"][1]  # no fast-forward table with --ff-deliveries 0
    assert len(written["tables"]) == 2 and clients["columns"][1] == "c=2"
    lean_row = clients["rows"][0]  # the lean transport against itself
    assert lean_row[0].startswith("lean transport") and " us, 1.0x (" in lean_row[1]


def test_the_candidates_table_sets_each_client_against_the_lean_transport() -> None:
    bench = _load("bench_delivery")
    report = bench.Report(8, [16], "emulator", candidates=True)
    cpu_seconds = {"bare-lean": 0.2, "bare": 1.0, "bare-aiohttp": 0.2, "bare-h11": 0.3}
    for target, cpu_s in cpu_seconds.items():
        report.samples.append(bench.Sample.of(target, 16, 1, 1.0, [1.0] * 1000, [], cpu_s))
    table = bench.format_clients(report)
    assert table.splitlines()[-1].split() == [
        "16",
        "200", "us", "1.0x", "1000/s",
        "1000", "us", "5.0x", "1000/s",
        "200", "us", "1.0x", "1000/s",
        "300", "us", "1.5x", "1000/s",
    ]  # fmt: skip
