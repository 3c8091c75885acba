"""Time-sortable prefixed ids: `evt_` + 26 Crockford base32 characters (ULID layout)."""

from __future__ import annotations

import random
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
        # A private generator: the emulator may run in a thread of the user's own test
        # process (pytest plugin), where drawing from the global `random` module would
        # change the user's seeded sequence and trip Hypothesis's determinism checks.
        self._random = random.Random()

    def new(self, prefix: str, now_ms: int) -> str:
        # Ids only need to be unique and sortable, not unguessable (secrets come from the
        # secrets module): the Mersenne Twister spares a getrandom syscall per id.
        candidate = (now_ms << _RANDOM_BITS) | self._random.getrandbits(_RANDOM_BITS)
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
