"""Rows to the JSON objects of the contract."""

from __future__ import annotations

import json
from typing import Any

from ..clock import format_ms
from ..store.rows import Event


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
