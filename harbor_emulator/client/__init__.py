"""A small sync client of a running emulator: the control API and the /v1 calls tests need.

    emulator = Emulator("http://127.0.0.1:4280", api_key="hb_test_demo")
    emulator.reset()
    emulator.trigger("order.paid", {"order_id": "o_1"})
    emulator.clock.advance("5m")
    emulator.drain()
    assert emulator.sink("orders").requests[0].headers["harbor-attempt"] == "2"

Server errors raise HarborAPIError; an emulator that cannot be reached raises
EmulatorUnreachable.
"""

from __future__ import annotations

from .controls import (
    CHAOS_OUTCOMES,
    DEFAULT_MAX_DELAY_SECONDS,
    DELAY_STEPS,
    MAX_DELAY_SECONDS,
    ClockControl,
    FaultControl,
    Sink,
    SnapshotControl,
    chaos_faults,
)
from .emulator import DEFAULT_URL, YAML_MEDIA_TYPE, Emulator
from .errors import EmulatorUnreachable, HarborAPIError
from .reports import ClockReading, ReceiverCheckReport, ReceiverCheckResult, SinkRequest

__all__ = [
    "CHAOS_OUTCOMES",
    "DEFAULT_MAX_DELAY_SECONDS",
    "DEFAULT_URL",
    "DELAY_STEPS",
    "MAX_DELAY_SECONDS",
    "YAML_MEDIA_TYPE",
    "ClockControl",
    "ClockReading",
    "Emulator",
    "EmulatorUnreachable",
    "FaultControl",
    "HarborAPIError",
    "ReceiverCheckReport",
    "ReceiverCheckResult",
    "Sink",
    "SinkRequest",
    "SnapshotControl",
    "chaos_faults",
]
