"""The meaning of a fixtures document, checked entry by entry into a `Plan` of rows.

Each entry is checked with the same validators as the API (URLs per mode, patterns,
metadata, retry policies, payload size), then references and duplicates across the document
and the stored state. Nothing is written here: fixtures.py applies the plan in one
transaction once every entry passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..api.common import compact_json
from ..api.events import MAX_PAYLOAD_BYTES
from ..core.clock import parse_timestamp
from ..core.errors import HarborError
from ..core.fixture_documents import (
    fixture_error,
)
from ..core.ids import IdFactory
from ..domain.auth import SCOPES, key_livemode
from ..domain.metadata import validate_metadata
from ..domain.patterns import validate_event_type, validate_pattern
from ..domain.retry import parse_retry_policy, policy_to_json
from ..domain.urls import validate_url
from ..signing import new_secret
from ..store import snapshot as fixture_store
from ..store.db import Database
from ..store.rows import (
    ApiKey,
    Attempt,
    Delivery,
    Endpoint,
    Event,
    OpenSandboxKey,
    SigningKey,
    Subscription,
)


@dataclass
class Plan:
    """Rows to write, in dependency order, once every entry has been checked."""

    workspaces: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    api_keys: list[ApiKey] = field(default_factory=list)
    open_sandbox_keys: list[OpenSandboxKey] = field(default_factory=list)
    endpoints: list[tuple[Endpoint, list[SigningKey]]] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    deliveries: list[tuple[Delivery, list[Attempt]]] = field(default_factory=list)
    clock: dict[str, Any] | None = None


class Loader:
    """Checks one document against the stored state and turns it into a `Plan`."""

    def __init__(
        self, db: Database, ids: IdFactory, now_ms: int, *, source: str, resolve_timeout: float
    ) -> None:
        self.db = db
        self.ids = ids
        self.now_ms = now_ms
        self.source = source
        self.resolve_timeout = resolve_timeout
        self.plan = Plan()
        self._seen: dict[str, str] = {}  # id -> path of the entry that defines it
        self._live_keys: dict[str, set[bool]] = {}  # workspace -> modes of its keys
        # The plan's endpoints and events by id: an export's thousands of deliveries each
        # name one, and a scan of the list per delivery was quadratic.
        self._endpoints: dict[str, Endpoint] = {}
        self._events: dict[str, Event] = {}
        self._stored: dict[str, set[str]] = {}  # table -> the document's ids it holds

    def fail(self, path: str, problem: str, entry_id: str | None = None) -> HarborError:
        return fixture_error(self.source, path, problem, entry_id)

    def time(self, value: Any, path: str, default: int | None = None) -> int | None:
        if value is None:
            return default
        try:
            return parse_timestamp(value, path)
        except HarborError as exc:
            raise self.fail(path, exc.message) from None

    def claim(self, object_id: str, path: str, table: str | None) -> None:
        """`object_id` for the entry at `path`: refused if the document or `table` has it.
        Ids the loader makes up are new by construction (as the API's are), so only the
        document's own ids are looked up, all at once (`load`)."""
        if object_id in self._seen:
            raise self.fail(
                path, f"duplicate id {object_id}, also at {self._seen[object_id]}.", object_id
            )
        if table is not None and object_id in self._stored[table]:
            raise self.fail(
                path, f"{object_id} already exists; reset first or use another id.", object_id
            )
        self._seen[object_id] = path

    def default_workspace(self, entry: dict[str, Any], path: str) -> str:
        workspace_id = entry.get("workspace_id")
        if workspace_id is None:
            if len(self.plan.workspaces) == 1:
                return next(iter(self.plan.workspaces))
            raise self.fail(
                f"{path}.workspace_id",
                "workspace_id is required (the document lists no single workspace to default to).",
                entry.get("id"),
            )
        self.plan.workspaces.setdefault(workspace_id, (None, self.now_ms))
        return workspace_id

    def livemode(self, entry: dict[str, Any], workspace_id: str) -> bool:
        if "livemode" in entry:
            return bool(entry["livemode"])
        # Endpoints and events take the mode of the workspace's keys when those are all live.
        return self._live_keys.get(workspace_id) == {True}

    async def load(self, document: dict[str, Any]) -> Plan:
        """A plan for a document `read_document` returned (its shape already checked)."""
        self._stored = await fixture_store.stored_ids(self.db, _given_ids(document))
        for index, entry in enumerate(document.get("workspaces", [])):
            path = f"workspaces[{index}]"
            if entry["id"] in self._seen:
                raise self.fail(path, f"duplicate id {entry['id']}.", entry["id"])
            self._seen[entry["id"]] = path
            created = self.time(entry.get("created_at"), f"{path}.created_at", self.now_ms)
            self.plan.workspaces[entry["id"]] = (entry.get("name"), created or self.now_ms)
        await self._api_keys(document.get("api_keys", []))
        self._open_sandbox_keys(document.get("open_sandbox_keys", []))
        for section, kind in (("webhooks", "webhook"), ("destinations", "destination")):
            for index, entry in enumerate(document.get(section, [])):
                await self._endpoint(entry, f"{section}[{index}]", kind)
        for index, entry in enumerate(document.get("subscriptions", [])):
            await self._subscription(entry, f"subscriptions[{index}]", entry["destination_id"])
        for index, entry in enumerate(document.get("events", [])):
            await self._event(entry, f"events[{index}]")
        for index, entry in enumerate(document.get("deliveries", [])):
            await self._delivery(entry, f"deliveries[{index}]")
        self.plan.clock = document.get("clock")
        return self.plan

    async def _api_keys(self, entries: list[dict[str, Any]]) -> None:
        for index, entry in enumerate(entries):
            path = f"api_keys[{index}]"
            key = entry["key"]
            if key in self._seen:
                raise self.fail(path, f"duplicate key {key}.", key)
            self._seen[key] = path
            workspace_id = entry["workspace_id"]
            self.plan.workspaces.setdefault(workspace_id, (None, self.now_ms))
            livemode = key_livemode(key)
            self._live_keys.setdefault(workspace_id, set()).add(livemode)
            created = self.time(entry.get("created_at"), f"{path}.created_at", self.now_ms)
            revoked = self.time(entry.get("revoked_at"), f"{path}.revoked_at")
            scopes = frozenset(entry.get("scopes", SCOPES))
            self.plan.api_keys.append(
                ApiKey(key, workspace_id, livemode, scopes, created or self.now_ms, revoked)
            )

    def _open_sandbox_keys(self, entries: list[dict[str, Any]]) -> None:
        for index, entry in enumerate(entries):
            path = f"open_sandbox_keys[{index}]"
            key = entry["key"]
            if key in self._seen:
                # A key is either defined (exactly its scopes) or open (all of them), not both.
                raise self.fail(path, f"duplicate key {key}, also at {self._seen[key]}.", key)
            self._seen[key] = path
            workspace_id = entry.get("workspace_id")
            if workspace_id is not None:
                self.plan.workspaces.setdefault(workspace_id, (None, self.now_ms))
            first_seen = self.time(entry.get("first_seen_at"), f"{path}.first_seen_at")
            self.plan.open_sandbox_keys.append(
                OpenSandboxKey(key, workspace_id, self.now_ms if first_seen is None else first_seen)
            )

    async def _endpoint(self, entry: dict[str, Any], path: str, kind: str) -> None:
        prefix = "wh" if kind == "webhook" else "dest"
        endpoint_id = entry.get("id") or self.ids.new(prefix, self.now_ms)
        self.claim(endpoint_id, path, "endpoints")
        workspace_id = self.default_workspace(entry, path)
        livemode = self.livemode(entry, workspace_id)
        try:
            url = await validate_url(
                entry["url"], livemode=livemode, resolve_timeout_seconds=self.resolve_timeout
            )
            patterns = (
                tuple(dict.fromkeys(validate_pattern(p, "events") for p in entry["events"]))
                if kind == "webhook"
                else None
            )
            metadata_json = compact_json(validate_metadata(entry.get("metadata", {})), "metadata")
            policy = parse_retry_policy(entry.get("retry_policy"))
        except HarborError as exc:
            raise self.fail(f"{path}.{exc.param or 'url'}", exc.message, endpoint_id) from None
        created = (
            self.time(entry.get("created_at"), f"{path}.created_at", self.now_ms) or self.now_ms
        )
        endpoint = Endpoint(
            id=endpoint_id,
            kind=kind,
            workspace_id=workspace_id,
            livemode=livemode,
            url=url,
            label=entry.get("description" if kind == "webhook" else "name"),
            event_types=patterns,
            metadata_json=metadata_json,
            retry_policy_json=None
            if policy is None
            else compact_json(policy_to_json(policy), "retry_policy"),
            status=entry.get("status", "active"),
            created_ms=created,
            updated_ms=self.time(entry.get("updated_at"), f"{path}.updated_at", created) or created,
            deleted_ms=self.time(entry.get("deleted_at"), f"{path}.deleted_at"),
        )
        self.plan.endpoints.append((endpoint, self._keys(entry, path, endpoint)))
        self._endpoints[endpoint_id] = endpoint
        for index, sub in enumerate(entry.get("subscriptions", [])):
            await self._subscription(sub, f"{path}.subscriptions[{index}]", endpoint_id)

    def _keys(self, entry: dict[str, Any], path: str, endpoint: Endpoint) -> list[SigningKey]:
        given = entry.get("secret" if endpoint.kind == "webhook" else "signing_secret")
        listed = entry.get("signing_keys")
        if not listed:
            key_id = self.ids.new("key", self.now_ms)
            return [
                SigningKey(
                    key_id,
                    endpoint.id,
                    given or new_secret(self.ids.random),
                    endpoint.created_ms,
                    None,
                )
            ]
        keys = []
        for index, key in enumerate(listed):
            key_path = f"{path}.signing_keys[{index}]"
            keys.append(
                SigningKey(
                    key["id"],
                    endpoint.id,
                    key["secret"],
                    self.time(key.get("created_at"), f"{key_path}.created_at", endpoint.created_ms)
                    or 0,
                    self.time(key.get("expires_at"), f"{key_path}.expires_at"),
                )
            )
        current = [k for k in keys if k.expires_ms is None]
        if len(current) != 1:
            raise self.fail(
                f"{path}.signing_keys", "exactly one key must have no expires_at.", endpoint.id
            )
        if given is not None and given != current[0].secret:
            raise self.fail(
                f"{path}.signing_keys",
                "the current key's secret differs from the endpoint's secret.",
                endpoint.id,
            )
        return keys

    async def _subscription(self, entry: dict[str, Any], path: str, destination_id: str) -> None:
        subscription_id = entry.get("id") or self.ids.new("sub", self.now_ms)
        self.claim(subscription_id, path, "subscriptions")
        destination = self._endpoints.get(destination_id)
        if destination is None:
            destination = await fixture_store.live_endpoint(self.db, destination_id)
        if destination is None or destination.kind != "destination":
            raise self.fail(
                f"{path}.destination_id", f"no destination {destination_id}.", subscription_id
            )
        try:
            pattern = validate_pattern(entry["event_type"], "event_type")
        except HarborError as exc:
            raise self.fail(f"{path}.event_type", exc.message, subscription_id) from None
        created = (
            self.time(entry.get("created_at"), f"{path}.created_at", self.now_ms) or self.now_ms
        )
        self.plan.subscriptions.append(
            Subscription(
                subscription_id,
                destination.id,
                destination.workspace_id,
                destination.livemode,
                pattern,
                created,
                self.time(entry.get("deleted_at"), f"{path}.deleted_at"),
            )
        )

    async def _event(self, entry: dict[str, Any], path: str) -> None:
        event_id = entry.get("id") or self.ids.new("evt", self.now_ms)
        self.claim(event_id, path, "events")
        workspace_id = self.default_workspace(entry, path)
        try:
            event_type = validate_event_type(entry["type"])
            payload_json = compact_json(entry.get("payload", {}), "payload")
        except HarborError as exc:
            raise self.fail(f"{path}.{exc.param}", exc.message, event_id) from None
        if len(_utf8(payload_json, self.fail, f"{path}.payload", event_id)) > MAX_PAYLOAD_BYTES:
            raise self.fail(
                f"{path}.payload", "larger than 262,144 bytes of compact JSON.", event_id
            )
        created = (
            self.time(entry.get("created_at"), f"{path}.created_at", self.now_ms) or self.now_ms
        )
        event = Event(
            event_id,
            workspace_id,
            self.livemode(entry, workspace_id),
            event_type,
            payload_json,
            created,
        )
        self.plan.events.append(event)
        self._events[event_id] = event

    async def _delivery(self, entry: dict[str, Any], path: str) -> None:
        delivery_id = entry["id"]
        self.claim(delivery_id, path, "deliveries")
        event = self._events.get(entry["event_id"])
        if event is None:
            raise self.fail(
                f"{path}.event_id", f"no event {entry['event_id']} in this document.", delivery_id
            )
        endpoint_id = entry.get("webhook_id") or entry.get("destination_id")
        if endpoint_id not in self._endpoints:
            raise self.fail(
                f"{path}.webhook_id", f"no endpoint {endpoint_id} in this document.", delivery_id
            )
        attempts = []
        for index, attempt in enumerate(entry.get("attempts", [])):
            attempt_path = f"{path}.attempts[{index}]"
            self.claim(attempt["id"], attempt_path, None)
            attempts.append(
                Attempt(
                    attempt["id"],
                    delivery_id,
                    attempt["attempt_number"],
                    self.time(attempt["attempted_at"], f"{attempt_path}.attempted_at") or 0,
                    attempt.get("duration_ms", 0),
                    attempt.get("response_code"),
                    attempt.get("response_body"),
                    attempt.get("error"),
                    attempt.get("request_headers"),
                )
            )
        self.plan.deliveries.append(
            (
                Delivery(
                    id=delivery_id,
                    event_id=event.id,
                    endpoint_id=endpoint_id or "",
                    workspace_id=event.workspace_id,
                    livemode=event.livemode,
                    event_type=event.type,
                    status=entry["status"],
                    attempt_count=entry.get("attempt_count", len(attempts)),
                    response_code=entry.get("response_code"),
                    envelope=_utf8(entry["envelope"], self.fail, f"{path}.envelope", delivery_id),
                    first_attempt_ms=self.time(
                        entry.get("first_attempt_at"), f"{path}.first_attempt_at"
                    ),
                    last_attempt_ms=self.time(
                        entry.get("last_attempt_at"), f"{path}.last_attempt_at"
                    ),
                    next_attempt_ms=self.time(
                        entry.get("next_attempt_at"), f"{path}.next_attempt_at"
                    ),
                    created_ms=self.time(entry["created_at"], f"{path}.created_at") or 0,
                ),
                attempts,
            )
        )


def _utf8(text: str, fail: Any, path: str, entry_id: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise fail(path, "holds text that is not valid Unicode.", entry_id) from None


def _given_ids(document: dict[str, Any]) -> dict[str, list[str]]:
    """The ids a document gives its entries, by the table each would be stored in."""
    endpoints = [
        entry for section in ("webhooks", "destinations") for entry in document.get(section, [])
    ]
    subscriptions = [
        *document.get("subscriptions", []),
        *(sub for entry in endpoints for sub in entry.get("subscriptions", [])),
    ]
    return {
        "endpoints": [entry["id"] for entry in endpoints if entry.get("id")],
        "subscriptions": [entry["id"] for entry in subscriptions if entry.get("id")],
        "events": [entry["id"] for entry in document.get("events", []) if entry.get("id")],
        "deliveries": [entry["id"] for entry in document.get("deliveries", [])],
    }
