"""Rows to the JSON objects of the contract."""

from __future__ import annotations

import json
from typing import Any

from ..clock import format_ms
from ..store.rows import Attempt, Delivery, Event


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
