"""The emulator's one source of randomness, injected beside `Clock`: seeded or not.

Unseeded (the default), secrets come from the OS's CSPRNG and ids from a private Mersenne
Twister (they need to be unique and sortable, not unguessable). Seeded (`--seed N`), every
draw comes from named streams derived from N: each id prefix, secrets, each fault. A stream
of its own per consumer keeps one consumer's draws from shifting another's, so a read that
draws a request id never changes the id of the next event. Nothing here reads the global
`random` module: the emulator may run inside the user's own test process.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from typing import Any

# The default instant a seeded emulator's clock starts frozen at (contract).
DEFAULT_SEEDED_START = "2026-01-01T00:00:00Z"
MAX_SEED = 2**63


def check_seed(value: object) -> int:
    """A seed is a 64-bit signed integer; raises ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_SEED <= value < MAX_SEED:
        raise ValueError("a seed is an integer from -2**63 to 2**63-1")
    return value


class Randomness:
    """Streams of random draws, seeded with `seed` or from OS entropy."""

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self._streams: dict[str, random.Random] = {}
        self._unseeded = random.Random()

    @property
    def seed(self) -> int | None:
        return self._seed

    @property
    def seeded(self) -> bool:
        return self._seed is not None

    def reseed(self, seed: int | None) -> None:
        """Start every stream again from `seed` (a reset with `{"seed": N}`)."""
        self._seed = seed
        self._streams.clear()
        self._unseeded = random.Random()

    def stream(self, name: str) -> random.Random:
        """The generator of one consumer (`id/evt`, `secrets`, `fault/flt_…`)."""
        if self._seed is None:
            return self._unseeded
        stream = self._streams.get(name)
        if stream is None:
            # A str seed is hashed with SHA-512 by `random`: stable across processes and
            # Python versions, unlike hash().
            stream = self._streams[name] = random.Random(f"{self._seed}/{name}")
        return stream

    def fault_stream(self, fault_id: str) -> random.Random:
        """A probability fault's own generator: seeded runs draw the same failures."""
        if self._seed is None:
            return random.Random()
        return random.Random(f"{self._seed}/fault/{fault_id}")

    def token_bytes(self, size: int) -> bytes:
        if self._seed is None:
            return secrets.token_bytes(size)
        return self.stream("secrets").randbytes(size)

    def token_hex(self, size: int) -> str:
        return self.token_bytes(size).hex()

    def derived_secret(self, purpose: str) -> bytes | None:
        """A fixed secret for `purpose` in seeded mode (None unseeded): cursors signed with it
        are the same in every run with this seed, whatever happened before a reset."""
        if self._seed is None:
            return None
        return hashlib.sha256(f"harbor-emulator/{self._seed}/{purpose}".encode()).digest()

    # -- snapshots -------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """Where every seeded stream stands, as JSON, so a restored snapshot continues the
        same sequence it would have continued at save time."""
        return {
            "seed": self._seed,
            "streams": {name: _state_json(s.getstate()) for name, s in self._streams.items()},
        }

    def load(self, dumped: dict[str, Any]) -> None:
        self._seed = dumped.get("seed")
        self._streams.clear()
        for name, state in dumped.get("streams", {}).items():
            stream = random.Random()
            stream.setstate(_state_tuple(state))
            self._streams[name] = stream


def _state_json(state: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _state_tuple(state: list[Any]) -> tuple[Any, ...]:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
