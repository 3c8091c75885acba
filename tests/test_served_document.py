"""The served OpenAPI document and the server agree where an outside schemathesis run found
they did not (issue 25, finding 11): a `null` the document does not allow is refused, and
conflicting clock fields are `invalid_parameter`, not `missing_parameter`.

The generated Python SDK's model of the delivery-fault body is tested in
tests/test_sdk_generators.py, beside the other generated-client tests.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Emulator, error_of


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/api_keys", {"key": None, "mode": "test"}, "key"),
        ("/api_keys", {"key": None}, "key"),
        ("/workspaces", {"id": None}, "id"),
        ("/workspaces", {"id": None, "name": "Acme"}, "id"),
    ],
)
def test_null_where_the_document_allows_only_a_string_is_refused(
    emulator: Emulator, path: str, body: dict[str, Any], param: str
) -> None:
    before = emulator.control("GET", path).json()["data"]
    response = emulator.control("POST", path, json=body)
    assert response.status_code == 400, response.text
    assert (error_of(response)["code"], error_of(response)["param"]) == ("invalid_parameter", param)
    assert emulator.control("GET", path).json()["data"] == before


@pytest.mark.parametrize("path", ["/api_keys", "/workspaces"], ids=["api_keys", "workspaces"])
def test_an_absent_key_or_id_is_still_made_up(emulator: Emulator, path: str) -> None:
    created = emulator.control("POST", path, json={})
    assert created.status_code == 201, created.text


def test_both_clock_advance_fields_conflict(emulator: Emulator) -> None:
    before = emulator.control("POST", "/clock/freeze").json()
    response = emulator.control("POST", "/clock/advance", json={"duration": "1h", "seconds": 5})
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert (error["code"], error["param"]) == ("invalid_parameter", "seconds")
    assert "not both" in error["message"]
    assert emulator.control("GET", "/clock").json()["now"] == before["now"]


def test_neither_clock_advance_field_is_missing(emulator: Emulator) -> None:
    response = emulator.control("POST", "/clock/advance", json={})
    assert (response.status_code, error_of(response)["code"]) == (400, "missing_parameter")
