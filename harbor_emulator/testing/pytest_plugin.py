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

Start each test from a saved state instead of an empty one by overriding `harbor_baseline`
(it returns a snapshot's name), and compare what a test delivered with a golden file
through `harbor_golden` (seeded emulators make deliveries repeat byte for byte):

    @pytest.fixture(scope="session")
    def harbor_session(harbor_factory):
        return harbor_factory(seed=42)

    @pytest.fixture(scope="session")
    def harbor_baseline(harbor_session):
        harbor_session.load_fixtures("tests/harbor.yaml")
        harbor_session.snapshots.save("baseline")
        return "baseline"

    def test_order_paid(harbor, harbor_golden):
        ...
        harbor.drain()
        harbor_golden.check()  # tests/golden/test_order_paid.json
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..client import Emulator
    from .golden import GoldenFile
    from .server import EmulatorFactory

UPDATE_GOLDEN_OPTION = "--harbor-update-golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("harbor-emulator").addoption(
        UPDATE_GOLDEN_OPTION,
        action="store_true",
        default=False,
        help="harbor_golden: write the golden files of this run instead of comparing.",
    )


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
    from .server import EmulatorFactory

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


@pytest.fixture(scope="session")
def harbor_baseline(harbor_session: Emulator) -> str | None:
    """The snapshot `harbor` restores before each test; None (the default): reset instead.

    Override it to build the state once per session (fixtures, endpoints) and save it:
    restoring puts back the state, the clock, sinks, faults and, in a seeded emulator, the
    generators, so each test sees the same ids whatever ran before it.
    """
    return None


@pytest.fixture
def harbor(harbor_session: Emulator, harbor_baseline: str | None) -> Iterator[Emulator]:
    """The session's emulator reset to an empty state, its clock on host time (or restored
    to the `harbor_baseline` snapshot, when that fixture names one).

    A new client per test, so settings a test changes on it (`api_key`) do not leak.
    """
    from ..client import Emulator

    with Emulator(
        harbor_session.url,
        control_token=harbor_session.control_token,
        api_key=harbor_session.api_key,
    ) as client:
        if harbor_baseline is None:
            client.reset()
        else:
            client.snapshots.restore(harbor_baseline)
        yield client


@pytest.fixture
def harbor_golden(harbor: Emulator, request: pytest.FixtureRequest) -> GoldenFile:
    """Compare the deliveries a test caused (every sink's requests: method, path, headers,
    body) with `golden/<test name>.json` beside the test file. A missing file is written
    (and the test passes); `--harbor-update-golden` rewrites them all."""
    from .golden import GoldenFile

    node = request.node
    return GoldenFile(
        harbor,
        Path(node.path).parent / "golden" / f"{_file_name(node.name)}.json",
        update=bool(request.config.getoption(UPDATE_GOLDEN_OPTION)),
    )


def _file_name(test_name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.[]" else "_" for c in test_name)
