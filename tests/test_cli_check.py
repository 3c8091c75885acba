"""`harbor-emulator check-receiver`, run as a real subprocess against a real emulator and the
example receivers of docs/receivers.md: its table, exit statuses, --json and --junit."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harbor_emulator.control.receiver_check import CHECKS
from tests.conftest import Emulator
from tests.receiver_examples import SECRET, serve_node, serve_python
from tests.test_cli import closed_port_url, harbor

TABLE_ROW = re.compile(r"^(\w+) +(must|should) +(pass|fail|warn) +(\d+|-) +\d+ +\S", re.M)


@pytest.mark.parametrize(
    ("example", "exit_status", "failed"),
    [
        ("receiver.py", 0, []),
        (
            "broken_no_verification.py",
            1,
            ["bad_signature", "tampered_body", "stale_timestamp", "missing_signature"],
        ),
        ("broken_reserialized.py", 1, ["valid", "duplicate", "rotation"]),
        ("broken_no_dedupe.py", 1, ["duplicate"]),
        ("receiver.mjs", 0, []),
    ],
)
def test_the_exit_status_and_table_give_the_verdict(
    emulator: Emulator, example: str, exit_status: int, failed: list[str]
) -> None:
    name, language = example.rsplit(".", 1)
    serve = serve_python if language == "py" else serve_node
    with serve(name) as url:
        result = harbor("check-receiver", url, "--secret", SECRET, url=emulator.url)
    assert result.returncode == exit_status, (result.stdout, result.stderr)
    rows = TABLE_ROW.findall(result.stdout)
    assert [row[0] for row in rows] == [spec.name for spec in CHECKS], result.stdout
    failing = [row[0] for row in rows if row[2] == "fail"]
    assert failing == failed, result.stdout
    if exit_status == 0:
        assert "PASSED" in result.stdout.splitlines()[0] and result.stderr == ""
    else:
        assert result.stderr == f"error: receiver_not_ready: failed {', '.join(failing)}\n"


def test_an_unreachable_receiver_exits_2(emulator: Emulator) -> None:
    receiver_url = closed_port_url() + "/hook"
    result = harbor("check-receiver", receiver_url, "--secret", SECRET, url=emulator.url)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout.startswith(f"receiver check of {receiver_url}: UNREACHABLE")
    assert result.stderr.startswith("error: receiver_unreachable: Connection refused")


def test_an_unreachable_emulator_exits_2() -> None:
    result = harbor(
        "check-receiver", "http://127.0.0.1:9/", "--secret", SECRET, url=closed_port_url()
    )
    assert result.returncode == 2
    assert "cannot reach the emulator" in result.stderr


def test_json_prints_the_routes_report(emulator: Emulator) -> None:
    with serve_python("broken_no_dedupe") as url:
        result = harbor(
            "check-receiver",
            url,
            "--json",
            "--type",
            "order.paid",
            "--payload",
            '{"n": 1}',
            url=emulator.url,
            env={"HARBOR_WEBHOOK_SECRET": SECRET},  # the secret from the environment
        )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["object"], report["url"], report["passed"]) == ("receiver_check", url, False)
    assert report["event_type"] == "order.paid"
    [duplicate] = [c for c in report["checks"] if c["result"] == "fail"]
    assert (duplicate["name"], duplicate["status"]) == ("duplicate", 500)
    # The response checker of the suite's client validates the same route's report; here
    # the CLI's JSON is that report unchanged.
    assert set(report) == {"object", "url", "passed", "reachable", "event_type", "checks"}


def test_junit_has_one_testcase_per_check(emulator: Emulator, tmp_path: Path) -> None:
    junit = tmp_path / "receiver.xml"
    with serve_python("broken_no_verification") as url:
        result = harbor(
            "check-receiver", url, "--secret", SECRET, "--junit", str(junit), url=emulator.url
        )
    assert result.returncode == 1
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == [spec.name for spec in CHECKS]
    failed = [name for name, case in cases.items() if case.find("failure") is not None]
    assert failed == ["bad_signature", "tampered_body", "stale_timestamp", "missing_signature"]
    assert suite.get("failures") == "4" and suite.get("tests") == "11"
    failure = cases["bad_signature"].find("failure")
    assert failure is not None and "expected not 2xx, got 200" in (failure.text or "")
    # A warning passes the run: a passing testcase whose output says WARN.
    warned = cases["future_timestamp"]
    assert warned.find("failure") is None and warned.find("skipped") is None
    assert (warned.findtext("system-out") or "").startswith("WARN ")
    assert not (cases["valid"].findtext("system-out") or "").startswith("WARN")


def test_a_payload_that_is_not_json_is_a_usage_error(emulator: Emulator) -> None:
    result = harbor(
        "check-receiver",
        "http://127.0.0.1:9/",
        "--secret",
        SECRET,
        "--payload",
        "{",
        url=emulator.url,
    )
    assert result.returncode == 2
    assert "--payload" in result.stderr and "not JSON" in result.stderr


def test_bad_input_is_the_routes_error(emulator: Emulator) -> None:
    result = harbor("check-receiver", "ftp://x/", "--secret", SECRET, url=emulator.url)
    assert result.returncode == 1
    assert result.stderr.startswith("error: invalid_url: ")
