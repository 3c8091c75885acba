"""The parts of an `Emulator` with calls of their own: its clock, a sink, faults and chaos,
snapshots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .reports import ClockReading, SinkRequest

if TYPE_CHECKING:
    from .emulator import Emulator


class ClockControl:
    """The emulator clock, through /_control/clock."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator

    def get(self) -> ClockReading:
        return ClockReading.from_json(self._emulator.control("GET", "/clock"))

    def now(self) -> datetime:
        return self.get().now

    def advance(self, by: str | float | timedelta) -> ClockReading:
        """Move forward by "1h30m", a number of seconds or a timedelta, running every
        delivery attempt that falls due on the way."""
        if isinstance(by, str):
            body: dict[str, Any] = {"duration": by}
        elif isinstance(by, timedelta):
            body = {"seconds": by.total_seconds()}
        else:
            body = {"seconds": by}
        return ClockReading.from_json(self._emulator.control("POST", "/clock/advance", json=body))

    def set(self, now: str | datetime) -> ClockReading:
        """Move forward to `now` (RFC 3339 text or an aware datetime); never backwards."""
        if isinstance(now, datetime):
            moment = now if now.tzinfo else now.replace(tzinfo=UTC)
            now = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
        reply = self._emulator.control("POST", "/clock/set", json={"now": now})
        return ClockReading.from_json(reply)

    def freeze(self) -> ClockReading:
        return ClockReading.from_json(self._emulator.control("POST", "/clock/freeze"))

    def unfreeze(self) -> ClockReading:
        return ClockReading.from_json(self._emulator.control("POST", "/clock/unfreeze"))


class Sink:
    """A built-in receiver at `{url}/_sink/{name}`."""

    def __init__(self, emulator: Emulator, name: str) -> None:
        self._emulator = emulator
        self.name = name
        self._path = f"/sinks/{quote(name, safe='')}"

    @property
    def url(self) -> str:
        """The URL to give a webhook or destination so its deliveries land here."""
        return f"{self._emulator.url}/_sink/{quote(self.name, safe='')}"

    @property
    def requests(self) -> list[SinkRequest]:
        """What arrived, oldest first (fetched on each access)."""
        page = self._emulator.control("GET", self._path)
        return [SinkRequest.from_json(item) for item in page["data"]]

    def script(self, responses: Sequence[Mapping[str, Any] | int]) -> dict[str, Any]:
        """Answer the next requests in order: a status (`500`) or `{"status", "delay_ms",
        "body", "headers"}` each; then 200 "ok" again."""
        answers = [{"status": r} if isinstance(r, int) else dict(r) for r in responses]
        return self._emulator.control("PUT", self._path, json={"responses": answers})

    def clear(self) -> None:
        self._emulator.control("DELETE", self._path)


CHAOS_OUTCOMES = ("ack_lost", "duplicate", "delay")
DEFAULT_MAX_DELAY_SECONDS = 600
# A delayed attempt's lateness is drawn from this many steps up to the maximum (one fault
# each), so deliveries delayed together still overtake one another.
DELAY_STEPS = 4
# The contract's bound on `delay_seconds` (the longest retry policy, 72 h).
MAX_DELAY_SECONDS = 259_200


