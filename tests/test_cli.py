"""The commands that drive a running emulator, run as real subprocesses."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Emulator


def harbor(
    *args: str, url: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `harbor-emulator ARGS` with a clean environment pointing at `url`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
    if url is not None:
        clean["HARBOR_EMULATOR_URL"] = url
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "harbor_emulator.cli", *args],
        capture_output=True,
        text=True,
        env=clean,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _clock_now(emulator: Emulator) -> datetime:
    text = emulator.control("GET", "/clock").json()["now"]
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_clock_commands(emulator: Emulator) -> None:
    frozen = ok(harbor("clock", "freeze", url=emulator.url))
    assert "frozen" in frozen
    before = _clock_now(emulator)

    advanced = ok(harbor("clock", "advance", "1h30m", url=emulator.url))
    assert (_clock_now(emulator) - before).total_seconds() == 5400
    assert advanced.split()[0] == emulator.control("GET", "/clock").json()["now"]
    ok(harbor("clock", "advance", "60", url=emulator.url))
    assert (_clock_now(emulator) - before).total_seconds() == 5460

    shown = ok(harbor("clock", "set", "2099-05-25T12:00:00Z", url=emulator.url))
    assert shown.startswith("2099-05-25T12:00:00Z  frozen")
    assert ok(harbor("clock", "show", url=emulator.url)).startswith("2099-05-25T12:00:00Z")

    running = ok(harbor("clock", "unfreeze", url=emulator.url))
    assert "running" in running
    assert emulator.control("GET", "/clock").json()["frozen"] is False


def test_url_option_on_the_group(emulator: Emulator) -> None:
    shown = ok(harbor("clock", "--url", emulator.url, "show", url=closed_port_url()))
    assert "running" in shown


def test_server_errors_print_one_line_and_exit_1(emulator: Emulator) -> None:
    result = harbor("clock", "set", "2000-01-01T00:00:00Z", url=emulator.url)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: invalid_parameter: The clock only moves forward; now is earlier."
    ]


def test_reset(emulator: Emulator) -> None:
    emulator.http.post("/_sink/a", content=b"x")
    emulator.control("POST", "/faults", json={"target": "api", "error_code": "internal_error"})
    emulator.control("POST", "/clock/set", json={"now": "2099-01-01T00:00:00Z"})
    assert ok(harbor("reset", url=emulator.url)).startswith("reset; clock at ")
    assert emulator.control("GET", "/sinks/a").json()["data"] == []
    assert emulator.control("GET", "/faults").json()["data"] == []
    assert _clock_now(emulator).year < 2099


def test_trigger_creates_an_event(emulator: Emulator) -> None:
    out = ok(harbor("trigger", "order.paid", "--data", '{"order_id": "o_1"}', url=emulator.url))
    match = re.fullmatch(r"created (evt_\w+) order\.paid in (ws_\w+) \((.*)\): 0 deliveries\n", out)
    assert match, out
    event_id, workspace_id, reason = match.groups()
    assert reason == "the key's own workspace; no webhook or destination exists yet"
    # The default key is hb_test_cli: the event is readable with it.
    with emulator.api("hb_test_cli") as api:
        event = api.get(f"/v1/events/{event_id}").json()
    assert (event["payload"], event["workspace_id"]) == ({"order_id": "o_1"}, workspace_id)


def test_trigger_with_key_workspace_and_json(emulator: Emulator, tmp_path: Path) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text('{"n": 2}')
    out = harbor(
        "trigger",
        "a.b",
        "--data",
        f"@{payload}",
        "--workspace",
        "ws_clitest",
        "--json",
        url=emulator.url,
        env={"HARBOR_API_KEY": "hb_test_fromenv"},
    )
    event = json.loads(ok(out))
    assert (event["type"], event["payload"], event["workspace_id"]) == (
        "a.b",
        {"n": 2},
        "ws_clitest",
    )
    with emulator.api("hb_test_fromenv") as api:
        assert api.get(f"/v1/events/{event['id']}").status_code == 200


def test_trigger_refuses_data_that_is_not_an_object(emulator: Emulator) -> None:
    result = harbor("trigger", "a", "--data", "[1]", url=emulator.url)
    assert result.returncode == 2
    assert "--data" in result.stderr and "JSON object" in result.stderr


def test_sinks_show(emulator: Emulator) -> None:
    assert "no requests" in ok(harbor("sinks", "show", "orders", url=emulator.url))
    emulator.http.post(
        "/_sink/orders", json={"id": "dlv_1"}, headers={"Harbor-Event-Type": "order.paid"}
    )
    emulator.http.put("/_sink/orders/x", content=b"second")
    lines = ok(harbor("sinks", "show", "orders", url=emulator.url)).splitlines()
    assert len(lines) == 2
    assert "POST /_sink/orders  order.paid" in lines[0] and '{"id":"dlv_1"}' in lines[0]
    assert lines[1].endswith("PUT /_sink/orders/x  second")

    as_json = json.loads(ok(harbor("sinks", "show", "orders", "--json", url=emulator.url)))
    assert [r["body"] for r in as_json["data"]] == ['{"id":"dlv_1"}', "second"]
    assert as_json["data"][0]["headers"]["harbor-event-type"] == "order.paid"
    assert "orders  2" in ok(harbor("sinks", "list", url=emulator.url))


def test_faults_add_list_clear(emulator: Emulator) -> None:
    added = ok(
        harbor(
            "faults",
            "add",
            "api",
            "--method",
            "POST",
            "--path",
            "/v1/events",
            "--error-code",
            "rate_limit_exceeded",
            "--count",
            "1",
            url=emulator.url,
        )
    )
    fault_id = added.split()[0]
    assert fault_id.startswith("flt_")
    assert "POST /v1/events  -> rate_limit_exceeded" in added

    listed = ok(harbor("faults", "list", url=emulator.url)).splitlines()
    assert listed[0].split() == ["ID", "TARGET", "MATCH", "RESULT", "REMAINING", "FIRED"]
    assert listed[1].split() == [
        fault_id,
        "api",
        "POST",
        "/v1/events",
        "rate_limit_exceeded",
        "1",
        "0",
    ]

    failed = harbor("trigger", "a", url=emulator.url)
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: rate_limit_exceeded: ")

    delivery = harbor(
        "faults",
        "add",
        "delivery",
        "--endpoint-id",
        "wh_1",
        "--outcome",
        "503",
        "--json",
        url=emulator.url,
    )
    assert json.loads(ok(delivery))["outcome"] == 503

    ok(harbor("faults", "clear", fault_id, url=emulator.url))
    assert [f["target"] for f in emulator.control("GET", "/faults").json()["data"]] == ["delivery"]
    ok(harbor("faults", "clear", url=emulator.url))
    assert ok(harbor("faults", "list", url=emulator.url)).strip() == "no faults"


def test_faults_add_reports_invalid_specs(emulator: Emulator) -> None:
    result = harbor("faults", "add", "api", "--error-code", "teapot", url=emulator.url)
    assert result.returncode == 1
    assert result.stderr.startswith("error: invalid_parameter: Unknown error code 'teapot'")


def test_health(emulator: Emulator) -> None:
    assert ok(harbor("health", "--wait", "5", url=emulator.url)).startswith("ok  version ")


def test_health_fails_when_nothing_answers() -> None:
    result = harbor("health", "--wait", "0.3", url=closed_port_url())
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot reach the emulator at http://127.0.0.1:")


def test_health_sends_the_control_token_and_reports_a_refusal(emulator_factory: Any) -> None:
    # `health` is the image's HEALTHCHECK and talks HTTP without the client: the same
    # token, errors and exit statuses as every other command.
    guarded = emulator_factory(control_token="T")
    refused = harbor("health", url=guarded.url)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: authentication_required: ")
    env = {"HARBOR_EMULATOR_CONTROL_TOKEN": "T"}
    assert ok(harbor("health", url=guarded.url + "/", env=env)).startswith("ok  version ")
    answer = json.loads(ok(harbor("health", "--json", url=guarded.url, env=env)))
    assert answer["status"] == "ok"


def test_control_token(emulator_factory: Any) -> None:
    guarded = emulator_factory(control_token="T")
    refused = harbor("clock", "show", url=guarded.url)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: authentication_required: ")
    ok(harbor("clock", "show", url=guarded.url, env={"HARBOR_EMULATOR_CONTROL_TOKEN": "T"}))
    ok(harbor("reset", "--control-token", "T", url=guarded.url))
    wrong = harbor("sinks", "--control-token", "t", "list", url=guarded.url)
    assert wrong.returncode == 1


def test_fixtures_load_errors_name_the_file(emulator: Emulator, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("destinations:\n  - url: 5\n")
    result = harbor("fixtures", "load", str(bad), url=emulator.url)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {bad}: ")


def test_fixtures_load_and_export(emulator: Emulator, tmp_path: Path) -> None:
    emulator.control("POST", "/clock/freeze")  # two exports of a running clock differ
    good = tmp_path / "good.yaml"
    good.write_text("workspaces:\n  - id: ws_fromcli\n    name: From CLI\n")
    loaded = ok(harbor("fixtures", "load", str(good), url=emulator.url))
    assert loaded == f"loaded {good}: 1 workspace\n"
    exported = json.loads(ok(harbor("fixtures", "export", url=emulator.url)))
    assert {"id": "ws_fromcli", "name": "From CLI"} in [
        {"id": w["id"], "name": w.get("name")} for w in exported["workspaces"]
    ]
    out = tmp_path / "state.json"
    ok(harbor("fixtures", "export", str(out), url=emulator.url))
    assert json.loads(out.read_text()) == exported


def test_deliveries_table(emulator: Emulator) -> None:
    headers = {"Authorization": "Bearer hb_test_cli"}
    assert ok(harbor("deliveries", url=emulator.url)).strip() == "no deliveries in any workspace"
    hook = httpx.post(
        f"{emulator.url}/v1/webhooks",
        headers=headers,
        json={"url": f"{emulator.url}/_sink/cli", "events": ["*"]},
    )
    assert hook.status_code == 201, hook.text
    ok(harbor("trigger", "order.paid", url=emulator.url))
    lines = ok(harbor("deliveries", url=emulator.url)).splitlines()
    assert lines[0].split()[:3] == ["ID", "EVENT", "TYPE"]
    assert lines[1].split()[1:3] == ["order.paid", hook.json()["id"]]
    page = json.loads(ok(harbor("deliveries", "--json", url=emulator.url)))
    assert page["object"] == "list" and page["data"][0]["event_type"] == "order.paid"
