"""The collector is tuned for serving by `harbor-emulator start`, and only there."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from harbor_emulator.cli.serving import GC_THRESHOLDS, _StartupWatch
from harbor_emulator.testing import EmulatorServer


@pytest.fixture
def collector() -> Iterator[None]:
    """Whatever a test does to this process's collector is undone after it."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


async def _run_lifespan(app: Any) -> list[str]:
    """Drive an ASGI app's lifespan through startup and shutdown, as uvicorn does."""
    incoming: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    sent: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            # Once started, the collector is tuned; then the app is shut down.
            sent.append(f"thresholds {gc.get_threshold()} frozen {gc.get_freeze_count() > 0}")
            await incoming.put({"type": "lifespan.shutdown"})

    await incoming.put({"type": "lifespan.startup"})
    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, incoming.get, send)
    return sent


async def _lifespan_app(scope: Any, receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


def test_the_cli_tunes_the_collector_once_the_app_has_started(collector: None) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    sent = asyncio.run(_run_lifespan(_StartupWatch(_lifespan_app)))
    assert sent == [
        "lifespan.startup.complete",
        f"thresholds {GC_THRESHOLDS} frozen True",
        "lifespan.shutdown.complete",
    ]


def test_an_emulator_in_a_test_process_leaves_its_collector_alone(collector: None) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    with EmulatorServer() as server, server.client("hb_test_gc") as client:
        assert client.health()["status"] == "ok"
        assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0
