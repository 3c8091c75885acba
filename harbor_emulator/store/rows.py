"""Typed, frozen rows: what store functions return.

Rows are NamedTuples, not frozen dataclasses: as immutable and as typed, and a class costs
~0.3 ms to define against ~1.6 ms (each dataclass execs its generated methods one by one);
the 15 of them were ~17 ms of every start (issue 27, measured with -X importtime). A row
is replaced with `row._replace(...)`. The engine's other immutable values made at start
(Principal, RetryPolicy, AttemptRequest, AttemptResult, ...) are NamedTuples for the same
reason; what is mutable stays a slotted dataclass. ScriptedResponse stays a dataclass: its headers
default to a fresh dict each, which a NamedTuple cannot do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Workspace(NamedTuple):
    id: str
    name: str | None
    created_ms: int


class ApiKey(NamedTuple):
    key: str
    workspace_id: str
    livemode: bool
    scopes: frozenset[str]
    created_ms: int
    revoked_ms: int | None


class Event(NamedTuple):
    id: str
    workspace_id: str
    livemode: bool
    type: str
    payload_json: str  # compact JSON text, spliced into responses as it is
    created_ms: int


class IdempotencyRecord(NamedTuple):
    api_key: str
    idempotency_key: str
    fingerprint: str
    status: int
    body: bytes
    created_ms: int


class Delivery(NamedTuple):
    id: str
    event_id: str
    endpoint_id: str
    workspace_id: str
    livemode: bool
    event_type: str
    status: str  # pending | held | succeeded | failed | cancelled
    attempt_count: int
    response_code: int | None
    envelope: bytes
    first_attempt_ms: int | None
    last_attempt_ms: int | None
    next_attempt_ms: int | None
    created_ms: int
    # The chaos delay its next attempt already took (contract "Delivery chaos"); None if not.
    chaos_delay_seconds: int | None = None


class Attempt(NamedTuple):
    id: str
    delivery_id: str
    attempt_number: int
    attempted_ms: int
    duration_ms: int
    response_code: int | None
    response_body: str | None
    error: str | None  # None | timeout | connection_error | redirect
    # What was sent (signature included), for the dashboard; None when a delivery fault
    # decided the outcome without a request, and for attempts loaded from fixtures.
    request_headers: dict[str, str] | None = None
    # Dashboard-only (not in the API's attempt object): the cause in words, the timeout
    # that applied, and the response headers as received; None where not recorded.
    error_detail: str | None = None
    timeout_ms: int | None = None
    response_headers: tuple[tuple[str, str], ...] | None = None
    # Dashboard-only: the chaos faults that bent this attempt, space-separated
    # ("ack_lost", "duplicate", "delay=300"); None when none did.
    chaos: str | None = None


class Target(NamedTuple):
    """What one attempt needs to know about its endpoint, read when the attempt starts."""

    endpoint_id: str
    url: str
    status: str
    deleted: bool
    retry_policy_json: str | None
    # Every signing key, newest first: (secret, expires_ms or None for the current key).
    keys: tuple[tuple[str, int | None], ...] = ()

    def secrets_at(self, moment_ms: int) -> list[str]:
        """The secrets an attempt at `moment_ms` signs with (store/signing_keys._VALID)."""
        return [secret for secret, expires in self.keys if expires is None or expires > moment_ms]


class Endpoint(NamedTuple):
    """A webhook (`kind="webhook"`, `wh_`) or a destination (`kind="destination"`, `dest_`).

    One model for both: a webhook carries its patterns in `event_types`, a destination gets
    them from subscriptions (`event_types` is None). `label` is a webhook's `description` or
    a destination's `name`.
    """

    id: str
    kind: str
    workspace_id: str
    livemode: bool
    url: str
    label: str | None
    event_types: tuple[str, ...] | None
    metadata_json: str  # compact JSON object of strings
    retry_policy_json: str | None  # None: the contract's default policy
    status: str  # "active" | "paused"
    created_ms: int
    updated_ms: int
    deleted_ms: int | None


class Subscription(NamedTuple):
    id: str
    destination_id: str
    workspace_id: str
    livemode: bool
    event_type: str  # a pattern: exact type, `*` or `prefix.*`
    created_ms: int
    deleted_ms: int | None


class SigningKey(NamedTuple):
    id: str
    endpoint_id: str
    secret: str
    created_ms: int
    expires_ms: int | None  # None for the current key


class OpenSandboxKey(NamedTuple):
    """A test key fixtures don't define, seen in a request; `workspace_id` is the workspace
    it adopted as its default (None until it names one)."""

    key: str
    workspace_id: str | None
    first_seen_ms: int


class SinkRequest(NamedTuple):
    """One request a sink received. `body` is the raw bytes, cut at 1 MB."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_ms: int
    truncated: bool

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class ScriptedResponse:
    """One answer a sink is scripted to give, in the order given."""

    status: int = 200
    delay_ms: int = 0
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)


class SinkSummary(NamedTuple):
    name: str
    request_count: int  # held now (the newest 10,000 at most)
    scripted_responses: int


class StoredSink(NamedTuple):
    """A whole sink, as a snapshot from an older version held it in memory."""

    name: str
    received_count: int
    requests: tuple[SinkRequest, ...]
    script: tuple[ScriptedResponse, ...]


class StoredFault(NamedTuple):
    """An injected fault: `fields_json` is what it matches and does (fixed once created);
    the rest is where it stands, updated each time it is consulted."""

    id: str
    fields_json: str
    remaining: int | None
    fired_count: int
    rng_state_json: str | None  # [version, state, gauss] of its generator; None: no draws
