"""What each entry point imports: only what it needs (issue 27; scripts/bench_startup.py has
the figures). Each check runs in a fresh interpreter and reads its sys.modules."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

# Libraries a bare `harbor-emulator start` must not load before its first answer: the
# control client and its HTTP library, the dashboard's templates, fixtures and OpenAPI
# parsing, the receiver check, WebSocket support, package metadata.
NOT_FOR_SERVING = (
    "harbor_emulator.client",
    "harbor_emulator.cli.state",
    "harbor_emulator.dashboard.routes",
    "harbor_emulator.control.fixtures",
    "harbor_emulator.control.receiver_check",
    "jsonschema",
    "httpx",
    "jinja2",
    "yaml",
    "websockets",
    "importlib.metadata",
)
# ... nor `--version` and `--help`, which also leave the server alone.
NOT_FOR_HELP = (
    "harbor_emulator.server.app",
    "uvicorn",
    "starlette",
    "aiosqlite",
    "httpx",
    "jinja2",
    "yaml",
    "importlib.metadata",
)


def loaded_after(code: str, *args: str) -> set[str]:
    """The modules a fresh interpreter holds once `code` has run (`sys.exit` included)."""
    script = textwrap.dedent(
        """
        import atexit, json, sys
        atexit.register(lambda: print(json.dumps(sorted(sys.modules))))
        """
    ) + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def run_cli(*args: str) -> str:
    return f"""
import sys
sys.argv = ["harbor-emulator", {", ".join(repr(a) for a in args)}]
from harbor_emulator.cli import main
try:
    main()
except SystemExit as exit:
    assert not exit.code, exit.code
"""


def test_version_and_help_import_neither_the_server_nor_httpx() -> None:
    for args in (("--version",), ("--help",), ("start", "--help"), ("clock", "--help")):
        loaded = loaded_after(run_cli(*args))
        assert loaded.isdisjoint(NOT_FOR_HELP), (args, loaded & set(NOT_FOR_HELP))


def test_a_command_imports_its_own_module_and_not_the_server() -> None:
    loaded = loaded_after(run_cli("reset", "--help"))
    assert "harbor_emulator.cli.state" in loaded
    assert loaded.isdisjoint({"harbor_emulator.cli.serving", "uvicorn", "httpx"})


def test_health_the_images_healthcheck_imports_no_http_library() -> None:
    from harbor_emulator.testing import EmulatorServer

    with EmulatorServer() as server:
        loaded = loaded_after(run_cli("health", "--url", server.url))
    assert "harbor_emulator.cli.state" in loaded
    assert loaded.isdisjoint({"httpx", "httpcore", "harbor_emulator.server.app"})


def test_the_testing_package_imports_nothing_heavy() -> None:
    loaded = loaded_after("import harbor_emulator.testing")
    assert loaded.isdisjoint(NOT_FOR_HELP), loaded & set(NOT_FOR_HELP)
    # The plugin module needs pytest (which reads package metadata itself), nothing else.
    loaded = loaded_after("import harbor_emulator.testing, harbor_emulator.testing.pytest_plugin")
    heavy = set(NOT_FOR_HELP) - {"importlib.metadata"}
    assert loaded.isdisjoint(heavy), loaded & heavy


def test_start_serves_before_importing_what_only_other_requests_need(tmp_path: Path) -> None:
    modules_file = tmp_path / "modules.json"
    code = f"""
import atexit, json, sys
atexit.register(lambda: open({str(modules_file)!r}, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["harbor-emulator", "start", "--port", "0", "--log-level", "warning"]
from harbor_emulator.cli import main
main()
"""
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line
        # Only the health check, as a test fixture waiting for the emulator sends it.
        health = httpx.get(f"{match.group(1)}/_control/health", timeout=30)
        assert health.status_code == 200, health.text
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    loaded = set(json.loads(modules_file.read_text()))
    assert "harbor_emulator.server.app" in loaded
    assert loaded.isdisjoint(NOT_FOR_SERVING), loaded & set(NOT_FOR_SERVING)


def test_the_dashboard_routes_loaded_by_a_request_answer_as_listed_ones() -> None:
    """A request no earlier route serves reaches the dashboard's routes (imported then):
    pages, 405s naming every method of the path, and 404s in Harbor's error shape."""
    from harbor_emulator.testing import EmulatorServer

    with EmulatorServer() as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/login").status_code == 200
        # A path the dashboard serves with other methods: 405, naming them (RFC 9110).
        wrong_method = http.put("/login")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["allow"] == "GET, HEAD, POST"
        assert http.get("/no-such-page").json()["error"]["code"] == "not_found"


def test_the_group_offers_every_command_module_and_no_name_twice() -> None:
    """A module with COMMANDS missing from COMMAND_MODULES would be silently unreachable,
    and a name in two modules would reach only the first."""
    import importlib

    from harbor_emulator import cli
    from harbor_emulator.cli.main import COMMAND_MODULES

    with_commands = {
        path.stem
        for path in Path(cli.__file__).parent.glob("*.py")
        # __main__ would run the command line (pytest's).
        if not path.stem.startswith("_")
        and hasattr(importlib.import_module(f"harbor_emulator.cli.{path.stem}"), "COMMANDS")
    }
    assert with_commands == set(COMMAND_MODULES)
    names = [
        command.name
        for module in COMMAND_MODULES
        for command in importlib.import_module(f"harbor_emulator.cli.{module}").COMMANDS
    ]
    assert len(names) == len(set(names)), names
