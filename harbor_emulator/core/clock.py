"""The emulator clock: the one reader of host time (besides the signing timestamp)."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from .errors import HarborError

HostTime = Callable[[], float]

# The clock's range (contract: Clock): every instant in it renders as a four-digit year.
MIN_MS = 0  # 1970-01-01T00:00:00Z
MAX_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z


class ClockState(NamedTuple):
    """What is persisted so a restart with --db keeps emulator time."""

    offset_seconds: float
    frozen_at_ms: int | None


class Clock:
    """Emulator time = host time + offset, or a fixed instant while frozen.

    A running clock saturates at MAX_MS (contract: Limits, clock end): it reaches the end of
    its range and stays there, so no reading is ever a time that cannot be rendered.

    Listeners are told after every change, so the delivery scheduler wakes up when
    time jumps instead of polling.
    """

    def __init__(self, host_time: HostTime = time.time, state: ClockState | None = None) -> None:
        self._host_time = host_time
        self._offset_seconds = 0.0
        self._frozen_at_ms: int | None = None
        self._listeners: list[Callable[[], None]] = []
        if state is not None:
            self.restore(state)

    # -- reading -------------------------------------------------------------------
    def now_ms(self) -> int:
        if self._frozen_at_ms is not None:
            return self._frozen_at_ms
        return min(int((self._host_time() + self._offset_seconds) * 1000), MAX_MS)

    def now(self) -> datetime:
        return from_ms(self.now_ms())

    @property
    def frozen(self) -> bool:
        return self._frozen_at_ms is not None

    def offset_seconds(self) -> float:
        """Emulator time minus host time, in seconds."""
        return round(self.now_ms() / 1000 - self._host_time(), 3)

    def state(self) -> ClockState:
        return ClockState(self._offset_seconds, self._frozen_at_ms)

    # -- changing ------------------------------------------------------------------
    def restore(self, state: ClockState) -> None:
        self._offset_seconds = state.offset_seconds
        self._frozen_at_ms = state.frozen_at_ms
        self._notify()

    def set_ms(self, target_ms: int, param: str = "now") -> None:
        """Move to `target_ms`; backwards is refused (contract: clock/set is forward only)."""
        check_in_range(target_ms, param)
        if target_ms < self.now_ms():
            raise HarborError(
                "invalid_parameter", "The clock only moves forward; now is earlier.", param="now"
            )
        if self._frozen_at_ms is not None:
            self._frozen_at_ms = target_ms
        else:
            self._offset_seconds = target_ms / 1000 - self._host_time()
        self._notify()

    def advance(self, seconds: float) -> None:
        self.set_ms(self.now_ms() + round(seconds * 1000), "seconds")

    def freeze(self) -> None:
        if self._frozen_at_ms is None:
            self._frozen_at_ms = self.now_ms()
            self._notify()

    def unfreeze(self) -> None:
        if self._frozen_at_ms is not None:
            # Running resumes from the frozen instant, not from where host time went.
            self._offset_seconds = self._frozen_at_ms / 1000 - self._host_time()
            self._frozen_at_ms = None
            self._notify()

    def reset(self) -> None:
        self._offset_seconds = 0.0
        self._frozen_at_ms = None
        self._notify()

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()


# -- conversions shared by every layer ----------------------------------------------


def check_in_range(ms: int, param: str) -> None:
    if not MIN_MS <= ms <= MAX_MS:
        raise HarborError(
            "invalid_parameter",
            "The emulator clock runs from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z.",
            param=param,
        )


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def to_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def format_ms(ms: int | None) -> str | None:
    """RFC 3339 UTC at second precision, as the contract's examples are written."""
    if ms is None:
        return None
    return _format_seconds(ms // 1000)


# Every rendered object has a time or three, and lists repeat the same few seconds.
@functools.lru_cache(maxsize=4096)
def _format_seconds(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def parse_timestamp(value: object, param: str) -> int:
    """An RFC 3339 timestamp (or Unix seconds) to epoch milliseconds, else invalid_parameter."""
    if isinstance(value, bool):
        raise HarborError("invalid_parameter", f"{param} must be an RFC 3339 time.", param=param)
    if isinstance(value, int | float):
        if not 0 <= value < 253402300800:
            raise HarborError("invalid_parameter", f"{param} is out of range.", param=param)
        return int(value * 1000)
    if not isinstance(value, str) or len(value) > 64:
        raise HarborError("invalid_parameter", f"{param} must be an RFC 3339 time.", param=param)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise HarborError(
            "invalid_parameter",
            f"{param} must be an RFC 3339 time such as 2026-05-25T12:00:00Z.",
            param=param,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        ms = to_ms(moment)
    except (OverflowError, OSError, ValueError):
        ms = -1
    # An offset can carry a four-digit year past the clock's range ("9999-12-31T23:00:00-05:00"),
    # where no time the emulator stores or renders may go; fractions of the last second still
    # render as 9999-12-31T23:59:59Z, as Unix seconds below 253402300800 do above.
    if not MIN_MS <= ms < MAX_MS + 1000:
        raise HarborError("invalid_parameter", f"{param} is out of range.", param=param)
    return ms


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")


def parse_duration(value: str) -> float:
    """`1h30m`, `90s`, `2d`, `500ms` to seconds; raises ValueError on anything else."""
    text = value.strip().lower()
    if not text:
        raise ValueError("empty duration")
    seconds = 0.0
    pos = 0
    unit_seconds = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if not match:
            raise ValueError(f"not a duration: {value!r}")
        seconds += float(match.group(1)) * unit_seconds[match.group(2)]
        pos = match.end()
    return seconds