class FaultControl:
    """Injected API and delivery faults, through /_control/faults."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator

    def add(self, **spec: Any) -> dict[str, Any]:
        """`add(target="api", path="/v1/events", error_code="rate_limit_exceeded", count=1)`
        or `add(target="delivery", endpoint_id="wh_…", outcome="timeout", count=2)`."""
        return self._emulator.control("POST", "/faults", json=spec)

    def list(self) -> list[dict[str, Any]]:
        return list(self._emulator.control("GET", "/faults")["data"])

    def clear(self) -> None:
        self._emulator.control("DELETE", "/faults")

    def remove(self, fault_id: str) -> None:
        self._emulator.control("DELETE", f"/faults/{quote(fault_id, safe='')}")

    def chaos(
        self,
        endpoint_id: str,
        *,
        ack_lost: float | None = None,
        duplicate: float | None = None,
        delay: float | None = None,
        max_delay: float | timedelta = DEFAULT_MAX_DELAY_SECONDS,
        seed: int | None = None,
    ) -> list[dict[str, Any]]:
        """Add chaos faults for one endpoint, each outcome with its probability: `ack_lost`
        (delivered, then retried as if the answer was lost), `duplicate` (sent twice at
        once), `delay` (sent up to `max_delay` late, so later events overtake it). Returns
        the faults created (docs/chaos.md)."""
        specs = chaos_faults(
            endpoint_id,
            ack_lost=ack_lost,
            duplicate=duplicate,
            delay=delay,
            max_delay_seconds=_seconds(max_delay),
            seed=seed,
        )
        return [self.add(**spec) for spec in specs]

    def clear_chaos(self, endpoint_id: str) -> int:
        """Remove the chaos faults (`ack_lost`, `duplicate`, `delay`) of one endpoint; its
        other faults stay. Returns how many were removed."""
        chaotic = [
            fault
            for fault in self.list()
            if fault.get("endpoint_id") == endpoint_id and fault.get("outcome") in CHAOS_OUTCOMES
        ]
        for fault in chaotic:
            self.remove(fault["id"])
        return len(chaotic)


def chaos_faults(
    endpoint_id: str,
    *,
    ack_lost: float | None = None,
    duplicate: float | None = None,
    delay: float | None = None,
    max_delay_seconds: int = DEFAULT_MAX_DELAY_SECONDS,
    seed: int | None = None,
) -> list[dict[str, Any]]:
    """The delivery-fault specs `chaos` creates, in the order they are consulted.

    Each outcome is one fault firing with its probability; faults are consulted in order
    and the first that fires wins. `delay` becomes DELAY_STEPS faults, delays of 1/4, 2/4,
    3/4 and all of `max_delay_seconds`, whose chained probabilities add up to `delay`, each
    step equally likely: the lateness is drawn per attempt from the same seeded draws as
    every fault. With `seed`, fault i is seeded `seed + i`, so the faults draw apart."""
    specs: list[dict[str, Any]] = []
    for outcome, probability in (("ack_lost", ack_lost), ("duplicate", duplicate)):
        if probability is not None:
            specs.append({"outcome": outcome, "probability": _probability(outcome, probability)})
    if delay is not None:
        _probability("delay", delay)
        if not 1 <= max_delay_seconds <= MAX_DELAY_SECONDS:
            raise ValueError(f"max_delay must be 1 s to {MAX_DELAY_SECONDS} s.")
        fractions = range(1, DELAY_STEPS + 1)
        steps = sorted({max(1, max_delay_seconds * k // DELAY_STEPS) for k in fractions})
        share = delay / len(steps)
        for index, seconds in enumerate(steps):
            # Fires only if the steps before it did not: conditional on that, P(step) = share.
            left = 1 - index * share
            specs.append(
                {
                    "outcome": "delay",
                    "delay_seconds": seconds,
                    "probability": 0.0 if left <= 0 else min(1.0, share / left),
                }
            )
    if not specs:
        raise ValueError("Give at least one of ack_lost, duplicate and delay.")
    for index, spec in enumerate(specs):
        spec.update(target="delivery", endpoint_id=endpoint_id)
        if seed is not None:
            spec["seed"] = seed + index
    return specs


def _probability(outcome: str, probability: float) -> float:
    if isinstance(probability, bool) or not 0 <= probability <= 1:
        raise ValueError(f"{outcome} must be a probability from 0 to 1, not {probability!r}.")
    return float(probability)


def _seconds(duration: float | timedelta) -> int:
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
    return int(seconds)


class SnapshotControl:
    """Named snapshots of the whole state, through /_control/snapshots."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator

    def save(self, name: str) -> dict[str, Any]:
        """Save the whole state (clock, sinks, faults included) as `name`, replacing any."""
        return self._emulator.control("POST", "/snapshots", json={"name": name})

    def restore(self, name: str) -> dict[str, Any]:
        """Put snapshot `name` back exactly; attempts in flight are abandoned."""
        return self._emulator.control("POST", f"/snapshots/{segment(name)}/restore")

    def list(self) -> list[dict[str, Any]]:
        return list(self._emulator.control("GET", "/snapshots")["data"])

    def delete(self, name: str) -> None:
        self._emulator.control("DELETE", f"/snapshots/{segment(name)}")


def segment(text: str) -> str:
    return quote(text, safe="")
