"""Injected faults: make /v1 requests fail with a chosen error, or delivery attempts fail
with a chosen outcome, a number of times or at random with a seed.

The registry is consulted by the /v1 pipeline (`take_api_fault`, before authentication)
and by the delivery engine (`take_delivery_fault`, once per attempt, before sending).
Faults are state like any other, in the database (store/faults.py); the registry keeps them
in memory too, for the hot path, and stores each change: a fault and what remains of its
count survive a restart with `--db`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api.common import (
    check_fields,
    json_response,
    parse_json_object,
    read_body,
    whole_list_response,
)
from ..core.clock import Clock, format_ms
from ..core.errors import STATUS_BY_CODE, HarborError
from ..core.ids import IdFactory
from ..delivery.scheduler import ForcedOutcome
from ..store import faults as stored
from ..store.db import RETRY_AFTER_SECONDS, Database, Tx
from ..store.rows import StoredFault
from .auth import control

log = logging.getLogger("harbor_emulator.faults")

MAX_FAULTS = 1_000
MAX_COUNT = 1_000_000
MAX_RETRY_AFTER_MS = 86_400_000
DEFAULT_RETRY_AFTER_MS = 1_000
DELIVERY_ERRORS = ("timeout", "connection_error")
# Chaos outcomes: the receiver is called (unlike the outcomes above), and the attempt is
# bent the way real networks bend at-least-once delivery (contract "Delivery chaos").
CHAOS_OUTCOMES = ("ack_lost", "duplicate", "delay")
# A delay past the longest retry policy (72 h) would only outlive the delivery.
MAX_DELAY_SECONDS = 259_200

_METHOD = re.compile(r"[A-Za-z]{1,16}")
_ENDPOINT_ID = re.compile(r"(wh|dest)_[A-Za-z0-9]{1,64}")
TRIGGER_FIELDS = ("count", "probability", "seed")
API_FIELDS = ("target", "method", "path", "error_code", "retry_after_ms", *TRIGGER_FIELDS)
DELIVERY_FIELDS = ("target", "endpoint_id", "outcome", "delay_seconds", *TRIGGER_FIELDS)

# What a delivery attempt records instead of calling the receiver: an error name
# ("timeout", "connection_error") or the HTTP status the receiver "answered"; or a chaos
# outcome ("ack_lost", "duplicate", "delay").
DeliveryOutcome = str | int


@dataclass(slots=True)
class Fault:
    """One fault. `remaining` is None when it fires without a count (always, or at random)."""

    id: str
    target: Literal["api", "delivery"]
    created_ms: int
    # api
    method: str | None = None
    path: str | None = None
    error_code: str | None = None
    retry_after_ms: int | None = None
    # delivery
    endpoint_id: str | None = None
    outcome: DeliveryOutcome | None = None
    delay_seconds: int | None = None
    # when it fires
    remaining: int | None = None
    probability: float | None = None
    seed: int | None = None
    fired_count: int = 0
    # Each fault draws from its own generator, so one fault's sequence does not depend on
    # how many other faults were consulted: a seed reproduces the same failures.
    rng: random.Random | None = field(default=None, repr=False)

    def matches_api(self, method: str, path: str) -> bool:
        if self.target != "api" or (self.method is not None and self.method != method):
            return False
        if self.path is None:
            return True
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def fire(self) -> bool:
        """Decide whether this matching call fails, and count it if so."""
        if self.remaining == 0:
            return False
        if self.rng is not None and self.rng.random() >= (self.probability or 0.0):
            return False
        if self.remaining is not None:
            self.remaining -= 1
        self.fired_count += 1
        return True

    def _retry_after_ms(self) -> int:
        return DEFAULT_RETRY_AFTER_MS if self.retry_after_ms is None else self.retry_after_ms

    def error(self) -> HarborError:
        assert self.error_code is not None
        if self.error_code == "rate_limit_exceeded":
            retry_after_ms = self._retry_after_ms()
            return HarborError(
                "rate_limit_exceeded",
                f"Too many requests for this API key; retry after {retry_after_ms} ms.",
                headers={"Retry-After": str(math.ceil(retry_after_ms / 1000))},
                extra={"retry_after_ms": retry_after_ms},
            )
        if self.error_code == "storage_unavailable":
            return HarborError(self.error_code, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return HarborError(self.error_code)

    def render(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {"id": self.id, "object": "fault", "target": self.target}
        if self.target == "api":
            rendered |= {"method": self.method, "path": self.path, "error_code": self.error_code}
            if self.error_code == "rate_limit_exceeded":
                rendered["retry_after_ms"] = self._retry_after_ms()
        else:
            rendered |= {
                "endpoint_id": self.endpoint_id,
                "outcome": self.outcome,
                "delay_seconds": self.delay_seconds,
            }
        return rendered | {
            "probability": self.probability,
            "seed": self.seed,
            "remaining": self.remaining,
            "fired_count": self.fired_count,
            "created_at": format_ms(self.created_ms),
        }


class FaultRegistry:
    """The faults of one app, in creation order: the first that matches and fires wins."""

    def __init__(self, clock: Clock, ids: IdFactory, db: Database) -> None:
        self._clock = clock
        self._ids = ids
        self._db = db
        self._faults: dict[str, Fault] = {}

    async def add(self, spec: dict[str, Any]) -> Fault:
        """Validate a fault spec (the body of POST /_control/faults), store and register it."""
        if len(self._faults) >= MAX_FAULTS:
            raise HarborError(
                "invalid_parameter",
                f"At most {MAX_FAULTS} faults at once; delete some first.",
                param="target",
            )
        now_ms = self._clock.now_ms()
        fault = parse_fault(spec, self._ids.new("flt", now_ms), now_ms)
        if fault.probability is not None and fault.seed is None:
            # No seed of its own: draws come from the emulator's Randomness (seeded runs
            # fail the same attempts every time).
            fault.rng = self._ids.random.fault_stream(fault.id)
        # Registered before it is stored, so the bound holds for concurrent adds; its
        # insert is queued before any write of where it stands.
        self._faults[fault.id] = fault
        row = _stored(fault)
        try:
            await self._db.write(lambda tx: stored.insert(tx, [row]))
        except BaseException:
            self._faults.pop(fault.id, None)
            raise
        return fault

    def list(self) -> list[Fault]:
        return list(self._faults.values())

    async def remove(self, fault_id: str) -> bool:
        if fault_id not in self._faults:
            return False
        await self._db.write(lambda tx: stored.delete(tx, fault_id))
        return self._faults.pop(fault_id, None) is not None

    async def clear(self) -> None:
        await self._db.write(stored.clear)
        self._faults.clear()

    async def reset(self) -> None:
        """The reset hook: the reset's transaction emptied the table; forget them here too."""
        self._faults.clear()

    async def reload(self) -> None:
        """Take the faults the database holds (at start, after a snapshot restore)."""
        self._faults = {row.id: _from_stored(row) for row in await stored.list_all(self._db)}

    async def load_dumped(self, dumped: list[dict[str, Any]]) -> None:
        """Replace every fault with `dumped`: what a snapshot saved by an older version, from
        before faults were in the database, held in its JSON (generators included)."""
        rows = [
            StoredFault(
                id=entry["id"],
                fields_json=json.dumps(
                    {name: entry[name] for name in _FIXED_FIELDS if name in entry}
                ),
                remaining=entry["remaining"],
                fired_count=entry["fired_count"],
                rng_state_json=None if entry.get("rng") is None else json.dumps(entry["rng"]),
            )
            for entry in dumped
        ]

        async def work(tx: Tx) -> None:
            await stored.clear(tx)
            await stored.insert(tx, rows)

        await self._db.write(work)
        await self.reload()

    async def take_api_fault(self, method: str, path: str) -> HarborError | None:
        """The error a /v1 request must fail with, if a fault fires for it. What the faults
        consulted used up is stored before the request is answered."""
        if not self._faults:
            return None
        changed: list[Fault] = []
        error = None
        for fault in self._faults.values():
            if fault.matches_api(method.upper(), path) and _consult(fault, changed):
                error = fault.error()
                break
        if changed:
            rows = [_stored(fault) for fault in changed]
            await self._db.write_inline(lambda tx: stored.update_standing(tx, rows))
        return error

    def take_delivery_fault(
        self, endpoint_id: str, *, delayed: bool = False
    ) -> ForcedOutcome | None:
        """What the next delivery attempt to `endpoint_id` does instead of a plain send, if
        a fault fires for it; called once per attempt. `delayed`: a delay fault already
        postponed this attempt, so delay faults are passed over (not consulted, no draw)
        and it goes out, as the contract says, once.

        What the faults consulted used up is queued for storing at once: it commits before
        (or with) the attempt's own record, queued after it."""
        changed: list[Fault] = []
        outcome = None
        for fault in self._faults.values():
            if (
                fault.target == "delivery"
                and fault.endpoint_id == endpoint_id
                and not (delayed and fault.outcome == "delay")
                and _consult(fault, changed)
            ):
                assert fault.outcome is not None
                outcome = ForcedOutcome(fault.outcome, fault.delay_seconds)
                break
        if changed:
            rows = [_stored(fault) for fault in changed]
            written = self._db.write_soon(lambda tx: stored.update_standing(tx, rows))
            written.add_done_callback(_note_unstored)
        return outcome


