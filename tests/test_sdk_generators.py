"""The SDK generators users point at /openapi.json produce working clients.

Each test takes the document a real emulator serves, runs a pinned generator or tool on
it, and (for the generators) drives the generated client against a real emulator:

- Redocly's recommended ruleset finds nothing to warn about;
- openapi-python-client generates every operation without a warning, and the generated
  client runs the seeds' flows with typed models, typed errors included;
- openapi-typescript's types type-check a small openapi-fetch program (tests/sdk/flows.ts)
  under `tsc --noEmit`, and node runs it against the emulator;
- Prism's mock answers every operation with the document's example, which validates.

The npm tools install from the npm registry at the versions tests/sdk/package-lock.json
pins, with `npm ci`, once per lock file into the virtualenv (`<venv>/sdk-npm/`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Emulator

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
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not on PATH: the npm SDK generators need Node.js")
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
        [npm_tools / "redocly", "lint", "--extends=recommended", "--format=json", served_document],
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
