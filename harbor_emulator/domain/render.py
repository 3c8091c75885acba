"""Rows to the JSON objects of the contract."""

from __future__ import annotations

import json
from typing import Any

from ..core.clock import format_ms
from ..store.rows import Attempt, Delivery, Endpoint, Event, SigningKey, Subscription


def event(row: Event, payload: Any = None) -> dict[str, Any]:
    """`payload` may be passed when the caller still holds it parsed, to skip a parse."""
    return {
        "id": row.id,
        "object": "event",
        "type": row.type,
        "workspace_id": row.workspace_id,
        "payload": json.loads(row.payload_json) if payload is None else payload,
        "created_at": format_ms(row.created_ms),
        "livemode": row.livemode,
    }


def _endpoint_key(endpoint_id: str) -> str:
    return "webhook_id" if endpoint_id.startswith("wh_") else "destination_id"


def delivery(row: Delivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "delivery",
        "event_id": row.event_id,
        "event_type": row.event_type,
        _endpoint_key(row.endpoint_id): row.endpoint_id,
        "status": row.status,
        "attempt_count": row.attempt_count,
        "response_code": row.response_code,
        "last_attempt_at": format_ms(row.last_attempt_ms),
        "next_attempt_at": format_ms(row.next_attempt_ms),
        "created_at": format_ms(row.created_ms),
        "livemode": row.livemode,
    }


def attempt(row: Attempt) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "delivery_attempt",
        "delivery_id": row.delivery_id,
        "attempt_number": row.attempt_number,
        "attempted_at": format_ms(row.attempted_ms),
        "duration_ms": row.duration_ms,
        "response_code": row.response_code,
        "response_body": row.response_body,
        "error": row.error,
    }


def endpoint(row: Endpoint, secret: str | None = None) -> dict[str, Any]:
    """A webhook or a destination in its own dialect; `secret` only on create."""
    webhook = row.kind == "webhook"
    rendered: dict[str, Any] = {
        "id": row.id,
        "object": row.kind,
        "workspace_id": row.workspace_id,
        "url": row.url,
    }
    if webhook:
        rendered["events"] = list(row.event_types or ())
        rendered["description"] = row.label
    else:
        rendered["name"] = row.label
    rendered.update(
        {
            "metadata": json.loads(row.metadata_json),
            "retry_policy": None
            if row.retry_policy_json is None
            else json.loads(row.retry_policy_json),
            "status": row.status,
            "created_at": format_ms(row.created_ms),
            "updated_at": format_ms(row.updated_ms),
            "livemode": row.livemode,
        }
    )
    if secret is not None:
        rendered["secret" if webhook else "signing_secret"] = secret
    return rendered


def subscription(row: Subscription) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "subscription",
        "destination_id": row.destination_id,
        "event_type": row.event_type,
        "workspace_id": row.workspace_id,
        "created_at": format_ms(row.created_ms),
        "livemode": row.livemode,
    }


def signing_key(row: SigningKey, *, with_secret: bool = False) -> dict[str, Any]:
    rendered: dict[str, Any] = {"id": row.id, "object": "signing_key"}
    if with_secret:
        rendered["secret"] = row.secret
    rendered["created_at"] = format_ms(row.created_ms)
    rendered["expires_at"] = format_ms(row.expires_ms)
    return rendered
