"""Fixtures: `${NAME}`, `${NAME:-default}` and `${HARBOR_EMULATOR_URL}` (contract, Fixtures),
and non-finite numbers refused as invalid_json (contract, Numbers), over real HTTP and as a
real `start` process."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from harbor_emulator.client import Emulator as Client
from harbor_emulator.client import HarborAPIError
from harbor_emulator.core.fixture_documents import escape, interpolate
from tests.conftest import Emulator, error_of

ROOT = Path(__file__).resolve().parents[2]
YAML = {"Content-Type": "application/yaml"}


def _load_yaml(emulator: Emulator, text: str) -> httpx.Response:
    return emulator.control("POST", "/fixtures", content=text.encode(), headers=YAML)


def _webhook(emulator: Emulator, webhook_id: str) -> dict[str, Any]:
    exported = emulator.control("GET", "/export").json()
    return next(w for w in exported["webhooks"] if w["id"] == webhook_id)


def _nothing_stored(emulator: Emulator) -> bool:
    exported = emulator.control("GET", "/export").json()
    return not any(exported[s] for s in ("workspaces", "webhooks", "events"))


def _load_file(emulator: Emulator, tmp_path: Path, text: str) -> Any:
    """What `harbor-emulator fixtures load FILE` does: the client reads the file."""
    path = tmp_path / "fixtures.yaml"
    path.write_text(text)
    with Client(emulator.url) as client:
        return client.load_fixtures(path)


def test_environment_defaults_and_the_emulator_s_own_url(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HARBOR_TEST_SINK", "from-env")
    monkeypatch.setenv("HARBOR_TEST_EMPTY", "")
    monkeypatch.delenv("HARBOR_TEST_UNSET", raising=False)
    # The environment's own variable never wins over the URL the client reaches.
    monkeypatch.setenv("HARBOR_EMULATOR_URL", "http://127.0.0.1:9")
    _load_file(
        emulator,
        tmp_path,
        """
webhooks:
  - id: wh_interp
    workspace_id: ws_interp
    url: ${HARBOR_EMULATOR_URL}/_sink/${HARBOR_TEST_SINK}
    events: [order.*]
    description: ${HARBOR_TEST_UNSET:-unset default} / ${HARBOR_TEST_EMPTY:-empty default}
    metadata: {team: "${HARBOR_TEST_UNSET:-}x"}
""",
    )
    webhook = _webhook(emulator, "wh_interp")
    assert webhook["url"] == f"{emulator.url}/_sink/from-env"
    assert webhook["description"] == "unset default / empty default"
    assert webhook["metadata"] == {"team": "x"}

    with emulator.api() as api:
        event = {"type": "order.paid", "payload": {}, "workspace_id": "ws_interp"}
        assert api.post("/v1/events", json=event).status_code == 201
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 20})
    assert len(emulator.control("GET", "/sinks/from-env").json()["data"]) == 1


def test_a_posted_body_never_reads_the_server_s_environment(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server runs in this process: a variable set here is in its environment, and a
    # control caller must not be able to read it back through a webhook's URL or metadata.
    monkeypatch.setenv("HARBOR_TEST_SECRET", "s3cret")
    refused = _load_yaml(
        emulator,
        "webhooks: [{id: wh_leak, workspace_id: ws_leak, url: 'http://127.0.0.1:9/x',"
        " events: ['*'], description: '${HARBOR_TEST_SECRET}'}]",
    )
    assert error_of(refused)["code"] == "invalid_fixtures"
    assert "s3cret" not in refused.text
    defaulted = _load_yaml(
        emulator,
        "webhooks: [{id: wh_leak, workspace_id: ws_leak, url: '${HARBOR_EMULATOR_URL}/x',"
        " events: ['*'], description: '${HARBOR_TEST_SECRET:-none}'}]",
    )
    assert defaulted.status_code == 201, defaulted.text
    assert _webhook(emulator, "wh_leak")["description"] == "none"


def test_the_url_is_the_one_the_request_reached(emulator: Emulator) -> None:
    port = emulator.url.rsplit(":", 1)[1]
    document = {"webhooks": [{"id": "wh_host", "url": "${HARBOR_EMULATOR_URL}/x", "events": ["*"]}]}
    document["webhooks"][0]["workspace_id"] = "ws_host"
    loaded = emulator.control(
        "POST", "/fixtures", json=document, headers={"Host": f"localhost:{port}"}
    )
    assert loaded.status_code == 201, loaded.text
    assert _webhook(emulator, "wh_host")["url"] == f"http://localhost:{port}/x"


def test_an_undefined_name_is_refused_naming_it(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HARBOR_TEST_MISSING", raising=False)
    refused = _load_yaml(
        emulator,
        """
