"""pytest fixtures for testing code that talks to Harbor: `harbor` and `harbor_factory`.

Registered through the `pytest11` entry point, so installing harbor-emulator is enough.
Importing this module starts nothing and imports no server code: the first test that uses
a fixture starts an emulator, in this process (under pytest-xdist: in each worker, so
parallel workers never share state or clock). See docs/testing.md.

    def test_order_paid_is_delivered(harbor):
        orders = harbor.sink("orders")
        ...
        harbor.clock.advance("5m")

Change the flags of `harbor` by overriding `harbor_session` in your conftest.py:

    @pytest.fixture(scope="session")
    def harbor_session(harbor_factory):
        return harbor_factory(fixtures=["tests/harbor.yaml"])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .client import Emulator
    from .testing import EmulatorFactory

# A well-formed test key: the open sandbox accepts it with every scope and gives it a
# workspace of its own, so tests need no set-up.
DEFAULT_API_KEY = "hb_test_pytest"


@pytest.fixture(scope="session")
def harbor_factory() -> Iterator[EmulatorFactory]:
    """Start emulators with flags: `harbor_factory(strict=True, fixtures=[...],
    rate_limit=0, control_token="t", api_key="hb_test_ci")`, or any other `Config` field.

    Each call starts a new emulator (fresh state, free port) and returns a
    `harbor_emulator.client.Emulator` bound to it; all are stopped at the end of the
    session, or earlier with `harbor_factory.stop(emulator)`. Emulators are not reset
    between tests: reset them yourself, or wrap one in a fixture as `harbor` does.
    """
    # Imported here: the server stack loads only in sessions that use an emulator.
    from .testing import EmulatorFactory

    factory = EmulatorFactory(default_api_key=DEFAULT_API_KEY)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def harbor_session(harbor_factory: EmulatorFactory) -> Emulator:
    """The session's emulator behind `harbor`, with default flags. Override it to
    change them; `harbor` resets whatever this returns before each test."""
    return harbor_factory()


@pytest.fixture
def harbor(harbor_session: Emulator) -> Iterator[Emulator]:
    """The session's emulator reset to an empty state, its clock on host time.

    A new client per test, so settings a test changes on it (`api_key`) do not leak.
    """
    from .client import Emulator

    with Emulator(
        harbor_session.url,
        control_token=harbor_session.control_token,
        api_key=harbor_session.api_key,
    ) as client:
        client.reset()
        yield client
