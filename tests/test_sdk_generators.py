"""The SDK generators users point at /openapi.json produce working clients.

Each test takes the document a real emulator serves, runs a pinned generator or tool on
it, and (for the generators) drives the generated client against a real emulator:

- Redocly's recommended ruleset (tests/sdk/redocly.yaml) finds nothing to warn about;
- openapi-python-client generates every operation without a warning, and the generated
  client runs the seeds' flows with typed models, typed errors included;
- openapi-typescript's types type-check a small openapi-fetch program (tests/sdk/flows.ts)
  under `tsc --noEmit`, and node runs it against the emulator;
- Prism's mock answers every operation with the document's example, which validates.

The npm tools install from the npm registry at the versions tests/sdk/package-lock.json
pins, with `npm ci`, once per lock file into the virtualenv (`<venv>/sdk-npm/`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import skip_policy
from tests.conftest import TEST_KEY, Emulator
from tests.openapi_check import ResponseChecker, compiled
from tests.waiting import rounds

ROOT = Path(__file__).resolve().parent.parent
SDK_DIR = Path(__file__).resolve().parent / "sdk"
NPM_INSTALL_TIMEOUT_SECONDS = 900
TOOL_TIMEOUT_SECONDS = 300
# The tools' own chatter (update notices, telemetry) stays off: no network but the registry.
QUIET_NODE_ENV = {
    "NO_UPDATE_NOTIFIER": "1",
    "npm_config_update_notifier": "false",
    "npm_config_fund": "false",
    "npm_config_audit": "false",
    "REDOCLY_TELEMETRY": "off",
    "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
}


def _node_env() -> dict[str, str]:
    return {**os.environ, **QUIET_NODE_ENV}


@pytest.fixture(scope="session")
def npm_tools() -> Path:
    """node_modules/.bin of tests/sdk's pinned tools, installed once per lock file."""
    skip_policy.require_tools("node", "npm", install=skip_policy.NODE)
    lock = (SDK_DIR / "package-lock.json").read_bytes()
    # Keyed by the lock file, so a version bump installs afresh and an old tree is never reused.
    home = Path(sys.prefix) / "sdk-npm"
    target = home / hashlib.sha256(lock).hexdigest()[:16]
    home.mkdir(parents=True, exist_ok=True)
    # Under pytest-xdist each worker has its own session: the lock keeps two workers from
    # running `npm ci` into the same directory at once (the second finds it installed).
    with (home / "install.lock").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        done = target / ".installed"
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            for name in ("package.json", "package-lock.json"):
                shutil.copy(SDK_DIR / name, target / name)
            # --ignore-scripts: none of the tools needs an install script to run.
            run = subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                cwd=target,
                env=_node_env(),
                capture_output=True,
                text=True,
                timeout=NPM_INSTALL_TIMEOUT_SECONDS,
                check=False,
            )
            assert run.returncode == 0, f"npm ci failed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}"
            done.touch()
        for stale in home.iterdir():
            if stale.is_dir() and stale != target:
                shutil.rmtree(stale, ignore_errors=True)
    return target / "node_modules" / ".bin"


