"""harbor_emulator/openapi.yaml agrees with the server, and the response check can fail.

Responses are checked against the document on every request the suite makes
(tests/openapi_check.py); these tests prove the rest of the agreement: the same routes,
the same error codes and statuses, the same request fields.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
import yaml
from openapi_spec_validator import validate
from starlette.routing import Route

from harbor_emulator.api import endpoint_common, events, replays, subscriptions
from harbor_emulator.api.openapi import document
from harbor_emulator.control import faults, fixtures, sinks
from harbor_emulator.core.errors import STATUS_BY_CODE
from harbor_emulator.server.app import create_app, flat_routes
from harbor_emulator.server.config import Config
from tests.conftest import Emulator
from tests.openapi_check import OpenAPIDocument, OpenAPIDrift, ResponseChecker, compiled

HTTP_METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in document()["paths"].items()
        for method, op in item.items()
        if method.upper() in HTTP_METHODS
    }


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = compiled().resolve(node["$ref"].removeprefix("#"))[1]
    return node


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(document())
    assert document()["openapi"].startswith("3.1.")


def test_it_is_served_as_json_naming_the_emulator(emulator: Emulator) -> None:
    response = emulator.http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    served = response.json()
    assert served["servers"] == [{"url": emulator.url, "description": "this emulator"}]
    assert {**served, "servers": None} == {**json.loads(json.dumps(document())), "servers": None}


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    # Routes loaded by their first request (LazyRoutes) count as served: list them too.
    served = {
        (method, route.path)
        for route in flat_routes(create_app(Config()).routes)
        if isinstance(route, Route) and route.path.startswith(("/v1/", "/_control/"))
        for method in (route.methods or set()) & HTTP_METHODS
    }
    documented = set(_operations())
    assert served - documented == set()
    assert documented - served == set()


def test_error_codes_and_statuses_are_the_servers() -> None:
    code_schema = document()["components"]["schemas"]["ErrorCode"]
    assert code_schema["enum"] == list(STATUS_BY_CODE)
    assert code_schema["x-status-by-code"] == STATUS_BY_CODE
    listed = 0
    for (method, path), op in _operations().items():
        for status, response in op["responses"].items():
            for code in _resolve(response).get("x-error-codes", []):
                assert STATUS_BY_CODE[code] == int(status), (method, path, status, code)
                listed += 1
            if int(status) >= 400:
                assert "x-error-codes" in _resolve(response), (method, path, status)
    assert listed > 100


@pytest.mark.parametrize(
    ("schema_name", "server_fields"),
    [
        ("EventCreate", events.CREATE_FIELDS),
        ("WebhookCreate", endpoint_common.WEBHOOKS.create_fields),
        ("WebhookUpdate", endpoint_common.WEBHOOKS.patch_fields),
        ("DestinationCreate", endpoint_common.DESTINATIONS.create_fields),
        ("DestinationUpdate", endpoint_common.DESTINATIONS.patch_fields),
        ("SubscriptionCreate", subscriptions.CREATE_FIELDS),
        ("EventReplayRequest", replays.REPLAY_FIELDS),
        ("BackfillRequest", replays.BACKFILL_FIELDS),
        ("SinkScript", sinks.SCRIPT_FIELDS),
        ("ScriptedResponseInput", sinks.SCRIPT_ANSWER_FIELDS),
        ("ApiFaultCreate", faults.API_FIELDS),
        ("DeliveryFaultCreate", faults.DELIVERY_FIELDS),
    ],
)
def test_request_bodies_name_exactly_the_fields_the_server_takes(
    schema_name: str, server_fields: tuple[str, ...]
) -> None:
    schema = document()["components"]["schemas"][schema_name]
    # A body with alternative shapes (EventCreate's two dialects) is a oneOf of closed objects.
    shapes = [_resolve(alt) for alt in schema.get("oneOf", [schema])]
    assert all(shape["additionalProperties"] is False for shape in shapes)
    assert {name for shape in shapes for name in shape["properties"]} == set(server_fields)


def test_the_fixtures_schema_is_fixtures_schema_json() -> None:
    """The document's `Fixtures` is harbor_emulator/fixtures.schema.json, the schema the
    loader checks every document against, its `$defs` lifted to `Fixtures<Def>` components
    (generators do not follow a `$ref` into a schema's `$defs`)."""

    def component(name: str) -> str:
        return "Fixtures" + "".join(word.capitalize() for word in name.split("_"))

    def local(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: f"#/components/schemas/{component(v.removeprefix('#/$defs/'))}"
                if k == "$ref"
                else local(v)
                for k, v in node.items()
            }
        return [local(v) for v in node] if isinstance(node, list) else node

    source = fixtures.schema()
    schemas = document()["components"]["schemas"]
    expected = {k: v for k, v in source.items() if k not in ("$schema", "$id", "$defs")}
    assert schemas["Fixtures"] == local(expected)
    for name, definition in source["$defs"].items():
        assert schemas[component(name)] == local(definition), name


def _control_operations() -> list[tuple[str, str]]:
    return sorted(path_method for path_method in _operations() if "/_control/" in path_method[1])


def test_the_control_token_guards_every_documented_control_route(emulator_factory: Any) -> None:
    guarded = emulator_factory(control_token="T")
    for method, path in _control_operations():
        concrete = path.replace("{name}", "orders").replace("{id}", "flt_1")
        concrete = concrete.replace("{key}", "hb_test_x")
        response = guarded.http.request(method, concrete, json={})
        # The response check has already found the 401 in the operation's responses.
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "authentication_required"
    assert guarded.openapi.checked >= len(_control_operations())


@pytest.mark.parametrize(
    ("path", "body", "code", "param"),
    [
        (
            "/_control/sinks/orders",
            {"responses": [], "no_such_field": 1},
            "invalid_parameter",
            "no_such_field",
        ),
        (
            "/_control/sinks/orders",
            {"responses": [{"no_such_field": 1}]},
            "invalid_parameter",
            "responses[0].no_such_field",
        ),
        (
            "/_control/faults",
            {"target": "api", "error_code": "not_found", "no_such_field": 1},
            "invalid_parameter",
            "no_such_field",
        ),
        (
            "/_control/faults",
            {
                "target": "delivery",
                "endpoint_id": "wh_1",
                "outcome": 500,
                "error_code": "not_found",
            },
            "invalid_parameter",
            "error_code",
        ),
        ("/_control/fixtures", {"no_such_field": 1}, "invalid_fixtures", "no_such_field"),
    ],
)
def test_control_bodies_refuse_unknown_fields(
    emulator: Emulator, path: str, body: dict[str, Any], code: str, param: str
) -> None:
    method = "PUT" if path.startswith("/_control/sinks/") else "POST"
    schema = _resolve(_operations()[(method, path.replace("orders", "{name}"))]["requestBody"])
    media = _resolve(schema["content"]["application/json"]["schema"])
    assert media.get("additionalProperties") is False or "oneOf" in media
    response = emulator.http.request(method, path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["param"] == param


def _write_operations() -> list[tuple[str, str]]:
    return [
        (method, path)
        for (method, path), op in _operations().items()
        if path.startswith("/v1/") and "requestBody" in op
    ]


@pytest.mark.parametrize(("method", "path"), _write_operations())
def test_unknown_body_fields_are_refused_everywhere(
    api: httpx.Client, method: str, path: str
) -> None:
    ids = {
        "/v1/webhooks/{id}": lambda: api.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["*"]}
        ),
        "/v1/destinations/{id}": lambda: api.post(
            "/v1/destinations", json={"url": "http://127.0.0.1:9/"}
        ),
        "/v1/events/{id}": lambda: api.post("/v1/events", json={"type": "a", "payload": {}}),
    }
    for prefix, create in ids.items():
        if path.startswith(prefix):
            path = path.replace("{id}", create().json()["id"])
    if path.startswith("/v1/deliveries/{id}"):
        webhook = ids["/v1/webhooks/{id}"]().json()
        api.post("/v1/events", json={"type": "a", "payload": {}})
        [delivery] = api.get("/v1/deliveries", params={"webhook_id": webhook["id"]}).json()["data"]
        path = path.replace("{id}", delivery["id"])
    response = api.request(method, path, json={"no_such_field": 1})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_parameter"
    assert response.json()["error"]["param"] == "no_such_field"