workspaces: [{id: ws_never}]
destinations:
  - id: dest_missing
    workspace_id: ws_never
    url: ${HARBOR_TEST_MISSING}/hook
""",
    )
    assert refused.status_code == 400
    error = error_of(refused)
    assert error["code"] == "invalid_fixtures"
    assert error["param"] == "destinations[0].url"
    assert "${HARBOR_TEST_MISSING}" in error["message"]
    assert "destinations[0] (dest_missing): url:" in error["message"]
    assert _nothing_stored(emulator)  # all or nothing

    # Read by the client (as `fixtures load` does), the file's name is in the message.
    with pytest.raises(HarborAPIError) as by_client:
        _load_file(emulator, tmp_path, "workspaces: [{id: ws_b, name: '${HARBOR_TEST_MISSING}'}]")
    assert (by_client.value.code, by_client.value.param) == (
        "invalid_fixtures",
        "workspaces[0].name",
    )
    assert "fixtures.yaml" in by_client.value.message
    assert _nothing_stored(emulator)

    malformed = _load_yaml(emulator, "workspaces: [{id: ws_a, name: 'a ${oops'}]")
    assert error_of(malformed)["param"] == "workspaces[0].name"
    assert "$${" in error_of(malformed)["message"]


def test_values_are_interpolated_after_parsing_and_escape_with_a_double_dollar(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HARBOR_TEST_TRICK", "x\nevents: [evil.*]\nsecret: whsec_injected")
    _load_file(
        emulator,
        tmp_path,
        """
webhooks:
  - id: wh_literal
    workspace_id: ws_lit
    url: http://127.0.0.1:9/hook
    events: [order.*]
    description: ${HARBOR_TEST_TRICK}
    metadata: {template: "$${order_id} costs $5"}
""",
    )
    with emulator.api() as api:
        webhook = api.get("/v1/webhooks/wh_literal").json()
    assert webhook["description"] == "x\nevents: [evil.*]\nsecret: whsec_injected"
    assert webhook["events"] == ["order.*"]
    assert webhook["metadata"] == {"template": "${order_id} costs $5"}

    # A stored "${" is exported as "$${", so the export loads back to the same text.
    exported = emulator.control("GET", "/export").json()
    assert _webhook(emulator, "wh_literal")["metadata"] == {"template": "$${order_id} costs $5"}
    emulator.reset()
    assert emulator.control("POST", "/fixtures", json=exported).status_code == 201
    assert emulator.control("GET", "/export").json()["webhooks"] == exported["webhooks"]


def test_a_document_interpolated_by_the_cli_loads_unchanged(emulator: Emulator) -> None:
    """What `fixtures load` does: interpolate with its own environment, escape, send."""
    text = """
webhooks:
  - id: wh_cli
    workspace_id: ws_cli
    url: ${HARBOR_EMULATOR_URL}/_sink/${CLI_ONLY}
    events: [order.*]
    description: "a literal $${x} and ${CLI_ONLY}"
