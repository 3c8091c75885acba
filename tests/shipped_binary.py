"""Build the binary that ships (`scripts/build_binary --onedir`) once per test run, shared by
the tests that need it: the binary's, the npm packages' and the image's."""

from __future__ import annotations

import fcntl
import functools
import os
import subprocess
from pathlib import Path

from tests import skip_policy

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = ROOT / "scripts" / "build_binary"
# The one-dir build: the executable beside _internal/, what the release archives, the npm
# platform packages and the image hold.
FOLDER = ROOT / "dist" / "harbor-emulator-onedir"
BINARY = FOLDER / "harbor-emulator"
# scripts/build_binary's exit status when PyInstaller itself cannot be installed.
PYINSTALLER_UNAVAILABLE = 3
# Names the run that built BINARY last: pytest-xdist's workers share the run's id, so the
# second worker to ask reuses the first one's build instead of building again.
STAMP = ROOT / ".venv-build.run"


# Once per process too: a run without xdist asks from several test modules.
@functools.cache
def build_once() -> Path:
    """dist/harbor-emulator-onedir/harbor-emulator, built from the current source at most
    once per pytest run."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    # Each worker is a session of its own: the lock keeps two of them from building into
    # the same .venv-build and dist/ at once.
    with (ROOT / ".venv-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if run and BINARY.exists() and STAMP.exists() and STAMP.read_text() == run:
            return BINARY
        STAMP.unlink(missing_ok=True)
        result = subprocess.run(
            [str(BUILD_SCRIPT), "--onedir"], cwd=ROOT, capture_output=True, text=True, timeout=1200
        )
        if result.returncode == PYINSTALLER_UNAVAILABLE:
            skip_policy.skip(
                f"PyInstaller could not be installed: {result.stderr.strip()[-800:]}",
                install="scripts/build_binary on a machine that reaches PyPI",
            )
        assert result.returncode == 0, f"build failed:\n{result.stdout}\n{result.stderr}"
        assert str(BINARY) in result.stdout.splitlines(), result.stdout
        if run:
            STAMP.write_text(run)
    return BINARY
