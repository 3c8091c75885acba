#!/usr/bin/env python3
"""Cold start of what users download, against a bare Starlette + uvicorn hello, in one run.

    scripts/bench_binary_start.py [--runs 21] [--node] [--image [TAG]]

Each row is the time from exec to the first 200 on /_control/health, median of --runs after
one unmeasured warm-up, every target started once per round so all see the same machine;
the ratio is to the bare hello (`Starlette(routes=[health])` + `uvicorn.run` in .venv-build)
of the same run. Rows: `harbor-emulator start` in that venv, the one-dir binary that ships
(dist/harbor-emulator-onedir, built if missing) and, when dist/harbor-emulator exists, the
one-file build it replaced. --node adds npm/example/bench-start.mjs in an installed copy of
the example project: startEmulator() against a bare node spawn of the same hello. --image
adds the image's size, and its start to a first 200 and to a passing HEALTHCHECK under
podman (default: the tag tests/test_docker_image.py builds for this checkout).

Targets (issue 27): the binary and startEmulator() within 1.35x the hello; the image at most
50 MB and healthy within 1 s. Figures, not assertions: the exit status is 0 either way.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _bench_common import HELLO_APP, Processes, Target, free_port, health_ok

ROOT = Path(__file__).resolve().parents[1]
BUILD_VENV = ROOT / ".venv-build"
ONEDIR = ROOT / "dist" / "harbor-emulator-onedir"
ONEFILE = ROOT / "dist" / "harbor-emulator"
WORK = ROOT / "build" / "bench-binary"
NPM_CACHE = ROOT / ".npm-cache"
CONTAINERS_CONF = ROOT / "tests" / "podman" / "containers.conf"
# tests/test_docker_image.py's tag for this checkout.
DEFAULT_IMAGE = (
    f"localhost/harbor-emulator:test-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]}"
)
HEALTH = "/_control/health"
MB = 1_000_000
START_RATIO_TARGET = 1.35
IMAGE_SIZE_TARGET_MB = 50
IMAGE_HEALTHY_TARGET_SECONDS = 1.0
START_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.002


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="measured starts per target")
    parser.add_argument("--node", action="store_true", help="add startEmulator() (npm)")
    parser.add_argument(
        "--image", nargs="?", const=DEFAULT_IMAGE, help="add the image (a podman tag)"
    )
    options = parser.parse_args()

    if not (ONEDIR / "harbor-emulator").exists() or not BUILD_VENV.exists():
        subprocess.run([str(ROOT / "scripts" / "build_binary"), "--onedir"], check=True)
    WORK.mkdir(parents=True, exist_ok=True)
    hello_script = WORK / "hello.py"
    hello_script.write_text(HELLO_APP)
    hello = [str(BUILD_VENV / "bin" / "python"), str(hello_script), "{port}"]
    targets = [
        Target("bare hello (Starlette + uvicorn, venv)", hello),
        Target(
            "harbor-emulator start (venv)",
            [str(BUILD_VENV / "bin" / "harbor-emulator"), "start", "--port", "{port}"],
        ),
        Target(
            "one-dir binary (ships)",
            [str(ONEDIR / "harbor-emulator"), "start", "--port", "{port}"],
            ONEDIR,
        ),
    ]
    if ONEFILE.is_file():
        targets.append(
            Target(
                "one-file binary (shipped before)",
                [str(ONEFILE), "start", "--port", "{port}"],
                ONEFILE,
            )
        )

    print(f"load average before: {load()}", file=sys.stderr)
    starts = interleaved(
        {t.name: (lambda t=t: start_once(t.command)) for t in targets}, options.runs
    )
    hello_ms = statistics.median(starts[targets[0].name])
    print(f"\nexec to first 200 on {HEALTH}, median of {options.runs} (after 1 warm-up), env -i")
    print(f"{'':42} {'median':>8} {'min':>8} {'max':>8} {'ratio':>7} {'size':>9}")
    for target in targets:
        values = starts[target.name]
        size = "" if target.size_of is None else f"{disk_size(target.size_of) / MB:.1f} MB"
        print(
            f"{target.name:42} {statistics.median(values):6.0f}ms {min(values):6.0f}ms "
            f"{max(values):6.0f}ms {statistics.median(values) / hello_ms:6.2f}x {size:>9}"
        )
    verdicts = [
        verdict(
            "one-dir binary",
            statistics.median(starts["one-dir binary (ships)"]) / hello_ms,
            START_RATIO_TARGET,
            "x the hello",
        )
    ]

    if options.node:
        verdicts.append(node_rows(options.runs, hello))
    if options.image:
        verdicts += image_rows(options.image, options.runs)

    print(f"\ntargets (load average after: {load()})")
    for line in verdicts:
        print(f"  {line}")
    return 0


def interleaved(measures: dict[str, Callable[[], float]], runs: int) -> dict[str, list[float]]:
    """Each measure once per round, after one unmeasured warm-up round (the page cache)."""
    for name, measure in measures.items():
        print(f"warming up {name} ...", file=sys.stderr)
        measure()
    results: dict[str, list[float]] = {name: [] for name in measures}
    for round_number in range(runs):
        print(f"round {round_number + 1} of {runs} ...", file=sys.stderr)
        for name, measure in measures.items():
            results[name].append(measure())
    return results


def start_once(command: list[str]) -> float:
    """Milliseconds from spawning the process to its first 200 on /_control/health."""
    port = free_port()
    argv = [arg.replace("{port}", str(port)) for arg in command]
    began = time.perf_counter()
    process = subprocess.Popen(
        argv,
        env={},  # as `env -i`: nothing from this venv or shell leaks in
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # The whole group is stopped: a one-file binary serves from a child of its bootloader.
        start_new_session=True,
    )
    try:
        while not health_ok(port, HEALTH):
            if process.poll() is not None:
                raise RuntimeError(f"{argv} exited with {process.returncode}")
            if time.perf_counter() - began > START_TIMEOUT_SECONDS:
                raise RuntimeError(f"{argv} gave no 200 in {START_TIMEOUT_SECONDS}s")
            time.sleep(POLL_SECONDS)
        return (time.perf_counter() - began) * 1000
    finally:
        Processes().stop(process)


def disk_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def verdict(what: str, value: float, target: float, unit: str) -> str:
    mark = "PASS" if value <= target else "FAIL"
    return f"[{mark}] {what}: {value:.2f}{unit} (target <= {target}{unit})"


def node_rows(runs: int, hello: list[str]) -> str:
    ratio = print_node(measure_node(runs, hello), runs)
    return verdict("startEmulator()", ratio, START_RATIO_TARGET, "x a node spawn of the hello")


def print_node(rows: dict[str, list[float]], runs: int) -> float:
    """Print measure_node's rows against the bare spawn of the hello; startEmulator()'s ratio."""
    base = statistics.median(rows["bare spawn of the hello"])
    print(f"\nnode: spawn to first 200 on {HEALTH}, median of {runs} (after 1 warm-up)")
    for name, values in rows.items():
        median = statistics.median(values)
        print(
            f"{name:42} {median:6.0f}ms {min(values):6.0f}ms {max(values):6.0f}ms "
            f"{median / base:6.2f}x"
        )
    return statistics.median(rows["startEmulator()"]) / base


def measure_node(runs: int, hello: list[str]) -> dict[str, list[float]]:
    """npm/example/bench-start.mjs in a copy of the example project with the packed packages
    installed, as tests/test_npm_package.py installs them: milliseconds to the first 200 of
    startEmulator(), a bare spawn of the one-dir binary and a bare spawn of `hello`."""
    project = WORK / "node-example"
    env = dict(os.environ, NPM_CONFIG_CACHE=str(NPM_CACHE), NO_COLOR="1")
    env.pop("HARBOR_EMULATOR_BINARY", None)
    quiet = ["--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"]
    packed = checked(
        [str(ROOT / "scripts" / "build_npm"), "--binary", str(ONEDIR)], env=env
    ).split()
    if not (project / "node_modules").exists():
        shutil.rmtree(project, ignore_errors=True)
        shutil.copytree(
            ROOT / "npm" / "example", project, ignore=shutil.ignore_patterns("node_modules")
        )
        checked(["npm", "ci", *quiet], cwd=project, env=env)
    shutil.copy(ROOT / "npm" / "example" / "bench-start.mjs", project)
    subprocess.run(
        ["npm", "i", "-D", "--no-save", *quiet, *packed], cwd=project, env=env, check=True
    )
    print("measuring startEmulator() ...", file=sys.stderr)
    output = checked(
        ["node", "bench-start.mjs", str(runs), "--json", "--", *hello], cwd=project, env=env
    )
    rows: dict[str, list[float]] = json.loads(output.splitlines()[-1])
    return rows


def checked(argv: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """The command's stdout; its stderr in the error when it fails."""
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{argv} exited with {result.returncode}:\n{result.stderr}")
    return result.stdout


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if CONTAINERS_CONF.exists():
        env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return subprocess.run(
        ["podman", *args], env=env, capture_output=True, text=True, check=check, timeout=300
    )