@pytest.fixture(scope="session")
def served_document(_shared_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/openapi.json as a running emulator serves it (its `servers` naming that emulator)."""
    response = _shared_emulator.http.get("/openapi.json")
    assert response.status_code == 200
    path = tmp_path_factory.mktemp("openapi") / "openapi.json"
    path.write_bytes(response.content)
    return path


def _run(command: list[str | Path], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_SECONDS,
        check=False,
        **kwargs,
    )


def test_redocly_recommended_rules_find_nothing(
    npm_tools: Path, served_document: Path, tmp_path: Path
) -> None:
    run = _run(
        [
            *(npm_tools / "redocly", "lint", "--config", SDK_DIR / "redocly.yaml"),
            *("--format=json", served_document),
        ],
        cwd=tmp_path,
        env=_node_env(),
    )
    report = json.loads(run.stdout)
    problems = [
        f"{p['severity']} {p['ruleId']}: {p['message']} at {p['location'][0]['pointer']}"
        for p in report["problems"]
    ]
    assert report["totals"]["errors"] == 0, problems
    assert report["totals"]["warnings"] == 0, problems
    assert run.returncode == 0, run.stderr[-2000:]


@pytest.fixture(scope="session")
def python_sdk(served_document: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The package openapi-python-client generates from the served document, imported."""
    out = tmp_path_factory.mktemp("python-sdk")
    bin_dir = Path(sys.executable).parent
    run = _run(
        [
            *(bin_dir / "openapi-python-client", "generate", "--path", served_document),
            *("--meta", "none", "--output-path", out / "harbor_sdk"),
        ],
        cwd=out,
        # Its post-generation hooks run ruff, which lives beside it.
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    # It prints only "Generating <path>" when every schema and operation was understood.
    assert output.strip().splitlines() == [f"Generating {out / 'harbor_sdk'}"], output
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("harbor_sdk")
    finally:
        sys.path.remove(str(out))


def _operation_ids(document: dict[str, Any]) -> set[str]:
    return {
        op["operationId"]
        for item in document["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }


def _sdk(sdk: Any, module: str) -> Any:
    return importlib.import_module(f"{sdk.__name__}.{module}")


def _client(sdk: Any, emulator: Emulator) -> Any:
    return sdk.AuthenticatedClient(
        base_url=emulator.url,
        token=TEST_KEY,
        raise_on_unexpected_status=True,
        # The suite's response check sees what the generated client sees.
        httpx_args={"event_hooks": emulator.openapi.event_hooks},
    )


def _call(sdk: Any, tag: str, operation: str, **kwargs: Any) -> Any:
    """`harbor_sdk.api.<tag>.<operation>.sync(**kwargs)`: the parsed model, error or not."""
    return _sdk(sdk, f"api.{tag}.{operation}").sync(**kwargs)


def test_the_python_sdk_has_every_operation(python_sdk: Any, served_document: Path) -> None:
    document = json.loads(served_document.read_text())
    generated = {
        path.stem
        for path in Path(python_sdk.__file__).parent.joinpath("api").glob("*/*.py")
        if path.stem != "__init__"
    }
    operation_ids = _operation_ids(document)
    snake = {"".join(f"_{c.lower()}" if c.isupper() else c for c in o) for o in operation_ids}
    assert generated == snake


@pytest.fixture
def client(python_sdk: Any, emulator: Emulator) -> Iterator[Any]:
    """The generated client, authenticated with the suite's open-sandbox key."""
    with _client(python_sdk, emulator) as client:
        yield client


def test_the_python_sdk_runs_the_seeds_flows(
    python_sdk: Any, client: Any, emulator: Emulator, receiver: Any
) -> None:
    models = _sdk(python_sdk, "models")

    # Quickstart (SDK dialect) and Creating events: create, then retrieve.
    created = _call(
        python_sdk,
        "events",
        "create_event",
        client=client,
        body=models.EventCreateWithPayload(
            type_="invoice.paid",
            payload=models.EventPayload.from_dict(
                {"invoice_id": "inv_0192ac4e8b1d", "amount_cents": 4200}
            ),
        ),
        idempotency_key="inv_0192ac4e8b1d-paid",
    )
    assert isinstance(created, models.Event)
    confirmed = _call(python_sdk, "events", "get_event", client=client, id=created.id)
    assert isinstance(confirmed, models.Event)
    assert (confirmed.type_, confirmed.payload["amount_cents"]) == ("invoice.paid", 4200)

    # REST quickstart: a destination, its subscription, an event in the `body` dialect.
    destination = _call(
        python_sdk,
        "destinations",
        "create_destination",
        client=client,
        body=models.DestinationCreate(url=receiver.url, name="Quickstart receiver"),
    )
    assert isinstance(destination, models.DestinationCreated)
    assert destination.signing_secret.startswith("whsec_")
    subscription = _call(
        python_sdk,
        "subscriptions",
        "create_subscription",
        client=client,
        body=models.SubscriptionCreate(destination_id=destination.id, event_type="order.created"),
    )
    assert isinstance(subscription, models.Subscription)
    # Webhooks: an SDK-dialect endpoint for the same events.
    webhook = _call(
        python_sdk,
        "webhooks",
        "create_webhook",
        client=client,
        body=models.WebhookCreate(url=receiver.url, events=["order.*"]),
    )
    assert isinstance(webhook, models.WebhookCreated)
    order = _call(
        python_sdk,
        "events",
        "create_event",
        client=client,
        body=models.EventCreateWithBody(
            type_="order.created",
            body=models.EventPayload.from_dict({"order_id": "ord_123", "amount_cents": 4500}),
        ),
    )
    assert isinstance(order, models.Event)
    assert order.payload["order_id"] == "ord_123"

    # Watch the delivery: one per endpoint, each with its attempt.
    drained = emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 30})
    assert drained.json()["drained"], drained.text
    page = _call(python_sdk, "deliveries", "list_deliveries", client=client, event_id=order.id)
    assert isinstance(page, models.DeliveryList)
    assert sorted(str(d.destination_id or d.webhook_id) for d in page.data) == sorted(
        [destination.id, webhook.id]
    )
    for delivery in page.data:
        assert delivery.status == models.DeliveryStatus.SUCCEEDED
        attempts = _call(
            python_sdk, "deliveries", "list_delivery_attempts", client=client, id=delivery.id
        )
        assert isinstance(attempts, models.AttemptList)
        assert [a.response_code for a in attempts.data] == [200]

    # Pagination: follow next_cursor one event at a time.
    seen: list[str] = []
    cursor: Any = python_sdk.types.UNSET
    for _ in rounds(10, seen):
        events_page = _call(
            python_sdk, "events", "list_events", client=client, limit=1, cursor=cursor
        )
        assert isinstance(events_page, models.EventList)
        seen += [event.id for event in events_page.data]
        if events_page.next_cursor is None:
            break
        cursor = events_page.next_cursor
    assert seen == [order.id, created.id]

    # A typed error object for a 404.
    missing = _call(python_sdk, "events", "get_event", client=client, id="evt_missing")
    assert isinstance(missing, models.Error)
    assert missing.error.code == models.ErrorCode.EVENT_NOT_FOUND


def test_the_python_sdk_types_a_rate_limit(python_sdk: Any, emulator_factory: Any) -> None:
    # One request per 1,000 s: the bucket's one token goes to the first call and the second
    # is limited, with no race against the host clock the buckets refill on.
    limited = emulator_factory(rate_limit=0.001)
    models = _sdk(python_sdk, "models")
    body = models.EventCreateWithPayload(type_="a", payload=models.EventPayload())
    with _client(python_sdk, limited) as client:
        first = _call(python_sdk, "events", "create_event", client=client, body=body)
        answer = _call(python_sdk, "events", "create_event", client=client, body=body)
    assert isinstance(first, models.Event)
    assert isinstance(answer, models.RateLimitError)
    assert answer.error.code == models.ErrorCode.RATE_LIMIT_EXCEEDED
    assert answer.error.retry_after_ms >= 1


def test_the_python_sdk_models_both_fault_bodies(python_sdk: Any, client: Any) -> None:
    # The delivery-fault body once had no model (a lone `allOf: [FaultTrigger]` reads as
    # "this is FaultTrigger" to the generator), so typed users could not build one.
    models = _sdk(python_sdk, "models")
    control = _sdk(python_sdk, "api.control.control_create_fault")
    assert "DeliveryFaultCreate" in str(control.sync.__annotations__["body"])
    delivery = control.sync(
        client=client,
        body=models.DeliveryFaultCreate(
            target="delivery", endpoint_id="wh_01HXYZ", outcome=503, count=2
        ),
    )
    assert isinstance(delivery, models.DeliveryFault)
    assert (delivery.outcome, delivery.remaining) == (503, 2)
    api = control.sync(
        client=client,
        body=models.ApiFaultCreate(
            target="api", error_code=models.ErrorCode.EVENT_NOT_FOUND, path="/v1/events*"
        ),
    )
    assert isinstance(api, models.ApiFault)
    # The rules the schema states without a model still hold on the server: a count and a
    # probability at once is refused with a typed error.
    refused = control.sync(
        client=client,
        body=models.DeliveryFaultCreate(
            target="delivery", endpoint_id="wh_01HXYZ", outcome=503, count=2, probability=0.5
        ),
    )
    assert isinstance(refused, models.Error)
    assert refused.error.code == models.ErrorCode.INVALID_PARAMETER


def test_openapi_typescript_types_a_program_that_runs(
    npm_tools: Path, served_document: Path, emulator: Emulator, receiver: Any, tmp_path: Path
) -> None:
    for name in ("flows.ts", "tsconfig.json"):
        shutil.copy(SDK_DIR / name, tmp_path / name)
    (tmp_path / "package.json").write_text('{"type": "module", "private": true}\n')
    (tmp_path / "node_modules").symlink_to(npm_tools.parent, target_is_directory=True)
    env = _node_env()

    generate = _run(
        [npm_tools / "openapi-typescript", served_document, "-o", "harbor-api.d.ts"],
        cwd=tmp_path,
        env=env,
    )
    assert generate.returncode == 0, generate.stdout + generate.stderr
    assert "⚠" not in generate.stdout + generate.stderr, generate.stdout + generate.stderr
    check = _run([npm_tools / "tsc", "--noEmit", "-p", "."], cwd=tmp_path, env=env)
    assert check.returncode == 0, f"tsc --noEmit:\n{check.stdout}{check.stderr}"
    build = _run([npm_tools / "tsc", "-p", "."], cwd=tmp_path, env=env)
    assert build.returncode == 0, build.stdout + build.stderr

    run = _run(
        ["node", "dist/flows.js"],
        cwd=tmp_path,
        env={
            **env,
            "HARBOR_EMULATOR_URL": emulator.url,
            "HARBOR_KEY": TEST_KEY,
            "RECEIVER_URL": receiver.url,
        },
    )
    assert run.returncode == 0, run.stdout + run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    endpoints = seen["endpoints"]
    assert seen["confirmed"] == ["invoice.paid", 4200]
    assert seen["order_payload"] == {"order_id": "ord_123", "amount_cents": 4500}
    assert seen["signing_secret_prefix"] == seen["webhook_secret_prefix"] == "whsec_"
    assert seen["drained"] is True
    assert seen["attempts"] == {endpoints["webhook"]: [200], endpoints["destination"]: [200]}
    assert seen["seen"] == [seen["order"], seen["invoice"]]
    assert seen["missing"] == [404, "event_not_found"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _example_call(document: dict[str, Any], path: str, item: dict[str, Any], method: str) -> Any:
    """(url path, JSON body or None) of an operation, from the document's own examples."""
    checked = compiled()
    op = item[method]
    for parameter in [*item.get("parameters", []), *op.get("parameters", [])]:
        if "$ref" in parameter:
            parameter = checked.resolve(parameter["$ref"].removeprefix("#"))[1]
        if parameter["in"] == "path":
            value = parameter.get("example", parameter["schema"].get("examples", [None])[0])
            path = path.replace(f"{{{parameter['name']}}}", str(value))
    media = op.get("requestBody", {}).get("content", {}).get("application/json")
    if media is None:
        return path, None
    (example,) = media["examples"].values()
    return path, checked.resolve(example["$ref"].removeprefix("#"))[1]["value"]


def _response_example(op: dict[str, Any], status: int) -> Any:
    """The value of the example of `op`'s `status` response; None when it has no body."""
    checked = compiled()
    response = op["responses"][str(status)]
    if "$ref" in response:
        response = checked.resolve(response["$ref"].removeprefix("#"))[1]
    media = response.get("content", {}).get("application/json")
    if media is None:
        return None
    (example,) = media["examples"].values()
    return checked.resolve(example["$ref"].removeprefix("#"))[1]["value"]


@pytest.fixture(scope="session")
def prism_mock(npm_tools: Path, served_document: Path, tmp_path_factory: Any) -> Iterator[str]:
    """`prism mock` serving the served document on a free loopback port; its base URL."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("prism") / "prism.log").open("w+")
    process = subprocess.Popen(
        [
            *(str(npm_tools / "prism"), "mock", "--host", "127.0.0.1", "--port", str(port)),
            *("--errors", str(served_document)),
        ],
        env=_node_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # Prism prints this line once every route is mounted; it has no readiness endpoint.
        for _ in range(TOOL_TIMEOUT_SECONDS * 10):
            log.seek(0)
            if "Prism is listening" in log.read():
                break
            assert process.poll() is None, log.read()[-3000:]
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.1)
        else:
            pytest.fail("prism mock did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_prism_mock_answers_every_operation_with_a_valid_example(
    prism_mock: str, served_document: Path
) -> None:
    document = json.loads(served_document.read_text())
    checker = ResponseChecker()
    answered = []
    with httpx.Client(
        base_url=prism_mock,
        # A well-formed test key: Prism checks that the bearer scheme is present.
        headers={"Authorization": f"Bearer {TEST_KEY}", "Accept": "application/json"},
        event_hooks=checker.event_hooks,
        timeout=TOOL_TIMEOUT_SECONDS,
    ) as mock:
        for template, item in document["paths"].items():
            for method in item:
                if method == "parameters":
                    continue
                path, body = _example_call(document, template, item, method)
                response = mock.request(method.upper(), path, json=body)
                assert 200 <= response.status_code < 300, (method, path, response.text[:1000])
                # The answer is the document's own example, not one Prism made up.
                expected = _response_example(item[method], response.status_code)
                assert (response.json() if response.content else None) == expected, path
                answered.append(item[method]["operationId"])
    # Every operation answered, each answer checked by the suite's response check.
    assert sorted(answered) == sorted(_operation_ids(document))
    assert checker.checked == len(answered)
