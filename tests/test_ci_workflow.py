"""The project's own CI workflow (.github/workflows/ci.yml). It cannot run here: actionlint
checks it as it checks release.yml, and the checks below hold it to what it promises: the
Linux job is local CI's command, the other jobs build the executable as the release does and
run scripts/smoke_binary.py, whose signature check is tried here against the real signer."""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from harbor_emulator import signing
from tests.test_release_workflow import actionlint, lint  # noqa: F401  (actionlint: a fixture)

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
SMOKE = ROOT / "scripts" / "smoke_binary.py"


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True)
    return document


def steps_named(job: dict[str, Any], text: str) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if text in step.get("name", "")]


def run_lines(step: dict[str, Any]) -> list[str]:
    return [line.strip() for line in step["run"].strip().splitlines()]


@pytest.mark.slow
def test_the_ci_workflow_passes_actionlint(actionlint: list[str]) -> None:  # noqa: F811
    result = lint(actionlint, WORKFLOW)
    assert "Checking 1 workflow file(s)" in result.stdout, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_actionlint_would_catch_a_wrong_matrix_key(
    actionlint: list[str],  # noqa: F811
    tmp_path: Path,
) -> None:
    """The lint above means something: a key the matrix does not define fails it."""
    broken = tmp_path / "ci.yml"
    text = WORKFLOW.read_text()
    assert "matrix.exe" in text
    broken.write_text(text.replace("matrix.exe", "matrix.executable"))
    result = lint(actionlint, broken)
    assert result.returncode == 1
    assert "executable" in result.stdout


def test_it_runs_on_every_push_and_pull_request() -> None:
    assert set(load(WORKFLOW)["on"]) == {"push", "pull_request"}


def test_the_linux_job_is_local_ci_exactly() -> None:
    """The same command as local CI, as root on Debian, with nothing run after it."""
    job = load(WORKFLOW)["jobs"]["suite"]
    assert job["runs-on"].startswith("ubuntu-")
    assert job["container"]["image"].endswith("-bookworm")
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs[-1] == ".ci/run"
    assert job["steps"][-1]["run"] == ".ci/run"
    # Nothing before it runs the tests or installs what .ci/run installs itself.
    for run in runs[:-1]:
        assert "pytest" not in run and "scripts/test" not in run and "apt-get" not in run, run
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert ci_run.rstrip().endswith("scripts/test")
    assert "CI=" not in ci_run  # local CI reports skips; only a CI service fails on them


def test_the_other_jobs_build_as_the_release_does_and_smoke_test() -> None:
    ci = load(WORKFLOW)["jobs"]["binary"]
    release = load(RELEASE)["jobs"]["binary"]
    runners = {entry["runner"] for entry in ci["strategy"]["matrix"]["include"]}
    assert {r.split("-")[0] for r in runners} == {"macos", "windows"}
    assert runners <= {entry["runner"] for entry in release["strategy"]["matrix"]["include"]}
    for os_name in ("!=", "=="):
        (ci_build,) = [s for s in steps_named(ci, "Build") if f"runner.os {os_name}" in s["if"]]
        (release_build,) = [
            s for s in steps_named(release, "Build") if f"runner.os {os_name}" in s["if"]
        ]
        assert ci_build["run"] == release_build["run"]
    (smoke,) = steps_named(ci, "Smoke test")
    assert shlex.split(smoke["run"])[:2] == ["python", "scripts/smoke_binary.py"]
    (node,) = steps_named(ci, "Node package's tests")
    lines = run_lines(node)
    assert node["working-directory"] == "npm/example"
    assert "npx --no-install vitest run --maxWorkers=2" in lines
    assert "npx --no-install jest --config jest/jest.config.cjs" in lines


def test_pip_and_npm_downloads_are_cached() -> None:
    jobs = load(WORKFLOW)["jobs"]
    uses = {step["uses"].split("@")[0]: step for step in jobs["binary"]["steps"] if "uses" in step}
    assert uses["actions/setup-python"]["with"]["cache"] == "pip"
    node = uses["actions/setup-node"]["with"]
    assert node["cache"] == "npm"
    for lockfile in node["cache-dependency-path"].split():
        assert (ROOT / lockfile).is_file(), lockfile
    (cache,) = [s for s in jobs["suite"]["steps"] if s.get("uses", "").startswith("actions/cache")]
    assert {"~/.cache/pip", "~/.npm", ".npm-cache"} <= set(cache["with"]["path"].split())


def smoke_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smoke_binary", SMOKE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_smoke_signature_check_agrees_with_the_signer() -> None:
    """Written from the documented scheme with the standard library: the real signer's
    headers pass, during a rotation too; a changed body or another secret fail."""
    smoke = smoke_module()
    secret, other = signing.new_secret(), signing.new_secret()
    body = '{"id":"dlv_1","data":{"id":"evt_1"}}'
    headers = {
        "harbor-timestamp": "1700000000",
        "harbor-signature": signing.signature_header([other, secret], 1700000000, body.encode()),
    }
    smoke.verify_signature(body, headers, secret)
    smoke.verify_signature(body, headers, other)
    with pytest.raises(smoke.SmokeFailure, match="no valid v1 signature"):
        smoke.verify_signature(body.replace("evt_1", "evt_2"), headers, secret)
    with pytest.raises(smoke.SmokeFailure, match="no valid v1 signature"):
        smoke.verify_signature(body, headers, signing.new_secret())
    with pytest.raises(smoke.SmokeFailure, match="no Harbor-Timestamp"):
        smoke.verify_signature(body, {"harbor-signature": headers["harbor-signature"]}, secret)
