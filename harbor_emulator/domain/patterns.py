"""Event types and the patterns that select them (webhook `events`, subscription `event_type`).

A pattern is an exact type, `*` (every type), or a prefix ending in `.*`: `order.*` selects
`order.created` and `order.item.added`, but neither `order` itself nor `orders.created`.
Types and patterns are case-sensitive, like the plain strings they are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from harbor_emulator.core.errors import HarborError

MAX_EVENT_TYPE_LENGTH = 255
WILDCARD = "*"
_PREFIX_SUFFIX = ".*"


def validate_event_type(value: object, param: str = "type") -> str:
    """Return `value` if it is a valid event type: a string of 1–255 characters without
    whitespace or control characters. Raise `invalid_parameter` otherwise.

    An absent type is the caller's `missing_parameter`; an empty one is invalid here.
    """
    if not isinstance(value, str):
        raise HarborError("invalid_parameter", f"{param} must be a string.", param=param)
    _check_text(value, param, "an event type")
    return value


def validate_pattern(value: object, param: str) -> str:
    """Return `value` if it is a valid pattern (exact type, `*`, or `prefix.*`), else raise
    `invalid_parameter`. `*` anywhere but alone or after the last `.` is invalid."""
    if not isinstance(value, str):
        raise HarborError("invalid_parameter", f"{param} must be a string.", param=param)
    _check_text(value, param, "an event type pattern")
    if value == WILDCARD:
        return value
    # A prefix of "" would be `.*`, which selects only types starting with a dot.
    prefix = value.removesuffix(_PREFIX_SUFFIX) if value.endswith(_PREFIX_SUFFIX) else value
    if WILDCARD in prefix or not prefix:
        raise HarborError(
            "invalid_parameter",
            f"{param} must be an event type, '*', or a prefix ending in '.*' such as 'order.*'.",
            param=param,
        )
    return value


def matches(pattern: str, event_type: str) -> bool:
    """Whether `pattern` selects `event_type`."""
    if pattern == WILDCARD:
        return True
    if pattern.endswith(_PREFIX_SUFFIX):
        prefix = pattern[:-1]  # keep the dot: `order.*` must not select `orders.created`
        return event_type.startswith(prefix) and len(event_type) > len(prefix)
    return pattern == event_type


def matches_any(patterns: Iterable[str], event_type: str) -> bool:
    """Whether any of `patterns` selects `event_type`."""
    return any(matches(pattern, event_type) for pattern in patterns)


# In ASCII, whitespace and control characters are exactly these: one C-level search
# instead of a Unicode lookup per character, for the common case.
_ASCII_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")


def _has_forbidden(value: str) -> bool:
    return any(char.isspace() or unicodedata.category(char) in ("Cc", "Cs") for char in value)


def _check_text(value: str, param: str, what: str) -> None:
    if not 1 <= len(value) <= MAX_EVENT_TYPE_LENGTH:
        raise HarborError(
            "invalid_parameter",
            f"{param} must be {what} of 1 to {MAX_EVENT_TYPE_LENGTH} characters.",
            param=param,
        )
    # Lone surrogates (from JSON like "\ud800") cannot be stored as UTF-8, so they are
    # rejected here rather than failing later as a 500.
    if _ASCII_FORBIDDEN.search(value) if value.isascii() else _has_forbidden(value):
        raise HarborError(
            "invalid_parameter",
            f"{param} must not contain whitespace or control characters.",
            param=param,
        )
