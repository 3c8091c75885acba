"""Real servers for tests: the emulator under uvicorn on a free loopback port
(harbor_emulator.testing, the same helper the pytest plugin uses)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harbor_emulator.server.config import Config
from harbor_emulator.testing import EmulatorServer

# Re-exported for tests that build the app object themselves and serve it (test_faults).
from harbor_emulator.testing import ServerThread as ServerThread
from tests import skip_policy
from tests.openapi_check import ResponseChecker

TEST_KEY = "hb_test_suite"


def pytest_configure(config: pytest.Config) -> None:
    # No silent skips: a summary of what did not run, and under CI=true a failure for any
    # skip not on tests/skip_policy.py's allow-list.
    skip_policy.register(config)


class Emulator:
    """A running emulator and clients for it."""

    def __init__(self, url: str, config: Config) -> None:
        self.url = url
        self.config = config
        # Every response the suite sees must match harbor_emulator/openapi.yaml.
        self.openapi = ResponseChecker()
        self.http = httpx.Client(base_url=url, timeout=30, event_hooks=self.openapi.event_hooks)

    def api(self, key: str = TEST_KEY) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            timeout=30,
            headers={"Authorization": f"Bearer {key}"},
            event_hooks=self.openapi.event_hooks,
        )

    def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, f"/_control{path}", **kwargs)
        return response

    def advance(self, seconds: float) -> dict[str, Any]:
        response = self.control("POST", "/clock/advance", json={"seconds": seconds})
        assert response.status_code == 200, response.text
        return response.json()

    def reset(self) -> None:
        response = self.control("POST", "/reset")
        assert response.status_code == 200, response.text

    def drain(self, timeout_seconds: float = 20) -> None:
        """Wait until no attempt is due or in flight; fails if it takes longer."""
        response = self.control(
            "POST", "/deliveries/drain", json={"timeout_seconds": timeout_seconds}
        )
        assert response.json() == {"drained": True, "pending": 0}, response.text

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="session")
def emulator_factory() -> Iterator[Any]:
    """Start an emulator with Config overrides: `emulator_factory(strict=True)`."""
    servers: list[tuple[EmulatorServer, Emulator]] = []

    def start(**overrides: Any) -> Emulator:
        overrides.setdefault("rate_limit", 0)
        server = EmulatorServer(**overrides)
        emulator = Emulator(server.start(), server.config)
        servers.append((server, emulator))
        return emulator

    yield start
    for server, emulator in servers:
        emulator.close()
        server.stop()


@pytest.fixture(scope="session")
def _shared_emulators(emulator_factory: Any) -> list[Emulator]:
    """The session's emulator, last: a new one replaces one that stopped answering."""
    return [emulator_factory()]


@pytest.fixture(scope="session")
def _shared_emulator(_shared_emulators: list[Emulator]) -> Emulator:
    return _shared_emulators[0]


@pytest.fixture
def emulator(_shared_emulators: list[Emulator], emulator_factory: Any) -> Emulator:
    """The session's emulator, reset to an empty state for each test."""
    shared = _shared_emulators[-1]
    try:
        shared.reset()
    except (httpx.HTTPError, AssertionError) as exc:
        # A test that leaves the emulator unable to reset fails this one test, not every
        # test after it (each waiting out its client's timeout: CI hung on that once).
        _shared_emulators.append(emulator_factory())
        pytest.fail(
            f"the shared emulator did not reset ({exc!r}); the tests after this one get a "
            "new emulator",
            pytrace=False,
        )
    return shared


@pytest.fixture
def api(emulator: Emulator) -> Iterator[httpx.Client]:
    """A client of the /v1 API with an open-sandbox test key."""
    with emulator.api() as client:
        yield client


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["request_id"] == response.headers["harbor-request-id"]
    return body["error"]


@pytest.fixture(scope="session")
def _shared_receiver() -> Iterator[Any]:
    from tests.receiver import Receiver

    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def receiver(_shared_receiver: Any) -> Any:
    """A real webhook receiver on loopback, answering 200 unless scripted otherwise."""
    _shared_receiver.reset()
    return _shared_receiver
