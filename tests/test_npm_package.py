"""The npm packages, as a Node user gets them: packed by scripts/build_npm from the PyInstaller
binary, installed with `npm i -D` into the example project of docs/node.md, and driven there by
npx, tsc, Vitest and Jest."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from tests import skip_policy
from tests.test_binary import READY_LINE, binary  # noqa: F401  (binary: a fixture)
from tests.test_lifecycle import PARENT_DEATH_SECONDS, alive

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = ROOT / "scripts" / "build_npm"
EXAMPLE = ROOT / "npm" / "example"
PAGE = ROOT / "docs" / "node.md"
# The shared build lock of tests/test_binary.py: build_npm writes into build/ and dist/ too.
LOCK = ROOT / ".venv-build.lock"
NPM_CACHE = ROOT / ".npm-cache"
NODE_UNAVAILABLE = 3  # scripts/build_npm's status when node or npm is missing
INCLUDE = re.compile(
    r"<!-- include: (?P<path>\S+) -->\n```(?:ts|js)\n(?P<code>.*?)^```$", re.S | re.M
)
SHOWN = [
    "npm/example/jest/harbor-global-setup.cjs",
    "npm/example/jest/harbor-global-teardown.cjs",
    "npm/example/jest/jest.config.cjs",
    "npm/example/jest/orders.test.cjs",
    "npm/example/src/orders-webhook.ts",
    "npm/example/test/global/harbor-global-setup.ts",
    "npm/example/test/global/harbor.ts",
    "npm/example/test/per-worker/harbor.ts",
    "npm/example/test/per-worker/orders-webhook.test.ts",
    "npm/example/vitest.config.ts",
]
RUN_TIMEOUT_SECONDS = 600


def includes() -> dict[str, str]:
    return {match["path"]: match["code"] for match in INCLUDE.finditer(PAGE.read_text())}


def test_the_page_shows_the_set_ups_and_the_worked_example() -> None:
    assert sorted(includes()) == SHOWN


@pytest.mark.parametrize("path", SHOWN)
def test_each_file_is_shown_verbatim(path: str) -> None:
    assert includes()[path] == (ROOT / path).read_text(), (
        f"docs/node.md no longer shows {path} as it is: copy the file into its block"
    )


def first_test_example() -> str:
    section = PAGE.read_text().split("### A first test\n", 1)[1]
    match = re.search(r"^```ts\n(?P<code>.*?)^```$", section, re.S | re.M)
    assert match is not None, "docs/node.md's A first test has no ts example"
    return match["code"]


def npm_env() -> dict[str, str]:
    env = dict(os.environ, NPM_CONFIG_CACHE=str(NPM_CACHE), NO_COLOR="1", CI="1")
    env.pop("HARBOR_EMULATOR_BINARY", None)  # the platform package's executable, nothing else
    return env


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env=env or npm_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )


def checked(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def tarballs(binary: Path) -> list[Path]:  # noqa: F811
    skip_policy.require_tools("node", "npm", install=skip_policy.NODE)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = run([str(BUILD_SCRIPT), "--binary", str(binary)], cwd=ROOT)
    if result.returncode == NODE_UNAVAILABLE:
        skip_policy.skip(result.stderr.strip(), install=skip_policy.NODE)
    checked(result)
    paths = [Path(line) for line in result.stdout.splitlines()]
    package_version = version("harbor-emulator")
    assert [path.name for path in paths] == [
        f"harbor-emulator-{package_version}.tgz",
        f"harbor-emulator-linux-x64-{package_version}.tgz",
    ]
    return paths


@pytest.fixture(scope="session")
def project(tarballs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project with its pinned packages (npm ci) and the packed tarballs
    (`npm i -D`), as a user's project gets them."""
    # One per session: an xdist worker's build_npm rewrites the tarballs, never a project
    # another worker is running tests in.
    project = tmp_path_factory.mktemp("npm") / "example"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("node_modules"))
    # docs/node.md's first test runs with the rest, as a test file of the per-worker set-up.
    (project / "test" / "per-worker" / "first.test.ts").write_text(first_test_example())
    quiet = ["--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"]
    checked(run(["npm", "ci", *quiet], cwd=project))
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # What a user types; --no-save keeps the committed lockfile as it is.
        checked(run(["npm", "i", "-D", "--no-save", *quiet, *map(str, tarballs)], cwd=project))
    return project


