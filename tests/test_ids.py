"""Ids: prefixed, 26 Crockford base32 characters, strictly increasing per factory."""

from __future__ import annotations

import re

from harbor_emulator.ids import IdFactory


def test_ids_are_ulid_shaped_and_strictly_increasing_even_on_a_frozen_clock() -> None:
    factory = IdFactory()
    made = [factory.new("evt", 1_780_000_000_000) for _ in range(1000)]
    assert all(re.fullmatch(r"evt_[0-9A-HJKMNP-TV-Z]{26}", i) for i in made)
    assert made == sorted(made) and len(set(made)) == 1000
    later = factory.new("evt", 1_780_000_000_001)
    assert later > made[-1]
    # Time leads: an id made at a later millisecond sorts after, whatever the randomness.
    assert IdFactory().new("evt", 1_780_000_000_002) > later