def _consult(fault: Fault, changed: list[Fault]) -> bool:
    """`fault.fire()`, noting the fault in `changed` if that moved where it stands: it
    fired, or it drew from its generator (a fault used up does neither)."""
    fired = fault.fire()
    if fired or fault.rng is not None:
        changed.append(fault)
    return fired


# What a fault matches and does, fixed once created: every field but where it stands.
_STANDING_FIELDS = ("id", "remaining", "fired_count", "rng")
_FIXED_FIELDS = tuple(f.name for f in dataclasses.fields(Fault) if f.name not in _STANDING_FIELDS)


def _stored(fault: Fault) -> StoredFault:
    """The fault as stored; taken on the loop, so writes never read a Fault on another
    thread (a write of where it stands runs on the database thread)."""
    return StoredFault(
        id=fault.id,
        fields_json=json.dumps({name: getattr(fault, name) for name in _FIXED_FIELDS}),
        remaining=fault.remaining,
        fired_count=fault.fired_count,
        rng_state_json=None if fault.rng is None else json.dumps(_rng_json(fault.rng)),
    )


def _from_stored(row: StoredFault) -> Fault:
    fault = Fault(
        id=row.id,
        remaining=row.remaining,
        fired_count=row.fired_count,
        **json.loads(row.fields_json),
    )
    if row.rng_state_json is not None:
        version, internal, gauss = json.loads(row.rng_state_json)
        fault.rng = random.Random()
        fault.rng.setstate((version, tuple(internal), gauss))
    return fault


