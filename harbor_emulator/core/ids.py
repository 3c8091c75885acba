"""Time-sortable prefixed ids: `evt_` + 26 Crockford base32 characters (ULID layout)."""

from __future__ import annotations

import functools
import threading
from typing import Any

from .randomness import Randomness

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUES = {char: index for index, char in enumerate(_ALPHABET)}
_RANDOM_BITS = 80


class IdFactory:
    """Makes ULID-shaped ids from the emulator clock's milliseconds.

    Ids of one prefix made by one factory strictly increase, even within one millisecond or
    while the clock is frozen, so ordering by id is ordering by creation. The random part
    comes from the injected `Randomness`: one stream per prefix, so with a seed the ids of
    events do not depend on how many requests (each with a `req_` id) came in between.
    """

    def __init__(self, randomness: Randomness | None = None) -> None:
        # A private generator unless one is injected: the emulator may run in a thread of
        # the user's own test process (pytest plugin), where drawing from the global
        # `random` module would change the user's seeded sequence.
        self.random = randomness or Randomness()
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def new(self, prefix: str, now_ms: int, channel: str = "") -> str:
        """A new id. `channel` names a separate sequence of the same prefix (the emulator's
        own requests to its sinks), so it cannot shift the ids callers see."""
        stream_name = _stream_name(prefix, channel)
        # Ids only need to be unique and sortable, not unguessable (secrets come from
        # `Randomness.token_bytes`): the Mersenne Twister spares a syscall per id.
        candidate = (now_ms << _RANDOM_BITS) | self.random.stream(stream_name).getrandbits(
            _RANDOM_BITS
        )
        with self._lock:
            last = self._last.get(stream_name, 0)
            if candidate <= last:
                candidate = last + 1
            self._last[stream_name] = candidate
        return f"{prefix}_{_encode(candidate)}"

    def observe(self, object_id: str) -> None:
        """Never make an id at or below `object_id` again (ids already stored, e.g. in a
        --db file a seeded emulator restarts on: its streams start over from the seed)."""
        prefix, _, encoded = object_id.rpartition("_")
        value = _decode(encoded)
        if not prefix or value is None:
            return
        stream_name = f"id/{prefix}"
        with self._lock:
            self._last[stream_name] = max(self._last.get(stream_name, 0), value)

    def reset(self) -> None:
        with self._lock:
            self._last.clear()

    def dump(self) -> dict[str, Any]:
        with self._lock:
            return {"last": {name: str(value) for name, value in self._last.items()}}

    def load(self, dumped: dict[str, Any]) -> None:
        with self._lock:
            self._last = {name: int(value) for name, value in dumped.get("last", {}).items()}


# Two characters per 10 bits from a 1,024-entry table, the 130 bits taken 30 at a time so
# that most shifts are of small ints: 0.6 us an id, against 3.5 us a character at a time.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_THIRTY_BITS = (1 << 30) - 1


@functools.lru_cache(maxsize=256)  # a handful of prefixes; an f-string per id otherwise
def _stream_name(prefix: str, channel: str) -> str:
    return f"id/{prefix}/{channel}" if channel else f"id/{prefix}"


def _encode(value: int) -> str:
    p = _PAIRS
    a = value >> 100
    b = (value >> 70) & _THIRTY_BITS
    c = (value >> 40) & _THIRTY_BITS
    d = (value >> 10) & _THIRTY_BITS
    return "".join(
        (
            p[a >> 20], p[(a >> 10) & 1023], p[a & 1023],
            p[b >> 20], p[(b >> 10) & 1023], p[b & 1023],
            p[c >> 20], p[(c >> 10) & 1023], p[c & 1023],
            p[d >> 20], p[(d >> 10) & 1023], p[d & 1023],
            p[value & 1023],
        )
    )  # fmt: skip


def _decode(text: str) -> int | None:
    if len(text) != 26:
        return None
    value = 0
    for char in text:
        digit = _VALUES.get(char)
        if digit is None:
            return None
        value = (value << 5) | digit
    return value
