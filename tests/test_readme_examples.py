"""The README's, docs' and seeds' shell examples, run as written against a fresh emulator.

Each document's examples run in order in one bash process (tests/doc_examples.py) against
an emulator of its own, a real server on a free loopback port: `http://127.0.0.1:4280`,
`localhost:4280` and `:PORT` become its address, and the CLI's default URL is it
(`HARBOR_EMULATOR_URL`). Ids the text leaves open (`evt_…`, `wh_01HX…`, the seeds'
`dest_01HXYZ`) are the newest id of that prefix an earlier answer printed (`IdBook`).

`EXAMPLES` says, next to each block, what the text around it promises: one `Expect` per
command, in order, each naming the start of the command it checks so the table can't slide.
A block found in the docs that `EXAMPLES` does not name fails `test_every_example_is_known`,
so a new example can't go in untested; one that can't run says why in `Skip`. A page whose
examples continue another's (`CONTINUES`) runs after that page's blocks, in the same shell.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harbor_emulator.testing import EmulatorServer
from tests import skip_policy
from tests.doc_examples import (
    Block,
    IdBook,
    Result,
    Shell,
    doc_blocks,
    normalized,
    seed_commands,
    split_commands,
)

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", *sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md"))]
# CI clones the repository and puts a copy of shared/ beside it.
SEEDS = Path(os.environ.get("HARBOR_SEEDS_DIR", REPO.parent / "shared" / "seeds"))
SEEDS_ABSENT = skip_policy.skip_reason(
    f"Harbor's docs (the seeds) are absent from {SEEDS}",
    install="put Harbor's docs in ../shared/seeds beside the clone",
)

Check = Callable[[Any], None]


@dataclass(frozen=True)
class Expect:
    """What one command must do. `command` is how it starts (blanks folded)."""

    command: str
    status: int | None = None  # curl's HTTP status
    exit_status: int = 0
    json: dict[str, Any] | None = None  # must be contained in the JSON answer
    check: Check | None = None  # more on the JSON answer
    stdout: str | None = None  # a regex the printed output must match (re.search)
    # The user types the next command seconds later; the test waits for deliveries in flight
    # (POST /_control/deliveries/drain) instead, so an asynchronous attempt has landed.
    settle: bool = False
    # The command makes an endpoint on a public host (webhook.site, api.example.com) that a
    # test must not reach: the test adds an always-firing `connection_error` delivery fault for
    # it, so its attempts fail as they would offline and no request leaves the machine.
    offline: bool = False
    skip: str | None = None  # not run, and why


@dataclass(frozen=True)
class Skip:
    """A block that is not run, and why."""

    reason: str


@dataclass(frozen=True)
class Files:
    """Files a block names that the reader brings (written to the shell's directory)."""

    files: dict[str, str]


def contains(expected: Any, actual: Any, path: str = "$") -> None:
    """`expected` is a sub-document of `actual`: dicts by key, lists item by item, else equal."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not an object"
        for key, value in expected.items():
            assert key in actual, f"{path}: no {key!r} in {actual!r}"
            contains(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r}"
        for index, (item, got) in enumerate(zip(expected, actual, strict=True)):
            contains(item, got, f"{path}[{index}]")
    else:
        assert expected == actual, f"{path}: {actual!r} != {expected!r}"


def error(code: str) -> dict[str, Any]:
    return {"error": {"code": code}}


def listed(count: int, **each: Any) -> Check:
    """A list answer with `count` items, each containing `each`."""

    def check(answer: Any) -> None:
        assert answer["object"] == "list" and len(answer["data"]) == count, answer
        for item in answer["data"]:
            contains(each, item)

    return check


def sink_got_two_signed_attempts(answer: Any) -> None:
    # README: "two signed requests: Harbor-Attempt 1 (answered 500), then 2". The 500 is the
    # sink's scripted answer; that attempt 1 got it is checked on the delivery's attempts.
    requests = answer["data"]
    assert [r["headers"]["harbor-attempt"] for r in requests] == ["1", "2"], requests
    assert all(r["headers"]["harbor-signature"].startswith("v1=") for r in requests)
    assert len({r["headers"]["harbor-delivery-id"] for r in requests}) == 1
    assert requests[0]["body"] == requests[1]["body"]


def first_attempt_got_500_then_200(answer: Any) -> None:
    codes = {a["attempt_number"]: a["response_code"] for a in answer["data"]}
    assert codes == {1: 500, 2: 200}, answer


E_LINE = 'E=http://127.0.0.1:4280; K="Authorization: Bearer hb_test_xxxx"'
E_HEAD = E_LINE[:60] + "…"  # the key of the blocks that start with it (`_head`)
START_IS_THE_TESTS_SERVER = (
    "serves in the foreground until stopped; the test's emulator is that server"
)

# base.yaml / shop.yaml (docs/cli.md) and a.yaml / b.yaml (docs/control.md): the reader's own
# fixtures files, written so the counts docs/cli.md prints come out. The endpoints deliver to
# the emulator's own sink, on whatever port it serves.
BASE_YAML = """\
workspaces:
  - {id: ws_shop, name: Shop}
  - {id: ws_billing, name: Billing}
api_keys:
  - {key: hb_test_shop, workspace_id: ws_shop}
"""
SHOP_YAML = """\
webhooks:
  - {workspace_id: ws_shop, url: "${HARBOR_EMULATOR_URL}/_sink/shop", events: [order.*]}
destinations:
  - workspace_id: ws_shop
    url: ${HARBOR_EMULATOR_URL}/_sink/shop
    name: Shop receiver
    subscriptions: [{event_type: order.paid}, {event_type: order.refunded}]
"""
CLI_FILES = Files({"base.yaml": BASE_YAML, "shop.yaml": SHOP_YAML})
CONTROL_FILES = Files(
    {"a.yaml": BASE_YAML, "b.yaml": SHOP_YAML, "payload.json": '{"order_id": "o_2"}\n'}
)

# docs/cli.md and docs/guarantees.md show the same four snapshot commands.
SNAPSHOT_ROUND_TRIP = [
    Expect("harbor-emulator snapshot save base", stdout=r"^saved base \(\d+ bytes\) at "),
    Expect("harbor-emulator snapshot list", stdout=r"(?m)^base  "),
    Expect("harbor-emulator snapshot restore base", stdout=r"^restored base \(saved at "),
    Expect("harbor-emulator snapshot delete base", stdout=r"^deleted base"),
]

EXAMPLES: dict[str, Skip | Files | list[Expect]] = {
    # ---- README.md
    "README.md: scripts/start": Skip(
        "builds a virtualenv and serves in the foreground; tests/test_cli_start.py starts it. "
        "Its `export PATH` line is the set-up every Shell of these tests runs "
        "(tests/doc_examples.py), checked by tests/test_fresh_shell.py"
    ),
    "README.md: # seeds/002, REST dialect": [
        Expect(
            "curl -X POST http://127.0.0.1:4280/v1/events",
            201,
            json={"type": "order.created", "payload": {"order_id": "ord_123"}},
        ),
        Expect(
            "curl -X POST http://127.0.0.1:4280/v1/events",
            201,
            json={"workspace_id": "ws_018f3a2e4b9c", "type": "invoice.paid"},
        ),
        Expect(
            "curl http://127.0.0.1:4280/v1/events/evt_…",
            200,
            json={"object": "event", "type": "invoice.paid"},
        ),
        # "The list shows the event although it names no workspace".
        Expect(
            'curl "http://127.0.0.1:4280/v1/events?type=invoice.paid&limit=10"',
            200,
            check=listed(1, type="invoice.paid", workspace_id="ws_018f3a2e4b9c"),
        ),
    ],
    f"README.md: {E_HEAD}": [
        Expect(E_LINE),
        Expect("curl -X PUT $E/_control/sinks/orders", 200, json={"name": "orders"}),
        Expect("curl -X POST $E/v1/webhooks", 201, json={"events": ["order.*"]}),
        Expect("curl -X POST $E/v1/events", 201, json={"type": "order.created"}),
        Expect("curl -X POST $E/_control/clock/advance", 200, json={"frozen": False}),
        Expect("curl $E/_control/sinks/orders", 200, check=sink_got_two_signed_attempts),
        Expect(
            'curl "$E/v1/deliveries"',
            200,
            check=listed(1, status="succeeded", attempt_count=2, response_code=200),
        ),
    ],
    # ---- docs/api.md: runs after README.md's blocks, in the same shell (CONTINUES)
    "docs/api.md: # seeds/004: register a webhook (201; `secret` is shown only…": [
        Expect(
            "curl http://127.0.0.1:4280/v1/webhooks -X POST",
            201,
            json={"object": "webhook", "workspace_id": "ws_018f3a2e4b9c"},
            offline=True,
            check=lambda answer: answer["secret"].startswith("whsec_"),
        ),
        Expect(
            "curl http://127.0.0.1:4280/v1/webhooks/wh_…",
            200,
            check=lambda answer: "secret" not in answer,
        ),
        Expect(
            'curl "http://127.0.0.1:4280/v1/webhooks?status=active&workspace_id=ws_018f3a2e4b9c"',
            200,
            # the one just made and the webhook of README's retry walkthrough
            check=listed(2, status="active", workspace_id="ws_018f3a2e4b9c"),
        ),
        Expect(
            "curl -X PATCH http://127.0.0.1:4280/v1/webhooks/wh_…",
            200,
            json={"events": ["order.*"], "description": "orders"},
        ),
        Expect("curl -X DELETE http://127.0.0.1:4280/v1/webhooks/wh_…", 204),
        Expect(
            "curl -X POST http://127.0.0.1:4280/v1/destinations",
            201,
            json={"object": "destination", "name": "Quickstart receiver"},
            offline=True,
            check=lambda answer: answer["signing_secret"].startswith("whsec_"),
        ),
        Expect(
            "curl -X GET http://127.0.0.1:4280/v1/destinations -H",
            200,
            check=listed(1, name="Quickstart receiver"),
        ),
        Expect("curl -X GET http://127.0.0.1:4280/v1/destinations/dest_…", 200),
        Expect(
            "curl -X PATCH http://127.0.0.1:4280/v1/destinations/dest_…",
            200,
            json={"status": "paused"},
        ),
        Expect(
            "curl -X POST http://127.0.0.1:4280/v1/subscriptions",
            201,
            json={"object": "subscription", "event_type": "order.created"},
        ),
        Expect("curl http://127.0.0.1:4280/v1/subscriptions/sub_…", 200),
        Expect(
            'curl "http://127.0.0.1:4280/v1/subscriptions?destination_id=dest_…"',
            200,
            check=listed(1, event_type="order.created"),
        ),
        Expect("curl -X DELETE http://127.0.0.1:4280/v1/subscriptions/sub_…", 204),
        Expect(
            "curl -X POST http://127.0.0.1:4280/v1/destinations/dest_…/signing-keys",
            201,
            json={"object": "signing_key", "expires_at": None},
        ),
        Expect(
            "curl http://127.0.0.1:4280/v1/destinations/dest_…/signing-keys",
            200,
            check=listed(2, object="signing_key"),
        ),
        Expect("curl -X DELETE http://127.0.0.1:4280/v1/destinations/dest_…", 204),
    ],
    'docs/api.md: curl http://127.0.0.1:4280/v1/deliveries -H "Authorization: …': [
        Expect("curl http://127.0.0.1:4280/v1/deliveries", 200, json={"object": "list"}),
        # wh_… is the webhook deleted above: its deliveries stay readable (none failed).
        Expect(
            'curl "http://127.0.0.1:4280/v1/deliveries?status=failed&webhook_id=wh_…"',
            200,
            check=listed(0),
        ),
        Expect(
            "curl http://127.0.0.1:4280/v1/deliveries/dlv_…/attempts",
            200,
            check=first_attempt_got_500_then_200,
        ),
        Expect(
            "curl -X POST http://127.0.0.1:4280/v1/deliveries/dlv_…/replay",
            202,
            json={"object": "delivery", "status": "pending"},
        ),
        Expect(
            "curl -X POST http://127.0.0.1:4280/v1/events/replay",
            202,
            json={"object": "replay", "event_count": 1, "delivery_count": 1},
        ),
        Expect(
            "curl -X POST http://127.0.0.1:4280/_control/deliveries/drain",
            200,
            json={"drained": True, "pending": 0},
        ),
    ],
    # ---- docs/receivers.md
    "docs/receivers.md: // In your suite: Harbor's receiver check against your app, …": Skip(
        "a Vitest file; tests/test_receiver_examples.py runs it with the packed npm package"
    ),
    # ---- docs/architecture.md
    "docs/architecture.md: harbor-emulator (cli/) your test suite (testing/)": Skip(
        "a drawing of the layers, not shell; tests/test_architecture.py enforces its import rules"
    ),
    # ---- docs/ci.md
    "docs/ci.md: docker build -t harbor-emulator .": Skip(
        "needs Docker; tests/test_docker_image.py builds and runs the image"
    ),
    "docs/ci.md: scripts/build_binary --onedir": Skip(
        "a build of minutes, then an image build; tests/test_docker_image.py runs both"
    ),
    "docs/ci.md: docker run -d --name harbor -p 127.0.0.1:4280:4280": Skip(
        "needs a container engine; tests/test_docker_image.py runs the same with podman"
    ),
    "docs/ci.md: apt-get install podman buildah mmdebstrap runc podman-compos…": Skip(
        "installs system packages; .ci/run installs them and tests/test_docker_image.py uses them"
    ),
    "docs/ci.md: jobs:": Skip("GitHub Actions YAML; tests/test_ci_docs.py parses it"),
    "docs/ci.md: jobs: [2]": Skip(
        "GitHub Actions YAML (the binary job); tests/test_ci_docs.py parses it"
    ),
    "docs/ci.md: test:": Skip("GitLab CI YAML; tests/test_ci_docs.py parses it"),
    "docs/ci.md: services:": Skip("docker compose YAML; tests/test_ci_docs.py parses it"),
    # ---- docs/cli.md
    "docs/cli.md: harbor-emulator start --port 0": [
        Expect("harbor-emulator start --port 0", skip=START_IS_THE_TESTS_SERVER),
        Expect("export HARBOR_EMULATOR_URL=http://127.0.0.1:PORT"),
        Expect(
            "curl -s localhost:PORT/v1/webhooks",
            201,
            json={"workspace_id": "ws_shop", "events": ["*"]},
        ),
        Expect(
            "harbor-emulator trigger order.paid",
            stdout=r"^created evt_\w{26} order\.paid in ws_shop \(the workspace of wh_\w{26}, "
            r"the newest endpoint\): 1 delivery$",
            settle=True,
        ),
        Expect(
            "harbor-emulator deliveries",
            stdout=r"ID +EVENT TYPE +ENDPOINT +STATUS .* WORKSPACE +CAUSE\n"
            r"dlv_\w{26} +order\.paid +wh_\w{26} +succeeded +1 +200 +- +ws_shop +-$",
        ),
        Expect("harbor-emulator sinks show orders", stdout=r"POST /_sink/orders +order\.paid"),
        Expect("harbor-emulator clock advance 1h", stdout=r"running .*\(advanced 1h\)"),
    ],
    "docs/cli.md: harbor-emulator start [--host 127.0.0.1] [--port 4280] [--db…": Skip(
        "a usage synopsis: the brackets are optional parts, not shell"
    ),
    "docs/cli.md: harbor-emulator check-receiver http://127.0.0.1:4280/_sink/o…": [
        Expect(
            "harbor-emulator check-receiver http://127.0.0.1:4280/_sink/orders",
            exit_status=1,
            stdout=r"^bad_signature +must +fail +200 ",
        )
    ],
    "docs/cli.md: harbor-emulator start --seed 42": [
        Expect("harbor-emulator start --seed 42", skip="starts a server; test_determinism runs it"),
        Expect(
            "harbor-emulator reset --seed 7",
            skip="would put this whole run in seeded mode; tests/test_determinism.py covers it",
        ),
        *SNAPSHOT_ROUND_TRIP,
    ],
    "docs/cli.md: error: port 4280 on 127.0.0.1 is already in use (another har…": Skip(
        "sample error output; tests/test_cli_start.py produces each line"
    ),
    "docs/cli.md: harbor-emulator clock show": [
        Expect("harbor-emulator clock show", stdout=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  running  "),
        Expect("harbor-emulator clock advance 1h30m", stdout=r"\(advanced 1h30m\)"),
        Expect("harbor-emulator clock advance 5 minutes", stdout=r"\(advanced 5 minutes\)"),
        Expect("harbor-emulator clock set 2099-01-01T00:00:00Z", stdout=r"^2099-01-01T00:00:00Z"),
        Expect("harbor-emulator clock freeze", stdout=r"frozen"),
        Expect("harbor-emulator clock unfreeze", stdout=r"running"),
        Expect("harbor-emulator reset", stdout=r"^reset; clock at 20"),
        Expect(
            "harbor-emulator drain --timeout 10", stdout=r"^drained: no attempt due or in flight"
        ),
        Expect("harbor-emulator health --wait 10", stdout=r"^ok  version \S+  now "),
        Expect("harbor-emulator --json health", stdout=r'^\{\n  "status": "ok",'),
    ],
    "docs/cli.md: harbor-emulator fixtures load base.yaml shop.yaml": [
        CLI_FILES,
        Expect(
            "harbor-emulator fixtures load base.yaml shop.yaml",
            stdout=r"^loaded base\.yaml: 2 workspaces, 1 API key\n"
            r"loaded shop\.yaml: 1 workspace, 1 webhook, 1 destination, 2 subscriptions\n$",
        ),
        Expect("harbor-emulator fixtures export state.yaml", stdout=r"^exported to state\.yaml"),
    ],
    "docs/cli.md: harbor-emulator trigger TYPE [--data JSON | --data @FILE] [-…": Skip(
        "a usage synopsis: the brackets are optional parts, not shell"
    ),
    "docs/cli.md: harbor-emulator listen --forward-to URL [--events 'order.*']…": Skip(
        "a usage synopsis, and commands that run until Ctrl-C: tests/test_cli_live.py runs "
        "listen and tail against a real emulator and receiver"
    ),
    "docs/cli.md: harbor-emulator sinks": [
        # The clock block reset the state: no sink has a request yet.
        Expect("harbor-emulator sinks", stdout=r"^no sinks$"),
        Expect("harbor-emulator sinks show orders", stdout=r"^sink orders: no requests$"),
        Expect("harbor-emulator sinks clear orders", stdout=r"^cleared sink orders"),
        Expect(
            "harbor-emulator faults add api",
            stdout=r"^flt_\w{26}  api  POST /v1/events  -> rate_limit_exceeded",
        ),
        Expect("harbor-emulator faults add delivery", stdout=r"^flt_\w{26}  delivery  wh_\w{26}"),
        Expect("harbor-emulator faults list", stdout=r"ID +TARGET +MATCH"),
        Expect("harbor-emulator faults clear flt_01HX…", stdout=r"flt_\w{26}"),
    ],
    "docs/cli.md: harbor-emulator chaos wh_01HX… --ack-lost 0.2 --duplicate 0.…": [
        Expect(
            "harbor-emulator chaos wh_01HX…",
            stdout=r"ID +ENDPOINT +OUTCOME +PROBABILITY +SEED\n"
            r"flt_\w{26} +wh_\w{26} +ack_lost +0\.2 +7\n"
            r"flt_\w{26} +wh_\w{26} +duplicate +0\.1 +8\n"
            r"(flt_\w{26} +wh_\w{26} +delay (150|300|450|600)s +0\.\d+ +\d+\n){4}$",
        ),
        Expect("harbor-emulator chaos clear wh_01HX…", stdout=r"^removed 6 chaos faults of wh_"),
    ],
    # ---- docs/chaos.md
    'docs/chaos.md: curl -s localhost:4280/v1/webhooks -H "Authorization: Bearer…': [
        Expect("curl -s localhost:4280/v1/webhooks", 201, json={"events": ["order.*"]}),
        Expect("harbor-emulator chaos wh_01HX…", stdout=r"(flt_\w{26} +wh_\w{26} .*\n){6}$"),
        Expect(
            "harbor-emulator trigger order.paid",
            stdout=r"^created evt_\w{26} order\.paid .*: 1 delivery",
            settle=True,
        ),
        Expect("harbor-emulator clock advance 3h", stdout=r"\(advanced 3h\)"),
        # Seed 42 duplicates the one attempt: it arrived twice.
        Expect(
            "harbor-emulator sinks show orders",
            stdout=r"^(\S+  POST /_sink/orders  order\.paid  \{\"id\":\"dlv_\w{26}\".*\n){2}$",
        ),
        Expect("harbor-emulator chaos clear wh_01HX…", stdout=r"^removed 6 chaos faults of wh_"),
    ],
    "docs/chaos.md: // test/global/chaos.test.ts: a redelivered or duplicated or…": Skip(
        "TypeScript: tests/test_npm_chaos.py runs this file under Vitest in npm/example"
    ),
    # ---- docs/control.md
    f"docs/control.md: {E_HEAD}": [
        Expect(E_LINE),
        Expect("curl -X POST $E/v1/events", 201, json={"workspace_id": "ws_018f3a2e4b9c"}),
        # "lists it: ws_018f3a2e4b9c is the default now"
        Expect(
            'curl "$E/v1/events?type=invoice.paid&limit=10"',
            200,
            check=listed(1, workspace_id="ws_018f3a2e4b9c"),
        ),
    ],
    'docs/control.md: curl -X POST http://127.0.0.1:4280/_control/api_keys -H "Con…': [
        Expect(
            "curl -X POST http://127.0.0.1:4280/_control/api_keys",
            201,
            json={"key": "hk_live_your_api_key", "livemode": True, "workspace_id": "ws_live"},
        ),
        Expect("curl http://127.0.0.1:4280/v1/destinations", 200, check=listed(0)),
    ],
    'docs/control.md: curl -s localhost:4280/v1/webhooks -H "Authorization: Bearer…': [
        Expect("curl -s localhost:4280/v1/webhooks", 201, json={"events": ["order.*"]}),
    ],
    "docs/control.md: harbor-emulator health --wait 10": [
        CONTROL_FILES,
        Expect("harbor-emulator health --wait 10", stdout=r"^ok  "),
        Expect("harbor-emulator reset", stdout=r"^reset; clock at "),
        Expect("harbor-emulator drain --timeout 10", stdout=r"^drained: "),
        Expect("harbor-emulator clock show", stdout=r"  running  offset "),
        Expect("harbor-emulator clock advance 1h30m", stdout=r"\(advanced 1h30m\)"),
        Expect("harbor-emulator clock set 2099-01-01T00:00:00Z", stdout=r"^2099-01-01T00:00:00Z"),
        Expect("harbor-emulator clock freeze", stdout=r"frozen"),
        Expect("harbor-emulator clock unfreeze", stdout=r"running"),
        Expect(
            "harbor-emulator fixtures load a.yaml b.yaml",
            stdout=r"^loaded a\.yaml: .*\nloaded b\.yaml: .*1 webhook, 1 destination",
        ),
        Expect("harbor-emulator fixtures export state.yaml", stdout=r"^exported to state\.yaml"),
        Expect(
            "harbor-emulator trigger order.paid --data '{",
            stdout=r"^created evt_\w{26} order\.paid in ws_shop .*: 2 deliveries",
        ),
        Expect(
            "harbor-emulator trigger order.paid --data @payload.json",
            json={"type": "order.paid", "workspace_id": "ws_shop", "payload": {"order_id": "o_2"}},
            settle=True,
        ),
        Expect(
            "harbor-emulator deliveries  ",
            stdout=r"ID +EVENT TYPE +ENDPOINT +STATUS +ATTEMPTS +CODE +NEXT ATTEMPT +WORKSPACE"
            r" +CAUSE\n"
            r"(dlv_\w{26} +order\.paid +(wh|dest)_\w{26} +succeeded +1 +200 +- +ws_shop +-\n){4}$",
        ),
        Expect(
            "harbor-emulator events --workspace ws_shop", stdout=r"ID +TYPE +WORKSPACE +CREATED"
        ),
        Expect(
            "harbor-emulator deliveries --status failed --endpoint wh_01HX…",
            json={"object": "list", "data": []},
        ),
        Expect("harbor-emulator sinks list", stdout=r"shop +4 +0"),
        Expect("harbor-emulator sinks show orders", stdout=r"no requests"),
        Expect("harbor-emulator sinks clear orders", stdout=r"^cleared sink orders"),
        Expect("harbor-emulator faults add api", stdout=r"-> rate_limit_exceeded"),
        Expect("harbor-emulator faults add delivery --endpoint-id wh_01HX…", stdout=r"-> timeout"),
        Expect("harbor-emulator faults add delivery --endpoint-id dest_01HX…", stdout=r"-> 503"),
        Expect("harbor-emulator faults list", stdout=r"(flt_\w{26} .*\n){3}$"),
        Expect("harbor-emulator faults clear flt_01HX…", stdout=r"flt_\w{26}"),
    ],
    "docs/control.md: curl -X POST http://127.0.0.1:4280/_control/clock/advance -d…": [
        Expect("curl -X POST http://127.0.0.1:4280/_control/clock/advance", 200),
        Expect(
            "curl -X POST http://127.0.0.1:4280/_control/api_keys",
            201,
            json={"workspace_id": "ws_018f3a2e4b9c", "scopes": ["events:read"]},
        ),
    ],
    # ---- docs/guarantees.md
    "docs/guarantees.md: harbor-emulator start --allowed-host 4280-my-workspace.examp…": Skip(
        "serves in the foreground; tests/test_local_security.py runs this very line with --port 0"
    ),
    "docs/guarantees.md: harbor-emulator start --seed 42": [
        Expect("harbor-emulator start --seed 42", skip="starts a server; test_determinism runs it"),
        Expect("harbor-emulator start --seed 42 --start-time", skip="starts a server, as above"),
        Expect(
            "curl -X POST localhost:4280/_control/reset",
            skip="would put this whole run in seeded mode; tests/test_determinism.py resets "
            "with a seed and compares the bytes",
        ),
    ],
    "docs/guarantees.md: harbor-emulator snapshot save base": SNAPSHOT_ROUND_TRIP,
    # ---- docs/install.md
    "docs/install.md: pip install ../harbor-emulator": Skip(
        "installs into the reader's project; tests/test_fresh_shell.py::"
        "test_pip_install_of_the_clone installs the clone the same way and runs its CLI"
    ),
    "docs/install.md: (cd ../harbor-emulator && scripts/build_binary --onedir && s…": Skip(
        "builds of minutes, then an npm install into the reader's project; "
        "tests/test_npm_package.py packs the same tarballs and installs them with npm i -D"
    ),
    "docs/install.md: scripts/build_binary --onedir": Skip(
        "a build of minutes; tests/test_binary.py runs it and starts dist/harbor-emulator"
    ),
    "docs/install.md: curl -fsSL https://github.com/harbor-emulator/harbor-emulato…": Skip(
        "downloads a release, which exists only from the first v* tag on; "
        "tests/test_binary.py builds and runs the same executable"
    ),
    # ---- docs/logging.md
    "docs/logging.md: $ harbor-emulator start": Skip(
        "sample log output; tests/test_logs.py checks each kind of line from a real start, "
        "and that every line has one format and the emulator clock's time"
    ),
    "docs/logging.md: HARBOR_EMULATOR_LOG_FORMAT=json harbor-emulator start --port…": Skip(
        "starts a server that runs until stopped; tests/test_logs.py runs it with --log-format json"
    ),
    # ---- docs/node.md: TypeScript and JavaScript that tests/test_npm_package.py runs
    "docs/node.md: npm i -D harbor-emulator": Skip(
        "installs from the npm registry; tests/test_npm_package.py installs the packed tarballs "
        "and runs `npx harbor-emulator start`"
    ),
    "docs/node.md: import { startEmulator, connectEmulator, verifyHarborSignatu…": Skip(
        "TypeScript: the API's outline; tests/test_npm_package.py type-checks and runs the API"
    ),
    "docs/node.md: import { connectEmulator, HarborAPIError, type Delivery } fr…": Skip(
        "TypeScript: tests/test_npm_types.py compiles it with `tsc --strict`"
    ),
    **{
        f"docs/node.md: {head}": Skip("a file of npm/example, run by tests/test_npm_package.py")
        for head in (
            "// One emulator per Vitest worker, started on first use; `ha…",
            "// Vitest globalSetup: one emulator for the whole run, its U…",
            "// The run's one emulator (see harbor-global-setup.ts), rese…",
            'const { startEmulator } = require("harbor-emulator");',
            'const { connectEmulator, verifyHarborSignature } = require("…',
            "// The webhook receiver of a shop that uses Harbor: it verif…",
        )
    },
    # ---- docs/openapi.md
    "docs/openapi.md: # Prism: a mock server from the document alone, or a proxy t…": Skip(
        "npx tools from the npm registry; tests/test_openapi.py checks the document they read"
    ),
    "docs/openapi.md: # Python: openapi-python-client 0.29.1 generates every opera…": Skip(
        "installs the generators from the registries; tests/test_sdk_generators.py runs both"
    ),
    # ---- docs/performance.md, docs/soak.md, docs/testing.md
    "docs/performance.md: python scripts/bench_events.py --repeat 3": Skip(
        "benchmarks of minutes; tests/test_bench_scripts.py and tests/test_bench_scale.py run "
        "them small"
    ),
    "docs/soak.md: scripts/test -q tests/test_ids.py": Skip(
        "a soak of minutes; tests/test_soak.py runs it briefly"
    ),
    "docs/testing.md: pip install ../harbor-emulator": Skip(
        "installs into the reader's project and runs its suite; tests/test_fresh_shell.py "
        "pip-installs the clone, tests/plugin/ test the plugin"
    ),
}

# seeds/002 (test mode) and 003 (live mode): each command's start, with the real host.
SEED_EXAMPLES: dict[str, list[Expect]] = {
    "002": [
        Expect(
            "curl -X POST https://api.harbor.example/v1/destinations",
            201,
            json={"object": "destination", "url": "https://webhook.site/your-unique-id"},
            offline=True,
            check=lambda answer: answer["signing_secret"].startswith("whsec_"),
        ),
        # dest_01HXYZ: the destination just made.
        Expect(
            "curl -X POST https://api.harbor.example/v1/subscriptions",
            201,
            json={"event_type": "order.created"},
        ),
        Expect(
            "curl -X POST https://api.harbor.example/v1/events",
            201,
            json={"type": "order.created", "payload": {"order_id": "ord_123"}},
            settle=True,
        ),
        # "One delivery, status succeeded, response_code: 200" needs webhook.site, which a
        # test does not reach (`offline`): the one delivery is there, its first attempt
        # failed with connection_error, so it waits for its retry.
        Expect(
            "curl https://api.harbor.example/v1/deliveries",
            200,
            check=listed(1, event_type="order.created", status="pending", attempt_count=1),
        ),
    ],
    # Live mode checks the URL as Harbor does. api.example.com is a name under RFC 2606's
    # reserved example.com that has no address, with or without network, so Harbor itself
    # would answer url_not_reachable; the seed lists that error for this route. No
    # destination is made, so the later calls on the seed's own example id dest_01HXYZ are
    # destination_not_found, the error the seed lists for each of them.
    "003": [
        Expect(
            "curl -X POST https://api.harbor.example/v1/destinations",
            400,
            json=error("url_not_reachable"),
        ),
        Expect("curl -X GET https://api.harbor.example/v1/destinations -H", 200, check=listed(0)),
        Expect(
            "curl -X GET https://api.harbor.example/v1/destinations/dest_01HXYZ",
            404,
            json=error("destination_not_found"),
        ),
        Expect(
            "curl -X PATCH https://api.harbor.example/v1/destinations/dest_01HXYZ",
            404,
            json=error("destination_not_found"),
        ),
        Expect(
            "curl -X DELETE https://api.harbor.example/v1/destinations/dest_01HXYZ",
            404,
            json=error("destination_not_found"),
        ),
    ],
}


# docs/api.md says its examples run after the README's Try it: they list the retry
# walkthrough's webhook and read that delivery's attempts. A reader who followed the README
# has that state, so the page runs after README.md's blocks, against the same emulator.
CONTINUES = {"docs/api.md": "README.md"}


def _blocks() -> list[Block]:
    return [block for doc in DOCUMENTS for block in doc_blocks(REPO / doc, doc)]


def test_every_example_is_known() -> None:
    found = [block.key for block in _blocks()]
    unknown = [key for key in found if key not in EXAMPLES]
    stale = [key for key in EXAMPLES if key not in found]
    assert not unknown, f"examples with no entry in EXAMPLES (add what they must answer): {unknown}"
    assert not stale, f"EXAMPLES entries whose block is gone: {stale}"


@pytest.fixture
def emulator() -> Iterator[str]:
    with EmulatorServer() as server:
        yield server.url


def _localize(command: str, url: str) -> str:
    """The docs' address (and the seeds' Harbor host) replaced by the emulator's."""
    port = url.rsplit(":", 1)[1]
    command = command.replace("https://api.harbor.example", url)
    command = command.replace("http://127.0.0.1:4280", url)
    command = re.sub(r"\b(127\.0\.0\.1|localhost):4280\b", rf"\g<1>:{port}", command)
    return re.sub(r":PORT\b", f":{port}", command)


