"""The CI job of docs/ci.md, end to end with the CLI: a strict emulator with the CI
fixtures and a control token; wait for health, trigger, drain, read the sink."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from harbor_emulator import signing

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "ci-token"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "harbor_emulator.cli",
        args[0],
        "--url",
        url,
        "--control-token",
        TOKEN,
        *args[1:],
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_ci_job(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # The example's sink is ${HARBOR_EMULATOR_URL}/_sink/orders: the job's port, not 4280.
    fixtures = ROOT / "fixtures" / "ci-example.yaml"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harbor_emulator.cli",
            "start",
            "--port",
            str(port),
            "--strict",
            "--fixtures",
            str(fixtures),
            "--control-token",
            TOKEN,
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _cli("health", "--wait", "30", url=url).returncode == 0
        triggered = _cli(
            "trigger",
            "order.created",
            "--key",
            "hb_test_ci_app",
            "--data",
            '{"order_id": "ord_ci"}',
            "--json",
            url=url,
        )
        assert triggered.returncode == 0, triggered.stderr
        event = json.loads(triggered.stdout)
        drained = _cli("drain", "--timeout", "20", url=url)
        assert drained.returncode == 0, drained.stderr
        shown = _cli("sinks", "show", "orders", "--json", url=url)
        assert shown.returncode == 0, shown.stderr
        requests = json.loads(shown.stdout)
        requests = requests["data"] if isinstance(requests, dict) else requests
        assert len(requests) == 1
        delivered = requests[0]
        assert json.loads(delivered["body"])["data"]["id"] == event["id"]
        signing.verify(
            delivered["body"].encode(),
            delivered["headers"],
            "whsec_ci_orders_secret_0123456789abcdef",
        )
        # Without the token, the control plane refuses; the server error is one clear line.
        refused = subprocess.run(
            [sys.executable, "-m", "harbor_emulator.cli", "reset", "--url", url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1
        assert refused.stderr.startswith("error: authentication_required: ")
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0
        assert server.stderr is not None
        server.stderr.close()