def container_start(image: str) -> tuple[float, float]:
    """Seconds from `podman run` to a first 200 through the published port, and to the
    image's HEALTHCHECK passing (run by hand: no systemd timers here)."""
    began = time.perf_counter()
    container = podman(
        *("run", "--detach", "--publish", "127.0.0.1::4280", "--health-interval", "disable"),
        image,
    ).stdout.strip()
    try:
        published = podman("port", container, "4280/tcp").stdout.split()[-1]  # 127.0.0.1:PORT
        while not health_ok(int(published.rsplit(":", 1)[1]), HEALTH):
            if time.perf_counter() - began > START_TIMEOUT_SECONDS:
                raise RuntimeError(f"{image} gave no 200 in {START_TIMEOUT_SECONDS}s")
            time.sleep(POLL_SECONDS)
        answered = time.perf_counter() - began
        while podman("healthcheck", "run", container, check=False).returncode != 0:
            if time.perf_counter() - began > START_TIMEOUT_SECONDS:
                raise RuntimeError(f"{image} never healthy in {START_TIMEOUT_SECONDS}s")
        return answered, time.perf_counter() - began
    finally:
        podman("rm", "--force", "--time", "0", container, check=False)


def image_rows(image: str, runs: int) -> list[str]:
    measured = measure_image(image, runs)
    if measured is None:
        return [f"[----] image: {image} not built"]
    size_mb, answered, healthy = measured
    print(f"\nimage {image}: {size_mb:.1f} MB; podman run to, median of {runs}:")
    print(f"  first 200 through the published port  {answered:5.2f} s")
    print(f"  HEALTHCHECK passing                    {healthy:5.2f} s")
    return [
        verdict("image size", size_mb, IMAGE_SIZE_TARGET_MB, " MB"),
        verdict("image start to healthy", healthy, IMAGE_HEALTHY_TARGET_SECONDS, " s"),
    ]


def measure_image(image: str, runs: int) -> tuple[float, float, float] | None:
    """The image's size in MB and the median seconds from `podman run` to a first 200 and
    to a passing HEALTHCHECK; None (said on stderr) when the image is not built."""
    if podman("image", "exists", image, check=False).returncode != 0:
        print(
            f"\nno image {image}: build it with `pytest tests/test_docker_image.py` or "
            "docs/ci.md's podman build",
            file=sys.stderr,
        )
        return None
    size_mb = json.loads(podman("image", "inspect", image).stdout)[0]["Size"] / MB
    container_start(image)  # warm-up
    starts = [container_start(image) for _ in range(runs)]
    answered = statistics.median(start[0] for start in starts)
    healthy = statistics.median(start[1] for start in starts)
    return size_mb, answered, healthy


if __name__ == "__main__":
    sys.exit(main())
