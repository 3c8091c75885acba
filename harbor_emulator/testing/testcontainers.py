"""A testcontainers-python module for the harbor-emulator image.

    pip install "harbor-emulator[testcontainers]"

    from harbor_emulator.testcontainers import HarborContainer

    with HarborContainer() as harbor:
        emulator = harbor.get_emulator()          # harbor_emulator.client.Emulator
        emulator.trigger("order.paid", {"id": 1}, key="hb_test_ci")
        requests.get(harbor.get_url() + "/v1/events", ...)

The image is this repository's Dockerfile (`docker build -t harbor-emulator .`); pass
`image=` for another tag. Start options go in as `HARBOR_EMULATOR_*` variables
(`with_env`), fixtures as a mounted file (`fixtures=`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import HttpWaitStrategy

from ..client import Emulator

DEFAULT_IMAGE = "harbor-emulator"
PORT = 4280
FIXTURES_PATH = "/fixtures/fixtures.yaml"


class HarborContainer(DockerContainer):
    """The emulator as a throwaway container, ready once /_control/health answers 200."""

    def __init__(
        self,
        image: str = DEFAULT_IMAGE,
        *,
        control_token: str | None = None,
        fixtures: str | Path | None = None,
        strict: bool = False,
        startup_timeout: float = 120,
        **kwargs: Any,
    ) -> None:
        super().__init__(image, **kwargs)
        self.control_token = control_token
        self.with_exposed_ports(PORT)
        if control_token:
            self.with_env("HARBOR_EMULATOR_CONTROL_TOKEN", control_token)
        if fixtures is not None:
            self.with_volume_mapping(str(Path(fixtures).resolve()), FIXTURES_PATH, mode="ro")
            self.with_env("HARBOR_EMULATOR_FIXTURES", FIXTURES_PATH)
        if strict:
            self.with_env("HARBOR_EMULATOR_STRICT", "1")
        # Not the image's HEALTHCHECK: engines without periodic health checks (podman
        # without systemd) never report it; the health route answers the same question.
        ready = HttpWaitStrategy(PORT, "/_control/health").for_status_code(200)
        if control_token:
            ready = ready.with_header("Authorization", f"Bearer {control_token}")
        self.waiting_for(
            ready.with_startup_timeout(timedelta(seconds=startup_timeout)).with_poll_interval(0.1)
        )

    def get_url(self) -> str:
        """The emulator's base URL as the test process reaches it."""
        host = self.get_container_host_ip()
        return f"http://{host}:{self.get_exposed_port(PORT)}"

    def get_emulator(self, **kwargs: Any) -> Emulator:
        """A control client (clock, sinks, drain, trigger) for this container."""
        return Emulator(self.get_url(), control_token=self.control_token, **kwargs)
