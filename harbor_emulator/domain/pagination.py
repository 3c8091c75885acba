"""Keyset pagination with opaque, tamper-evident cursors, shared by every list."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from ..core.errors import HarborError

T = TypeVar("T")
Keyset = tuple[int, str]

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


def parse_limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    # str.isdigit() also accepts other scripts' digits ("٣"): the contract wants ASCII only.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise HarborError(
            "invalid_parameter", "limit must be an integer from 1 to 100.", param="limit"
        )
    return int(raw)


class CursorCodec:
    """Cursors carry the last row's (created_ms, id), signed together with the list's name
    and filters, so a garbled, edited or another list's cursor is refused."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, list_key: str, keyset: Keyset) -> str:
        payload = _b64(json.dumps(list(keyset), separators=(",", ":")).encode())
        return f"{payload}.{self._mac(list_key, payload)}"

    def decode(self, list_key: str, cursor: str) -> Keyset:
        payload, _, mac = cursor.partition(".")
        expected = self._mac(list_key, payload).encode()
        if not payload or not hmac.compare_digest(mac.encode("utf-8", "replace"), expected):
            raise _invalid_cursor()
        try:
            created_ms, object_id = json.loads(_unb64(payload))
        except (ValueError, TypeError, binascii.Error):
            raise _invalid_cursor() from None
        if not isinstance(created_ms, int) or not isinstance(object_id, str):
            raise _invalid_cursor()
        return created_ms, object_id

    def _mac(self, list_key: str, payload: str) -> str:
        digest = hmac.new(self._secret, f"{list_key}|{payload}".encode(), hashlib.sha256)
        return _b64(digest.digest()[:18])


def list_key(name: str, **filters: object) -> str:
    """A list's identity: its route and its filters, so a cursor only resumes the same list."""
    return name + "?" + json.dumps(filters, sort_keys=True, separators=(",", ":"))


def after_keyset(codec: CursorCodec, key: str, query: Mapping[str, str]) -> Keyset | None:
    cursor = query.get("cursor")
    if cursor is None or cursor == "":
        return None
    return codec.decode(key, cursor)


def page(
    rows: Sequence[T],
    *,
    limit: int,
    codec: CursorCodec,
    key: str,
    keyset: Callable[[T], Keyset],
    render: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """The list object from up to `limit + 1` rows (the extra one only says there is more)."""
    has_more = len(rows) > limit
    shown = rows[:limit]
    next_cursor = codec.encode(key, keyset(shown[-1])) if has_more and shown else None
    return {
        "object": "list",
        "data": [render(row) for row in shown],
        "has_more": has_more,
        "next_cursor": next_cursor,
    }


def _invalid_cursor() -> HarborError:
    return HarborError("invalid_cursor", "This cursor was not issued by this list.", param="cursor")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
