"""docs/receivers.md's receivers against the real check: the correct ones pass, each broken
one fails the checks the page says; its blocks are the files, its outputs a real run's; its
pytest file and its Vitest file fail a suite with the report."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harbor_emulator.client import ReceiverCheckReport
from tests import skip_policy
from tests.conftest import Emulator
from tests.receiver_examples import EXAMPLES, ROOT, SECRET, serve_node, serve_python
from tests.test_npm_types import EXAMPLE, QUIET, build_package, run

PAGE = ROOT / "docs" / "receivers.md"
SUBPROCESS_TIMEOUT_SECONDS = 300

# (must checks that fail, should checks that warn) for each example receiver.
VERDICTS: dict[str, tuple[list[str], list[str]]] = {
    "receiver.py": ([], []),
    "broken_no_verification.py": (
        ["bad_signature", "tampered_body", "stale_timestamp", "missing_signature"],
        ["future_timestamp"],
    ),
    "broken_reserialized.py": (
        ["valid", "duplicate", "rotation"],
        ["large_payload", "unknown_type"],
    ),
    "broken_no_dedupe.py": (["duplicate"], []),
    "receiver.mjs": ([], []),
    # The 256 KB payload survives JSON.stringify's round trip; the default payload does not.
    "broken_reserialized.mjs": (["valid", "duplicate", "rotation"], ["unknown_type"]),
}


def run_check(emulator: Emulator, url: str) -> ReceiverCheckReport:
    # Through the suite's client: the report is checked against openapi.yaml.
    response = emulator.control(
        "POST",
        "/receiver-checks",
        json={"url": url, "secret": SECRET, "event_type": "order.paid"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return ReceiverCheckReport.from_json(response.json())


@pytest.mark.parametrize("example", sorted(VERDICTS))
def test_each_example_gets_the_verdict_the_page_says(emulator: Emulator, example: str) -> None:
    name, language = example.rsplit(".", 1)
    serve = serve_python if language == "py" else serve_node
    with serve(name) as url:
        report = run_check(emulator, url)
    failed, warned = VERDICTS[example]
    assert ([c.name for c in report.failed], [c.name for c in report.warned]) == (
        failed,
        warned,
    ), str(report)
    assert report.passed is (not failed)
    assert report.reachable


def _includes() -> list[tuple[str, str]]:
    text = PAGE.read_text()
    found = re.findall(r"^<!-- include: (\S+) -->\n```\w+\n(.*?)^```$", text, re.S | re.M)
    assert found
    return found


def test_the_pages_blocks_are_the_example_files() -> None:
    included = {path for path, _ in _includes()}
    on_disk = {str(p.relative_to(ROOT)) for p in EXAMPLES.iterdir() if p.is_file()}
    assert included == on_disk  # every example is shown, and nothing else
    for path, code in _includes():
        assert code == (ROOT / path).read_text(), f"{path} differs from its block in receivers.md"


def _comparable(output: str) -> list[Any]:
    """The printed report without what changes from run to run: ports and milliseconds."""
    rows = []
    for line in re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", output).splitlines():
        row = re.fullmatch(r"(\S+) +(must|should) +(pass|fail|warn) +(\S+) +\d+ +(.*)", line)
        rows.append(row.groups() if row else line)
    return rows


def test_the_pages_outputs_are_what_the_check_prints(emulator: Emulator) -> None:
    text = PAGE.read_text()
    outputs = re.findall(r"^<!-- output: (\S+) -->\n```text\n(.*?)\n^```$", text, re.S | re.M)
    assert [Path(path).name for path, _ in outputs] == [
        "receiver.py",
        "broken_no_verification.py",
        "broken_reserialized.py",
        "broken_no_dedupe.py",
    ]
    for path, shown in outputs:
        with serve_python(Path(path).stem) as url:
            printed = str(run_check(emulator, url))
        assert _comparable(shown) == _comparable(printed), f"{path}:\n{printed}"


def _run_pytest_example(tmp_path: Path, receiver: str) -> subprocess.CompletedProcess[str]:
    """docs' test_receiver.py in a project of its own, with `receiver` as its receiver.py."""
    shutil.copy(EXAMPLES / "test_receiver.py", tmp_path)
    shutil.copy(EXAMPLES / receiver, tmp_path / "receiver.py")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_receiver.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
    )


def test_the_pytest_example_passes_with_the_correct_receiver(tmp_path: Path) -> None:
    result = _run_pytest_example(tmp_path, "receiver.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_pytest_example_fails_with_the_report(tmp_path: Path) -> None:
    result = _run_pytest_example(tmp_path, "broken_no_dedupe.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(
        r"receiver check of http://127\.0\.0\.1:\d+/harbor/webhooks: FAILED", result.stdout
    )
    assert re.search(r"duplicate +must +fail +500 ", result.stdout), result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("receiver", "passes"), [("receiver.mjs", True), ("broken_reserialized.mjs", False)]
)
def test_the_vitest_example_fails_a_suite_with_the_report(
    receiver: str, passes: bool, vitest_project: Path, emulator: Emulator
) -> None:
    test_dir = vitest_project / "test" / "receiver-check"
    test_dir.mkdir(exist_ok=True)
    shutil.copy(EXAMPLES / "receiver-check.test.ts", test_dir)
    shutil.copy(EXAMPLES / receiver, test_dir / "receiver.mjs")
    config = vitest_project / "vitest.receiver.config.mjs"
    config.write_text(
        'import { defineConfig } from "vitest/config";\n'
        'export default defineConfig({ test: { include: ["test/receiver-check/*.test.ts"] } });\n'
    )
    vitest = ["npx", "--no-install", "vitest", "run", "--config", config.name]
    result = run(vitest, vitest_project, check=False, HARBOR_EMULATOR_URL=emulator.url)
    output = result.stdout + result.stderr
    if passes:
        assert result.returncode == 0, output
        assert re.search(r"Tests\s+1 passed \(1\)", output), output
    else:
        assert result.returncode == 1, output
        assert "receiver check of http://127.0.0.1:" in output and ": FAILED" in output, output
        assert re.search(r"valid +fail +400", output), output


@pytest.fixture(scope="module")
def vitest_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """npm/example with its pinned packages and the npm package built from this checkout."""
    skip_policy.require_tools("node", "npm", install=skip_policy.NODE)
    built = build_package(tmp_path_factory.mktemp("receiver-npm")).tarball
    project = tmp_path_factory.mktemp("receiver-vitest") / "example"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("node_modules"))
    run(["npm", "ci", *QUIET], cwd=project)
    run(["npm", "i", "-D", "--no-save", *QUIET, str(built)], cwd=project)
    return project
