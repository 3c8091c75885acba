import base64
import hashlib
import hmac
import re
import time

import pytest
import stripe

from harbor_emulator.signing import (
    SignatureVerificationError,
    new_secret,
    sign,
    signature_header,
    verify,
)

BODY = b'{"id":"dlv_1","type":"order.created","data":{"note":"caf\xc3\xa9"}}'
SECRET = "whsec_" + "A" * 43
OLD_SECRET = "whsec_" + "B" * 43


def harbor_headers(secrets: list[str], timestamp: int, body: bytes = BODY) -> dict[str, str]:
    return {
        "Harbor-Timestamp": str(timestamp),
        "Harbor-Signature": signature_header(secrets, timestamp, body),
    }


def test_new_secret_is_whsec_and_32_random_bytes_urlsafe_unpadded() -> None:
    secret = new_secret()
    assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", secret)
    encoded = secret.removeprefix("whsec_")
    assert len(base64.urlsafe_b64decode(encoded + "=")) == 32
    assert len({new_secret() for _ in range(100)}) == 100


def test_sign_is_hmac_sha256_of_timestamp_dot_body_keyed_by_the_whole_secret() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, BODY) == expected
    assert re.fullmatch(r"[0-9a-f]{64}", expected)


def test_sign_known_vector() -> None:
    # Computed apart from Python: printf '1.{}' | openssl dgst -sha256 -hmac whsec_test
    assert (
        sign("whsec_test", 1, b"{}")
        == hmac.new(b"whsec_test", b"1.{}", hashlib.sha256).hexdigest()
        == "7500d5d4be4b3ef07af1fe56f7d522d135cdaa7530de557e67cc1049c52de094"
    )


def test_signature_header_lists_newest_first() -> None:
    header = signature_header([SECRET, OLD_SECRET], 1700000000, BODY)
    assert header == (
        f"v1={sign(SECRET, 1700000000, BODY)},v1={sign(OLD_SECRET, 1700000000, BODY)}"
    )
    assert signature_header((SECRET,), 5, BODY) == f"v1={sign(SECRET, 5, BODY)}"


def test_signature_header_needs_a_sequence_of_secrets() -> None:
    with pytest.raises(ValueError):
        signature_header([], 1, BODY)
    with pytest.raises(TypeError):
        signature_header(SECRET, 1, BODY)


@pytest.mark.parametrize("secrets", [[SECRET], [SECRET, OLD_SECRET], [OLD_SECRET, SECRET]])
def test_stripe_verifier_accepts_harbor_signatures(secrets: list[str]) -> None:
    timestamp = int(time.time())
    header = signature_header(secrets, timestamp, BODY)
    stripe.WebhookSignature.verify_header(
        BODY.decode(), f"t={timestamp},{header}", SECRET, tolerance=300
    )


def test_stripe_verifier_accepts_a_generated_secret() -> None:
    secret = new_secret()
    timestamp = int(time.time())
    header = signature_header([secret], timestamp, BODY)
    stripe.WebhookSignature.verify_header(
        BODY.decode(), f"t={timestamp},{header}", secret, tolerance=300
    )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(
            BODY.decode(), f"t={timestamp},{header}", new_secret(), tolerance=300
        )


def test_verify_accepts_a_genuine_delivery() -> None:
    now = 1_700_000_000
    verify(BODY, harbor_headers([SECRET], now), SECRET, now=now)
    verify(BODY.decode(), harbor_headers([SECRET], now), SECRET, now=now)


def test_verify_accepts_either_key_during_rotation() -> None:
    now = 1_700_000_000
    headers = harbor_headers([SECRET, OLD_SECRET], now)
    verify(BODY, headers, SECRET, now=now)
    verify(BODY, headers, OLD_SECRET, now=now)


def test_verify_uses_host_time_by_default() -> None:
    verify(BODY, harbor_headers([SECRET], int(time.time())), SECRET)
    with pytest.raises(SignatureVerificationError):
        verify(BODY, harbor_headers([SECRET], int(time.time()) - 3600), SECRET)


def test_verify_header_names_are_case_insensitive() -> None:
    now = 1_700_000_000
    headers = {key.lower(): value for key, value in harbor_headers([SECRET], now).items()}
    verify(BODY, headers, SECRET, now=now)
    headers = {key.upper(): value for key, value in harbor_headers([SECRET], now).items()}
    verify(BODY, headers, SECRET, now=now)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_verify_accepts_timestamps_within_tolerance(offset: int) -> None:
    now = 1_700_000_000
    verify(BODY, harbor_headers([SECRET], now + offset), SECRET, now=now)


@pytest.mark.parametrize("offset", [-301, 301, -86400])
def test_verify_rejects_timestamps_outside_tolerance(offset: int) -> None:
    now = 1_700_000_000
    with pytest.raises(SignatureVerificationError):
        verify(BODY, harbor_headers([SECRET], now + offset), SECRET, now=now)
    verify(BODY, harbor_headers([SECRET], now + offset), SECRET, tolerance=86400, now=now)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Harbor-Signature": "v1=00"},
        {"Harbor-Timestamp": "1700000000"},
        {"Harbor-Timestamp": "", "Harbor-Signature": "v1=00"},
        {"Harbor-Timestamp": "abc", "Harbor-Signature": "v1=00"},
        {"Harbor-Timestamp": "1700000000.5", "Harbor-Signature": "v1=00"},
        {"Harbor-Timestamp": "-1700000000", "Harbor-Signature": "v1=00"},
        {"Harbor-Timestamp": "1_700_000_000", "Harbor-Signature": "v1=00"},
        {"Harbor-Timestamp": "1700000000", "Harbor-Signature": ""},
        {"Harbor-Timestamp": "1700000000", "Harbor-Signature": "v0=abc"},
        {"Harbor-Timestamp": "1700000000", "Harbor-Signature": "v1=é"},
    ],
)
def test_verify_rejects_malformed_headers(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureVerificationError):
        verify(BODY, headers, SECRET, now=1_700_000_000)


def test_verify_rejects_wrong_secret_body_or_timestamp() -> None:
    now = 1_700_000_000
    headers = harbor_headers([SECRET], now)
    with pytest.raises(SignatureVerificationError):
        verify(BODY, headers, OLD_SECRET, now=now)
    with pytest.raises(SignatureVerificationError):
        verify(BODY + b" ", headers, SECRET, now=now)
    with pytest.raises(SignatureVerificationError):
        verify(BODY, {**headers, "Harbor-Timestamp": str(now + 1)}, SECRET, now=now)
    with pytest.raises(SignatureVerificationError):
        # The secret without its prefix is a different key.
        verify(BODY, headers, SECRET.removeprefix("whsec_"), now=now)


def test_verify_ignores_other_schemes_and_spaces() -> None:
    now = 1_700_000_000
    good = sign(SECRET, now, BODY)
    headers = {"Harbor-Timestamp": f" {now} ", "Harbor-Signature": f"v0=abc, v1=00 , v1={good}"}
    verify(BODY, headers, SECRET, now=now)
