"""Ids: prefixed, 26 Crockford base32 characters, strictly increasing per factory."""

from __future__ import annotations

import re

from harbor_emulator.core.ids import IdFactory


def test_ids_are_ulid_shaped_and_strictly_increasing_even_on_a_frozen_clock() -> None:
    factory = IdFactory()
    made = [factory.new("evt", 1_780_000_000_000) for _ in range(1000)]
    assert all(re.fullmatch(r"evt_[0-9A-HJKMNP-TV-Z]{26}", i) for i in made)
    assert made == sorted(made) and len(set(made)) == 1000
    later = factory.new("evt", 1_780_000_000_001)
    assert later > made[-1]
    # Time leads: an id made at a later millisecond sorts after, whatever the randomness.
    assert IdFactory().new("evt", 1_780_000_000_002) > later


def test_encoding_is_crockford_base32_of_the_130_bits_and_decodes_back() -> None:
    import random

    from harbor_emulator.core.ids import _ALPHABET, _decode, _encode

    def reference(value: int) -> str:  # one character per 5 bits, most significant first
        return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))

    rng = random.Random(20)
    values = [0, 1, 2**30 - 1, 2**30, 2**128 - 1, 2**130 - 1]
    values += [
        rng.getrandbits(bits) for bits in (10, 30, 48, 64, 100, 128, 130) for _ in range(500)
    ]
    for value in values:
        assert _encode(value) == reference(value)
        assert _decode(_encode(value)) == value
