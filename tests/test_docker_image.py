"""The Dockerfile's image, built and run with podman the way docs/ci.md runs it.

No registry is reachable on the build machines, so the base image is a Debian bookworm root
file system made by mmdebstrap and `podman import`, cached between runs, and passed to the
Dockerfile as `--build-arg BASE=` (the image keeps only its C library). podman, buildah,
mmdebstrap and runc come from Debian; a test never installs them: without them these tests
skip, naming the apt-get command (.ci/run installs them).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harbor_emulator import signing
from tests import shipped_binary, skip_policy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# This machine's podman settings (runc, ulimits, no systemd), never the machine's own files.
CONTAINERS_CONF = ROOT / "tests" / "podman" / "containers.conf"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "harbor-emulator"
TOOLS = ("podman", "buildah", "mmdebstrap", "runc")
INSTALL_TOOLS = "apt-get install podman buildah mmdebstrap runc podman-compose"
# A bookworm minbase without documentation; the merged-usr hook sets up /usr as Debian
# does without installing usrmerge, which would pull in perl (45 MB).
MMDEBSTRAP = (
    "mmdebstrap",
    "--quiet",
    "--variant=minbase",
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    *(
        f"--dpkgopt=path-exclude=/usr/share/{part}/*"
        for part in ("doc", "man", "info", "locale", "lintian")
    ),
    "bookworm",
)
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
CONTAINER_PORT = 4280
# One tag per checkout: worktrees of this repository on one machine share podman's storage.
CHECKOUT = hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
IMAGE = f"localhost/harbor-emulator:test-{CHECKOUT}"
SIZE_LIMIT_BYTES = 50 * 1000 * 1000
TEST_KEY = "hb_test_container"
CI_TOKEN = "ci-token"
CI_SECRET = "whsec_ci_orders_secret_0123456789abcdef"  # fixtures/ci-example.yaml
# Generous: a loaded 2-core machine can take seconds per podman command.
HEALTHY_TIMEOUT_SECONDS = 180.0
METRICS = ROOT / "build" / "container-metrics.json"


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def run(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, env=podman_env()
    )
    if check:
        assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def podman(*args: str, timeout: float = 120) -> str:
    return run("podman", *args, timeout=timeout).stdout.strip()


def record(**measured: float) -> None:
    """Add measurements to build/container-metrics.json (read by whoever reports them)."""
    METRICS.parent.mkdir(exist_ok=True)
    with (ROOT / "build" / "container-metrics.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = json.loads(METRICS.read_text()) if METRICS.exists() else {}
        METRICS.write_text(json.dumps({**known, **measured}, indent=2) + "\n")


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """One holder at a time across pytest-xdist workers (each is a session of its own)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def require_tools(*extra: str) -> None:
    skip_policy.require_tools(*TOOLS, *extra, install=INSTALL_TOOLS)


def test_without_the_tools_the_tests_skip_and_name_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test never installs system packages (.ci/run does): it skips and says how."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_tools()
    reason = str(skipped.value.msg)
    assert reason.startswith("podman and buildah and mmdebstrap and runc not on PATH"), reason
    assert skip_policy.install_command(reason) == INSTALL_TOOLS


def base_image() -> str:
    """A bookworm base image, made once per mmdebstrap command and apt sources."""
    key = hashlib.sha256(repr(MMDEBSTRAP).encode())
    for source in APT_SOURCES:
        files = sorted(source.iterdir()) if source.is_dir() else [source]
        for file in files:
            if file.is_file():
                key.update(file.read_bytes())
    tag = f"localhost/harbor-emulator-base:bookworm-{key.hexdigest()[:12]}"
    with locked("base"):
        if run("podman", "image", "exists", tag, check=False).returncode == 0:
            return tag
        rootfs = CACHE / f"{tag.rsplit(':', 1)[1]}.tar"
        if not rootfs.exists():
            partial = rootfs.with_suffix(".partial.tar")
            result = run(*MMDEBSTRAP, str(partial), timeout=1200, check=False)
            if result.returncode != 0:
                partial.unlink(missing_ok=True)
                reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
                skip_policy.skip(
                    f"mmdebstrap could not make a bookworm root file system: {reason}",
                    install="mmdebstrap on a machine that reaches deb.debian.org",
                )
            partial.rename(rootfs)
        podman("import", str(rootfs), tag, timeout=600)
    return tag


