"""`POST /_control/receiver-checks`: is a user's webhook handler ready for Harbor?

Sends deliveries built like real ones (the envelope of `delivery/fanout.py`, the headers and
signature of `delivery/sender.py`, over the same bounded sender) to the URL given, some
correct and some a receiver must refuse, and reports each check in the contract's order
(contract: "Receiver check"). It writes nothing: no event, delivery or attempt is stored,
so it holds no state gate (`server/gate.py`) and a clock advance never waits for it.

Decisions beyond the contract (docs/receivers.md explains them to users):
- Each check carries, besides the contract's fields, `expected` (what a ready receiver
  answers), `sent` (the headers sent, the body's size and event id) and `received` (the
  error and its cause, the first 200 characters of the answer).
- Every check but `duplicate` sends a new delivery with a new event id, so a receiver that
  deduplicates before verifying cannot pass the signature checks on a remembered id.
- When the `valid` delivery gets no answer at all (a connection error or the delivery
  timeout) the other checks are not sent, since each would wait the same way; they are
  reported `fail` (must) or `warn` (should) with `received.error` = `not_sent`. The report's
  `reachable` is false when that first answer was a connection error: the CLI exits 2.
- `fast` sends nothing: it reads the other checks' times (status null, ms the slowest).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import signing
from ..api.common import (
    check_fields,
    compact_json,
    json_response,
    optional_str,
    parse_json_object,
    read_body,
    required,
    utf8_size,
)
from ..api.events import MAX_PAYLOAD_BYTES
from ..core.errors import HarborError
from ..core.ids import IdFactory
from ..core.randomness import Randomness
from ..delivery.fanout import envelope
from ..delivery.sender import AttemptRequest, AttemptResult, Sender
from ..domain.patterns import validate_event_type
from ..domain.urls import validate_url
from ..store.rows import Event
from .auth import control

DEFAULT_EVENT_TYPE = "receiver_check.ping"
UNKNOWN_EVENT_TYPE = "receiver_check.type_you_do_not_handle"
# 42.0 is written back as 42 by JSON.stringify: a receiver that verifies re-serialized
# JSON instead of the raw body fails `valid` with the default payload in any language.
DEFAULT_PAYLOAD: dict[str, Any] = {"sent_by": "harbor-emulator check-receiver", "amount": 42.0}
# Events carry no real workspace: the check stores nothing.
CHECK_WORKSPACE_ID = "ws_receivercheck"
# Harbor's payload limit, the one POST /v1/events enforces (contract: Details fixed here).
LARGE_PAYLOAD_BYTES = MAX_PAYLOAD_BYTES
SKEW_SECONDS = 600  # stale and future timestamps: 10 minutes, twice the receiver's tolerance
FAST_MS = 2000
EXCERPT_CHARS = 200
MAX_SECRET_CHARS = 1024

_WHY_2XX = "Harbor retries anything but 2xx for up to 72 hours (docs: Webhooks)"


@dataclass(frozen=True, slots=True)
class CheckSpec:
    name: str
    required: bool
    expect_2xx: bool
    hint: str


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "valid",
        True,
        True,
        "Answer 2xx to a correctly signed delivery once it is accepted for processing: "
        + _WHY_2XX
        + ".",
    ),
    CheckSpec(
        "duplicate",
        True,
        True,
        "Answer 2xx to a redelivery and skip its side effects: 'Harbor delivers events at "
        "least once. Deduplicate on envelope.data.id before side effects' (docs: Webhooks).",
    ),
    CheckSpec(
        "bad_signature",
        True,
        False,
        "Verify Harbor-Signature with the endpoint secret and refuse a mismatch: 'Each "
        "delivery includes a signed payload your server must verify before processing'.",
    ),
    CheckSpec(
        "tampered_body",
        True,
        False,
        "Verify the raw body bytes as received, before parsing: 'Parsing JSON before "
        "signature verification' is a common mistake (docs: 'always verify the raw body').",
    ),
    CheckSpec(
        "stale_timestamp",
        True,
        False,
        "Refuse a Harbor-Timestamp older than five minutes even when signed: Harbor's "
        "verifier 'rejects timestamps older than five minutes to limit replay attacks'.",
    ),
    CheckSpec(
        "missing_signature",
        True,
        False,
        "Refuse a delivery without Harbor-Signature: an unsigned request is not from "
        "Harbor, and every delivery must be verified before processing (docs: Webhooks).",
    ),
    CheckSpec(
        "rotation",
        True,
        True,
        "Accept a delivery when any v1= signature matches: while a rotated-out key is "
        "valid Harbor sends one per key, 'v1=<new>,v1=<old>' (contract: Delivery).",
    ),
    CheckSpec(
        "future_timestamp",
        False,
        False,
        "Refuse a Harbor-Timestamp more than five minutes ahead too: the five-minute "
        "tolerance limits replays in both directions (docs: Verify signatures).",
    ),
    CheckSpec(
        "large_payload",
        False,
        True,
        "Accept payloads up to 256 KB, Harbor's limit ('Sending payloads larger than 256 "
        "KB' is the sender's mistake, so anything up to it can arrive; docs: Creating events).",
    ),
    CheckSpec(
        "unknown_type",
        False,
        True,
        "Answer 2xx to event types you ignore: " + _WHY_2XX + "; filter to the events you "
        "handle instead.",
    ),
    CheckSpec(
        "fast",
        False,
        True,
        "Acknowledge within 2 s and process asynchronously ('Running long jobs before "
        "returning 2xx' is a common mistake; Harbor gives up at 10 s).",
    ),
)
SPECS = {spec.name: spec for spec in CHECKS}


@dataclass(frozen=True, slots=True)
class Sent:
    """One delivery of a check: what it is, and what the sender did with it."""

    summary: str
    event_id: str
    body: bytes  # as signed (tampered_body sent one byte changed)
    outcome: AttemptResult


class _HostTime:
    """Harbor-Timestamp's seconds: host time by contract (a receiver checks against its
    own clock, never the emulator's), shifted by the check's skew."""

    def __init__(self) -> None:
        self.skew_seconds = 0

    def __call__(self) -> float:
        return time.time() + self.skew_seconds


class ReceiverCheck:
    """One run of the checks against one URL."""

    def __init__(
        self,
        url: str,
        secret: str,
        event_type: str,
        payload_json: str,
        *,
        now_ms: int,
        timeout_seconds: float,
    ) -> None:
        self.url = url
        self.secret = secret
        self.event_type = event_type
        self.payload_json = payload_json
        self.now_ms = now_ms
        # Its own ids, from OS entropy: a seeded emulator's id stream stays as it was.
        self._ids = IdFactory(Randomness(None))
        self._host_time = _HostTime()
        self._sender = Sender(
            concurrency=1, timeout_seconds=timeout_seconds, timestamp=self._host_time
        )

    async def run(self) -> dict[str, Any]:
        try:
            results = await self._run()
        finally:
            await self._sender.close()
        reachable = not _unreached(results["valid"])
        checks = [self._render(spec, results.get(spec.name), results) for spec in CHECKS]
        passed = reachable and all(c["result"] == "pass" for c in checks if c["required"])
        return {
            "object": "receiver_check",
            "url": self.url,
            "passed": passed,
            "reachable": reachable,
            "event_type": self.event_type,
            "checks": checks,
        }

    async def _run(self) -> dict[str, Sent]:
        valid = await self._deliver("signed with the secret")
        if valid.outcome.response_code is None and valid.outcome.error != "redirect":
            # No answer at all: every other check would wait or fail the same way.
            return {"valid": valid}
        again = "the valid delivery again: same id and body, Harbor-Attempt 2, freshly signed"
        results = {"valid": valid, "duplicate": await self._deliver(again, again=valid)}
        other = signing.new_secret()
        variants: list[tuple[str, str, dict[str, Any]]] = [
            ("bad_signature", "signed with another secret", {"secrets": [other]}),
            ("tampered_body", "one byte of the body changed after signing", {"tamper": True}),
            (
                "stale_timestamp",
                "correctly signed, Harbor-Timestamp 10 minutes old",
                {"skew_seconds": -SKEW_SECONDS},
            ),
            ("missing_signature", "no Harbor-Signature header", {"secrets": []}),
            (
                "rotation",
                "Harbor-Signature v1=<unknown key>,v1=<the secret>",
                {"secrets": [other, self.secret]},
            ),
            (
                "future_timestamp",
                "correctly signed, Harbor-Timestamp 10 minutes ahead",
                {"skew_seconds": SKEW_SECONDS},
            ),
            (
                "large_payload",
                f"a payload of {LARGE_PAYLOAD_BYTES:,} bytes (Harbor's limit)",
                {"payload_json": _large_payload_json()},
            ),
            (
                "unknown_type",
                f"event type {UNKNOWN_EVENT_TYPE}",
                {"event_type": UNKNOWN_EVENT_TYPE},
            ),
        ]
        for name, summary, changes in variants:
            results[name] = await self._deliver(summary, **changes)
        return results

    async def _deliver(
        self,
        summary: str,
        *,
        event_type: str | None = None,
        payload_json: str | None = None,
        secrets: Sequence[str] | None = None,
        skew_seconds: int = 0,
        tamper: bool = False,
        again: Sent | None = None,
    ) -> Sent:
        event_type = event_type or self.event_type
        if again is None:
            event = Event(
                id=self._ids.new("evt", self.now_ms),
                workspace_id=CHECK_WORKSPACE_ID,
                livemode=False,
                type=event_type,
                payload_json=payload_json or self.payload_json,
                created_ms=self.now_ms,
            )
            delivery_id, event_id = self._ids.new("dlv", self.now_ms), event.id
            body = envelope(delivery_id, event)
            attempt = 1
        else:
            assert again.outcome.request_headers is not None
            delivery_id = again.outcome.request_headers["Harbor-Delivery-Id"]
            event_id, body, attempt = again.event_id, again.body, 2
        request = AttemptRequest(
            url=self.url,
            body=_tampered(body) if tamper else body,
            delivery_id=delivery_id,
            event_type=event_type,
            attempt_number=attempt,
            secrets=[self.secret] if secrets is None else secrets,
            signed_body=body if tamper else None,
        )
        self._host_time.skew_seconds = skew_seconds
        outcome = await self._sender.send(request)
        return Sent(summary, event_id, body, outcome)

    def _render(
        self, spec: CheckSpec, sent: Sent | None, results: dict[str, Sent]
    ) -> dict[str, Any]:
        miss = "fail" if spec.required else "warn"
        check: dict[str, Any] = {
            "name": spec.name,
            "required": spec.required,
            "result": miss,
            "status": None,
            "ms": 0,
            "hint": spec.hint,
            "expected": "2xx" if spec.expect_2xx else "not 2xx",
        }
        if spec.name == "fast":
            return check | _fast(results, miss)
        if sent is None:
            return check | {
                "sent": None,
                "received": {
                    "error": "not_sent",
                    "detail": "Not sent: the valid delivery got no answer from the receiver.",
                    "body_excerpt": None,
                },
            }
        outcome = sent.outcome
        ok = outcome.succeeded == spec.expect_2xx
        return check | {
            "result": "pass" if ok else miss,
            "status": outcome.response_code,
            "ms": outcome.duration_ms,
            "sent": {
                "summary": sent.summary,
                "event_id": sent.event_id,
                "headers": outcome.request_headers,
                "body_bytes": len(sent.body),
            },
            "received": {
                "error": outcome.error,
                "detail": outcome.error_detail,
                "body_excerpt": None
                if outcome.response_body is None
                else outcome.response_body[:EXCERPT_CHARS],
            },
        }


def _fast(results: dict[str, Sent], miss: str) -> dict[str, Any]:
    timed = [(sent.outcome.duration_ms, name) for name, sent in results.items()]
    slowest_ms, slowest = max(timed)
    late = [
        name
        for name, sent in results.items()
        if sent.outcome.response_code is None or sent.outcome.duration_ms > FAST_MS
    ]
    detail = f"Slowest answer: {slowest}, {slowest_ms} ms."
    if late:
        detail += f" Not answered within {FAST_MS:,} ms: {', '.join(late)}."
    return {
        "result": miss if late else "pass",
        "ms": slowest_ms,
        "expected": f"every answer within {FAST_MS:,} ms",
        "sent": None,
        "received": {"error": None, "detail": detail, "body_excerpt": None},
    }


def _unreached(sent: Sent) -> bool:
    """The valid delivery got no HTTP answer and no timeout: nothing was there to answer."""
    outcome = sent.outcome
    return outcome.error == "connection_error" and outcome.response_headers is None


def _tampered(body: bytes) -> bytes:
    """The body with the last character of the envelope's delivery id changed: one byte,
    still valid JSON, so only a signature check over the raw bytes can notice."""
    end = body.index(b'"', len(b'{"id":"'))
    changed = bytearray(body)
    changed[end - 1] = ord("0") if changed[end - 1] != ord("0") else ord("1")
    return bytes(changed)


def _large_payload_json() -> str:
    frame = '{"filler":""}'
    return '{"filler":"' + "x" * (LARGE_PAYLOAD_BYTES - len(frame)) + '"}'


def _payload_json(body: dict[str, Any]) -> str:
    if "payload" not in body:
        return compact_json(DEFAULT_PAYLOAD, "payload")
    text = compact_json(body["payload"], "payload")
    if utf8_size(text, "payload") > LARGE_PAYLOAD_BYTES:
        raise HarborError(
            "payload_too_large",
            f"'payload' is over {LARGE_PAYLOAD_BYTES:,} bytes of compact JSON.",
            param="payload",
        )
    return text


@control
async def create_receiver_check(request: Request) -> Response:
    body = parse_json_object(await read_body(request))
    check_fields(body, ("url", "secret", "event_type", "payload"))
    url = await validate_url(required(body, "url"), livemode=False)
    secret = optional_str(body, "secret", MAX_SECRET_CHARS)
    if secret is None:
        raise HarborError("missing_parameter", "'secret' is required.", param="secret")
    if not secret:
        raise HarborError("invalid_parameter", "'secret' must not be empty.", param="secret")
    event_type = body.get("event_type")
    if event_type is not None:  # the rules of /v1/events' `type`: the header carries it
        event_type = validate_event_type(event_type, "event_type")
    state = request.app.state
    check = ReceiverCheck(
        url,
        secret,
        event_type or DEFAULT_EVENT_TYPE,
        _payload_json(body),
        now_ms=state.clock.now_ms(),
        timeout_seconds=state.config.delivery_timeout_seconds,
    )
    return json_response(await check.run())


routes = [Route("/_control/receiver-checks", create_receiver_check, methods=["POST"])]
