"""GET /_control/export: the whole state as a fixtures document that loads back the same.

Open-sandbox keys are exported with the workspace each adopted (`open_sandbox_keys`), so a
key's default workspace survives export -> load like the rest of the state.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ..core.fixture_documents import escape
from ..store import (
    api_keys,
    deliveries,
    endpoints,
    events,
    open_sandbox_keys,
    signing_keys,
    subscriptions,
    workspaces,
)
from ..store.db import Database


def exact_time(ms: int | None) -> str | None:
    """RFC 3339 with milliseconds: the API shows seconds, a round trip needs every digit."""
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def _drop_none(entry: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in entry.items() if value is not None}


@dataclass(frozen=True, slots=True)
class StateRows:
    """Every stored row an export writes, read in turn on the event loop."""

    now_ms: int
    frozen: bool
    workspaces: list[Any]
    api_keys: list[Any]
    open_sandbox_keys: list[Any]
    endpoints: list[Any]
    signing_keys: list[Any]
    subscriptions: list[Any]
    events: list[Any]
    deliveries: list[Any]
    attempts: list[Any]


async def read_state(db: Database, clock: Any) -> StateRows:
    return StateRows(
        now_ms=clock.now_ms(),
        frozen=clock.frozen,
        workspaces=await workspaces.list_all(db),
        api_keys=await api_keys.list_all(db),
        open_sandbox_keys=await open_sandbox_keys.list_all(db),
        endpoints=await endpoints.list_all(db, include_deleted=True),
        signing_keys=await signing_keys.list_all(db),
        subscriptions=await subscriptions.list_all(db, include_deleted=True),
        events=await events.list_all(db),
        deliveries=await deliveries.list_all(db),
        attempts=await deliveries.attempts_all(db),
    )


def build_document(rows: StateRows) -> dict[str, Any]:
    """The fixtures document of `rows`: pure CPU work (a few hundred ms for thousands of
    events), so the route runs it on a worker thread, off the event loop."""
    keys_by_endpoint: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key in rows.signing_keys:
        keys_by_endpoint[key.endpoint_id].append(
            {
                "id": key.id,
                "secret": key.secret,
                "created_at": exact_time(key.created_ms),
                "expires_at": exact_time(key.expires_ms),
            }
        )
    subs_by_destination: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sub in rows.subscriptions:
        subs_by_destination[sub.destination_id].append(
            _drop_none(
                {
                    "id": sub.id,
                    "event_type": sub.event_type,
                    "created_at": exact_time(sub.created_ms),
                    "deleted_at": exact_time(sub.deleted_ms),
                }
            )
        )
    webhooks, destinations = [], []
    for endpoint in rows.endpoints:
        keys = keys_by_endpoint[endpoint.id]
        current = next((k["secret"] for k in keys if k["expires_at"] is None), None)
        entry: dict[str, Any] = {
            "id": endpoint.id,
            "workspace_id": endpoint.workspace_id,
            "livemode": endpoint.livemode,
            "url": endpoint.url,
        }
        if endpoint.kind == "webhook":
            entry |= {"events": list(endpoint.event_types or ()), "secret": current}
            entry["description"] = endpoint.label
        else:
            entry |= {"name": endpoint.label, "signing_secret": current}
        entry |= {
            "metadata": json.loads(endpoint.metadata_json),
            "retry_policy": None
            if endpoint.retry_policy_json is None
            else json.loads(endpoint.retry_policy_json),
            "status": endpoint.status,
            "created_at": exact_time(endpoint.created_ms),
            "updated_at": exact_time(endpoint.updated_ms),
            "deleted_at": exact_time(endpoint.deleted_ms),
            "signing_keys": [_drop_none(k) for k in keys],
        }
        if endpoint.kind == "destination":
            entry["subscriptions"] = subs_by_destination[endpoint.id]
            destinations.append(_drop_none(entry))
        else:
            webhooks.append(_drop_none(entry))
    attempts_by_delivery: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for attempt in rows.attempts:
        attempts_by_delivery[attempt.delivery_id].append(
            {
                "id": attempt.id,
                "attempt_number": attempt.attempt_number,
                "attempted_at": exact_time(attempt.attempted_ms),
                "duration_ms": attempt.duration_ms,
                "response_code": attempt.response_code,
                "response_body": attempt.response_body,
                "error": attempt.error,
                "request_headers": attempt.request_headers,
            }
        )
    keys = rows.api_keys
    defined_keys = {k.key for k in keys}
    # Loading interpolates ${NAME} in every string value: a stored "${" is written "$${" so
    # the document loads back to the very same text.
    return escape(
        {
            "version": 1,
            # offset_seconds is left out: it is derived, and drifts while the clock is frozen.
            "clock": {"now": exact_time(rows.now_ms), "frozen": rows.frozen},
            "workspaces": [
                _drop_none({"id": w.id, "name": w.name, "created_at": exact_time(w.created_ms)})
                for w in rows.workspaces
            ],
            "api_keys": [
                _drop_none(
                    {
                        "key": k.key,
                        "workspace_id": k.workspace_id,
                        "scopes": sorted(k.scopes),
                        "created_at": exact_time(k.created_ms),
                        "revoked_at": exact_time(k.revoked_ms),
                    }
                )
                for k in keys
            ],
            # The adoption of open-sandbox keys is state like any other: without it a key's
            # lists would cover another workspace after a round trip. Keys that became defined
            # (revoked open keys) are under api_keys only: a key is one or the other.
            "open_sandbox_keys": [
                _drop_none(
                    {
                        "key": k.key,
                        "workspace_id": k.workspace_id,
                        "first_seen_at": exact_time(k.first_seen_ms),
                    }
                )
                for k in rows.open_sandbox_keys
                if k.key not in defined_keys
            ],
            "webhooks": webhooks,
            "destinations": destinations,
            "events": [
                {
                    "id": e.id,
                    "workspace_id": e.workspace_id,
                    "livemode": e.livemode,
                    "type": e.type,
                    "payload": json.loads(e.payload_json),
                    "created_at": exact_time(e.created_ms),
                }
                for e in rows.events
            ],
            "deliveries": [
                _drop_none(
                    {
                        "id": d.id,
                        "event_id": d.event_id,
                        ("webhook_id" if d.endpoint_id.startswith("wh_") else "destination_id"): (
                            d.endpoint_id
                        ),
                        "status": d.status,
                        "attempt_count": d.attempt_count,
                        "response_code": d.response_code,
                        "envelope": d.envelope.decode("utf-8"),
                        "first_attempt_at": exact_time(d.first_attempt_ms),
                        "last_attempt_at": exact_time(d.last_attempt_ms),
                        "next_attempt_at": exact_time(d.next_attempt_ms),
                        "created_at": exact_time(d.created_ms),
                        "attempts": attempts_by_delivery[d.id],
                    }
                )
                for d in rows.deliveries
            ],
        }
    )
