"""The PyInstaller one-dir binary that ships, run as a CI job would: no Python, no venv,
empty env."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from harbor_emulator import signing
from tests import shipped_binary, skip_policy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
READY_LINE = re.compile(r"harbor-emulator (\S+) listening on (http://127\.0\.0\.1:\d+)")
START_TIMEOUT_SECONDS = 30.0
TEST_KEY = "hb_test_bin"
FIXTURES = ROOT / "fixtures" / "sdk-quickstart.yaml"
SMOKE = ROOT / "scripts" / "smoke_binary.py"


@pytest.fixture(scope="session")
def binary() -> Path:
    """dist/harbor-emulator-onedir/harbor-emulator from a clean .venv-build, built once per run."""
    return shipped_binary.build_once()


def run_bare(binary: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # env={} is `env -i`: no PATH (so no python), no VIRTUAL_ENV, no PYTHONPATH, no HOME.
    return subprocess.run(
        [str(binary), *args], env={}, cwd=cwd, capture_output=True, text=True, timeout=60
    )


class RunningBinary:
    """`harbor-emulator start --port 0` in an empty environment, read through its stdout."""

    def __init__(
        self, binary: Path, workdir: Path, *start_args: str, env: dict[str, str] | None = None
    ) -> None:
        self.stderr_path = workdir / "stderr.log"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            [str(binary), "start", "--port", "0", *start_args],
            env=env or {},
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            # Its own process group: a one-file build (scripts/build_binary without
            # --onedir) runs Python in a child, which a SIGKILL of the bootloader alone would
            # orphan (holding our stdout pipe).
            start_new_session=True,
        )
        # A reader thread keeps the pipe drained and lets us wait for a line with a timeout.
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_ready(self) -> tuple[str, str]:
        """Return (version, url) from the ready line."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no ready line within {START_TIMEOUT_SECONDS}s\n{self.stderr()}")
            if line is None:
                pytest.fail(f"exited with {self.process.wait()} before ready\n{self.stderr()}")
            match = READY_LINE.fullmatch(line)
            if match:
                return match.group(1), match.group(2)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever the bootloader left behind
        # The pump ends at EOF. Closing the pipe while it still reads would block on the
        # reader's lock, so close only after it has finished.
        self._pump_thread.join(timeout=15)
        if not self._pump_thread.is_alive():
            assert self.process.stdout is not None
            self.process.stdout.close()
        self._stderr.close()


@pytest.fixture
def running(binary: Path, tmp_path: Path) -> Iterator[RunningBinary]:
    # Loading fixtures at start reaches what only the import graph can't show: the YAML
    # loader, harbor_emulator's fixtures.schema.json and jsonschema's bundled metaschemas.
    server = RunningBinary(binary, tmp_path, "--fixtures", str(FIXTURES))
    yield server
    server.close()


def wait_healthy(client: httpx.Client) -> httpx.Response:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            response = client.get("/_control/health")
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail("/_control/health never answered 200")
        time.sleep(0.05)


def loaded_shared_objects(pid: int) -> set[str]:
    """File names of the shared objects mapped by pid and its children (Linux /proc)."""
    names: set[str] = set()
    pending = [pid]
    while pending:
        current = pending.pop()
        proc = Path(f"/proc/{current}")
        try:
            for line in (proc / "maps").read_text().splitlines():
                fields = line.split()
                if len(fields) >= 6 and fields[5].endswith(".so"):
                    names.add(fields[5].rsplit("/", 1)[-1])
            # A one-file bootloader unpacks, then runs Python in a child process.
            children = (proc / "task" / str(current) / "children").read_text().split()
        except FileNotFoundError:
            continue
        pending.extend(int(child) for child in children)
    return names


