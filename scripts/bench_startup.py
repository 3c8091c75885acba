#!/usr/bin/env python3
"""Cold start to the first 200, import costs, idle memory and size of each way
harbor-emulator ships, against a bare Starlette hello app measured in the same run.

    scripts/bench_startup.py [--runs 15] [--venv-only] [--venv DIR] [--rebuild]
                             [--node] [--image [TAG]] [--write docs/benchmarks]

From a venv (issue 27's targets):

- `harbor-emulator start` against the bare hello, `Starlette(routes=[health])` served by
  `uvicorn.run` in the same venv: first 200 within 1.25x, idle RSS <= 40 MB;
- `import harbor_emulator.testing` against `python -c pass`, and `pytest --co` of one empty
  test with the plugin (loaded by its pytest11 entry point) against `-p no:harbor_emulator`:
  under 50 ms extra each;
- per test, on the started emulator: `POST /_control/reset` <= 5 ms and loading the bundled
  fixtures/*.yaml <= 10 ms (medians; the first of each is shown apart).

The venv is build/bench-venv, refreshed from this tree as a user's `pip install` would install it
(not editable, plus pytest), unless --venv names another (e.g. one of an older version, for
a before/after). Without --venv-only, also what users download, each against the bare hello
of the same rounds (target: the one-dir binary, which ships, within 1.35x): the one-dir and
one-file PyInstaller binaries, and the same two builds of the hello app (built from
.venv-build, cached under build/bench-hello). --node adds startEmulator() against a bare
node spawn of the hello (within 1.35x), and --image [TAG] the image's size (<= 50 MB) and
its start to a passing HEALTHCHECK under podman (<= 1 s), both measured as
scripts/bench_binary_start.py measures them.

The machine's noise is of the size of the differences measured here (a start's min and
max lie ~30% apart): quote ratios from 15 runs or more.

Every process runs with an empty environment, as `env -i` would run it. Each target gets
one unmeasured warm-up, then the targets take turns, run by run, so that a change in the
machine's load falls on all of them alike.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_binary_start
from _bench_common import HELLO_APP, Target
from _bench_tables import Run, Table, add_write_option, fmt

ROOT = Path(__file__).resolve().parents[1]
BENCH_VENV = ROOT / "build" / "bench-venv"
BUILD_VENV = ROOT / ".venv-build"
BUILD_PYTHON = BUILD_VENV / "bin" / "python"
ONEFILE = ROOT / "dist" / "harbor-emulator"
ONEDIR = ROOT / "dist" / "harbor-emulator-onedir"
HELLO_CACHE = ROOT / "build" / "bench-hello"
BUNDLED_FIXTURES = sorted((ROOT / "fixtures").glob("*.yaml"))
MB = 1_000_000
MIB = 1024 * 1024
VENV_START_RATIO_TARGET = 1.25
IMPORT_EXTRA_MS_TARGET = 50.0
IDLE_RSS_MIB_TARGET = 40.0
RESET_MS_TARGET = 5.0
FIXTURES_MS_TARGET = 10.0
# What users download (the one-dir binary; startEmulator()) against the bare hello.
BINARY_START_RATIO_TARGET = bench_binary_start.START_RATIO_TARGET
IMAGE_SIZE_TARGET_MB = bench_binary_start.IMAGE_SIZE_TARGET_MB
IMAGE_HEALTHY_TARGET_SECONDS = bench_binary_start.IMAGE_HEALTHY_TARGET_SECONDS
HELLO_VENV = "hello, venv (Starlette + uvicorn.run)"
START_TIMEOUT_SECONDS = 30.0
# Idle RSS is read this long after the first 200: whatever start-up left behind has settled.
IDLE_SETTLE_SECONDS = 0.3

HEALTH = "/_control/health"


@dataclass(frozen=True, slots=True)
class Sample:
    ms: float
    # CPU time of the process (all its threads and children) over the same span: on a
    # loaded machine a steadier figure than wall time, which waits for a core.
    cpu_ms: float
    rss_bytes: int | None = None


@dataclass(slots=True)
class Result:
    target: Target
    ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    rss_bytes: list[int] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.ms)

    @property
    def median_cpu_ms(self) -> float:
        return statistics.median(self.cpu_ms)

    @property
    def size_bytes(self) -> int | None:
        return None if self.target.size_of is None else disk_size(self.target.size_of)


@dataclass(frozen=True, slots=True)
class Verdict:
    met: bool
    text: str


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="measured runs per target")
    parser.add_argument("--venv-only", action="store_true", help="skip the PyInstaller binaries")
    parser.add_argument(
        "--venv",
        type=Path,
        default=None,
        help="measure this venv as it is (default: build/bench-venv, installed from this tree)",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="rebuild the binaries even if dist/ has them"
    )
    parser.add_argument("--node", action="store_true", help="add startEmulator() (npm)")
    parser.add_argument(
        "--image",
        nargs="?",
        const=bench_binary_start.DEFAULT_IMAGE,
        help="add the image (a podman tag; default: tests/test_docker_image.py's)",
    )
    add_write_option(parser)
    options = parser.parse_args(argv)
    run = Run(__file__, argv)
    venv = options.venv.resolve() if options.venv else install_bench_venv()
    python = str(venv / "bin" / "python")
    verdicts: list[Verdict] = []

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as temp:
        work = Path(temp)
        (work / "hello.py").write_text(HELLO_APP)
        (work / "test_empty.py").write_text("def test_nothing():\n    pass\n")

        starts = take_turns(
            [
                Target(HELLO_VENV, [python, str(work / "hello.py"), "{port}"]),
                Target(
                    "emulator, venv (harbor-emulator start)",
                    [str(venv / "bin" / "harbor-emulator"), "start", "--port", "{port}"],
                ),
            ],
            options.runs,
            start_once,
        )
        verdicts += report_venv_starts(starts, options.runs)

        pytest = [python, "-m", "pytest", "-q", "--co", "-p", "no:cacheprovider"]
        imports = take_turns(
            [
                # In `work`: `-c` puts the working directory first on sys.path, and a
                # checkout there would be imported instead of the venv's package.
                Target("python -c pass", [python, "-c", "pass"], cwd=work),
                Target(
                    "python -c 'import harbor_emulator.testing'",
                    [python, "-c", "import harbor_emulator.testing"],
                    cwd=work,
                ),
                Target(
                    "pytest --co -p no:harbor_emulator",
                    [*pytest, "-p", "no:harbor_emulator", "test_empty.py"],
                    cwd=work,
                ),
                Target("pytest --co (plugin loaded)", [*pytest, "test_empty.py"], cwd=work),
            ],
            options.runs,
            run_once,
        )
        verdicts += report_imports(imports, options.runs)
        costs = measure_per_test_costs(venv, options.runs)
        verdicts += report_per_test_costs(costs, options.runs)

    binaries: dict[str, Result] = {}
    downloads: dict[str, Any] = {}
    if not options.venv_only:
        hello_command = [python, str(ROOT / "build" / "bench-hello.py"), "{port}"]
        (ROOT / "build" / "bench-hello.py").write_text(HELLO_APP)
        binaries = measure_binaries(hello_command, options.runs, options.rebuild)
        verdicts += report_binaries(binaries, options.runs)
        if options.node:
            rows = bench_binary_start.measure_node(options.runs, hello_command)
            downloads["node"] = {
                name: [round(v, 1) for v in values] for name, values in rows.items()
            }
        if options.image:
            measured_image = bench_binary_start.measure_image(options.image, options.runs)
            if measured_image is not None:
                size_mb, answered_s, healthy_s = measured_image
                downloads["image"] = {
                    "tag": options.image,
                    "size_mb": round(size_mb, 1),
                    "answered_s": round(answered_s, 2),
                    "healthy_s": round(healthy_s, 2),
                }
        verdicts += report_downloads(downloads, options.runs)

    print("\ntargets")
    for verdict in verdicts:
        print(f"  [{'PASS' if verdict.met else 'FAIL'}] {verdict.text}")
    if options.write:
        measured = figures(starts, binaries, imports, costs, options.runs) | downloads
        run.write(options.write, "startup", "Start-up and size", measured, tables)
    print_import_profile(python)
    return 0


# -- the venv ---------------------------------------------------------------------------


def install_bench_venv() -> Path:
    """build/bench-venv: this tree as `pip install` installs it (not editable), and pytest."""
    if not (BENCH_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    pip = [str(BENCH_VENV / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    print(f"installing {ROOT} into {BENCH_VENV} ...", file=sys.stderr)
    # --force-reinstall --no-deps picks up source changes without a version bump; setuptools'
    # build/lib goes first, as in scripts/build_binary (it keeps modules moved away since).
    shutil.rmtree(ROOT / "build" / "lib", ignore_errors=True)
    subprocess.run([*pip, "install", "--force-reinstall", "--no-deps", str(ROOT)], check=True)
    subprocess.run([*pip, "install", str(ROOT), "pytest"], check=True)
    return BENCH_VENV


# -- measuring --------------------------------------------------------------------------


def take_turns(
    targets: list[Target], runs: int, once: Callable[[Target], Sample]
) -> dict[str, Result]:
    """One warm-up of each target, then `runs` rounds in which each target runs once."""
    results = {target.name: Result(target) for target in targets}
    for target in targets:
        print(f"warming up {target.name} ...", file=sys.stderr)
        once(target)
    for _ in range(runs):
        for target in targets:
            sample = once(target)
            result = results[target.name]
            result.ms.append(sample.ms)
            result.cpu_ms.append(sample.cpu_ms)
            if sample.rss_bytes is not None:
                result.rss_bytes.append(sample.rss_bytes)
    return results


def run_once(target: Target) -> Sample:
    """Milliseconds from spawning a command to its exit (status 0), and its CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(
        target.command,
        env={},
        cwd=target.cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    ms = (time.perf_counter() - began) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Sample(ms, cpu_s * 1000)


def start_once(target: Target) -> Sample:
    """Milliseconds from spawning a server to its first 200 on HEALTH, its CPU time until
    then, and its idle RSS."""
    process, _port, ms, cpu_ms = spawn_until_healthy(target)
    try:
        time.sleep(IDLE_SETTLE_SECONDS)
        return Sample(ms, cpu_ms, tree_rss_bytes(process.pid))
    finally:
        stop(process)


def spawn_until_healthy(target: Target) -> tuple[subprocess.Popen[bytes], int, float, float]:
    port = free_port()
    command = [arg.replace("{port}", str(port)) for arg in target.command]
    began = time.perf_counter()
    process = subprocess.Popen(
        command,
        env={},  # as `env -i`: nothing from this venv or shell leaks in
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while True:
            if status(port, "GET", HEALTH) == 200:
                ms = (time.perf_counter() - began) * 1000
                return process, port, ms, tree_cpu_ms(process.pid)
            if process.poll() is not None:
                raise RuntimeError(f"{target.name} exited with {process.returncode}")
            if time.perf_counter() - began > START_TIMEOUT_SECONDS:
                raise RuntimeError(f"{target.name} gave no 200 in {START_TIMEOUT_SECONDS}s")
            time.sleep(0.002)
    except BaseException:
        stop(process)
        raise


def status(
    port: int, method: str, path: str, body: bytes | None = None, content_type: str = ""
) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": content_type} if content_type else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


def stop(process: subprocess.Popen[bytes]) -> None:
    # The whole group: a one-file binary serves from a child of its bootloader.
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (a one-file binary's server is a child of its
    bootloader), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of the process tree; 0 where /proc has no such figures."""
    total = 0
    for member in process_tree(pid):
        try:
            status_text = (Path("/proc") / str(member) / "status").read_text()
        except OSError:
            continue
        for line in status_text.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def tree_cpu_ms(pid: int) -> float:
    """CPU time so far of the process tree, every thread, in nanoseconds' precision
    (/proc/PID/task/TID/schedstat); 0 where /proc has no such figures."""
    total_ns = 0
    for member in process_tree(pid):
        for schedstat in Path(f"/proc/{member}/task").glob("*/schedstat"):
            try:
                total_ns += int(schedstat.read_text().split()[0])
            except (OSError, IndexError, ValueError):
                continue
    return total_ns / 1e6


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def disk_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def timed_requests(port: int, runs: int, request: Callable[[int], int | None]) -> list[float]:
    timings = []
    for _ in range(runs + 1):
        began = time.perf_counter()
        code = request(port)
        timings.append((time.perf_counter() - began) * 1000)
        if code not in (200, 201):
            raise RuntimeError(f"answered {code}")
    return timings


def measure_per_test_costs(venv: Path, runs: int) -> dict[str, list[float]]:
    """Reset and bundled-fixtures loads on one started emulator: the first, then `runs`."""
    target = Target(
        "emulator", [str(venv / "bin" / "harbor-emulator"), "start", "--port", "{port}"]
    )
    process, port, *_ = spawn_until_healthy(target)
    documents = [path.read_bytes() for path in BUNDLED_FIXTURES]
    try:

        def reset(port: int) -> int | None:
            return status(port, "POST", "/_control/reset", b"{}", "application/json")

        def load(port: int) -> int | None:
            codes = {
                status(port, "POST", "/_control/fixtures", document, "application/yaml")
                for document in documents
            }
            return codes.pop() if len(codes) == 1 else None

        # Loads on a reset state, as a test would: each document once, all in one request
        # sequence (their keys and workspaces must not exist yet).
        loads = []
        for _ in range(runs + 1):
            reset(port)
            loads += timed_requests(port, 0, load)
        return {"reset": timed_requests(port, runs, reset), "fixtures load": loads}
    finally:
        stop(process)


# -- reporting --------------------------------------------------------------------------


def report_venv_starts(results: dict[str, Result], runs: int) -> list[Verdict]:
    print(f"\ncold start to the first 200 on {HEALTH}, from a venv, median of {runs}, env -i")
    print_table(results)
    hello = next(iter(results.values()))
    emulator = results["emulator, venv (harbor-emulator start)"]
    ratio = emulator.median_ms / hello.median_ms
    cpu_ratio = emulator.median_cpu_ms / hello.median_cpu_ms
    rss = statistics.median(emulator.rss_bytes) / MIB
    return [
        Verdict(
            ratio <= VENV_START_RATIO_TARGET,
            f"venv start {ratio:.2f}x the bare hello (target <= {VENV_START_RATIO_TARGET}x); "
            f"CPU until then {cpu_ratio:.2f}x",
        ),
        Verdict(
            rss <= IDLE_RSS_MIB_TARGET,
            f"idle RSS after start {rss:.1f} MiB (target <= {IDLE_RSS_MIB_TARGET:g} MiB)",
        ),
    ]


def print_table(results: dict[str, Result]) -> None:
    """Wall and CPU medians, each against the first row's, min and max, idle RSS if any."""
    print(
        f"{'':46} {'median':>8} {'min':>8} {'max':>8} {'extra':>8} {'ratio':>6}"
        f" {'CPU':>8} {'ratio':>6} {'idle RSS':>10}"
    )
    base = next(iter(results.values()))
    for result in results.values():
        rss = f"{statistics.median(result.rss_bytes) / MIB:6.1f} MiB" if result.rss_bytes else ""
        print(
            f"{result.target.name:46} {result.median_ms:6.0f}ms {min(result.ms):6.0f}ms"
            f" {max(result.ms):6.0f}ms {result.median_ms - base.median_ms:+6.0f}ms"
            f" {result.median_ms / base.median_ms:5.2f}x {result.median_cpu_ms:6.0f}ms"
            f" {result.median_cpu_ms / base.median_cpu_ms:5.2f}x {rss:>10}"
        )


def report_imports(results: dict[str, Result], runs: int) -> list[Verdict]:
    print(f"\nimport costs, process spawn to exit, median of {runs}, env -i")
    names = list(results)
    verdicts = []
    for base_name, name in ((names[0], names[1]), (names[2], names[3])):
        pair = {base_name: results[base_name], name: results[name]}
        print_table(pair)
        base, result = pair.values()
        extra_ms = result.median_ms - base.median_ms
        extra_cpu_ms = result.median_cpu_ms - base.median_cpu_ms
        verdicts.append(
            Verdict(
                extra_ms < IMPORT_EXTRA_MS_TARGET,
                f"{name}: {extra_ms:+.0f} ms over {base_name} "
                f"(target < {IMPORT_EXTRA_MS_TARGET:g} ms); CPU {extra_cpu_ms:+.0f} ms",
            )
        )
    return verdicts


def report_per_test_costs(costs: dict[str, list[float]], runs: int) -> list[Verdict]:
    names = ", ".join(path.name for path in BUNDLED_FIXTURES)
    print(f"\nper test, on a started emulator, median of {runs} after the first")
    print(f"  (fixtures load: {names}, one request each, on a reset state)")
    verdicts = []
    for (name, timings), target_ms in zip(
        costs.items(), (RESET_MS_TARGET, FIXTURES_MS_TARGET), strict=True
    ):
        median = statistics.median(timings[1:])
        print(f"  {name:16} median {median:6.1f}ms   first {timings[0]:6.1f}ms")
        verdicts.append(
            Verdict(median <= target_ms, f"{name} {median:.1f} ms (target <= {target_ms:g} ms)")
        )
    return verdicts


# -- the PyInstaller binaries -----------------------------------------------------------


def measure_binaries(hello: list[str], runs: int, rebuild: bool) -> dict[str, Result]:
    """The binaries and the hello builds, with the bare `hello` in the same rounds."""
    for args, artifact in (([], ONEFILE), (["--onedir"], ONEDIR)):
        if rebuild or not artifact.exists() or not BUILD_PYTHON.exists():
            subprocess.run([str(ROOT / "scripts" / "build_binary"), *args], check=True)
    hello_onefile, hello_onedir = build_hello(force=rebuild)
    start = ["start", "--port", "{port}"]
    return take_turns(
        [
            Target(HELLO_VENV, hello),
            Target("emulator, one-file binary", [str(ONEFILE), *start], ONEFILE),
            Target("emulator, one-dir binary", [str(ONEDIR / "harbor-emulator"), *start], ONEDIR),
            Target("hello, one-file binary", [str(hello_onefile), "{port}"], hello_onefile),
            Target("hello, one-dir binary", [str(hello_onedir / "hello"), "{port}"], hello_onedir),
        ],
        runs,
        start_once,
    )


def build_hello(force: bool) -> tuple[Path, Path]:
    """PyInstaller builds of HELLO_APP with default options, cached until a version changes."""
    onefile, onedir = HELLO_CACHE / "onefile" / "hello", HELLO_CACHE / "onedir" / "hello"
    key_file = HELLO_CACHE / "key.txt"
    key = cache_key()
    if not force and key_file.exists() and key_file.read_text() == key and onefile.exists():
        return onefile, onedir
    shutil.rmtree(HELLO_CACHE, ignore_errors=True)
    HELLO_CACHE.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="bench-hello-") as temp:
        source = Path(temp) / "hello.py"
        source.write_text(HELLO_APP)
        for mode in ("onefile", "onedir"):
            print(f"building the hello app ({mode}) in {temp} ...", file=sys.stderr)
            subprocess.run(
                [
                    *(str(BUILD_VENV / "bin" / "pyinstaller"), f"--{mode}", "--noconfirm"),
                    *("--log-level", "WARN", "--name", "hello", "--distpath", f"{temp}/{mode}"),
                    *("--workpath", f"{temp}/work-{mode}", "--specpath", temp, str(source)),
                ],
                check=True,
            )
            shutil.move(f"{temp}/{mode}", HELLO_CACHE / mode)
    key_file.write_text(key)
    return onefile, onedir


def cache_key() -> str:
    code = (
        "import sys, PyInstaller, starlette, uvicorn; "
        "print(sys.version, PyInstaller.__version__, starlette.__version__, uvicorn.__version__)"
    )
    versions = subprocess.run(
        [str(BUILD_PYTHON), "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return hashlib.sha256((versions + HELLO_APP).encode()).hexdigest()


def report_binaries(results: dict[str, Result], runs: int) -> list[Verdict]:
    print(f"\ncold start to the first 200, PyInstaller builds, median of {runs}, env -i")
    print_table(results)
    for result in results.values():
        if result.size_bytes is not None:
            print(f"  size of {result.target.name}: {result.size_bytes / MB:.1f} MB")
    hello = results[HELLO_VENV]
    print("\nbinary / bare hello (venv), and / the same build of the hello app")
    for kind in ("one-dir", "one-file"):
        ours, build = results[f"emulator, {kind} binary"], results[f"hello, {kind} binary"]
        print(
            f"  {kind:9} start {ours.median_ms / hello.median_ms:4.2f}x"
            f"   ({ours.median_ms / build.median_ms:4.2f}x its hello build)"
            f"   size {(ours.size_bytes or 0) / (build.size_bytes or 1):4.2f}x"
        )
    ratio = results["emulator, one-dir binary"].median_ms / hello.median_ms
    return [
        Verdict(
            ratio <= BINARY_START_RATIO_TARGET,
            f"one-dir binary (ships) start {ratio:.2f}x the bare hello "
            f"(target <= {BINARY_START_RATIO_TARGET}x)",
        )
    ]


def report_downloads(downloads: dict[str, Any], runs: int) -> list[Verdict]:
    verdicts = []
    if "node" in downloads:
        ratio = bench_binary_start.print_node(downloads["node"], runs)
        verdicts.append(
            Verdict(
                ratio <= BINARY_START_RATIO_TARGET,
                f"startEmulator() {ratio:.2f}x a node spawn of the hello "
                f"(target <= {BINARY_START_RATIO_TARGET}x)",
            )
        )
    if "image" in downloads:
        image = downloads["image"]
        print(
            f"\nimage {image['tag']}: {image['size_mb']:.1f} MB; podman run to a first 200 "
            f"{image['answered_s']:.2f} s, to a passing HEALTHCHECK {image['healthy_s']:.2f} s"
        )
        verdicts += [
            Verdict(
                image["size_mb"] <= IMAGE_SIZE_TARGET_MB,
                f"image {image['size_mb']:.1f} MB (target <= {IMAGE_SIZE_TARGET_MB} MB)",
            ),
            Verdict(
                image["healthy_s"] <= IMAGE_HEALTHY_TARGET_SECONDS,
                f"image start to healthy {image['healthy_s']:.2f} s "
                f"(target <= {IMAGE_HEALTHY_TARGET_SECONDS:g} s)",
            ),
        ]
    return verdicts


def figures(
    starts: dict[str, Result],
    binaries: dict[str, Result],
    imports: dict[str, Result],
    costs: dict[str, list[float]],
    runs: int,
) -> dict[str, Any]:
    """The run's figures for --write, which `tables` reads (`node` and `image` are added by
    the caller, when measured)."""
    measured: dict[str, Any] = {
        "runs": runs,
        "targets": [
            {
                "name": name,
                "start_ms": [round(ms, 1) for ms in result.ms],
                "median_ms": round(result.median_ms, 1),
                "size_bytes": result.size_bytes,
                "median_cpu_ms": round(result.median_cpu_ms, 1),
                "idle_rss_mib": round(statistics.median(result.rss_bytes) / MIB, 1),
            }
            for name, result in [
                *starts.items(),
                *(
                    (f"{name}, with the binaries" if name == HELLO_VENV else name, result)
                    for name, result in binaries.items()
                ),
            ]
        ],
    }
    hello, emulator = starts.values()
    measured["venv"] = {
        "start_ratio": round(emulator.median_ms / hello.median_ms, 3),
        "cpu_ratio": round(emulator.median_cpu_ms / hello.median_cpu_ms, 3),
        "start_ratio_target": VENV_START_RATIO_TARGET,
        "idle_rss_mib": round(statistics.median(emulator.rss_bytes) / MIB, 1),
        "hello_idle_rss_mib": round(statistics.median(hello.rss_bytes) / MIB, 1),
        "idle_rss_target_mib": IDLE_RSS_MIB_TARGET,
    }
    names = list(imports)
    measured["imports"] = [
        {
            "name": name,
            "base": base,
            "median_ms": round(imports[name].median_ms, 1),
            "extra_ms": round(imports[name].median_ms - imports[base].median_ms, 1),
            "extra_cpu_ms": round(imports[name].median_cpu_ms - imports[base].median_cpu_ms, 1),
        }
        for base, name in ((names[0], names[1]), (names[2], names[3]))
    ]
    measured["import_extra_target_ms"] = IMPORT_EXTRA_MS_TARGET
    measured["per_test"] = [
        {
            "name": name,
            "median_ms": round(statistics.median(timings[1:]), 2),
            "first_ms": round(timings[0], 2),
            "target_ms": target_ms,
        }
        for (name, timings), target_ms in zip(
            costs.items(), (RESET_MS_TARGET, FIXTURES_MS_TARGET), strict=True
        )
    ]
    if binaries:
        hello = binaries[HELLO_VENV]
        measured["binaries"] = {
            kind: {
                "start_vs_hello": round(ours.median_ms / hello.median_ms, 3),
                "start_vs_hello_build": round(ours.median_ms / build.median_ms, 3),
                "size_mb": round((ours.size_bytes or 0) / MB, 1),
            }
            for kind in ("one-dir", "one-file")
            for ours, build in [
                (binaries[f"emulator, {kind} binary"], binaries[f"hello, {kind} binary"])
            ]
        }
        measured["binary_start_ratio_target"] = BINARY_START_RATIO_TARGET
        measured["image_targets"] = {
            "size_mb": IMAGE_SIZE_TARGET_MB,
            "healthy_s": IMAGE_HEALTHY_TARGET_SECONDS,
        }
    return measured


def tables(measured: dict[str, Any]) -> list[Table]:
    """The Markdown tables of a run's figures (also of runs written before the venv's)."""
    met = {True: "met", False: "NOT met"}
    result = [
        Table(
            ["", "median ms", "min ms", "max ms", "size MB"],
            [
                [
                    target["name"],
                    fmt(target["median_ms"]),
                    fmt(min(target["start_ms"])),
                    fmt(max(target["start_ms"])),
                    "" if target["size_bytes"] is None else fmt(target["size_bytes"] / MB, 1),
                ]
                for target in measured["targets"]
            ],
            title=f"Cold start to the first 200, {measured['runs']} starts each after one "
            "warm-up, run as `env -i` would.",
        )
    ]
    if "venv" in measured:
        venv = measured["venv"]
        result.append(
            Table(
                ["`harbor-emulator start` / bare Starlette hello, same venv", "ratio"],
                [
                    ["start to the first 200 (wall, medians)", f"{venv['start_ratio']:.2f}x"],
                    ["CPU time until then (medians)", f"{venv['cpu_ratio']:.2f}x"],
                ],
                notes=[
                    f"Target: within {venv['start_ratio_target']}x: "
                    f"{met[venv['start_ratio'] <= venv['start_ratio_target']]}.",
                    f"Idle RSS after start: {fmt(venv['idle_rss_mib'], 1)} MiB (the hello: "
                    f"{fmt(venv['hello_idle_rss_mib'], 1)} MiB); target <= "
                    f"{fmt(venv['idle_rss_target_mib'])} MiB: "
                    f"{met[venv['idle_rss_mib'] <= venv['idle_rss_target_mib']]}.",
                ],
            )
        )
        target_ms = measured["import_extra_target_ms"]
        result.append(
            Table(
                ["import", "median ms", "extra ms", "extra CPU ms"],
                [
                    [
                        f"{row['name']} (vs {row['base']})",
                        fmt(row["median_ms"]),
                        fmt(row["extra_ms"]),
                        fmt(row["extra_cpu_ms"]),
                    ]
                    for row in measured["imports"]
                ],
                notes=[
                    f"Target: under {fmt(target_ms)} ms extra each: "
                    f"{met[all(row['extra_ms'] < target_ms for row in measured['imports'])]}."
                ],
            )
        )
        result.append(
            Table(
                ["per test, on a started emulator", "median ms", "first ms", "target ms"],
                [
                    [
                        row["name"],
                        fmt(row["median_ms"], 1),
                        fmt(row["first_ms"], 1),
                        fmt(row["target_ms"]),
                    ]
                    for row in measured["per_test"]
                ],
            )
        )
    if "binaries" in measured:
        target = measured["binary_start_ratio_target"]
        onedir = measured["binaries"]["one-dir"]["start_vs_hello"]
        result.append(
            Table(
                [
                    "what users download",
                    "start / bare hello (venv)",
                    "start / its hello build",
                    "size MB",
                ],
                [
                    [
                        f"{kind} binary" + (" (ships)" if kind == "one-dir" else ""),
                        f"{row['start_vs_hello']:.2f}x",
                        f"{row['start_vs_hello_build']:.2f}x",
                        fmt(row["size_mb"], 1),
                    ]
                    for kind, row in measured["binaries"].items()
                ],
                notes=[f"Target: the one-dir binary within {target}x: {met[onedir <= target]}."],
            )
        )
        if "node" in measured:
            rows = measured["node"]
            base = statistics.median(rows["bare spawn of the hello"])
            ratio = statistics.median(rows["startEmulator()"]) / base
            result.append(
                Table(
                    ["node: spawn to the first 200", "median ms", "ratio"],
                    [
                        [
                            name,
                            fmt(statistics.median(values)),
                            f"{statistics.median(values) / base:.2f}x",
                        ]
                        for name, values in rows.items()
                    ],
                    notes=[
                        f"Target: startEmulator() within {target}x a node spawn of the "
                        f"hello: {met[ratio <= target]}."
                    ],
                )
            )
        if "image" in measured:
            image, goals = measured["image"], measured["image_targets"]
            result.append(
                Table(
                    ["the image under podman", "figure", "target"],
                    [
                        ["size", f"{fmt(image['size_mb'], 1)} MB", f"<= {goals['size_mb']} MB"],
                        ["`podman run` to a first 200", f"{image['answered_s']:.2f} s", ""],
                        [
                            "`podman run` to a passing HEALTHCHECK",
                            f"{image['healthy_s']:.2f} s",
                            f"<= {goals['healthy_s']:g} s",
                        ],
                    ],
                    notes=[
                        f"Targets: {met[image['size_mb'] <= goals['size_mb']]} (size), "
                        f"{met[image['healthy_s'] <= goals['healthy_s']]} (healthy)."
                    ],
                )
            )
    return result


def print_import_profile(python: str, top: int = 12) -> None:
    """The slowest imports before `start` serves, cumulative, from python -X importtime."""
    code = "import harbor_emulator.cli.main, harbor_emulator.server.app"
    profile = subprocess.run(
        [python, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={},
    ).stderr
    rows = []
    for line in profile.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), int(parts[0]), parts[2].rstrip()))
    print(f"\nslowest imports for `start` in the venv (cumulative us, self us), top {top}")
    for cumulative, own, name in sorted(rows, reverse=True)[:top]:
        print(f"  {cumulative:8} {own:8}  {name}")


if __name__ == "__main__":
    sys.exit(main())
