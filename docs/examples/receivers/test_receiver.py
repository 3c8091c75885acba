"""In your suite: Harbor's receiver check against your app, failing with the report.

The `harbor` fixture (a fresh emulator client) comes from the package's pytest plugin.
"""

from collections.abc import Iterator

import pytest
from receiver import create_app  # your app

from harbor_emulator.client import Emulator
from harbor_emulator.testing import ServerThread

SECRET = "whsec_test_receiver_check_0123456789"


@pytest.fixture
def receiver_url() -> Iterator[str]:
    with ServerThread(create_app(SECRET)) as url:  # your app, served on a free port
        yield f"{url}/harbor/webhooks"


def test_the_receiver_is_ready_for_harbor(harbor: Emulator, receiver_url: str) -> None:
    report = harbor.check_receiver(receiver_url, SECRET, event_type="order.paid")
    assert report.passed, str(report)  # on failure pytest prints the report's table
