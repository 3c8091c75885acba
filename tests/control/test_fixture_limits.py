"""Limits on fixtures documents (contract: Limits, Documents; docs/limits.md).

YAML aliases that recurse, or would expand a document by more than 100,000 nodes or past
ten times its own size, are 400 `invalid_fixtures` naming the line, decided at once; a large
body is read without holding up other requests. The emulator runs as its own process (as
`harbor-emulator start` serves), so a regression that spins its event loop fails these tests
through their clients' timeouts instead of stalling the suite's shared emulator.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harbor_emulator.core.fixture_parsing import UnreadableDocument, load_json

YAML = {"Content-Type": "application/yaml"}
# A refusal is decided within a second (contract); this leaves room for a busy machine.
DECIDED_WITHIN_SECONDS = 2.0
# Other requests are held up at most 100 ms (contract); this leaves room for a busy machine.
HELD_UP_AT_MOST_SECONDS = 0.5

CYCLE = b"x: &a [*a]"  # 10 bytes
START = (sys.executable, "-m", "harbor_emulator.cli", "start")


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """`levels` anchors, each a list of `width` aliases of the one before: width**levels
    strings once expanded, in a few hundred bytes."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def _sizes(text: str) -> tuple[int, int]:
    """(nodes as written, nodes once every alias is expanded), counted the obvious way."""
    written = sum(
        isinstance(e, yaml.AliasEvent | yaml.ScalarEvent | yaml.CollectionStartEvent)
        for e in yaml.parse(text)
    )

    def expanded(node: Any) -> int:
        if isinstance(node, yaml.ScalarNode):
            return 1
        if isinstance(node, yaml.MappingNode):
            return 1 + sum(expanded(k) + expanded(v) for k, v in node.value)
        return 1 + sum(expanded(child) for child in node.value)

    return written, expanded(yaml.compose(text))


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """`harbor-emulator start` as a process for this module's tests; yields its URL."""
    process = subprocess.Popen(
        [*START, "--port", "0", "--rate-limit", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line
        yield match.group(1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()  # a loop that spins answers no signal
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def control(server: str) -> Iterator[httpx.Client]:
    """A client of the module's emulator, reset; a request that hangs fails in seconds."""
    with httpx.Client(base_url=f"{server}/_control", timeout=10) as client:
        assert client.post("/reset").status_code == 200
        yield client


def _load(control: httpx.Client, body: bytes | str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = control.post("/fixtures", content=body, headers=YAML)
    return response, time.perf_counter() - started


def _refused(response: httpx.Response, elapsed: float) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_fixtures", error
    assert elapsed < DECIDED_WITHIN_SECONDS, f"refused after {elapsed:.2f} s"
    return str(error["message"])


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (CYCLE, "line 1, column 8: alias *a"),
        (b"webhooks:\n  - &hook\n    url: http://x.test\n    other: [1, *hook]\n", "line 4"),
        (b"a: &a {<<: *a}\n", "line 1, column 12: alias *a"),  # a merge key into itself
    ],
    ids=["ten-bytes", "nested", "merge-key"],
)
def test_a_recursive_alias_is_refused_at_once_naming_its_line(
    control: httpx.Client, document: bytes, where: str
) -> None:
    message = _refused(*_load(control, document))
    assert where in message and "inside the node it names" in message, message
    assert control.get("/health").status_code == 200


@pytest.mark.parametrize(
    "document",
    [
        # Under a key the schema refuses anyway: the expansion must not come first.
        "unknown:\n" + "".join(f"  {line}\n" for line in billion_laughs().splitlines()),
        "events:\n  - type: a.b\n    workspace_id: ws_lol\n    payload:\n"
        + "".join(f"      {line}\n" for line in billion_laughs().splitlines()),
    ],
    ids=["unknown-key", "payload"],
)
def test_billion_laughs_is_refused_at_once(control: httpx.Client, document: str) -> None:
    message = _refused(*_load(control, document))
    assert re.search(r"at line \d+, column \d+: alias \*l\d", message), message
    assert "10 times its own" in message
    assert control.get("/health").status_code == 200


def _shared_payload(items: int, repeats: int) -> str:
    """One event whose payload is anchored, then `repeats` events whose payload is an alias
    of it: a legitimate document, whatever its expansion."""
    text = (
        "events:\n  - type: order.paid\n    workspace_id: ws_alias\n    payload: &p\n"
        f"      items: [{', '.join(['0'] * items)}]\n"
    )
    return text + "  - {type: order.paid, workspace_id: ws_alias, payload: *p}\n" * repeats


def test_an_expansion_of_ten_times_its_size_loads_and_one_past_it_is_refused(
    control: httpx.Client,
) -> None:
    at_limit, past_limit = _shared_payload(134, 18), _shared_payload(135, 18)
    written, expanded = _sizes(at_limit)
    assert expanded == 10 * written
    written, expanded = _sizes(past_limit)
    assert 10 * written < expanded < 10 * written * 1.01  # 2,730 allowed, 2,739 there

    loaded = control.post("/fixtures", content=at_limit, headers=YAML)
    assert loaded.status_code == 201, loaded.text
    assert loaded.json()["events"] == 19
    control.post("/reset")
    message = _refused(*_load(control, past_limit))
    assert "line 23, column 57: alias *p" in message, message  # the one that tips it over
    assert "10 times its own 273 nodes" in message


def test_aliases_adding_more_than_100000_nodes_are_refused(control: httpx.Client) -> None:
    # Twenty thousand items as written: ten times that is allowed, but not 100,000 more.
    within, beyond = _shared_payload(20_000, 4), _shared_payload(20_000, 6)
    written, expanded = _sizes(within)
    assert 80_000 < expanded - written < 100_000
    written, expanded = _sizes(beyond)
    assert expanded - written > 100_000 and expanded < 10 * written

    loaded = control.post("/fixtures", content=within, headers=YAML)
    assert loaded.status_code == 201, loaded.text
    control.post("/reset")
    message = _refused(*_load(control, beyond))
    assert "by more than 100,000 nodes" in message and "alias *p" in message, message


def test_a_shared_retry_policy_anchor_loads(control: httpx.Client) -> None:
    document = """\
webhooks:
  - &hook
    id: wh_first
    workspace_id: ws_shared
    url: http://first.test/hooks
    events: ['order.*']
    retry_policy: &retry {schedule_seconds: [60, 300, 1800], max_age_seconds: 7200}
  - <<: *hook
    id: wh_second
    url: http://second.test/hooks
  - id: wh_third
    workspace_id: ws_shared
    url: http://third.test/hooks
    events: ['*']
    retry_policy: *retry
"""
    loaded = control.post("/fixtures", content=document, headers=YAML)
    assert loaded.status_code == 201, loaded.text
    webhooks = {w["id"]: w for w in control.get("/export").json()["webhooks"]}
    policy = {"schedule_seconds": [60, 300, 1800], "max_age_seconds": 7200}
    assert [webhooks[i]["retry_policy"] == policy for i in sorted(webhooks)] == [True] * 3
    assert webhooks["wh_second"]["url"] == "http://second.test/hooks"
    assert webhooks["wh_second"]["events"] == ["order.*"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        # YAML 1.1 base-60: quadratic to build (600 KB held a core for 20 s).
        ("1" + ":59" * 200_000, "an integer of more than 4,300 digits"),
        ("9" * 5000, "an integer of more than 4,300 digits"),
        ("1" + ":59" * 300 + ".5", "a number too large"),  # was a 500
        ("2026-13-01", "month must be in 1..12"),
    ],
    ids=["base-60-integer", "long-integer", "base-60-float", "impossible-date"],
)
def test_a_value_no_number_or_date_can_hold_is_refused_naming_its_line(
    control: httpx.Client, value: str, problem: str
) -> None:
    document = f"events:\n  - type: a.b\n    workspace_id: ws_n\n    payload: {{n: {value}}}\n"
    message = _refused(*_load(control, document))
    assert f"invalid YAML at line 4, column 18: {problem}." in message, message


def test_an_integer_of_4300_digits_loads_and_one_of_4301_is_refused(
    control: httpx.Client,
) -> None:
    def document(digits: int) -> str:
        return f"events: [{{type: a.b, workspace_id: ws_n, payload: {{n: {'9' * digits}}}}}]"

    loaded = control.post("/fixtures", content=document(4300), headers=YAML)
    assert loaded.status_code == 201, loaded.text
    message = _refused(*_load(control, document(4301)))
    assert "line 1, column 55: an integer of more than 4,300 digits." in message, message


def test_start_with_a_recursive_fixtures_file_exits_2_at_once(tmp_path: Path) -> None:
    path = tmp_path / "cyc.yaml"
    path.write_bytes(CYCLE)
    started = time.perf_counter()
    result = subprocess.run(
        [*START, "--port", "0", "--fixtures", str(path), "--log-level", "warning"],
        capture_output=True,
        text=True,
        timeout=30,  # it used to spin forever, deaf to SIGTERM
    )
    assert result.returncode == 2, result
    assert f"error: invalid_fixtures: {path}: document: invalid YAML at line 1" in result.stderr
    assert "listening on" not in result.stdout
    assert time.perf_counter() - started < 15


def test_cli_fixtures_load_of_a_recursive_file_fails_at_once(server: str, tmp_path: Path) -> None:
    path = tmp_path / "cyc.yaml"
    path.write_bytes(CYCLE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
    result = subprocess.run(
        [sys.executable, "-m", "harbor_emulator.cli", "fixtures", "load", str(path)],
        capture_output=True,
        text=True,
        env={**env, "HARBOR_EMULATOR_URL": server},
        timeout=30,  # the CLI reads the file itself: it used to spin forever
    )
    assert result.returncode == 1, result
    assert result.stderr.startswith(
        f"error: {path}: invalid_fixtures: document: invalid YAML at line 1, column 8: alias *a"
    ), result.stderr


# -- large documents ----------------------------------------------------------------------


def _large_document(events: int) -> dict[str, Any]:
    """An export-like document: `events` events of ~0.7 KB each, sharing no object (YAML
    would write a shared one as an alias)."""
    return {
        "workspaces": [{"id": "ws_big"}],
        "events": [
            {
                "id": f"evt_big{i:06d}",
                "workspace_id": "ws_big",
                "type": "order.paid",
                "created_at": "2026-01-01T00:00:00Z",
                "payload": {
                    "order_id": f"ord_{i:06d}",
                    "amount": i * 7 % 10_000,
                    "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
                    "items": [
                        {"sku": f"sku_{j}", "qty": j + 1, "price": j * 3 + 1.5, "note": f"n{j}"}
                        for j in range(8)
                    ],
                },
            }
            for i in range(events)
        ],
    }


def _health_while(server: str, request: Any) -> tuple[httpx.Response, list[float]]:
    """`request(client)` on a thread while this one polls /_control/health every 10 ms:
    its response and every poll's latency."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        with httpx.Client(base_url=server, timeout=120) as client:
            try:
                outcome["response"] = request(client)
            except Exception as exc:  # reported below, with the latencies seen
                outcome["error"] = exc

    thread = threading.Thread(target=run)
    latencies: list[float] = []
    with httpx.Client(base_url=server, timeout=10) as poller:
        thread.start()
        while thread.is_alive():
            started = time.perf_counter()
            assert poller.get("/_control/health").status_code == 200
            latencies.append(time.perf_counter() - started)
            time.sleep(0.01)
    thread.join()
    assert "error" not in outcome, outcome
    return outcome["response"], latencies


def _held_up(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    return (
        f"{len(ordered)} health polls: max {ordered[-1] * 1000:.0f} ms, "
        f"median {ordered[len(ordered) // 2] * 1000:.0f} ms"
    )


@pytest.mark.parametrize("syntax", ["yaml", "json"])
def test_a_large_document_never_holds_up_other_requests(
    control: httpx.Client, server: str, syntax: str
) -> None:
    document = _large_document(3300)
    if syntax == "yaml":
        body = yaml.dump(document, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))
    else:
        body = json.dumps(document)
    assert len(body) > 2_000_000

    def load(client: httpx.Client) -> httpx.Response:
        return client.post(
            "/_control/fixtures", content=body, headers={"Content-Type": f"application/{syntax}"}
        )

    loaded, latencies = _health_while(server, load)
    assert loaded.status_code == 201, loaded.text
    assert loaded.json()["events"] == 3300
    assert len(latencies) >= 5, _held_up(latencies)  # the load took a while: polls overlapped
    assert max(latencies) < HELD_UP_AT_MOST_SECONDS, _held_up(latencies)

    exported, latencies = _health_while(
        server, lambda client: client.get("/_control/export", params={"format": syntax})
    )
    assert exported.status_code == 200
    assert len(exported.content) > 2_000_000
    assert max(latencies) < HELD_UP_AT_MOST_SECONDS, _held_up(latencies)
    if syntax == "yaml":
        # Written 64 events at a time: the pieces join to the text of one whole dump.
        safe = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        whole = yaml.dump(
            yaml.load(exported.text, Loader=safe),
            Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
            sort_keys=False,
            allow_unicode=True,
        )
        assert exported.text == whole


# -- the JSON reader ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"events": [{"type": "a"}, {"type": "b"}], "clock": {"frozen": true}}',
        ' \n{ "a" : [ ] , "b" :[1,2 ,3],"a":[4]}\t\n',  # duplicate keys: the last wins
        '{"a": "[\\"not\\", \\"an array\\"]", "b": [[1, [2]], {"c": []}]}',
        "{}",
        "[1, 2]",
        "null",
        '{"n": NaN}',
    ],
)
def test_the_json_reader_reads_what_json_loads_reads(text: str) -> None:
    loaded = load_json(text)
    assert json.dumps(loaded) == json.dumps(json.loads(text))


@pytest.mark.parametrize(
    "text",
    ['{"a": [1, 2', '{"a": [1 2]}', '{"a": [1], }', '{"a": 1} x', "", f'{{"a": [{"9" * 5000}]}}'],
)
def test_the_json_reader_refuses_what_json_loads_refuses_with_its_message(text: str) -> None:
    with pytest.raises(ValueError) as expected:
        json.loads(text)
    with pytest.raises(UnreadableDocument) as refused:
        load_json(text)
    assert str(refused.value) == f"invalid JSON: {str(expected.value)[:200]}"


def test_a_bomb_is_refused_at_once_while_an_advance_runs(emulator: Any) -> None:
    """A load runs alone, but its document is read and bounded before it waits: a bomb
    posted while an advance waits on a receiver is refused then, not after the advance."""
    from tests.conftest import TEST_KEY
    from tests.receiver import Answer, Receiver

    receiver = Receiver()
    seen: dict[str, Any] = {}

    def post_bomb() -> None:
        started = time.monotonic()
        try:
            seen["response"] = httpx.post(
                f"{emulator.url}/_control/fixtures",
                content=CYCLE,
                headers=YAML,
                timeout=DECIDED_WITHIN_SECONDS * 2,
            )
        except httpx.HTTPError as exc:
            seen["error"] = repr(exc)
        seen["seconds"] = time.monotonic() - started

    try:
        with emulator.api(TEST_KEY) as api:
            hook = api.post("/v1/webhooks", json={"url": receiver.url, "events": ["*"]})
            assert hook.status_code == 201, hook.text
            receiver.respond_with(503, Answer(before=post_bomb))
            assert api.post("/v1/events", json={"type": "a.b", "payload": {}}).status_code == 201
        receiver.wait_for(1)
        # The retry falls due during this advance, which waits on the receiver meanwhile.
        emulator.advance(3600)
    finally:
        receiver.close()
    assert "error" not in seen, seen
    response = seen["response"]
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_fixtures", response.text
    assert seen["seconds"] < DECIDED_WITHIN_SECONDS, seen
