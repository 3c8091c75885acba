"""The served OpenAPI document and the server agree where an outside schemathesis run found
they did not (issue 25, finding 11): a `null` the document does not allow is refused, and
conflicting clock fields are `invalid_parameter`, not `missing_parameter`. The last two tests
are what scripts/fuzz found once it fuzzed /_control too.

The generated Python SDK's model of the delivery-fault body is tested in
tests/test_sdk_generators.py, beside the other generated-client tests.
"""

from __future__ import annotations

from typing import Any

import pytest

from harbor_emulator.api.openapi import document
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


def test_clock_advance_takes_what_the_document_allows(emulator: Emulator) -> None:
    # The document once said at most 3,153,600,000 s while the server took more (a fuzzer's
    # "schema-violating request accepted"); both now say: the clock's whole range.
    emulator.control("POST", "/clock/freeze")
    maximum = document()["paths"]["/_control/clock/advance"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]["properties"]["seconds"]["maximum"]
    over = emulator.control("POST", "/clock/advance", json={"seconds": maximum + 1})
    assert (over.status_code, error_of(over)["code"]) == (400, "invalid_parameter")
    century_and_a_second = emulator.control("POST", "/clock/advance", json={"seconds": 3153600001})
    assert century_and_a_second.status_code == 200, century_and_a_second.text


def test_a_json_null_fixtures_document_is_refused(emulator: Emulator) -> None:
    # YAML's empty document is null and loads nothing; a JSON body must be an object.
    response = emulator.control(
        "POST", "/fixtures", content=b"null", headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, error_of(response)["code"]) == (400, "invalid_fixtures")
    empty_yaml = emulator.control(
        "POST", "/fixtures", content=b"", headers={"Content-Type": "application/yaml"}
    )
    assert empty_yaml.status_code == 201, empty_yaml.text