def _response(
    method: str,
    path: str,
    status: int,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    request = httpx.Request(method, f"http://127.0.0.1{path}")
    all_headers = {"Harbor-Request-Id": "req_01ABC", **(headers or {})}
    if body is None:
        return httpx.Response(status, headers=all_headers, request=request)
    return httpx.Response(status, json=body, headers=all_headers, request=request)


def _error(code: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": "m", "param": None, "request_id": "req_01ABC"}}


EVENT = {
    "id": "evt_01ABC",
    "object": "event",
    "type": "a",
    "workspace_id": "ws_1",
    "payload": {},
    "created_at": "2026-05-25T12:00:00Z",
    "livemode": False,
}


FAULT = {
    "id": "flt_1",
    "object": "fault",
    "target": "api",
    "method": None,
    "path": "/v1/*",
    "error_code": "internal_error",
    "probability": None,
    "seed": None,
    "remaining": None,
    "fired_count": 0,
    "created_at": "2026-05-25T12:00:00Z",
}


def _yaml_response(path: str, text: str) -> httpx.Response:
    request = httpx.Request("GET", f"http://127.0.0.1{path}")
    headers = {"Harbor-Request-Id": "req_01ABC", "Content-Type": "application/yaml"}
    return httpx.Response(200, content=text.encode(), headers=headers, request=request)


@pytest.mark.parametrize(
    ("response", "complaint"),
    [
        (_response("GET", "/v1/events/evt_1", 200, {**EVENT, "extra": 1}), "extra"),
        (_response("GET", "/v1/events/evt_1", 200, {**EVENT, "created_at": "x"}), "created_at"),
        (_response("GET", "/v1/events/evt_1", 418, _error("not_found")), "not documented"),
        (_response("GET", "/v1/events/evt_1", 404, _error("webhook_not_found")), "code"),
        (_response("GET", "/v1/events/evt_1", 400, _error("invalid_parameter")), "400"),
        (_response("POST", "/v1/events", 429, _error("rate_limit_exceeded")), "Retry-After"),
        (_response("DELETE", "/v1/webhooks/wh_1", 204, {"x": 1}), "no body"),
        (_response("GET", "/v1/nope", 404, _error("event_not_found")), "undocumented route"),
        (_response("PUT", "/v1/events", 405, _error("method_not_allowed")), "Allow"),
        (_response("GET", "/_control/nope", 404, _error("event_not_found")), "undocumented route"),
        (_response("GET", "/_control/nope", 200, {"ok": True}), "is not in openapi.yaml"),
        (
            _response("GET", "/_control/faults", 200, {"object": "list", "data": [FAULT]}),
            "has_more",
        ),
        (_response("POST", "/_control/faults", 201, {**FAULT, "retry_after_ms": 1}), "retry_after"),
        (_response("POST", "/_control/faults", 201, {**FAULT, "target": "x"}), "not valid"),
        (_response("DELETE", "/_control/faults/flt_1", 404, _error("webhook_not_found")), "code"),
        (_response("POST", "/_control/fixtures", 400, _error("invalid_parameter")), "code"),
        (_yaml_response("/_control/export", "version: 1\n"), "required"),
        (_yaml_response("/_control/export", "a: [\n"), "not application/yaml"),
        (
            httpx.Response(200, request=httpx.Request("POST", "http://127.0.0.1/_sink/a")),
            "Harbor-Request-Id",
        ),
    ],
)
def test_the_response_check_catches_drift(response: httpx.Response, complaint: str) -> None:
    with pytest.raises(OpenAPIDrift, match=complaint):
        ResponseChecker().check(response)


def test_the_response_check_passes_a_conforming_response() -> None:
    checker = ResponseChecker()
    checker.check(_response("GET", "/v1/events/evt_1", 200, EVENT))
    checker.check(_response("POST", "/_sink/a/b", 500, {"anything": 1}))
    assert checker.checked == 1


def test_armed_faults_relax_only_the_operation_not_the_error_shape() -> None:
    checker = ResponseChecker()
    checker.check(_response("POST", "/_control/faults", 201, FAULT))
    checker.check(_response("GET", "/v1/events/evt_1", 500, _error("internal_error")))
    with pytest.raises(OpenAPIDrift, match="answered with 500"):
        checker.check(_response("GET", "/v1/events/evt_1", 500, _error("event_not_found")))
    checker.check(
        _response(
            "POST", "/_control/reset", 200, {"object": "reset", "now": "2026-05-25T12:00:00Z"}
        )
    )
    with pytest.raises(OpenAPIDrift):
        checker.check(_response("GET", "/v1/events/evt_1", 500, _error("internal_error")))


def test_the_yaml_file_is_the_document() -> None:
    from importlib.resources import files

    text = files("harbor_emulator").joinpath("openapi.yaml").read_text("utf-8")
    assert yaml.safe_load(text) == document()


def _example_problems(spec: dict[str, Any]) -> list[str]:
    """Every example of the document (media types, parameters, schemas) checked against
    the schema it illustrates: an example that drifts from its schema is a problem."""
    checked = OpenAPIDocument(spec)
    problems: list[str] = []

    def check(where: str, schema_pointer: str, value: Any) -> None:
        problems.extend(f"{where}: {error}" for error in checked.errors(schema_pointer, value))

    def walk(node: Any, pointer: str) -> None:
        if isinstance(node, dict):
            if "schema" in node and isinstance(node["schema"], dict):
                if "example" in node:
                    check(pointer, f"{pointer}/schema", node["example"])
                for name in node.get("examples", {}):
                    _, resolved = checked.resolve(f"{pointer}/examples/{name}")
                    check(f"{pointer}/examples/{name}", f"{pointer}/schema", resolved["value"])
            for media_type, media in (
                node.get("content", {}).items() if "x-error-codes" in node else ()
            ):
                for name in media.get("examples", {}):
                    where = f"{pointer}/content/{media_type.replace('/', '~1')}/examples/{name}"
                    code = checked.resolve(where)[1]["value"]["error"]["code"]
                    if code not in node["x-error-codes"]:
                        problems.append(f"{where}: {code} is not in x-error-codes")
            # A schema's own `examples` is a list; a media type's or parameter's is a map.
            schema_examples = node.get("examples")
            if isinstance(schema_examples, list):
                for index, example in enumerate(schema_examples):
                    check(f"{pointer}/examples/{index}", pointer, example)
            for key, child in node.items():
                walk(child, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{pointer}/{index}")

    walk(spec["paths"], "/paths")
    walk(spec["components"], "/components")
    return problems


def test_every_example_validates_against_its_schema() -> None:
    assert _example_problems(document()) == []


def test_an_example_that_drifts_from_its_schema_fails() -> None:
    drifted = copy.deepcopy(document())
    drifted["components"]["examples"]["createEventResponse"]["value"]["id"] = "event_1"
    drifted["components"]["parameters"]["EventId"]["schema"]["pattern"] = "^evt_"
    drifted["components"]["parameters"]["EventId"]["example"] = "e1"
    drifted["components"]["schemas"]["WorkspaceId"]["examples"] = ["workspace_1"]
    problems = _example_problems(drifted)
    assert any("WorkspaceId/examples/0" in p and "workspace_1" in p for p in problems), problems
    assert any("createEventResponse" in p and "event_1" in p for p in problems), problems
    assert any("EventId" in p and "'e1'" in p for p in problems), problems
    drifted["components"]["examples"]["EventNotFoundExample"]["value"]["error"]["code"] = (
        "not_found"
    )
    assert "EventNotFoundExample: not_found is not in x-error-codes" in "\n".join(
        _example_problems(drifted)
    )


def test_every_operation_has_request_and_success_examples() -> None:
    missing = []
    for (method, path), op in _operations().items():
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None and not body.get("examples"):
            missing.append(f"{method} {path} request")
        for status, response in op["responses"].items():
            media = _resolve(response).get("content", {}).get("application/json")
            if status.startswith("2") and media is not None and not media.get("examples"):
                missing.append(f"{method} {path} {status}")
        for parameter in map(_resolve, op.get("parameters", [])):
            has_example = "example" in parameter or parameter["schema"].get("examples")
            if parameter["in"] == "path" and not has_example:
                missing.append(f"{method} {path} parameter {parameter['name']}")
    assert missing == []
