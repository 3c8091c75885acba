import json

import pytest

from harbor_emulator.core.errors import HarborError
from harbor_emulator.domain.metadata import MAX_METADATA_BYTES, validate_metadata


def compact_size(value: dict[str, str]) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def metadata_of_size(size: int, *, char: str = "a") -> dict[str, str]:
    overhead = compact_size({"k": ""})
    per_char = len(char.encode())
    assert (size - overhead) % per_char == 0
    value = {"k": char * ((size - overhead) // per_char)}
    assert compact_size(value) == size
    return value


@pytest.mark.parametrize(
    "value",
    [{}, {"owner": "payments-team"}, {"": ""}, {"émoji": "🚢", "quote": 'a"b\\c'}],
)
def test_valid_metadata(value: dict[str, str]) -> None:
    result = validate_metadata(value)
    assert result == value
    assert result is not value


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        "owner=payments",
        [["owner", "payments"]],
        {"count": 1},
        {"flag": True},
        {"nested": {"a": "b"}},
        {"list": ["a"]},
        {"null": None},
        {1: "one"},
        {"key": "nul\x00"},
        {"nul\x00": "value"},
        {"key": "lone \ud800 surrogate"},
        {"\udfff": "value"},
    ],
)
def test_invalid_metadata(value: object) -> None:
    with pytest.raises(HarborError) as caught:
        validate_metadata(value)
    assert (caught.value.code, caught.value.param) == ("invalid_parameter", "metadata")


@pytest.mark.parametrize("char", ["a", "é", "🚢"])
def test_size_limit_is_exact_in_utf8_bytes(char: str) -> None:
    # Pick a size both limits can be hit exactly for this character's width.
    width = len(char.encode())
    overhead = compact_size({"k": ""})
    at_limit = MAX_METADATA_BYTES - (MAX_METADATA_BYTES - overhead) % width
    assert validate_metadata(metadata_of_size(at_limit, char=char))
    with pytest.raises(HarborError) as caught:
        validate_metadata(metadata_of_size(at_limit + width, char=char))
    assert (caught.value.code, caught.value.param) == ("metadata_too_large", "metadata")


def test_exactly_8192_bytes_is_accepted_and_8193_is_not() -> None:
    assert validate_metadata(metadata_of_size(8192))
    with pytest.raises(HarborError) as caught:
        validate_metadata(metadata_of_size(8193))
    assert caught.value.code == "metadata_too_large"


def test_escapes_count_as_serialized() -> None:
    # A quote serializes as two bytes: 4,092 fit with the 8 bytes around them, 4,093 do not.
    assert validate_metadata({"k": '"' * 4092})
    with pytest.raises(HarborError) as caught:
        validate_metadata({"k": '"' * 4093})
    assert caught.value.code == "metadata_too_large"