def _run(shell: Shell, book: IdBook, url: str, command: str, expect: Expect) -> Result:
    assert normalized(command).startswith(normalized(expect.command)), (
        f"the table expects a command starting {expect.command!r}, the text has {command!r}"
    )
    result = shell.run(book.fill(_localize(command, url)))
    book.record(result.stdout)
    where = result.describe()
    assert result.exit_status == expect.exit_status, where
    if expect.status is not None:
        assert result.http_status == expect.status, where
    if expect.json is not None or expect.check is not None:
        try:
            answer = result.json()
            if expect.json is not None:
                contains(expect.json, answer)
            # A check asserts; a lambda's False counts as a failure too.
            if expect.check is not None:
                assert expect.check(answer) is not False, "the check returned False"
        except (ValueError, AssertionError, KeyError, TypeError) as failure:
            pytest.fail(f"{failure!r}\n{where}")
    if expect.stdout is not None:
        assert re.search(expect.stdout, result.stdout, re.MULTILINE), where
    if expect.offline:
        fault = {"target": "delivery", "endpoint_id": result.json()["id"]}
        added = httpx.post(f"{url}/_control/faults", json=fault | {"outcome": "connection_error"})
        assert added.status_code == 201, added.text
    if expect.settle:
        drained = httpx.post(
            f"{url}/_control/deliveries/drain", json={"timeout_seconds": 30}, timeout=60
        )
        assert drained.json()["drained"], drained.text
    return result