def test_binary_serves_the_api_with_no_python_around(running: RunningBinary) -> None:
    reported_version, url = running.wait_ready()
    assert reported_version == version("harbor-emulator")

    with httpx.Client(base_url=url, timeout=10) as client:
        health = wait_healthy(client)
        assert health.json()["status"] == "ok"
        assert health.json()["version"] == reported_version

        # uvicorn's "auto" falls back to asyncio and h11 without a word when the C
        # extensions are missing, so check what the server process really loaded.
        if Path("/proc/self/maps").exists():
            loaded = loaded_shared_objects(running.process.pid)
            assert any(name.startswith("loop.cpython") for name in loaded), loaded  # uvloop
            assert any(name.startswith("parser.cpython") for name in loaded), loaded  # httptools

        created = client.post(
            "/v1/events",
            headers={"Authorization": f"Bearer {TEST_KEY}"},
            json={"type": "order.paid", "payload": {"order_id": "ord_1"}},
        )
        assert created.status_code == 201, created.text
        event = created.json()
        assert event["object"] == "event"
        assert event["payload"] == {"order_id": "ord_1"}

        loaded = client.get(
            "/v1/webhooks/wh_0193f1a2d001",
            headers={"Authorization": "Bearer hb_test_quickstart"},
        )
        assert loaded.status_code == 200, loaded.text  # defined by FIXTURES

        # Delivery through the binary: httpx's sending path and the scheduler are bundled.
        headers = {"Authorization": f"Bearer {TEST_KEY}"}
        client.put("/_control/sinks/bin", json={"responses": [{"status": 500}]})
        client.post("/_control/clock/freeze")
        webhook = client.post(
            "/v1/webhooks",
            headers=headers,
            json={"url": f"{url}/_sink/bin", "events": ["order.*"]},
        ).json()
        client.post("/v1/events", headers=headers, json={"type": "order.paid", "payload": {}})
        drained = client.post("/_control/deliveries/drain", json={"timeout_seconds": 20})
        assert drained.json()["drained"] is True
        client.post("/_control/clock/advance", json={"duration": "5m"})
        arrived = client.get("/_control/sinks/bin").json()["data"]
        assert [r["headers"]["harbor-attempt"] for r in arrived] == ["1", "2"]
        second = arrived[1]
        signing.verify(second["body"].encode(), second["headers"], webhook["secret"])
        delivery = client.get("/v1/deliveries", headers=headers).json()["data"][0]
        assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 2


def mapped_files(pid: int) -> set[Path]:
    """The files mapped into pid's memory (Linux /proc)."""
    fields = (line.split() for line in Path(f"/proc/{pid}/maps").read_text().splitlines())
    return {Path(f[5]) for f in fields if len(f) >= 6 and f[5].startswith("/")}


@skip_policy.skip_if(
    None
    if Path("/proc/self/maps").exists()
    else skip_policy.skip_reason(
        "Linux's /proc (it reads a process's mapped files)", "a Linux machine"
    )
)
def test_the_server_runs_from_its_folder_and_unpacks_nothing(binary: Path, tmp_path: Path) -> None:
    """Per-worker emulators start often: nothing may be unpacked per start (a one-file build
    extracts ~40 MB into $TMPDIR/_MEI… each time), and Python runs in the process started."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    server = RunningBinary(binary, tmp_path, env={"TMPDIR": str(temp)})
    try:
        server.wait_ready()
        assert list(temp.iterdir()) == []
        libraries = {path for path in mapped_files(server.process.pid) if ".so" in path.name}
        python = [path.parent for path in libraries if path.name.startswith("libpython")]
        assert python == [binary.parent / "_internal"], libraries
        assert server.stop() == 0, server.stderr()
    finally:
        server.close()


def test_binary_serves_the_dashboard(running: RunningBinary) -> None:
    """Templates and static files are package data: the binary must carry them."""
    _, url = running.wait_ready()
    with httpx.Client(base_url=url, timeout=10) as client:
        wait_healthy(client)
        for path in ("/", "/webhooks/deliveries", "/settings/api-keys", "/clock"):
            page = client.get(path)
            assert page.status_code == 200, (path, page.text[:500])
            assert "Harbor emulator" in page.text
        assert "Zero-Clause BSD" in client.get("/static/htmx.min.js").text[:400]
        assert client.get("/static/dashboard.css").status_code == 200


def test_sigterm_shuts_down_gracefully_with_status_0(running: RunningBinary) -> None:
    running.wait_ready()
    status = running.stop()
    assert "Application shutdown complete." in running.stderr()
    # Docker, compose and CI runners stop a service with SIGTERM and read a non-zero status
    # as a crash.
    assert status == 0, running.stderr()


def test_version_prints_the_package_version(binary: Path, tmp_path: Path) -> None:
    result = run_bare(binary, "--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"harbor-emulator, version {version('harbor-emulator')}"


def test_help_lists_the_commands_and_start_options(binary: Path, tmp_path: Path) -> None:
    top = run_bare(binary, "--help", cwd=tmp_path)
    assert top.returncode == 0, top.stderr
    assert "start" in top.stdout

    start = run_bare(binary, "start", "--help", cwd=tmp_path)
    assert start.returncode == 0, start.stderr
    for option in ("--host", "--port", "--db", "--fixtures", "--strict", "--control-token"):
        assert option in start.stdout


@pytest.mark.parametrize("stop", ["sigterm", "stdin"])
def test_the_ci_smoke_script_passes_on_this_build(binary: Path, tmp_path: Path, stop: str) -> None:
    """scripts/smoke_binary.py, which ci.yml runs on macOS (sigterm) and Windows (stdin)."""
    result = subprocess.run(
        [sys.executable, str(SMOKE), str(binary), "--stop", stop],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-2:] == [
        f"ok: stopped by {stop}, exit status 0",
        "smoke test passed",
    ], result.stdout
