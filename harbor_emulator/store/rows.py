"""Typed, frozen rows: what store functions return."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Workspace:
    id: str
    name: str | None
    created_ms: int


@dataclass(frozen=True, slots=True)
class ApiKey:
    key: str
    workspace_id: str
    livemode: bool
    scopes: frozenset[str]
    created_ms: int
    revoked_ms: int | None


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    workspace_id: str
    livemode: bool
    type: str
    payload_json: str  # compact JSON text, spliced into responses as it is
    created_ms: int


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    api_key: str
    idempotency_key: str
    fingerprint: str
    status: int
    body: bytes
    created_ms: int
