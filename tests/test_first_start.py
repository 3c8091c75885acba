"""`scripts/start` as a newcomer runs it: quiet, the first time and every time after.

The first run installs into .venv and prints one progress line (pip's output goes to
.venv/install.log unless the install fails); every run ends with the URL line.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests import skip_policy

ROOT = Path(__file__).resolve().parent.parent
PROGRESS = "installing harbor-emulator into .venv …"
URL_LINE = re.compile(r"harbor-emulator \S+ listening on http://127\.0\.0\.1:\d+")


@contextmanager
def start_script(root: Path) -> Iterator[list[str]]:
    """Run root/scripts/start --port 0 and yield every line it printed up to the URL line."""
    process = subprocess.Popen(
        [str(root / "scripts" / "start"), "--port", "0"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if "listening on" in line:
                break
        yield lines
    finally:
        # The group: scripts/start execs the server, but a failed start may leave pip.
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        process.stdout.close()


def _venv_is_current(root: Path) -> bool:
    stamps = list((root / ".venv").glob(".installed-*"))
    newest = max((s.stat().st_mtime for s in stamps), default=0.0)
    return newest >= (root / "pyproject.toml").stat().st_mtime


def test_an_installed_checkout_starts_with_the_url_line_only() -> None:
    if not _venv_is_current(ROOT):
        # Installing here would swap the package under the other tests' feet.
        skip_policy.skip(
            "this checkout's .venv is not installed by scripts/", install="scripts/test"
        )
    with start_script(ROOT) as lines:
        assert len(lines) == 1 and URL_LINE.fullmatch(lines[0]), lines


@pytest.mark.slow
def test_the_first_start_of_a_fresh_checkout_prints_two_lines(tmp_path: Path) -> None:
    """Needs PyPI (or pip's cache): the venv is built from nothing, as a new user's is."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        skip_policy.skip(
            "no git checkout to copy the files from", install="git clone the repository"
        )
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    clone = tmp_path / "harbor-emulator"
    # The working tree's files, as a clone of them would have: what is under test.
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    started = time.monotonic()
    with start_script(clone) as lines:
        took = time.monotonic() - started
        assert lines[:1] == [PROGRESS] and len(lines) == 2, lines
        assert URL_LINE.fullmatch(lines[1]), lines
    print(f"first start of a fresh checkout: {took:.1f} s")
    with start_script(clone) as lines:
        assert len(lines) == 1 and URL_LINE.fullmatch(lines[0]), lines
