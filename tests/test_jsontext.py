"""jsontext gives exactly the standard library's answers (contract: Numbers, Sizes).

orjson runs first for speed; these properties hold the module to `json`'s bytes and values,
on documents built to hit the cases where the two libraries differ.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbor_emulator.api.common import _strict_loads, compact_json, dumps, loads_json
from harbor_emulator.core import jsontext
from harbor_emulator.core.errors import HarborError

_numbers = st.one_of(
    st.integers(),  # past 64 bits too
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e-3, max_value=1e-3, allow_nan=False),  # 1e-05 vs 0.00001
    st.sampled_from([0.0, -0.0, 1e16, 1e-5, 1.5e-7, 5e-324, 2**63, -(2**63) - 1, 2**64]),
)
_text = st.one_of(st.text(), st.sampled_from(["e-", "0.0000", "null", "\u2028", "\x7f", "\x1f"]))
_scalars = st.one_of(st.none(), st.booleans(), _numbers, _text)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_text, children, max_size=4)
    ),
    max_leaves=20,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types and float bits (1.0 is not 1, -0.0 is not 0.0)."""
    return json.dumps(a) == json.dumps(b) and repr(a) == repr(b)


@settings(max_examples=600, deadline=None)
@given(_values)
def test_writing_gives_the_standard_librarys_bytes(value: Any) -> None:
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert jsontext.dumps_compact(value) == expected
    assert dumps(value) == expected.encode("utf-8")
    assert compact_json(value, "payload") == expected


@settings(max_examples=600, deadline=None)
@given(_values)
def test_reading_gives_the_standard_librarys_values(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert _same(loads_json(text), json.loads(text))


@pytest.mark.parametrize(
    "text",
    ["NaN", "[Infinity]", '{"a": -Infinity}', "1e400", "[-1e999]", "[1,]", "{", "\ufeff{}", ""],
)
def test_what_json_refuses_is_refused_with_its_message(text: str) -> None:
    with pytest.raises(ValueError) as ours:
        loads_json(text)
    with pytest.raises(ValueError) as standard:
        _strict_loads(text)
    assert str(ours.value) == str(standard.value)


def test_integers_past_64_bits_are_kept_exactly() -> None:
    assert loads_json('{"n": 123456789012345678901234567890}') == {
        "n": 123456789012345678901234567890
    }
    assert dumps({"n": 2**64 + 1}) == b'{"n":18446744073709551617}'


def test_non_finite_floats_are_still_refused_on_the_way_out() -> None:
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(HarborError) as refused:
            compact_json({"x": [value]}, "payload")
        assert refused.value.code == "invalid_json"


def test_values_orjson_would_write_differently_fall_back() -> None:
    import datetime

    class Name(str):
        pass

    assert dumps({"a": 1e-5}) == b'{"a":1e-05}'
    assert dumps({1: "x"}) == b'{"1":"x"}'
    assert dumps({"s": Name("x")}) == b'{"s":"x"}'
    with pytest.raises(TypeError):
        dumps({"d": datetime.date(2026, 1, 1)})