def _note_unstored(written: asyncio.Future[None]) -> None:
    if not written.cancelled() and (exc := written.exception()) is not None:
        # The attempt's own record fails the same way (and is retried): only noted here.
        log.warning("what a delivery fault used up was not stored: %s", exc)


def _rng_json(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


# -- validation ---------------------------------------------------------------------


def _invalid(param: str, message: str) -> HarborError:
    return HarborError("invalid_parameter", message, param=param)


def _required(spec: dict[str, Any], name: str) -> Any:
    if spec.get(name) is None:
        raise HarborError("missing_parameter", f"'{name}' is required.", param=name)
    return spec[name]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_fault(spec: dict[str, Any], fault_id: str, now_ms: int) -> Fault:
    target = _required(spec, "target")
    if target == "api":
        check_fields(spec, API_FIELDS)
        fault = Fault(fault_id, "api", now_ms, **_api_fields(spec))
    elif target == "delivery":
        check_fields(spec, DELIVERY_FIELDS)
        fault = Fault(fault_id, "delivery", now_ms, **_delivery_fields(spec))
    else:
        raise _invalid("target", "'target' must be 'api' or 'delivery'.")
    _set_trigger(fault, spec)
    return fault


def _api_fields(spec: dict[str, Any]) -> dict[str, Any]:
    method = spec.get("method")
    if method is not None and (not isinstance(method, str) or not _METHOD.fullmatch(method)):
        raise _invalid("method", "'method' must be an HTTP method such as POST.")
    path = spec.get("path")
    if path is not None and (
        not isinstance(path, str)
        or not path.startswith("/")
        or len(path) > 2048
        or "*" in path[:-1]
    ):
        raise _invalid("path", "'path' must start with '/' and may end in '*' to match a prefix.")
    error_code = _required(spec, "error_code")
    if not isinstance(error_code, str) or error_code not in STATUS_BY_CODE:
        raise _invalid("error_code", f"Unknown error code {str(error_code)[:100]!r}.")
    retry_after_ms = spec.get("retry_after_ms")
    if retry_after_ms is not None:
        if error_code != "rate_limit_exceeded":
            raise _invalid("retry_after_ms", "'retry_after_ms' goes with rate_limit_exceeded.")
        if not _is_int(retry_after_ms) or not 0 <= retry_after_ms <= MAX_RETRY_AFTER_MS:
            raise _invalid("retry_after_ms", f"'retry_after_ms' must be 0 to {MAX_RETRY_AFTER_MS}.")
    return {
        "method": method.upper() if method else None,
        "path": path,
        "error_code": error_code,
        "retry_after_ms": retry_after_ms,
    }


def _delivery_fields(spec: dict[str, Any]) -> dict[str, Any]:
    endpoint_id = _required(spec, "endpoint_id")
    if not isinstance(endpoint_id, str) or not _ENDPOINT_ID.fullmatch(endpoint_id):
        raise _invalid("endpoint_id", "'endpoint_id' must be a webhook (wh_…) or destination id.")
    outcome = _required(spec, "outcome")
    valid_status = _is_int(outcome) and 100 <= outcome <= 599
    if not valid_status and outcome not in (*DELIVERY_ERRORS, *CHAOS_OUTCOMES):
        raise _invalid(
            "outcome",
            "'outcome' must be 'timeout', 'connection_error', an HTTP status, "
            "'ack_lost', 'duplicate' or 'delay'.",
        )
    delay_seconds = spec.get("delay_seconds")
    if outcome == "delay":
        delay_seconds = _required(spec, "delay_seconds")
        if not _is_int(delay_seconds) or not 1 <= delay_seconds <= MAX_DELAY_SECONDS:
            raise _invalid(
                "delay_seconds",
                f"'delay_seconds' must be an integer from 1 to {MAX_DELAY_SECONDS}.",
            )
    elif delay_seconds is not None:
        raise _invalid("delay_seconds", "'delay_seconds' goes with the outcome 'delay'.")
    return {"endpoint_id": endpoint_id, "outcome": outcome, "delay_seconds": delay_seconds}


def _set_trigger(fault: Fault, spec: dict[str, Any]) -> None:
    count, probability, seed = spec.get("count"), spec.get("probability"), spec.get("seed")
    if count is not None and probability is not None:
        raise _invalid("probability", "Send 'count' or 'probability', not both.")
    if count is not None:
        if not _is_int(count) or not 1 <= count <= MAX_COUNT:
            raise _invalid("count", f"'count' must be an integer from 1 to {MAX_COUNT}.")
        fault.remaining = count
    if seed is not None:
        if probability is None:
            raise _invalid("seed", "'seed' goes with 'probability'.")
        if not _is_int(seed) or abs(seed) >= 2**63:
            raise _invalid("seed", "'seed' must be a 64-bit integer.")
    if probability is not None:
        if (
            isinstance(probability, bool)
            or not isinstance(probability, int | float)
            or not 0 <= probability <= 1
        ):
            raise _invalid("probability", "'probability' must be a number from 0 to 1.")
        fault.probability = float(probability)
        fault.seed = seed
        fault.rng = random.Random(seed)


# -- /_control/faults ---------------------------------------------------------------


@control
async def create_fault(request: Request) -> Response:
    fault = await request.app.state.faults.add(parse_json_object(await read_body(request)))
    return json_response(fault.render(), 201)


@control
async def list_faults(request: Request) -> Response:
    data = [fault.render() for fault in request.app.state.faults.list()]
    return whole_list_response(data)


@control
async def clear_faults(request: Request) -> Response:
    await request.app.state.faults.clear()
    return Response(status_code=204)


@control
async def delete_fault(request: Request) -> Response:
    fault_id = str(request.path_params["id"])
    if not await request.app.state.faults.remove(fault_id):
        raise HarborError("not_found", f"No fault {fault_id[:100]}.")
    return Response(status_code=204)


routes = [
    Route("/_control/faults", create_fault, methods=["POST"]),
    Route("/_control/faults", list_faults, methods=["GET"]),
    Route("/_control/faults", clear_faults, methods=["DELETE"]),
    Route("/_control/faults/{id}", delete_fault, methods=["DELETE"]),
]
