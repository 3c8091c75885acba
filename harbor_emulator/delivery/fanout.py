"""Turning an event into deliveries: one per matching endpoint, envelope bytes built once."""

from __future__ import annotations

import json
from collections.abc import Iterable

from ..core.ids import IdFactory
from ..domain import render
from ..domain.patterns import matches_any
from ..store import deliveries, endpoints, events
from ..store.db import Tx
from ..store.rows import Delivery, Event


def envelope(delivery_id: str, event: Event) -> bytes:
    """The body of every attempt of a delivery, stored so each attempt is byte-identical."""
    data = render.event(event)
    return json.dumps(
        {"id": delivery_id, "type": event.type, "created_at": data["created_at"], "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def new_delivery(
    ids: IdFactory, event: Event, endpoint_id: str, status: str, now_ms: int
) -> Delivery:
    delivery_id = ids.new("dlv", now_ms)
    held = status == "paused"
    return Delivery(
        id=delivery_id,
        event_id=event.id,
        endpoint_id=endpoint_id,
        workspace_id=event.workspace_id,
        livemode=event.livemode,
        event_type=event.type,
        # Falling due while its endpoint is paused, it is held at once (contract).
        status="held" if held else "pending",
        attempt_count=0,
        response_code=None,
        envelope=envelope(delivery_id, event),
        first_attempt_ms=None,
        last_attempt_ms=None,
        next_attempt_ms=None if held else now_ms,
        created_ms=now_ms,
    )


async def matching_endpoints(tx: Tx, event: Event) -> list[tuple[str, str]]:
    """(endpoint_id, status) of every live endpoint whose patterns select the event's type,
    paused ones included (their deliveries are held), oldest first."""
    found = await endpoints.live_with_patterns(
        tx, workspace_id=event.workspace_id, livemode=event.livemode
    )
    return [
        (endpoint.id, endpoint.status)
        for endpoint, patterns in found
        if matches_any(patterns, event.type)
    ]


async def deliver(
    tx: Tx,
    ids: IdFactory,
    event: Event,
    endpoints: Iterable[tuple[str, str]],
    now_ms: int,
) -> list[Delivery]:
    created = [
        new_delivery(ids, event, endpoint_id, status, now_ms) for endpoint_id, status in endpoints
    ]
    if created:
        await deliveries.insert_many(tx, created)
    return created


async def deliver_new_event(tx: Tx, ids: IdFactory, event: Event, now_ms: int) -> list[Delivery]:
    """Store a new event and its deliveries to every endpoint whose patterns select it."""
    candidates = await events.insert_with_candidates(tx, event)
    matching = [
        (endpoint_id, status)
        for endpoint_id, status, patterns in candidates
        if matches_any(patterns, event.type)
    ]
    return await deliver(tx, ids, event, matching, now_ms)


async def deliver_to_matching(tx: Tx, ids: IdFactory, event: Event, now_ms: int) -> list[Delivery]:
    return await deliver(tx, ids, event, await matching_endpoints(tx, event), now_ms)
