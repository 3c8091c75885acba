"""The Dockerfile's image, run the way docs/ci.md runs it. Needs a docker daemon."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CONTAINER_PORT = 4280
TEST_KEY = "hb_test_docker"


@functools.cache  # a skip raises, and raising is never cached: each test skips alike
def docker_cli() -> str:
    """The docker client, or skip when there is no client or no daemon behind it."""
    client = shutil.which("docker")
    if client is None:
        pytest.skip("no docker client on PATH")
    info = subprocess.run([client, "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"`docker info` failed, so no docker daemon to build with: {reason}")
    return client


def docker(*args: str, timeout: float = 60) -> str:
    result = subprocess.run([docker_cli(), *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"docker {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout.strip()


@pytest.fixture(scope="session")
def image() -> Iterator[str]:
    tag = f"harbor-emulator:test-{uuid.uuid4().hex[:8]}"
    docker("build", "--tag", tag, str(ROOT), timeout=1200)
    yield tag
    docker("image", "rm", "--force", tag)


@pytest.fixture
def volume() -> Iterator[str]:
    name = f"harbor-data-{uuid.uuid4().hex[:8]}"
    docker("volume", "create", name)
    yield name
    docker("volume", "rm", "--force", name)


class Container:
    def __init__(self, image: str, *run_args: str, command: tuple[str, ...] = ()) -> None:
        self.id = docker(
            "run",
            "--detach",
            "--publish",
            f"127.0.0.1::{CONTAINER_PORT}",
            # The image's own probe, run often enough that the test need not wait long.
            "--health-interval",
            "1s",
            *run_args,
            image,
            *command,
        )

    @property
    def url(self) -> str:
        # `docker port` prints e.g. "127.0.0.1:49153"
        return "http://" + docker("port", self.id, f"{CONTAINER_PORT}/tcp").splitlines()[0]

    def inspect(self) -> dict[str, Any]:
        return json.loads(docker("inspect", self.id))[0]

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.inspect()["State"].get("Health", {}).get("Status") != "healthy":
            if time.monotonic() > deadline:
                pytest.fail(f"never healthy:\n{docker('logs', self.id)}")
            time.sleep(0.5)

    def stop(self) -> int:
        docker("stop", "--time", "20", self.id, timeout=60)
        return self.inspect()["State"]["ExitCode"]

    def remove(self) -> None:
        subprocess.run([docker_cli(), "rm", "--force", self.id], capture_output=True, timeout=60)


def test_image_serves_as_a_healthy_unprivileged_service(image: str) -> None:
    container = Container(image)
    try:
        container.wait_healthy()
        assert docker("exec", container.id, "id", "-u") != "0"
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
        # The server is PID 1 (exec-form CMD); the kernel ignores an unhandled SIGTERM
        # re-raised by PID 1, so a graceful stop ends with status 0 here.
        assert container.stop() == 0, docker("logs", container.id)
    finally:
        container.remove()


def test_state_survives_a_restart_with_db_on_the_data_volume(image: str, volume: str) -> None:
    command = ("harbor-emulator", "start", "--host", "0.0.0.0", "--port", "4280")
    command += ("--db", "/data/state.db")
    first = Container(image, "--volume", f"{volume}:/data", command=command)
    try:
        first.wait_healthy()
        with httpx.Client(base_url=first.url, timeout=10) as client:
            created = client.post(
                "/v1/events",
                headers={"Authorization": f"Bearer {TEST_KEY}"},
                json={"type": "order.paid", "payload": {"n": 1}},
            )
            assert created.status_code == 201, created.text
            event_id = created.json()["id"]
        first.stop()
    finally:
        first.remove()

    second = Container(image, "--volume", f"{volume}:/data", command=command)
    try:
        second.wait_healthy()
        with httpx.Client(base_url=second.url, timeout=10) as client:
            again = client.get(
                f"/v1/events/{event_id}", headers={"Authorization": f"Bearer {TEST_KEY}"}
            )
            assert again.status_code == 200, again.text
            assert again.json()["payload"] == {"n": 1}
    finally:
        second.remove()