@pytest.fixture(scope="session")
def image() -> str:
    """The Dockerfile's `prebuilt` target with this run's binary, built once per run."""
    require_tools()
    shipped_binary.build_once()
    base = base_image()
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
    stamp = CACHE / f"image-{CHECKOUT}.run"
    with locked("image"):
        if stamp.exists() and stamp.read_text() == run_id:
            return IMAGE
        started = time.monotonic()
        podman(
            "build",
            "--format",
            "docker",  # HEALTHCHECK is a Docker image field; OCI images drop it
            "--target",
            "prebuilt",
            "--build-arg",
            f"BASE={base}",
            "--tag",
            IMAGE,
            str(ROOT),
            timeout=900,
        )
        built = time.monotonic() - started
        size = json.loads(podman("image", "inspect", IMAGE))[0]["Size"]
        record(
            image_build_seconds=round(built, 2),
            image_size_bytes=size,
            binary_size_bytes=sum(
                path.stat().st_size for path in shipped_binary.FOLDER.rglob("*") if path.is_file()
            ),
        )
        stamp.write_text(run_id)
    return IMAGE


class Container:
    """`podman run --detach` of the image, its port published on loopback."""

    def __init__(self, image: str, *run_args: str, command: tuple[str, ...] = ()) -> None:
        self.started = time.monotonic()
        self.id = podman(
            "run",
            "--detach",
            "--publish",
            f"127.0.0.1::{CONTAINER_PORT}",
            # No systemd here for podman's health timers: the tests run the check themselves.
            "--health-interval",
            "disable",
            *run_args,
            image,
            *command,
        )

    @property
    def url(self) -> str:
        # "4280/tcp -> 127.0.0.1:PORT"; the port can change across `podman restart`.
        published = podman("port", self.id, f"{CONTAINER_PORT}/tcp").splitlines()[0]
        return "http://" + published.rsplit(" ", 1)[-1]

    def inspect(self) -> dict[str, Any]:
        return json.loads(podman("inspect", self.id))[0]

    def logs(self) -> str:
        result = run("podman", "logs", self.id, check=False)
        return result.stdout + result.stderr

    def wait_answering(self) -> float:
        """Wait for a 200 from /_control/health through the published port, as the bare
        binary is timed; return seconds since started."""
        deadline = time.monotonic() + HEALTHY_TIMEOUT_SECONDS
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/_control/health").status_code == 200:
                        return time.monotonic() - self.started
                if time.monotonic() > deadline:
                    pytest.fail(f"never answered:\n{self.logs()}")
                time.sleep(0.05)

    def wait_healthy(self) -> float:
        """Run the image's HEALTHCHECK until it passes; return seconds since started."""
        deadline = time.monotonic() + HEALTHY_TIMEOUT_SECONDS
        while (check := run("podman", "healthcheck", "run", self.id, check=False)).returncode:
            if time.monotonic() > deadline:
                pytest.fail(f"never healthy: {check.stdout}{check.stderr}\n{self.logs()}")
            time.sleep(0.1)
        return time.monotonic() - self.started

    def stop(self, grace_seconds: int = 2) -> int:
        # After the grace period podman sends SIGKILL: exit status 137, not 0.
        podman("stop", "--time", str(grace_seconds), self.id)
        return int(self.inspect()["State"]["ExitCode"])

    def remove(self) -> None:
        run("podman", "rm", "--force", "--volumes", self.id, check=False)


@pytest.fixture
def containers(image: str) -> Iterator[list[Container]]:
    """Started containers, removed at the end whatever happened."""
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


@pytest.fixture
def volume(image: str) -> Iterator[str]:
    name = f"harbor-data-{uuid.uuid4().hex[:8]}"
    podman("volume", "create", name)
    yield name
    run("podman", "volume", "rm", "--force", name, check=False)


