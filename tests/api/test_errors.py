"""Bad input: each a stable 4xx in Harbor's error shape, with nothing stored."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Emulator, error_of


def _post_raw(
    api: httpx.Client, body: bytes, content_type: str = "application/json"
) -> httpx.Response:
    return api.post("/v1/events", content=body, headers={"Content-Type": content_type})


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (b"{not json", "invalid_json", None),
        (b"[1, 2]", "invalid_json", None),
        (b'"a string"', "invalid_json", None),
        (b'{"type": "a", "payload": {"x": NaN}}', "invalid_json", None),
        (b'{"type": "a", "payload": {"x": "\\ud800"}}', "invalid_json", None),
        (b"\xff\xfe{}", "invalid_json", None),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json", None),
        (b'{"payload": {}}', "missing_parameter", "type"),
        (b'{"type": "a"}', "missing_parameter", "payload"),
        (b'{"type": "", "payload": {}}', "invalid_parameter", "type"),
        (b'{"type": "has space", "payload": {}}', "invalid_parameter", "type"),
        (b'{"type": "nul\\u0000", "payload": {}}', "invalid_parameter", "type"),
        (b'{"type": 5, "payload": {}}', "invalid_parameter", "type"),
        (b'{"type": "' + b"x" * 256 + b'", "payload": {}}', "invalid_parameter", "type"),
        (b'{"type": "a", "payload": [1]}', "invalid_parameter", "payload"),
        (b'{"type": "a", "body": "text"}', "invalid_parameter", "body"),
        (b'{"type": "a", "payload": {}, "body": {}}', "invalid_parameter", "body"),
        (
            b'{"type": "a", "payload": {}, "workspaceId": "ws_x"}',
            "invalid_parameter",
            "workspaceId",
        ),
        (
            b'{"type": "a", "payload": {}, "workspace_id": "nope"}',
            "invalid_parameter",
            "workspace_id",
        ),
        (b'{"type": "a", "payload": {}, "workspace_id": 7}', "invalid_parameter", "workspace_id"),
    ],
)
def test_bad_event_bodies(api: httpx.Client, body: bytes, code: str, param: str | None) -> None:
    response = _post_raw(api, body)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == code
    assert error["param"] == param
    assert api.get("/v1/events").json()["data"] == []


def test_type_of_255_characters_is_accepted(api: httpx.Client) -> None:
    response = api.post("/v1/events", json={"type": "x" * 255, "payload": {}})
    assert response.status_code == 201


def test_wrong_content_type_is_415(api: httpx.Client) -> None:
    response = _post_raw(api, b"type=a", "application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_body_over_one_megabyte_is_413_before_parsing(api: httpx.Client) -> None:
    response = _post_raw(api, b'{"type": "a", "payload": {"x": "' + b"a" * 1_100_000 + b'"}}')
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_streamed_body_over_one_megabyte_is_413(api: httpx.Client) -> None:
    def chunks():  # no Content-Length: chunked transfer encoding
        yield b'{"type": "a", "payload": {"x": "'
        for _ in range(20):
            yield b"a" * 100_000
        yield b'"}}'

    response = api.post(
        "/v1/events", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_unknown_route_and_method(api: httpx.Client) -> None:
    missing = api.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"
    wrong = api.delete("/v1/events")
    assert wrong.status_code == 405
    assert error_of(wrong)["code"] == "method_not_allowed"


def test_absurdly_long_header_values(api: httpx.Client) -> None:
    long_key = "hb_test_" + "a" * 5000
    response = api.get("/v1/events", headers={"Authorization": f"Bearer {long_key}"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"
    response = api.post(
        "/v1/events", json={"type": "a", "payload": {}}, headers={"Idempotency-Key": "k" * 4000}
    )
    assert response.status_code == 400
    assert error_of(response)["param"] == "Idempotency-Key"


def test_every_response_carries_a_request_id(emulator: Emulator) -> None:
    for response in [
        emulator.http.get("/v1/events"),
        emulator.http.get("/nope"),
        emulator.http.get("/_control/health"),
    ]:
        assert response.headers["harbor-request-id"].startswith("req_")