def _runnable_documents() -> list[str]:
    return [
        doc
        for doc in DOCUMENTS
        if any(isinstance(EXAMPLES.get(b.key), list) for b in doc_blocks(REPO / doc, doc))
    ]


@pytest.mark.parametrize("document", _runnable_documents())
def test_document_examples_answer_as_the_text_says(
    document: str, emulator: str, tmp_path: Path
) -> None:
    shell = Shell(tmp_path, emulator)
    book = IdBook()
    pages = [CONTINUES[document], document] if document in CONTINUES else [document]
    try:
        for block in (block for page in pages for block in doc_blocks(REPO / page, page)):
            entry = EXAMPLES[block.key]
            if isinstance(entry, Skip):
                continue
            steps = [step for step in entry if isinstance(step, Expect)]
            for step in entry:
                if isinstance(step, Files):
                    for name, text in step.files.items():
                        (tmp_path / name).write_text(text)
            commands = split_commands(block.text)
            assert len(commands) == len(steps), (
                f"{block.key}: {len(commands)} commands, {len(steps)} expectations"
            )
            for command, expect in zip(commands, steps, strict=True):
                if expect.skip is None:
                    _run(shell, book, emulator, command, expect)
                else:
                    assert normalized(command).startswith(normalized(expect.command))
    finally:
        shell.close()


