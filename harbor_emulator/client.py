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

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    import httpx

DEFAULT_URL = "http://127.0.0.1:4280"
YAML_MEDIA_TYPE = "application/yaml"


class HarborAPIError(Exception):
    """An error answer from the emulator: `{"error": {code, message, param, request_id}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        param: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.request_id = request_id
        super().__init__(f"{code}: {message}")


class EmulatorUnreachable(ConnectionError):
    """Nothing answered at the emulator's URL (not started, wrong port, or stopped)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(f"cannot reach the emulator at {url}: {reason}")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class ClockReading:
    now: datetime
    frozen: bool
    offset_seconds: float

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ClockReading:
        return cls(_parse_time(body["now"]), bool(body["frozen"]), float(body["offset_seconds"]))


@dataclass(frozen=True, slots=True)
class SinkRequest:
    """One request a built-in sink received; `headers` has lower-case names."""

    method: str
    path: str
    headers: dict[str, str]
    body: str
    received_at: datetime
    truncated: bool

    def json(self) -> Any:
        return json.loads(self.body)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> SinkRequest:
        return cls(
            method=body["method"],
            path=body["path"],
            headers=dict(body["headers"]),
            body=body["body"],
            received_at=_parse_time(body["received_at"]),
            truncated=bool(body.get("truncated", False)),
        )


