"""Event types and the patterns that select them (temporary core version)."""

from __future__ import annotations

import re

from ..errors import HarborError

_TYPE = re.compile(r"[^\s\x00-\x1f\x7f]{1,255}")


def validate_event_type(value: object, param: str = "type") -> str:
    if not isinstance(value, str) or not _TYPE.fullmatch(value):
        raise HarborError(
            "invalid_parameter",
            f"'{param}' must be 1-255 characters with no whitespace.",
            param=param,
        )
    return value
