"""The example receivers of docs/receivers.md (docs/examples/receivers), served for tests:
the Python ones in-process on ServerThread, the Node ones as `node` subprocesses."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from harbor_emulator.testing import ServerThread
from tests import skip_policy

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples" / "receivers"
SECRET = "whsec_test_receiver_check_0123456789"
PATH = "/harbor/webhooks"
NODE_START_SECONDS = 30
_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def load(name: str) -> ModuleType:
    """docs/examples/receivers/NAME.py as a module of its own (each load is a fresh one)."""
    spec = importlib.util.spec_from_file_location(
        f"receiver_example_{name}", EXAMPLES / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def serve_python(name: str, secret: str = SECRET) -> Iterator[str]:
    """The example's app on a free port; yields its webhook URL."""
    with ServerThread(load(name).create_app(secret)) as url:
        yield url + PATH


@contextlib.contextmanager
def serve_node(name: str, secret: str = SECRET) -> Iterator[str]:
    """`node NAME.mjs` on a free port (PORT=0); yields its webhook URL once it listens."""
    skip_policy.require_tools("node", install=skip_policy.NODE)
    env = dict(os.environ, HARBOR_WEBHOOK_SECRET=secret, PORT="0")
    process = subprocess.Popen(
        ["node", str(EXAMPLES / f"{name}.mjs")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        # The line is printed once the socket listens; readline returns "" if node exits.
        line = process.stdout.readline()
        match = _LISTENING.search(line)
        if match is None:
            process.kill()
            _, err = process.communicate(timeout=NODE_START_SECONDS)
            raise AssertionError(f"node {name}.mjs did not start: {line!r} {err}")
        yield match[1] + PATH
    finally:
        process.kill()
        process.communicate(timeout=NODE_START_SECONDS)