def bare_binary_start_seconds(binary: Path, workdir: Path) -> float:
    """Seconds from exec of the bare binary to its first 200 from /_control/health."""
    started = time.monotonic()
    process = subprocess.Popen(
        [str(binary), "start", "--port", "0"],
        env={},
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "harbor-emulator X listening on URL"
        url = line.rsplit(" ", 1)[-1].strip()
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/_control/health").status_code == 200, line
        return time.monotonic() - started
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()


def test_image_is_a_small_healthy_unprivileged_service(
    image: str, containers: list[Container], tmp_path: Path
) -> None:
    size = json.loads(podman("image", "inspect", image))[0]["Size"]
    assert size < SIZE_LIMIT_BYTES, f"{size} bytes"

    container = Container(image)
    containers.append(container)
    answered_after = container.wait_answering()
    healthy_after = container.wait_healthy()
    assert container.inspect()["State"]["Health"]["Status"] == "healthy"
    record(
        container_start_to_health_200_seconds=round(answered_after, 2),
        container_start_to_healthy_seconds=round(healthy_after, 2),
        bare_binary_start_to_health_200_seconds=round(
            bare_binary_start_seconds(shipped_binary.BINARY, tmp_path), 2
        ),
    )

    # No `id` in the image (no shell, no coreutils): podman reads the process from the host.
    assert podman("top", container.id, "user", "huser").splitlines()[1].split() == [
        "harbor",
        "10001",
    ]
    logs = container.logs()
    assert "warning: serving on 0.0.0.0 without --control-token" in logs, logs
    with httpx.Client(base_url=container.url, timeout=10) as client:
        health = client.get("/_control/health")
        assert health.status_code == 200
        assert health.json()["version"] == version("harbor-emulator")
        created = client.post(
            "/v1/events",
            headers={"Authorization": f"Bearer {TEST_KEY}"},
            json={"type": "order.paid", "payload": {}},
        )
        assert created.status_code == 201, created.text

    # The server is PID 1 (exec-form CMD) and ends on SIGTERM within podman's 2 s grace
    # period with status 0; a SIGKILL after it would leave 137.
    assert container.stop(grace_seconds=2) == 0, container.logs()
    assert "Application shutdown complete." in container.logs()


def cli(url: str, *args: str, token: str | None = CI_TOKEN) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "harbor_emulator.cli", args[0], "--url", url]
    if token:
        command += ["--control-token", token]
    return subprocess.run([*command, *args[1:]], capture_output=True, text=True, timeout=60)


def test_ci_job_against_the_container(image: str, containers: list[Container]) -> None:
    """docs/ci.md, "A CI job against the container": the same flags, the same commands."""
    container = Container(
        image,
        "--volume",
        f"{ROOT / 'fixtures'}:/fixtures:ro",
        "--env",
        f"HARBOR_EMULATOR_CONTROL_TOKEN={CI_TOKEN}",
        command=("harbor-emulator", "start", "--strict", "--fixtures", "/fixtures/ci-example.yaml"),
    )
    containers.append(container)
    container.wait_healthy()  # the HEALTHCHECK sends the token from the environment
    url = container.url
    logs = container.logs()
    assert "without --control-token" not in logs, logs

    health = cli(url, "health", "--wait", "30")
    assert health.returncode == 0, health.stderr
    triggered = cli(
        url,
        "trigger",
        "order.created",
        "--key",
        "hb_test_ci_app",
        "--data",
        '{"order_id": "ord_ci"}',
        "--json",
    )
    assert triggered.returncode == 0, triggered.stderr
    event = json.loads(triggered.stdout)
    drained = cli(url, "drain", "--timeout", "20")
    assert drained.returncode == 0, drained.stderr
    shown = cli(url, "sinks", "show", "orders", "--json")
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    requests = body["data"] if isinstance(body, dict) else body
    assert len(requests) == 1, requests
    delivered = requests[0]
    assert json.loads(delivered["body"])["data"]["id"] == event["id"]
    signing.verify(delivered["body"].encode(), delivered["headers"], CI_SECRET)

    # --strict: a key the fixtures do not define is refused.
    unknown = cli(url, "trigger", "order.created", "--key", "hb_test_unknown", token=None)
    assert unknown.returncode != 0
    refused = cli(url, "reset", token=None)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: authentication_required: "), refused.stderr