def _readme_live_key_command() -> str:
    """The README's own sentence on live keys: the curl command that defines one."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    spans = [s for s in re.findall(r"`(curl [^`]*)`", text) if "hk_live_your_api_key" in s]
    assert len(spans) == 1, spans
    return spans[0]


@pytest.mark.parametrize("seed", sorted(SEED_EXAMPLES))
def test_seed_examples_answer_as_harbor_documents(seed: str, emulator: str, tmp_path: Path) -> None:
    if not SEEDS.is_dir():
        pytest.skip(SEEDS_ABSENT)
    (path,) = SEEDS.glob(f"{seed}_*")
    commands = seed_commands(path)
    expectations = SEED_EXAMPLES[seed]
    assert len(commands) == len(expectations) and all(
        normalized(command).startswith(normalized(expect.command))
        for command, expect in zip(commands, expectations, strict=True)
    ), f"seeds/{seed}'s curl commands are not SEED_EXAMPLES': {commands}"
    shell = Shell(tmp_path, emulator)
    book = IdBook(example_ids=("dest_01HXYZ",))
    try:
        if any("hk_live_" in command for command in commands):
            # As README's "Try it" says, a live key is defined before it is used.
            command = _readme_live_key_command()
            expect = Expect(command, 201, json={"key": "hk_live_your_api_key", "livemode": True})
            _run(shell, book, emulator, command, expect)
        for command, expect in zip(commands, expectations, strict=True):
            _run(shell, book, emulator, command, expect)
    finally:
        shell.close()
