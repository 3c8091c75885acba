"""Harbor webhook signatures: how the emulator signs deliveries and how a receiver checks them.

The scheme (contract, Delivery): `Harbor-Timestamp` is Unix seconds at sending;
`Harbor-Signature` is `v1=` + lowercase hex HMAC-SHA256 keyed with the secret's UTF-8 bytes
(the whole `whsec_…` string) over `"{timestamp}." + raw body`. During a key rotation the
header carries one `v1=` per valid secret, newest first: `v1=<new>,v1=<old>`. It is Stripe's
scheme with the timestamp in its own header, so Stripe's verifier accepts
`t={Harbor-Timestamp},{Harbor-Signature}`.

Receiver usage::

    from harbor_emulator.signing import SignatureVerificationError, verify

    try:
        verify(raw_body, request.headers, secret)
    except SignatureVerificationError:
        return Response(status_code=400)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from secrets import token_bytes
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core.randomness import Randomness

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
DEFAULT_TOLERANCE_SECONDS = 300
TIMESTAMP_HEADER = "Harbor-Timestamp"
SIGNATURE_HEADER = "Harbor-Signature"
SIGNATURE_SCHEME = "v1"

_TIMESTAMP = re.compile(r"[0-9]{1,20}")


class SignatureVerificationError(Exception):
    """The request is not a genuine, fresh Harbor delivery for this secret."""


def new_secret(randomness: Randomness | None = None) -> str:
    """A new endpoint secret: `whsec_` + 32 random bytes, URL-safe base64 without padding.

    The URL-safe alphabet (`-`, `_`) and no `=` keep the secret one token that survives
    copying into environment variables, URLs and shell commands unquoted. 43 characters
    follow the prefix. Receivers use the whole string, prefix included, as the HMAC key.
    """
    # The emulator passes its injected Randomness (seeded runs make the same secrets).
    raw = token_bytes(SECRET_BYTES) if randomness is None else randomness.token_bytes(SECRET_BYTES)
    encoded = base64.urlsafe_b64encode(raw).rstrip(b"=")
    return SECRET_PREFIX + encoded.decode("ascii")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of `"{timestamp}." + body` keyed with `secret`'s UTF-8."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """The `Harbor-Signature` value for every valid secret, given newest first."""
    if isinstance(secrets, str):
        # A str is a Sequence[str] too; signing with each of its characters is never meant.
        raise TypeError("secrets must be a sequence of secrets, not one string")
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    return ",".join(f"{SIGNATURE_SCHEME}={sign(secret, timestamp, body)}" for secret in secrets)


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raise SignatureVerificationError unless `headers` sign `body` with `secret` recently.

    `body` is the raw request body (a str is taken as its UTF-8 encoding). Header names are
    matched case-insensitively. The timestamp must be within `tolerance` seconds of `now`
    (default: this machine's time) in either direction, which limits replays.
    """
    timestamp_text = _header(headers, TIMESTAMP_HEADER)
    if timestamp_text is None:
        raise SignatureVerificationError(f"Missing {TIMESTAMP_HEADER} header.")
    timestamp_text = timestamp_text.strip()
    if not _TIMESTAMP.fullmatch(timestamp_text):
        raise SignatureVerificationError(f"{TIMESTAMP_HEADER} is not an integer.")
    timestamp = int(timestamp_text)
    # A receiver's clock is host time; the emulator's clock never enters verification.
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureVerificationError(f"{TIMESTAMP_HEADER} is outside the tolerance.")

    signature_text = _header(headers, SIGNATURE_HEADER)
    if signature_text is None:
        raise SignatureVerificationError(f"Missing {SIGNATURE_HEADER} header.")
    candidates = [
        value.strip()
        for scheme, _, value in (item.strip().partition("=") for item in signature_text.split(","))
        if scheme == SIGNATURE_SCHEME
    ]
    if not candidates:
        raise SignatureVerificationError(f"{SIGNATURE_HEADER} has no {SIGNATURE_SCHEME} signature.")

    raw_body = body.encode() if isinstance(body, str) else body
    expected = sign(secret, timestamp, raw_body).encode()
    # Compare against every candidate without stopping early, in constant time each.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    if not matched:
        raise SignatureVerificationError("No signature matches the secret.")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None