def test_state_survives_podman_restart_and_a_new_container_on_the_volume(
    image: str, containers: list[Container], volume: str
) -> None:
    run_args = ("--volume", f"{volume}:/data", "--env", "HARBOR_EMULATOR_DB=/data/state.db")
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    first = Container(image, *run_args)
    containers.append(first)
    first.wait_healthy()
    with httpx.Client(base_url=first.url, timeout=10) as client:
        created = client.post(
            "/v1/events", headers=headers, json={"type": "order.paid", "payload": {"n": 1}}
        )
        assert created.status_code == 201, created.text
        event_id = created.json()["id"]

    podman("restart", "--time", "2", first.id)
    first.started = time.monotonic()
    first.wait_healthy()
    with httpx.Client(base_url=first.url, timeout=10) as client:
        again = client.get(f"/v1/events/{event_id}", headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["payload"] == {"n": 1}
    assert first.stop() == 0, first.logs()

    second = Container(image, *run_args)
    containers.append(second)
    second.wait_healthy()
    with httpx.Client(base_url=second.url, timeout=10) as client:
        kept = client.get(f"/v1/events/{event_id}", headers=headers)
        assert kept.status_code == 200, kept.text


def test_two_containers_serve_side_by_side(image: str, containers: list[Container]) -> None:
    """Parallel CI jobs on one machine: two services, two ports, two separate states."""
    one, two = Container(image), Container(image)
    containers += [one, two]
    one.wait_healthy()
    two.wait_healthy()
    assert one.url != two.url
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    with httpx.Client(base_url=one.url, timeout=10) as first:
        created = first.post("/v1/events", headers=headers, json={"type": "a.b", "payload": {}})
        assert created.status_code == 201, created.text
    with httpx.Client(base_url=two.url, timeout=10) as second:
        other = second.get(f"/v1/events/{created.json()['id']}", headers=headers)
        assert other.status_code == 404, other.text


def compose_document() -> dict[str, Any]:
    """docs/ci.md's docker compose example, as it is printed there."""
    text = (ROOT / "docs" / "ci.md").read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    documents = [yaml.safe_load(block) for block in blocks]
    (document,) = [d for d in documents if "harbor" in d.get("services", {})]
    return document


def test_compose_example_with_podman_compose(
    image: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The app service reaches the emulator by its service name, http://harbor:4280."""
    require_tools("podman-compose")
    document = compose_document()
    harbor, app = document["services"]["harbor"], document["services"]["app"]
    assert harbor["build"] == "."
    assert app["depends_on"] == {"harbor": {"condition": "service_healthy"}}
    assert app["environment"]["HARBOR_API_BASE"] == "http://harbor:4280"
    # What only this machine needs: the image built here instead of `build: .`, no host
    # port (4280 may be taken; the app needs none), and an app that is this image's CLI,
    # since no python:3.11-slim can be pulled. The image has no shell, so the app's
    # environment goes into the command here; the harbor service is healthy before it runs.
    del harbor["build"], harbor["ports"]
    harbor["image"] = image
    app["image"] = image
    environment = app["environment"]
    app["command"] = [
        *("harbor-emulator", "trigger", "order.paid", "--url", environment["HARBOR_API_BASE"]),
        *("--key", environment["HARBOR_API_KEY"], "--json"),
    ]
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(yaml.safe_dump(document))
    project = f"harbor{uuid.uuid4().hex[:8]}"
    compose = ("podman-compose", "--project-name", project, "--file", str(compose_file))

    def down() -> None:
        run(*compose, "down", "--volumes", timeout=300, check=False)

    request.addfinalizer(down)
    run(*compose, "up", "--detach", "harbor", timeout=300)
    # podman-compose 1.0 orders services by depends_on but does not wait for
    # `condition: service_healthy`; wait for the HEALTHCHECK as docker compose would.
    service = Container.__new__(Container)
    service.id, service.started = f"{project}_harbor_1", time.monotonic()
    service.wait_healthy()
    ran = run(*compose, "run", "--rm", "--no-deps", "app", timeout=300, check=False)
    # podman-compose 1.0 exits 0 whatever the service did and prints its own commands
    # first; the app's output (on a tty: CRLF) is what follows them.
    output = ran.stdout.replace("\r\n", "\n")
    assert "\n{" in output, f"{ran.stdout}\n{ran.stderr}\n{service.logs()}"
    event, _ = json.JSONDecoder().raw_decode(output[output.index("\n{") + 1 :])
    assert event["type"] == "order.paid"
    assert event["id"].startswith("evt_")


def _unix_listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


@pytest.fixture
def docker_api(image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """podman's Docker-compatible API on a unix socket, for testcontainers' docker client."""
    pytest.importorskip(
        "testcontainers",
        reason=skip_policy.skip_reason(
            "the testcontainers extra is not installed", install="pip install -e '.[test]'"
        ),
    )
    socket_path = tmp_path / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time", "0", f"unix://{socket_path}"],
        env=podman_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + HEALTHY_TIMEOUT_SECONDS
        # Poll with a plain socket that is always closed: a refused connect through httpx's
        # unix transport leaves its socket to the garbage collector (a ResourceWarning).
        while not _unix_listening(socket_path):
            if service.poll() is not None or time.monotonic() > deadline:
                assert service.stderr is not None
                skip_policy.skip(
                    f"podman system service did not answer: {service.stderr.read()}",
                    install="apt-get install podman, on a machine where it can run",
                )
            time.sleep(0.1)
        transport = httpx.HTTPTransport(uds=str(socket_path))
        with httpx.Client(transport=transport, base_url="http://podman") as api:
            assert api.get("/_ping").status_code == 200
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
        # testcontainers reads its settings once, at import: set them on its config object.
        from testcontainers.core.config import ConnectionMode
        from testcontainers.core.config import testcontainers_config as config

        # Ryuk, testcontainers' reaper, is an image from Docker Hub: none can be pulled here.
        monkeypatch.setattr(config, "ryuk_disabled", True)
        monkeypatch.setattr(config, "tc_host_override", "127.0.0.1")
        # This machine has a /.dockerenv, from which testcontainers would guess it runs in a
        # container next to the engine and connect through a network gateway.
        monkeypatch.setattr(config, "connection_mode_override", ConnectionMode.docker_host)
        yield str(socket_path)
    finally:
        service.terminate()
        service.wait(timeout=30)
        assert service.stderr is not None
        service.stderr.close()


def test_testcontainers_module_against_podmans_docker_api(
    image: str, docker_api: str, tmp_path: Path
) -> None:
    from docker.types import Ulimit

    from harbor_emulator.testcontainers import HarborContainer

    harbor = HarborContainer(
        image, control_token=CI_TOKEN, fixtures=ROOT / "fixtures" / "ci-example.yaml", strict=True
    )
    # tests/podman/containers.conf's limits: the Docker API passes none, and podman's default
    # (the host's hard limits) is refused on this machine.
    harbor.with_kwargs(
        ulimits=[
            Ulimit(name="nofile", soft=1024, hard=20000),
            Ulimit(name="nproc", soft=1024, hard=1024),
        ]
    )
    with harbor:
        url = harbor.get_url()
        assert url.startswith("http://127.0.0.1:")
        with harbor.get_emulator() as emulator:
            assert emulator.health()["status"] == "ok"
            event = emulator.trigger("order.created", {"order_id": "ord_tc"}, key="hb_test_ci_app")
            assert emulator.drain(20)["drained"] is True
            (delivered,) = emulator.sink("orders").requests
            assert json.loads(delivered.body)["data"]["id"] == event["id"]
            signing.verify(delivered.body.encode(), delivered.headers, CI_SECRET)
