"""A newcomer's terminal: after the README's set-up, `harbor-emulator …` runs as the docs type it.

The README's set-up is `scripts/start` (it makes .venv) and one line run in the clone,
`export PATH="$PWD/bin:$PATH"`. Every shell of tests/test_readme_examples.py starts that way
(tests/doc_examples.py: no virtualenv on PATH, then that line), so each `harbor-emulator`
command of the docs runs through bin/harbor-emulator there; these tests check the set-up
itself, and the "from a clone" install of docs/install.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import harbor_emulator
from harbor_emulator.testing import EmulatorServer
from tests.doc_examples import REPO, Shell, fresh_path, fresh_shell_setup

SHIM = REPO / "bin" / "harbor-emulator"
WAIT_SECONDS = 120  # a bound on a process that must answer, not a timing assertion
INSTALL_SECONDS = 900  # the same for pip installing the package and its dependencies


def fresh_bash(
    script: str, cwd: Path, timeout: float = WAIT_SECONDS
) -> subprocess.CompletedProcess[str]:
    """`script` in a new bash with a new terminal's environment: no virtualenv on PATH."""
    env = {"PATH": fresh_path(), "HOME": os.environ.get("HOME", str(cwd)), "LANG": "C.UTF-8"}
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_readme_set_up_puts_the_clones_bin_on_path() -> None:
    assert fresh_shell_setup() == 'export PATH="$PWD/bin:$PATH"'
    # The test's own interpreter is not what the docs' commands find.
    assert str(Path(sys.executable).parent) not in fresh_path().split(os.pathsep)
    assert os.access(SHIM, os.X_OK)


def test_after_the_set_up_harbor_emulator_is_the_clones_cli_from_any_directory(
    tmp_path: Path,
) -> None:
    with EmulatorServer() as server:
        script = (
            f"cd {REPO} && {fresh_shell_setup()} && cd {tmp_path}\n"
            "command -v harbor-emulator\n"
            "harbor-emulator --version\n"
            f"harbor-emulator health --url {server.url}\n"
        )
        result = fresh_bash(script, tmp_path)
    assert result.returncode == 0, result.stderr
    found, version, health = result.stdout.splitlines()
    assert found == str(SHIM)
    assert version == f"harbor-emulator, version {harbor_emulator.__version__}"
    assert health.startswith("ok  version "), result.stdout


def test_the_shim_works_through_a_symlink(tmp_path: Path) -> None:
    """`ln -s …/bin/harbor-emulator ~/bin/` is the other way people put a tool on PATH."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "harbor-emulator").symlink_to(SHIM)
    result = fresh_bash(f'PATH="{tmp_path}/bin:$PATH" harbor-emulator --version', tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"harbor-emulator, version {harbor_emulator.__version__}"


@pytest.mark.slow
def test_the_shim_makes_venv_on_first_use(tmp_path: Path) -> None:
    """Typed before `scripts/start` ever ran, `harbor-emulator` installs first, as
    scripts/start would (one progress line), then runs. Needs PyPI or pip's cache."""
    clone = tmp_path / "harbor-emulator"
    for name in ("pyproject.toml", "README.md", "bin/harbor-emulator", "scripts/_venv.sh"):
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, clone / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "harbor_emulator", clone / "harbor_emulator", ignore=ignore)
    script = 'export PATH="$PWD/bin:$PATH" && harbor-emulator --version'
    result = fresh_bash(script, clone, timeout=INSTALL_SECONDS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.splitlines() == ["installing harbor-emulator into .venv …"]
    assert result.stdout.strip() == f"harbor-emulator, version {harbor_emulator.__version__}"
    assert (clone / ".venv" / "bin" / "harbor-emulator").exists()


def test_the_docs_examples_run_through_the_shim(tmp_path: Path) -> None:
    shell = Shell(tmp_path, "http://127.0.0.1:9")
    try:
        result = shell.run("command -v harbor-emulator")
    finally:
        shell.close()
    assert result.stdout.strip() == str(SHIM), result.describe()


def test_pip_install_of_the_clone(tmp_path: Path) -> None:
    """docs/install.md's `pip install ../harbor-emulator`: a real (not editable) install of the
    clone's path serves, its package data (the OpenAPI document, the dashboard) included."""
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    install = subprocess.run(
        [*pip, "--no-deps", "--target", str(site), str(REPO)],
        capture_output=True,
        text=True,
        timeout=INSTALL_SECONDS,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    assert (site / "bin" / "harbor-emulator").exists()
    env = {**os.environ, "PYTHONPATH": str(site)}
    process = subprocess.Popen(
        [sys.executable, "-m", "harbor_emulator.cli", "start", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, f"no URL line: {line!r}"
        with httpx.Client(base_url=match.group(1), timeout=30) as client:
            where = client.get("/_control/health").json()
            assert where["status"] == "ok", where
            assert client.get("/openapi.json").json()["openapi"].startswith("3.")
            assert client.get("/").status_code == 200  # the dashboard's templates
    finally:
        process.terminate()
        process.communicate(timeout=WAIT_SECONDS)
    # The install under test served, not this checkout's editable one (run from tmp_path, as
    # the server was: `-c` and `-m` put the current directory first on sys.path).
    imported = subprocess.run(
        [sys.executable, "-c", "import harbor_emulator; print(harbor_emulator.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip().startswith(str(site)), imported.stdout
