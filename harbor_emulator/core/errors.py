"""The one error type of the emulator and the table that maps its codes to HTTP statuses."""

from __future__ import annotations

from typing import Any

STATUS_BY_CODE: dict[str, int] = {
    "invalid_json": 400,
    "missing_parameter": 400,
    "invalid_parameter": 400,
    "invalid_url": 400,
    "url_not_reachable": 400,
    "invalid_cursor": 400,
    "metadata_too_large": 400,
    "over_destination_limit": 400,
    "invalid_fixtures": 400,
    "authentication_required": 401,
    "invalid_api_key": 401,
    "insufficient_scope": 403,
    "host_not_allowed": 403,
    "cross_site_request": 403,
    "event_not_found": 404,
    "webhook_not_found": 404,
    "destination_not_found": 404,
    "subscription_not_found": 404,
    "delivery_not_found": 404,
    "workspace_not_found": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "idempotency_key_in_use": 409,
    "idempotency_key_reused": 409,
    "delivery_cancelled": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "rate_limit_exceeded": 429,
    "internal_error": 500,
    "storage_unavailable": 503,
}

# Messages used when a code is raised without one of its own (API faults, routing).
DEFAULT_MESSAGES: dict[str, str] = {
    "invalid_json": "The request body is not valid JSON.",
    "missing_parameter": "A required parameter is missing.",
    "invalid_parameter": "A parameter is invalid.",
    "invalid_url": "The URL is not a valid absolute http(s) URL.",
    "url_not_reachable": "The URL's host is not publicly reachable.",
    "invalid_cursor": "The cursor was not issued by this list.",
    "metadata_too_large": "metadata is larger than 8,192 bytes.",
    "over_destination_limit": "The workspace has reached its endpoint limit.",
    "invalid_fixtures": "The fixtures document is invalid.",
    "authentication_required": "Send your API key as 'Authorization: Bearer <key>'.",
    "invalid_api_key": "The API key is unknown or revoked.",
    "insufficient_scope": "The API key lacks a scope this request needs.",
    "host_not_allowed": "The request's Host is not one this emulator answers.",
    "cross_site_request": "Another site's page may not write to the emulator.",
    "event_not_found": "No such event.",
    "webhook_not_found": "No such webhook.",
    "destination_not_found": "No such destination.",
    "subscription_not_found": "No such subscription.",
    "delivery_not_found": "No such delivery.",
    "workspace_not_found": "No such workspace.",
    "not_found": "No such route.",
    "method_not_allowed": "This route does not accept that method.",
    "idempotency_key_in_use": "A request with this Idempotency-Key is still running.",
    "idempotency_key_reused": "This Idempotency-Key was used with a different request.",
    "delivery_cancelled": "The delivery is cancelled and cannot be replayed.",
    "payload_too_large": "The payload is too large.",
    "unsupported_media_type": "Send the body as 'Content-Type: application/json'.",
    "rate_limit_exceeded": "Too many requests; slow down.",
    "internal_error": "An internal error occurred; this is a bug in the emulator.",
    "storage_unavailable": "The emulator's database can't be written right now; retry shortly.",
}


class HarborError(Exception):
    """An error the API answers with `{"error": {...}}`; the code picks the status.

    An unknown code fails here, at construction, so a typo cannot reach a client.
    """

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if code not in STATUS_BY_CODE:
            raise ValueError(f"unknown Harbor error code {code!r}")
        self.code = code
        self.status = STATUS_BY_CODE[code]
        self.message = message or DEFAULT_MESSAGES[code]
        self.param = param
        self.headers = headers or {}
        # Fields beside code/message/param, e.g. retry_after_ms on 429.
        self.extra = extra or {}
        super().__init__(f"{code}: {self.message}")

    def body(self, request_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "param": self.param,
            "request_id": request_id,
        }
        error.update(self.extra)
        return {"error": error}


def not_found_code(object_name: str) -> str:
    """`event` -> `event_not_found`, the 404 code of an object kind."""
    return f"{object_name}_not_found"
