""" "Verify a signature" on an endpoint's page: which of its keys signed a request, and the
exact string that was signed. Reads only; a POST because a body does not fit a URL."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import signing
from ..core.errors import HarborError
from ..store import deliveries
from ..store import signing_keys as signing_key_store
from ..store.rows import SigningKey
from . import endpoint_pages
from .web import dashboard, read_form

FORM_FIELDS = ("attempt_id", "timestamp", "signature", "body")


@dataclass(frozen=True, slots=True)
class KeyCheck:
    key: SigningKey
    expected: str  # the `v1=` value this key gives for the request
    matched: bool
    state: str  # current | valid until … | expired


@dataclass(frozen=True, slots=True)
class Verification:
    timestamp: int
    signed_string: str
    candidates: list[str]
    checks: list[KeyCheck]
    # None when no key matched; else why a receiver with the default tolerance would still
    # refuse it (None: it accepts it now).
    verified_by: SigningKey | None
    tolerance_problem: str | None


def _field_error(param: str, message: str) -> HarborError:
    return HarborError("invalid_parameter", message, param=param)


def check(
    keys: list[SigningKey], now_ms: int, timestamp_text: str, signature_text: str, body: bytes
) -> Verification:
    """Every key of the endpoint against the header, as a receiver's verifier would."""
    timestamp_text = timestamp_text.strip()
    if not timestamp_text:
        raise _field_error("timestamp", "Paste the Harbor-Timestamp header, or pick an attempt.")
    if not timestamp_text.isascii() or not timestamp_text.isdigit() or len(timestamp_text) > 20:
        raise _field_error("timestamp", "Harbor-Timestamp is Unix seconds: digits only.")
    candidates = [
        value.strip()
        for scheme, _, value in (
            item.strip().partition("=") for item in signature_text.strip().split(",")
        )
        if scheme == signing.SIGNATURE_SCHEME and value.strip()
    ]
    if not candidates:
        raise _field_error(
            "signature", "Harbor-Signature holds no v1= signature (e.g. v1=5257a8…)."
        )
    timestamp = int(timestamp_text)
    checks = []
    for key in keys:
        expected = signing.sign(key.secret, timestamp, body)
        matched = any(
            hmac.compare_digest(expected.encode(), c.encode("utf-8", "replace")) for c in candidates
        )
        if key.expires_ms is None:
            state = "current"
        elif key.expires_ms > now_ms:
            state = "still valid"
        else:
            state = "expired"
        checks.append(KeyCheck(key, expected, matched, state))
    verified_by = next((c.key for c in checks if c.matched), None)
    problem = None
    if verified_by is not None:
        headers = {
            signing.TIMESTAMP_HEADER: timestamp_text,
            signing.SIGNATURE_HEADER: signature_text,
        }
        try:
            signing.verify(body, headers, verified_by.secret)
        except signing.SignatureVerificationError as exc:
            problem = str(exc)
    return Verification(
        timestamp=timestamp,
        signed_string=f"{timestamp}." + body.decode("utf-8", "replace"),
        candidates=candidates,
        checks=checks,
        verified_by=verified_by,
        tolerance_problem=problem,
    )


@dashboard
async def verify_signature(request: Request) -> Response:
    state = request.app.state
    form = await read_form(request)
    endpoint, _ = await endpoint_pages.endpoint_of(request)
    verify_form = {name: form.get(name, "") for name in FORM_FIELDS}
    try:
        attempt_id = verify_form["attempt_id"].strip()
        if attempt_id:
            attempt = await deliveries.get_attempt(state.db, attempt_id)
            delivery = (
                None
                if attempt is None
                else await deliveries.get(state.db, attempt.delivery_id, endpoint.livemode)
            )
            if attempt is None or delivery is None or delivery.endpoint_id != endpoint.id:
                raise _field_error(
                    "attempt_id", f"{endpoint.id} has no attempt {attempt_id[:100]}."
                )
            sent = attempt.request_headers or {}
            timestamp_text = sent.get(signing.TIMESTAMP_HEADER, "")
            signature_text = sent.get(signing.SIGNATURE_HEADER, "")
            body = delivery.envelope
            verify_form.update(timestamp=timestamp_text, signature=signature_text, body="")
        else:
            timestamp_text, signature_text = verify_form["timestamp"], verify_form["signature"]
            body = verify_form["body"].encode("utf-8")
        keys = [
            key
            for key in await signing_key_store.list_all(state.db)
            if key.endpoint_id == endpoint.id
        ]
        keys.sort(key=lambda key: (key.created_ms, key.id), reverse=True)
        result = check(keys, state.clock.now_ms(), timestamp_text, signature_text, body)
    except HarborError as exc:
        return await endpoint_pages.detail(
            request, endpoint.id, error=exc, verify_form=verify_form, status_code=exc.status
        )
    return await endpoint_pages.detail(
        request, endpoint.id, verification=result, verify_form=verify_form
    )


routes = [Route("/webhooks/{id}/verify", verify_signature, methods=["POST"])]