def executable(project: Path) -> Path:
    return project / "node_modules" / "harbor-emulator-linux-x64" / "bin" / "harbor-emulator"


def processes_running(path: Path) -> list[int]:
    """Pids whose command line runs `path` (the one-file executable and its server child)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(path).encode() in argv:
            pids.append(int(proc.name))
    return pids


@pytest.fixture
def no_emulator_left(project: Path) -> Iterator[None]:
    before = set(processes_running(executable(project)))
    yield
    left = set(processes_running(executable(project))) - before
    assert not left, f"emulator processes left behind: {sorted(left)}"


def test_the_platform_package_carries_the_executable(project: Path) -> None:
    exe = executable(project)
    assert os.access(exe, os.X_OK)
    installed = json.loads((project / "node_modules/harbor-emulator/package.json").read_text())
    assert installed["optionalDependencies"]["harbor-emulator-linux-x64"] == installed["version"]
    platform = json.loads((exe.parents[1] / "package.json").read_text())
    assert (platform["os"], platform["cpu"]) == (["linux"], ["x64"])


@pytest.mark.usefixtures("no_emulator_left")
def test_npx_harbor_emulator_start_serves(project: Path) -> None:
    npx = subprocess.Popen(
        ["npx", "--no-install", "harbor-emulator", "start", "--port", "0"],
        cwd=project,
        env=npm_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert npx.stdout is not None
        for line in npx.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    pump_thread = threading.Thread(target=pump, daemon=True)
    pump_thread.start()
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 120
        while not (match := READY_LINE.fullmatch(seen[-1] if seen else "")):
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no ready line within 120 s; npx printed {seen}")
            assert line is not None, f"npx exited with {npx.wait()} before the ready line: {seen}"
            seen.append(line)
        health = httpx.get(f"{match.group(2)}/_control/health", timeout=10)
        assert health.json()["version"] == version("harbor-emulator")
        # The bin passes a terminal's signal on: the emulator shuts down and npx ends.
        os.killpg(npx.pid, signal.SIGINT)
        npx.wait(timeout=60)
    finally:
        if npx.poll() is None:
            os.killpg(npx.pid, signal.SIGKILL)
            npx.wait(timeout=30)
        pump_thread.join(timeout=30)  # it ends at EOF; only then is closing the pipe safe
        assert npx.stdout is not None
        npx.stdout.close()


def in_group(pgid: int) -> list[int]:
    """The processes of a process group (npx and everything it started)."""
    members = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                    members.append(int(proc.name))
            except (OSError, IndexError, ValueError):
                continue
    return members


def command_of(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return "(gone)"


def left_after(seconds: float, running: Callable[[], list[int]]) -> list[int]:
    """What `running()` still lists after up to `seconds` (empty as soon as it is)."""
    deadline = time.monotonic() + seconds
    while (left := [pid for pid in running() if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


# A Node process that starts an emulator, says its pid, and then only waits.
STARTS_AND_WAITS = (
    "import { startEmulator } from 'harbor-emulator';"
    "const harbor = await startEmulator();"
    "console.log(harbor.pid);"
    "setInterval(() => {}, 60_000);"
)


@pytest.mark.usefixtures("no_emulator_left")
def test_a_node_process_killed_by_sigkill_takes_its_emulator_along(project: Path) -> None:
    node = subprocess.Popen(
        ["node", "--input-type=module", "-e", STARTS_AND_WAITS],
        cwd=project,
        env=npm_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert node.stdout is not None
        pid = int(node.stdout.readline())  # startEmulator's own 30 s bound ends a bad start
        assert pid in processes_running(executable(project))
        node.kill()
        node.wait(timeout=10)
        left = left_after(PARENT_DEATH_SECONDS, lambda: processes_running(executable(project)))
        for orphan in left:
            os.kill(orphan, signal.SIGKILL)
        assert not left, f"still running {PARENT_DEATH_SECONDS} s after node's SIGKILL: {left}"
    finally:
        node.kill()
        node.wait(timeout=10)
        assert node.stdout is not None
        node.stdout.close()


@pytest.mark.usefixtures("no_emulator_left")
def test_sigterm_to_npx_ends_the_wrapper_and_the_emulator(project: Path) -> None:
    """npm exec dies of SIGTERM without passing it on: the bin notices its parent is gone."""
    npx = subprocess.Popen(
        ["npx", "--no-install", "harbor-emulator", "start", "--port", "0"],
        cwd=project,
        env=npm_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own group: everything npx started is in it
    )
    try:
        assert npx.stdout is not None
        assert READY_LINE.fullmatch(npx.stdout.readline().rstrip("\n"))
        assert processes_running(executable(project))
        npx.send_signal(signal.SIGTERM)
        npx.wait(timeout=10)
        left = left_after(PARENT_DEATH_SECONDS, lambda: in_group(npx.pid))
        assert not left, f"still running {PARENT_DEATH_SECONDS} s after npx's SIGTERM: " + (
            ", ".join(f"{pid} {command_of(pid)}" for pid in left)
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(npx.pid, signal.SIGKILL)
        npx.wait(timeout=10)
        assert npx.stdout is not None
        npx.stdout.close()


def test_a_missing_executable_is_one_clear_line(project: Path) -> None:
    env = dict(npm_env(), HARBOR_EMULATOR_BINARY="/nonexistent/harbor-emulator")
    result = run(["npx", "--no-install", "harbor-emulator", "--version"], cwd=project, env=env)
    assert result.returncode == 1
    assert "HARBOR_EMULATOR_BINARY is /nonexistent/harbor-emulator" in result.stderr


def test_the_types_check_in_a_typescript_project(project: Path) -> None:
    checked(run(["npx", "--no-install", "tsc", "--noEmit", "-p", "."], cwd=project))


def test_esm_and_commonjs_export_the_same_api(project: Path) -> None:
    script = (
        "import { createRequire } from 'node:module';"
        "const esm = Object.keys(await import('harbor-emulator')).sort();"
        "const cjs = Object.keys(createRequire(process.cwd() + '/')('harbor-emulator')).sort();"
        "console.log(JSON.stringify({esm, cjs}));"
    )
    result = checked(run(["node", "--input-type=module", "-e", script], cwd=project))
    exports = json.loads(result.stdout)
    assert exports["esm"] == exports["cjs"]
    assert {"startEmulator", "connectEmulator", "verifyHarborSignature"} <= set(exports["esm"])


@pytest.mark.usefixtures("no_emulator_left")
def test_the_vitest_suite_passes_with_two_workers(project: Path, tmp_path: Path) -> None:
    report = tmp_path / "vitest.json"
    env = dict(npm_env(), HARBOR_REPORT_DIR=str(tmp_path))
    result = run(
        [
            *("npx", "--no-install", "vitest", "run", "--maxWorkers=2"),
            *("--reporter=default", "--reporter=json", f"--outputFile.json={report}"),
        ],
        cwd=project,
        env=env,
    )
    checked(result)
    outcomes = {
        test["title"]: test["status"]
        for suite in json.loads(report.read_text())["testResults"]
        for test in suite["assertionResults"]
    }
    assert set(outcomes.values()) == {"passed"}, outcomes
    assert {
        "a paid order is processed once despite two failures",
        "real deliveries verify; a tampered body, another secret or a stale timestamp do not",
        "during a key rotation either v1= value verifies",
        "stop() ends the emulator's whole process group",
        "worker a has an emulator of its own",
        "worker b has an emulator of its own",
        "the next test starts from nothing",
        "order.paid is retried",  # docs/node.md, A first test
    } <= set(outcomes)

    # worker-a and worker-b waited for each other: two workers at once, two emulators.
    seen = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("a", "b")]
    assert seen[0]["worker"] != seen[1]["worker"]
    assert seen[0]["url"] != seen[1]["url"]
    assert seen[0]["pid"] != seen[1]["pid"]


@pytest.mark.usefixtures("no_emulator_left")
def test_the_jest_suite_passes(project: Path) -> None:
    result = checked(
        run(["npx", "--no-install", "jest", "--config", "jest/jest.config.cjs"], cwd=project)
    )
    assert "2 passed" in result.stderr