@dataclass(frozen=True, slots=True)
class ReceiverCheckResult:
    """One check of a receiver check: `result` is "pass", "fail" (a must) or "warn" (a
    should); `sent` and `received` say what went out and what came back."""

    name: str
    required: bool
    result: str
    status: int | None
    ms: int
    hint: str
    expected: str
    sent: dict[str, Any] | None
    received: dict[str, Any]

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ReceiverCheckResult:
        return cls(**{f.name: body[f.name] for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class ReceiverCheckReport:
    """`POST /_control/receiver-checks`'s report; `str(report)` is the terminal table."""

    url: str
    passed: bool
    reachable: bool
    event_type: str
    # Out of the repr, which stays one line; str() is the table.
    checks: list[ReceiverCheckResult] = field(repr=False)
    json: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ReceiverCheckReport:
        checks = [ReceiverCheckResult.from_json(check) for check in body["checks"]]
        names = ("url", "passed", "reachable", "event_type")
        return cls(**{name: body[name] for name in names}, checks=checks, json=dict(body))

    def check(self, name: str) -> ReceiverCheckResult:
        return next(check for check in self.checks if check.name == name)

    @property
    def failed(self) -> list[ReceiverCheckResult]:
        return [check for check in self.checks if check.result == "fail"]

    @property
    def warned(self) -> list[ReceiverCheckResult]:
        return [check for check in self.checks if check.result == "warn"]

    def __str__(self) -> str:
        if not self.reachable:
            verdict = "UNREACHABLE"
        else:
            verdict = "PASSED" if self.passed else f"FAILED ({len(self.failed)} must failed)"
        if self.warned:
            verdict += f", {len(self.warned)} warning" + ("s" if len(self.warned) > 1 else "")
        rows = [("CHECK", "NEED", "RESULT", "STATUS", "MS", "HINT")]
        for c in self.checks:
            status = "-" if c.status is None else str(c.status)
            need = "must" if c.required else "should"
            rows.append((c.name, need, c.result, status, str(c.ms), c.hint))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = [f"receiver check of {self.url}: {verdict}"]
        lines += [
            "  ".join([*(v.ljust(w) for v, w in zip(r[:5], widths, strict=True)), r[5]])
            for r in rows
        ]
        unsent = [c.name for c in self.checks if c.received.get("error") == "not_sent"]
        for c in self.failed + self.warned:
            if c.name in unsent:
                continue
            if c.sent is None:  # fast: a verdict on the others' times
                lines.append(f"{c.name}: {c.received.get('detail')}")
                continue
            got = c.received.get("error") or c.status
            lines.append(f"{c.name}: sent {c.sent['summary']}; expected {c.expected}, got {got}")
            if c.received.get("detail"):
                lines.append(f"  {c.received['detail']}")
        if unsent:
            lines.append(f"not sent, as the valid delivery got no answer: {', '.join(unsent)}")
        return "\n".join(lines)


class Emulator:
    """A running emulator. `control_token` is sent to /_control, `api_key` to /v1."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        control_token: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.control_token = control_token
        self.api_key = api_key
        # Imported here, not at the top: the CLI and the pytest plugin import this module
        # in processes that never send a request (`harbor-emulator start`, a test run that
        # uses no emulator), and httpx costs them ~25-60 ms.
        import httpx

        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)
        self.clock = ClockControl(self)
        self.faults = FaultControl(self)
        self.snapshots = SnapshotControl(self)

    # -- plumbing ------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        expect_json: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Send one request; /_control gets the control token, anything else `key`
        (default: the client's `api_key`)."""
        token = self.control_token if path.startswith("/_control") else (key or self.api_key)
        if token:
            kwargs["headers"] = {"Authorization": f"Bearer {token}", **kwargs.get("headers", {})}
        import httpx  # loaded by __init__ already: a dictionary lookup

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            # Connection refused, reset or timed out: no answer to turn into an error body.
            raise EmulatorUnreachable(self.url, str(exc) or type(exc).__name__) from None
        if response.is_error:
            raise _api_error(response)
        if not expect_json or response.status_code == 204:
            return None
        return response.json()

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, f"/_control{path}", **kwargs)

    def _key(self, key: str | None) -> str:
        chosen = key or self.api_key
        if not chosen:
            raise ValueError("This call uses the /v1 API: pass key= or Emulator(api_key=...).")
        return chosen

    # -- control API ---------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self.control("GET", "/health")

    def wait_healthy(self, timeout: float = 10.0) -> dict[str, Any]:
        """Poll /_control/health until it answers; raise EmulatorUnreachable after `timeout`."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            try:
                return self.health()
            except EmulatorUnreachable:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise
                # Polling is the only way to see a process come up; back off to 0.25 s.
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 0.25)

    def reset(self, seed: int | None = None) -> dict[str, Any]:
        """Empty state; `seed` enters seeded mode (same requests, same bytes)."""
        return self.control("POST", "/reset", json=None if seed is None else {"seed": seed})

    def load_fixtures(
        self,
        fixtures: Mapping[str, Any] | str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
    ) -> Any:
        """Load a fixtures document: a dict (sent as JSON) or a .json/.yaml/.yml file.

        A file is read here, so its `${NAME}` come from this process's environment (or
        `env`) and `${HARBOR_EMULATOR_URL}` is this client's URL (contract: Fixtures); the
        server only fills in its own URL and defaults in what it is sent.
        """
        from .core.errors import HarborError
        from .core.fixture_documents import escape, interpolate

        if isinstance(fixtures, Mapping):
            return self.control("POST", "/fixtures", json=dict(fixtures))
        path = Path(fixtures)
        try:
            document = interpolate(
                path.read_bytes(),
                os.environ if env is None else env,
                self.url,
                source=str(path),
                yaml_syntax=path.suffix.lower() in (".yaml", ".yml"),
            )
        except HarborError as exc:
            raise HarborAPIError(exc.status, exc.code, exc.message, exc.param) from None
        # Escaped, so the server's own pass leaves what we resolved (and literal $${) alone.
        return self.control("POST", "/fixtures", json=escape(document))

    def export(self) -> dict[str, Any]:
        return self.control("GET", "/export")

    def drain(self, timeout_seconds: float = 10.0) -> dict[str, Any]:
        """Wait until no delivery attempt is due or in flight: `{"drained", "pending"}`."""
        return self.control(
            "POST",
            "/deliveries/drain",
            json={"timeout_seconds": timeout_seconds},
            # The server may hold the request for timeout_seconds; leave room to answer.
            timeout=timeout_seconds + 10,
        )

    def check_receiver(
        self,
        url: str,
        secret: str,
        *,
        event_type: str | None = None,
        payload: Any = None,
        timeout: float = 300.0,
    ) -> ReceiverCheckReport:
        """Run the receiver check against `url` (POST /_control/receiver-checks): deliveries
        built like real ones, some a ready receiver accepts and some it must refuse."""
        body: dict[str, Any] = {"url": url, "secret": secret}
        if event_type is not None:
            body["event_type"] = event_type
        if payload is not None:
            body["payload"] = payload
        # Each of the eleven checks may take up to the delivery timeout.
        report = self.control("POST", "/receiver-checks", json=body, timeout=timeout)
        return ReceiverCheckReport.from_json(report)

    def sink(self, name: str) -> Sink:
        return Sink(self, name)

    def delivery_with_attempts(self, delivery_id: str) -> dict[str, Any]:
        """Any workspace's delivery with its `last_attempt` and `attempts` (newest first, up
        to 100), each with `error_detail`: the cause of a failure in words."""
        return self.control("GET", f"/deliveries/{_segment(delivery_id)}")

    def attempts_after(
        self, sequence: int | str = "latest", *, endpoint_id: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """Attempts recorded after `sequence` ("latest": none, only `latest_sequence` to poll
        from), oldest first, each with its `sequence` and its delivery's event and endpoint."""
        params: dict[str, Any] = {"after_sequence": sequence, "limit": limit}
        if endpoint_id is not None:
            kind = "destination_id" if endpoint_id.startswith("dest_") else "webhook_id"
            params[kind] = endpoint_id
        return self.control("GET", "/attempts", params=params)

    # -- /v1 -------------------------------------------------------------------------
    def trigger(
        self,
        event_type: str,
        data: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        workspace_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Create an event (POST /v1/events) and return it."""
        body: dict[str, Any] = {"type": event_type, "payload": dict(data or {})}
        if workspace_id is not None:
            body["workspace_id"] = workspace_id
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.request("POST", "/v1/events", key=self._key(key), json=body, headers=headers)

    def events(self, *, key: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        """One page of GET /v1/events, newest first; filters: type, workspace_id, limit,
        cursor."""
        return self._page("/v1/events", key, filters)

    def deliveries(self, *, key: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        """One page of GET /v1/deliveries, newest first; filters: status, event_id,
        webhook_id, destination_id, workspace_id, limit, cursor."""
        return self._page("/v1/deliveries", key, filters)

    def delivery(self, delivery_id: str, *, key: str | None = None) -> dict[str, Any]:
        return self.request("GET", f"/v1/deliveries/{_segment(delivery_id)}", key=self._key(key))

    def attempts(self, delivery_id: str, *, key: str | None = None) -> list[dict[str, Any]]:
        """The delivery's attempts, newest first (up to 100): response code, error, body excerpt."""
        path = f"/v1/deliveries/{_segment(delivery_id)}/attempts"
        return self._page(path, key, {"limit": 100})

    def replay_delivery(self, delivery_id: str, *, key: str | None = None) -> dict[str, Any]:
        """One more attempt of the delivery now, same delivery id: what a receiver sees
        when Harbor delivers twice, as at-least-once delivery allows."""
        path = f"/v1/deliveries/{_segment(delivery_id)}/replay"
        return self.request("POST", path, key=self._key(key))

    def _page(self, path: str, key: str | None, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        params = {name: value for name, value in filters.items() if value is not None}
        page = self.request("GET", path, key=self._key(key), params=params)
        return list(page["data"])


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
        return self._emulator.control("POST", f"/snapshots/{_segment(name)}/restore")

    def list(self) -> list[dict[str, Any]]:
        return list(self._emulator.control("GET", "/snapshots")["data"])

    def delete(self, name: str) -> None:
        self._emulator.control("DELETE", f"/snapshots/{_segment(name)}")


def _segment(text: str) -> str:
    return quote(text, safe="")


def _api_error(response: httpx.Response) -> HarborAPIError:
    try:
        error = response.json()["error"]
        return HarborAPIError(
            response.status_code,
            str(error["code"]),
            str(error["message"]),
            error.get("param"),
            error.get("request_id"),
        )
    except (ValueError, KeyError, TypeError):
        # Not the emulator's error shape (e.g. a proxy in between): keep what there is.
        return HarborAPIError(
            response.status_code,
            f"http_{response.status_code}",
            response.text[:200] or response.reason_phrase,
            None,
            response.headers.get("harbor-request-id"),
        )
