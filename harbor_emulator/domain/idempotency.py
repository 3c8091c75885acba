"""Idempotency-Key: replay a stored 2xx, refuse a reused or in-use key.

A request claims its key before it runs (in memory, so a concurrent twin gets
`idempotency_key_in_use`); the handler's write stores the response in the same
transaction as the objects it creates (`record`), so a crash can never leave one
without the other.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from ..core.errors import HarborError
from ..store import idempotency as store
from ..store.db import Database, Tx
from ..store.rows import IdempotencyRecord

HEADER = "Idempotency-Key"
TTL_MS = 24 * 3600 * 1000


class Claim(NamedTuple):
    api_key: str
    idempotency_key: str
    fingerprint: str


class Replay(NamedTuple):
    status: int
    body: bytes


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"%s %s\n%s" % (method.encode(), path.encode(), body)).hexdigest()


def validate_key(value: str) -> str:
    if not 1 <= len(value) <= 255:
        raise HarborError(
            "invalid_parameter",
            "Idempotency-Key must be 1 to 255 characters.",
            param="Idempotency-Key",
        )
    return value


class IdempotencyGuard:
    def __init__(self) -> None:
        self._in_flight: set[tuple[str, str]] = set()

    async def claim(
        self, db: Database, *, api_key: str, key: str, fingerprint: str, now_ms: int
    ) -> Claim | Replay:
        """Claim `key` for this request, or say how to answer it without running it."""
        slot = (api_key, key)
        if slot in self._in_flight:
            raise HarborError(
                "idempotency_key_in_use",
                "A request with this Idempotency-Key is still running; retry later.",
            )
        self._in_flight.add(slot)
        try:
            stored = await store.get(db, api_key, key)
        except BaseException:
            self._in_flight.discard(slot)
            raise
        # At exactly 24 h the key is free again (contract: idempotency boundary).
        if stored is not None and now_ms - stored.created_ms < TTL_MS:
            self._in_flight.discard(slot)
            if stored.fingerprint != fingerprint:
                raise HarborError(
                    "idempotency_key_reused",
                    "This Idempotency-Key was already used with a different request.",
                )
            return Replay(stored.status, stored.body)
        return Claim(api_key, key, fingerprint)

    def release(self, claim: Claim) -> None:
        self._in_flight.discard((claim.api_key, claim.idempotency_key))

    def reset(self) -> None:
        self._in_flight.clear()


async def record(tx: Tx, claim: Claim, status: int, body: bytes, now_ms: int) -> None:
    await store.put(
        tx,
        IdempotencyRecord(
            api_key=claim.api_key,
            idempotency_key=claim.idempotency_key,
            fingerprint=claim.fingerprint,
            status=status,
            body=body,
            created_ms=now_ms,
        ),
    )
