#!/usr/bin/env python3
"""Cold start to the first 200, and size, of each way harbor-emulator ships.

    scripts/bench_startup.py [--runs 5] [--rebuild] [--write docs/benchmarks]

Compares `harbor-emulator start` from a venv, the one-file and the one-dir PyInstaller
binaries with the same two builds of a bare Starlette hello app, built here from the same
.venv-build (cached under build/bench-hello). Targets: the one-file binary starts within
1.3x of the hello one-file and weighs under 40 MB. Each process runs with an empty
environment, as `env -i` would run it, after one unmeasured warm-up run.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _bench_tables import Run, Table, add_write_option, fmt

ROOT = Path(__file__).resolve().parents[1]
BUILD_VENV = ROOT / ".venv-build"
VENV_PYTHON = BUILD_VENV / "bin" / "python"
ONEFILE = ROOT / "dist" / "harbor-emulator"
ONEDIR = ROOT / "dist" / "harbor-emulator-onedir"
HELLO_CACHE = ROOT / "build" / "bench-hello"
MB = 1_000_000
START_RATIO_TARGET = 1.3
SIZE_TARGET_MB = 40
START_TIMEOUT_SECONDS = 30.0

HELLO_APP = """\
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request):
    return PlainTextResponse("hello")


app = Starlette(routes=[Route("/", hello)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    # "{port}" in an argument is replaced with the port to serve on.
    command: list[str]
    health_path: str
    # What the size column measures: the file, the folder, or None for a venv.
    size_of: Path | None


@dataclass(frozen=True, slots=True)
class Result:
    target: Target
    start_ms: list[float]
    size_bytes: int | None

    @property
    def median_ms(self) -> float:
        return statistics.median(self.start_ms)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured starts per target")
    parser.add_argument(
        "--rebuild", action="store_true", help="rebuild the binaries even if dist/ has them"
    )
    add_write_option(parser)
    options = parser.parse_args(argv)
    run = Run(__file__, argv)

    for args, artifact in (([], ONEFILE), (["--onedir"], ONEDIR)):
        if options.rebuild or not artifact.exists() or not VENV_PYTHON.exists():
            subprocess.run([str(ROOT / "scripts" / "build_binary"), *args], check=True)
    hello_onefile, hello_onedir, hello_dir = build_hello(force=options.rebuild)

    targets = [
        Target(
            "emulator, venv (harbor-emulator start)",
            [str(BUILD_VENV / "bin" / "harbor-emulator"), "start", "--port", "{port}"],
            "/_control/health",
            None,
        ),
        Target(
            "emulator, one-file binary",
            [str(ONEFILE), "start", "--port", "{port}"],
            "/_control/health",
            ONEFILE,
        ),
        Target(
            "emulator, one-dir binary",
            [str(ONEDIR / "harbor-emulator"), "start", "--port", "{port}"],
            "/_control/health",
            ONEDIR,
        ),
        Target(
            "hello, venv (python -m uvicorn)",
            [
                *(str(VENV_PYTHON), "-m", "uvicorn", "--app-dir", str(hello_dir), "hello:app"),
                *("--port", "{port}", "--log-level", "warning"),
            ],
            "/",
            None,
        ),
        Target("hello, one-file binary", [str(hello_onefile), "{port}"], "/", hello_onefile),
        Target(
            "hello, one-dir binary",
            [str(hello_onedir / "hello"), "{port}"],
            "/",
            hello_onedir,
        ),
    ]
    results = {target.name: measure(target, options.runs) for target in targets}
    report(results, options.runs)
    if options.write:
        measured = figures(results, options.runs)
        run.write(options.write, "startup", "Start-up and size", measured, tables)
    print_import_profile()
    return 0


def build_hello(force: bool) -> tuple[Path, Path, Path]:
    """PyInstaller builds of HELLO_APP with default options, cached until a version changes."""
    onefile, onedir = HELLO_CACHE / "onefile" / "hello", HELLO_CACHE / "onedir" / "hello"
    key_file = HELLO_CACHE / "key.txt"
    key = cache_key()
    if not force and key_file.exists() and key_file.read_text() == key and onefile.exists():
        return onefile, onedir, HELLO_CACHE
    shutil.rmtree(HELLO_CACHE, ignore_errors=True)
    HELLO_CACHE.mkdir(parents=True)
    (HELLO_CACHE / "hello.py").write_text(HELLO_APP)
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
    return onefile, onedir, HELLO_CACHE


def cache_key() -> str:
    code = (
        "import sys, PyInstaller, starlette, uvicorn; "
        "print(sys.version, PyInstaller.__version__, starlette.__version__, uvicorn.__version__)"
    )
    versions = subprocess.run(
        [str(VENV_PYTHON), "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return hashlib.sha256((versions + HELLO_APP).encode()).hexdigest()


def measure(target: Target, runs: int) -> Result:
    print(f"measuring {target.name} ...", file=sys.stderr)
    start_once(target)  # warm-up: page cache, and the first unpack of a one-file binary
    starts = [start_once(target) for _ in range(runs)]
    size = None if target.size_of is None else disk_size(target.size_of)
    return Result(target, starts, size)


def start_once(target: Target) -> float:
    """Milliseconds from spawning the process to its first 200 on the health path."""
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
            if first_200(port, target.health_path):
                return (time.perf_counter() - began) * 1000
            if process.poll() is not None:
                raise RuntimeError(f"{target.name} exited with {process.returncode}")
            if time.perf_counter() - began > START_TIMEOUT_SECONDS:
                raise RuntimeError(f"{target.name} gave no 200 in {START_TIMEOUT_SECONDS}s")
            time.sleep(0.002)
    finally:
        stop(process)


def first_200(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def disk_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def report(results: dict[str, Result], runs: int) -> None:
    print(f"\ncold start to first 200, median of {runs} (after 1 warm-up), env -i")
    print(f"{'':42} {'median':>8} {'min':>8} {'max':>8} {'size':>9}")
    for result in results.values():
        size = "" if result.size_bytes is None else f"{result.size_bytes / MB:.1f} MB"
        print(
            f"{result.target.name:42} {result.median_ms:6.0f}ms {min(result.start_ms):6.0f}ms"
            f" {max(result.start_ms):6.0f}ms {size:>9}"
        )

    print("\nbinary / hello binary")
    for kind in ("one-file", "one-dir"):
        ours, hello = results[f"emulator, {kind} binary"], results[f"hello, {kind} binary"]
        assert ours.size_bytes is not None and hello.size_bytes is not None
        print(
            f"  {kind:9} start {ours.median_ms / hello.median_ms:4.2f}x"
            f"   size {ours.size_bytes / hello.size_bytes:4.2f}x"
        )

    onefile, hello_onefile = results["emulator, one-file binary"], results["hello, one-file binary"]
    assert onefile.size_bytes is not None
    start_ratio = onefile.median_ms / hello_onefile.median_ms
    print("\ntargets")
    print(
        f"  [{'PASS' if start_ratio <= START_RATIO_TARGET else 'FAIL'}] one-file start "
        f"{start_ratio:.2f}x hello one-file (target <= {START_RATIO_TARGET}x)"
    )
    print(
        f"  [{'PASS' if onefile.size_bytes < SIZE_TARGET_MB * MB else 'FAIL'}] one-file size "
        f"{onefile.size_bytes / MB:.1f} MB (target < {SIZE_TARGET_MB} MB)"
    )


def figures(results: dict[str, Result], runs: int) -> dict[str, Any]:
    ratios = {}
    for kind in ("one-file", "one-dir"):
        ours, hello = results[f"emulator, {kind} binary"], results[f"hello, {kind} binary"]
        assert ours.size_bytes is not None and hello.size_bytes is not None
        ratios[kind] = {
            "start": round(ours.median_ms / hello.median_ms, 3),
            "size": round(ours.size_bytes / hello.size_bytes, 3),
        }
    onefile_bytes = results["emulator, one-file binary"].size_bytes or 0
    return {
        "runs": runs,
        "targets": [
            {
                "name": name,
                "start_ms": [round(ms, 1) for ms in result.start_ms],
                "median_ms": round(result.median_ms, 1),
                "size_bytes": result.size_bytes,
            }
            for name, result in results.items()
        ],
        "ratios": ratios,
        "start_ratio_target": START_RATIO_TARGET,
        "start_ratio_met": ratios["one-file"]["start"] <= START_RATIO_TARGET,
        "size_target_mb": SIZE_TARGET_MB,
        "size_met": onefile_bytes < SIZE_TARGET_MB * MB,
    }


def tables(measured: dict[str, Any]) -> list[Table]:
    starts = Table(
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
        title=f"Cold start to the first 200, {measured['runs']} starts each after one warm-up, "
        "run as `env -i` would.",
    )
    ratios = measured["ratios"]
    met = {True: "met", False: "NOT met"}
    against_hello = Table(
        ["emulator / hello app", "start (medians)", "size"],
        [[kind, f"{r['start']:.2f}x", f"{r['size']:.2f}x"] for kind, r in ratios.items()],
        notes=[
            f"Target: the one-file binary starts within {measured['start_ratio_target']}x of "
            f"the hello one-file: {met[measured['start_ratio_met']]}.",
            f"Target: the one-file binary weighs under {measured['size_target_mb']} MB: "
            f"{met[measured['size_met']]}.",
        ],
    )
    return [starts, against_hello]


def print_import_profile(top: int = 12) -> None:
    """The slowest imports behind `start`, cumulative, from python -X importtime."""
    code = "import harbor_emulator.cli, harbor_emulator.server.app"
    profile = subprocess.run(
        [str(VENV_PYTHON), "-X", "importtime", "-c", code],
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
