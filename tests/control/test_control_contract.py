"""The control routes' edges, each answer checked against openapi.yaml by the response hook
(tests/openapi_check.py): the YAML export, the media types of fixtures, the faults' and
sinks' optional fields, routing errors under /_control."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from tests.conftest import Emulator

ROOT = Path(__file__).resolve().parents[2]


def _populate(emulator: Emulator, api: httpx.Client) -> None:
    text = (ROOT / "fixtures" / "sdk-quickstart.yaml").read_bytes()
    loaded = emulator.control(
        "POST", "/fixtures", content=text, headers={"Content-Type": "application/yaml"}
    )
    assert loaded.status_code == 201, loaded.text
    hook = api.post("/v1/webhooks", json={"url": f"{emulator.url}/_sink/contract", "events": ["*"]})
    assert hook.status_code == 201, hook.text
    assert api.post("/v1/events", json={"type": "a.b", "payload": {"n": 1}}).status_code == 201
    assert emulator.control("POST", "/deliveries/drain").json()["drained"] is True


def test_the_export_as_yaml_and_json_is_the_documented_document(
    emulator: Emulator, api: httpx.Client
) -> None:
    _populate(emulator, api)
    emulator.control("POST", "/clock/freeze")
    as_yaml = emulator.control("GET", "/export", params={"format": "yaml"})
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    by_accept = emulator.control("GET", "/export", headers={"Accept": "application/yaml"})
    assert by_accept.headers["content-type"].startswith("application/yaml")
    as_json = emulator.control(
        "GET", "/export", params={"format": "json"}, headers={"Accept": "application/yaml"}
    )
    assert as_json.headers["content-type"] == "application/json"
    exported = yaml.safe_load(as_yaml.text)
    assert exported["deliveries"] and exported["webhooks"]
    assert exported == as_json.json()


def test_fixtures_media_types(emulator: Emulator) -> None:
    for media_type in ("application/x-yaml", "text/yaml", "application/vnd.x+json"):
        body = b"{}" if media_type.endswith("json") else b"workspaces: []\n"
        response = emulator.control(
            "POST", "/fixtures", content=body, headers={"Content-Type": media_type}
        )
        assert response.status_code == 201, (media_type, response.text)
    refused = emulator.control(
        "POST", "/fixtures", content=b"a", headers={"Content-Type": "text/plain"}
    )
    assert refused.status_code == 415
    broken = emulator.control(
        "POST", "/fixtures", content=b"a: [", headers={"Content-Type": "application/yaml"}
    )
    assert broken.json()["error"]["code"] == "invalid_fixtures"
    empty = emulator.control(
        "POST", "/fixtures", content=b"", headers={"Content-Type": "application/yaml"}
    )
    assert empty.status_code == 201
    assert set(empty.json().values()) == {"fixtures", 0}
    empty_json = emulator.control("POST", "/fixtures", content=b"")
    assert empty_json.json()["error"]["code"] == "invalid_fixtures"


def test_faults_with_every_optional_field(emulator: Emulator) -> None:
    specs = [
        {"target": "api", "error_code": "rate_limit_exceeded", "retry_after_ms": 0},
        {
            "target": "api",
            "method": "get",
            "path": "/v1/*",
            "error_code": "internal_error",
            "probability": 0,
            "seed": -(2**63 - 1),
        },
        {"target": "api", "error_code": "not_found", "count": None, "probability": None},
        {"target": "delivery", "endpoint_id": "dest_1", "outcome": 100, "probability": 1},
        {
            "target": "delivery",
            "endpoint_id": "wh_1",
            "outcome": "connection_error",
            "count": 1_000_000,
        },
    ]
    for spec in specs:
        response = emulator.control("POST", "/faults", json=spec)
        assert response.status_code == 201, (spec, response.text)
    listed = emulator.control("GET", "/faults").json()["data"]
    assert [fault["target"] for fault in listed] == [spec["target"] for spec in specs]
    bad = [
        {},
        {"target": "x"},
        {"target": "api", "error_code": "not_found", "retry_after_ms": 1},
        {"target": "api", "error_code": "not_found", "count": 1, "probability": 0.5},
        {"target": "api", "error_code": "not_found", "seed": 1},
        {"target": "delivery", "endpoint_id": "evt_1", "outcome": 500},
    ]
    for spec in bad:
        response = emulator.control("POST", "/faults", json=spec)
        assert response.status_code == 400, (spec, response.text)
    assert emulator.control("DELETE", "/faults/flt_nope").status_code == 404


def test_sink_scripts_with_every_field(emulator: Emulator) -> None:
    script = {
        "responses": [
            {"status": 204, "delay_ms": 0, "body": "", "headers": {"X-Reply": "yes"}},
            {"status": 599},
            {},
        ]
    }
    scripted = emulator.control("PUT", "/sinks/s%20pace", json=script)
    assert scripted.status_code == 200, scripted.text
    assert scripted.json()["responses"][0]["headers"] == {"x-reply": "yes"}
    for method in ("POST", "GET", "HEAD", "PATCH"):
        emulator.http.request(method, "/_sink/s%20pace/a/b?q=1", content=b"\xff")
    [sink] = emulator.control("GET", "/sinks").json()["data"]
    assert sink["request_count"] == 4
    received = emulator.control("GET", "/sinks/s%20pace").json()["data"]
    assert received[0]["body"] == "\ufffd"
    for bad in (
        {"responses": [{"headers": {"Connection": "close"}}]},
        {"responses": [{"status": 199}]},
        {"responses": "x"},
        {},
    ):
        assert emulator.control("PUT", "/sinks/a", json=bad).status_code == 400, bad
    assert emulator.control("PUT", "/sinks/a", content=b"[]").status_code in (400, 415)


def test_routing_errors_under_control(emulator: Emulator) -> None:
    assert emulator.control("POST", "/sinks").status_code == 405
    assert emulator.control("PATCH", "/faults/flt_1").status_code == 405
    assert emulator.control("GET", "/nope").status_code == 404
    assert emulator.http.get("/_control").status_code == 404
