"""Time-sortable prefixed ids: `evt_` + 26 Crockford base32 characters (ULID layout)."""

from __future__ import annotations

import os
import threading

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80


class IdFactory:
    """Makes ULID-shaped ids from the emulator clock's milliseconds.

    Ids made by one factory strictly increase, even within one millisecond or while the
    clock is frozen, so ordering by id is ordering by creation.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def new(self, prefix: str, now_ms: int) -> str:
        candidate = (now_ms << _RANDOM_BITS) | int.from_bytes(os.urandom(10), "big")
        with self._lock:
            if candidate <= self._last:
                candidate = self._last + 1
            self._last = candidate
        return f"{prefix}_{_encode(candidate)}"


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