"""
    resolved = interpolate(text, {"CLI_ONLY": "cli"}, emulator.url, source="cli.yaml")
    assert resolved["webhooks"][0]["description"] == "a literal ${x} and cli"
    loaded = emulator.control("POST", "/fixtures", json=escape(resolved))
    assert loaded.status_code == 201, loaded.text
    webhook = _webhook(emulator, "wh_cli")
    assert webhook["url"] == f"{emulator.url}/_sink/cli"
    assert emulator.control("GET", "/export").json()["webhooks"][0]["description"] == (
        "a literal $${x} and cli"
    )


@pytest.mark.parametrize(
    ("body", "media_type", "param"),
    [
        ("events: [{type: a.b, workspace_id: ws_n, payload: {n: .inf}}]", "yaml", "payload.n"),
        ("events: [{type: a.b, workspace_id: ws_n, payload: {n: -.Inf}}]", "yaml", "payload.n"),
        ("events: [{type: a.b, workspace_id: ws_n, payload: {n: .nan}}]", "yaml", "payload.n"),
        ("events: [{type: a.b, workspace_id: ws_n, payload: {n: 1.0e+400}}]", "yaml", "payload.n"),
        (
            '{"events": [{"type": "a.b", "workspace_id": "ws_n", "payload": {"n": 1e400}}]}',
            "json",
            "payload.n",
        ),
        (
            '{"events": [{"type": "a.b", "workspace_id": "ws_n", "payload": {"n": NaN}}]}',
            "json",
            "payload.n",
        ),
        (
            '{"events": [{"type": "a.b", "workspace_id": "ws_n", "payload": {"n": [-Infinity]}}]}',
            "json",
            "payload.n[0]",
        ),
        ('{"clock": {"offset_seconds": Infinity}}', "json", None),
    ],
)
def test_non_finite_numbers_are_invalid_json(
    emulator: Emulator, body: str, media_type: str, param: str | None
) -> None:
    refused = emulator.control(
        "POST",
        "/fixtures",
        content=body.encode(),
        headers={"Content-Type": f"application/{media_type}"},
    )
    assert refused.status_code == 400, refused.text
    error = error_of(refused)
    assert error["code"] == "invalid_json"
    assert error["param"] == (f"events[0].{param}" if param else "clock.offset_seconds")
    assert _nothing_stored(emulator)


# -- --fixtures at start: the server's environment and its own URL -----------------------


@contextmanager
def _start(*args: str, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "harbor_emulator.cli", "start", "--log-level", "warning", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if match is None:
            process.wait(timeout=30)
            assert process.stderr is not None
            raise AssertionError(f"did not start: {line!r} {process.stderr.read()!r}")
        yield match.group(1), process
    finally:
        process.terminate()
        process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _delivers_to_own_sink(url: str, sink: str) -> None:
    headers = {"Authorization": "Bearer hb_test_quickstart"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
        created = api.post("/v1/events", json={"type": "order.shipped", "payload": {"n": 1}})
        assert created.status_code == 201, created.text
        drained = api.post("/_control/deliveries/drain", json={"timeout_seconds": 20})
        assert drained.json() == {"drained": True, "pending": 0}
        [delivery] = api.get("/v1/deliveries", params={"event_id": created.json()["id"]}).json()[
            "data"
        ]
        assert delivery["status"] == "succeeded", delivery
        assert len(api.get(f"/_control/sinks/{sink}").json()["data"]) == 1


def test_start_fixtures_read_the_server_s_environment_and_url(tmp_path: Path) -> None:
    fixtures = tmp_path / "env.yaml"
    fixtures.write_text(
        (ROOT / "fixtures" / "sdk-quickstart.yaml")
        .read_text()
        .replace("/_sink/sdk-quickstart", "/_sink/${QUICKSTART_SINK:-unused}")
    )
    port = _free_port()
    with _start(
        "--port", str(port), "--fixtures", str(fixtures), env={"QUICKSTART_SINK": "by-env"}
    ) as (url, _process):
        assert url == f"http://127.0.0.1:{port}"
        _delivers_to_own_sink(url, "by-env")


def test_start_on_port_0_delivers_to_its_own_sink() -> None:
    bundled = str(ROOT / "fixtures" / "sdk-quickstart.yaml")
    with _start("--port", "0", "--fixtures", bundled, env={}) as (url, _process):
        _delivers_to_own_sink(url, "sdk-quickstart")


def test_start_refuses_a_fixtures_file_with_a_non_finite_number(tmp_path: Path) -> None:
    fixtures = tmp_path / "inf.yaml"
    fixtures.write_text("events: [{type: a.b, workspace_id: ws_i, payload: {n: .inf}}]\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harbor_emulator.cli",
            "start",
            "--port",
            "0",
            "--fixtures",
            str(fixtures),
            "--log-level",
            "warning",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "invalid_json" in result.stderr and "events[0].payload.n" in result.stderr
    assert "listening on" not in result.stdout


def _doc_fixtures() -> list[tuple[str, str]]:
    blocks = []
    for page in ("fixtures.md", "control.md"):
        text = (ROOT / "docs" / page).read_text()
        for index, block in enumerate(re.findall(r"^```yaml\n(.*?)^```$", text, re.S | re.M)):
            blocks.append((f"{page}#{index}", block))
    return blocks


@pytest.mark.parametrize(("where", "document"), _doc_fixtures(), ids=lambda v: str(v)[:30])
def test_the_docs_fixtures_examples_load(emulator: Emulator, where: str, document: str) -> None:
    loaded = _load_yaml(emulator, document)
    assert loaded.status_code == 201, f"{where}: {loaded.text}"
