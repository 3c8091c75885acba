"""The `metadata` parameter: an object of string values, at most 8,192 bytes serialized."""

from __future__ import annotations

import json
import unicodedata

from harbor_emulator.core.errors import HarborError

MAX_METADATA_BYTES = 8192


def validate_metadata(value: object) -> dict[str, str]:
    """Return a copy of `value` if it is valid metadata, else raise HarborError.

    `invalid_parameter` (param `metadata`) unless it is an object whose keys and values are
    strings without NUL or lone surrogates; `metadata_too_large` if its compact JSON
    (non-ASCII unescaped, the contract's measure of size) is over 8,192 UTF-8 bytes.
    Whether null means "clear" is the caller's decision; here it is invalid.
    """
    if not isinstance(value, dict):
        raise _invalid("metadata must be an object of string values.")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise _invalid("metadata must be an object of string values.")
        if not (_storable(key) and _storable(item)):
            # Lone surrogates cannot be encoded as UTF-8 and NUL ends C strings in some
            # drivers: reject them as input rather than fail later with a 500.
            raise _invalid("metadata keys and values must not contain NUL or lone surrogates.")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise HarborError(
            "metadata_too_large",
            f"metadata is {size:,} bytes serialized; the limit is {MAX_METADATA_BYTES:,}.",
            param="metadata",
        )
    return dict(value)


def _storable(text: str) -> bool:
    return "\x00" not in text and not any(unicodedata.category(char) == "Cs" for char in text)


def _invalid(message: str) -> HarborError:
    return HarborError("invalid_parameter", message, param="metadata")
