"""JSON text on the request path: the standard library's answers, at orjson's speed.

The standard library's `json` (with the hooks in api/common.py) defines what the emulator
reads and writes: integers kept exactly, no NaN or Infinity, compact output with non-ASCII
unescaped (contract: Numbers, Sizes). orjson is 4-10x faster and gives the same answer for
almost every document; each function here runs it first and hands over to `json` wherever
the two could differ, so the result is always `json`'s:

- reading: a run of 19 or more digits (orjson reads integers past 64 bits as floats) and
  every text orjson refuses (so errors, and their messages, are `json`'s);
- writing: every value orjson refuses (integers past 64 bits, non-str keys, subclasses of
  str/int/dict/list, dates and dataclasses: passed through to refusal), and output holding
  `e-` or `0.0000` (below 1e-4 `json` writes 1e-05 where orjson writes 0.00001 or 1e-5),
  or `null` (orjson writes NaN and Infinity as null).
A guard string inside a JSON string only costs the fallback, never a different answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

_LONG_DIGITS = re.compile(r"\d{19}")
_REFUSE_UNUSUAL = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def loads(text: str, fallback: Callable[[str], Any]) -> Any:
    """`fallback(text)` (a `json.loads` with hooks), faster when orjson agrees with it."""
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return fallback(text)


def dumps_compact(value: Any, *, allow_nan: bool = True) -> str:
    """`json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=...)`."""
    encoded = _orjson(value)
    if encoded is not None:
        return encoded.decode("utf-8")
    return _standard(value, allow_nan)


def dumps_compact_bytes(value: Any) -> bytes:
    """`dumps_compact(value).encode("utf-8")`, without the round trip through str."""
    encoded = _orjson(value)
    if encoded is not None:
        return encoded
    return _standard(value, True).encode("utf-8")


def _standard(value: Any, allow_nan: bool) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan)


def _orjson(value: Any) -> bytes | None:
    try:
        encoded = orjson.dumps(value, option=_REFUSE_UNUSUAL)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None
    if b"e-" in encoded or b"0.0000" in encoded or b"null" in encoded:
        return None
    return encoded
