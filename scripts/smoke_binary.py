#!/usr/bin/env python3
"""Smoke test of a built harbor-emulator executable, as CI runs it on Linux, macOS and Windows.

    python scripts/smoke_binary.py dist/harbor-emulator
    python scripts/smoke_binary.py dist/harbor-emulator.exe --stop stdin

Starts `BINARY start --port 0 --exit-with-stdin`, waits for its ready line, checks
/_control/health, delivers an event to a built-in sink and checks the delivery's signature
as a receiver would (HMAC-SHA256 over "{Harbor-Timestamp}." + body, keyed with the secret),
then stops it: SIGTERM (the default off Windows) or end of stdin (the default on Windows,
where there is no SIGTERM to send: Popen.terminate there is TerminateProcess, a kill). The
emulator must then exit with status 0 in time.

Python's standard library only, so the job needs no install beyond the executable: the
signature check is written here from the documented scheme, not imported from the package.
Exit status 0 when every step passed, 1 with the step that failed and the emulator's stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

READY_LINE = re.compile(r"harbor-emulator (\S+) listening on (http://127\.0\.0\.1:\d+)")
# A one-file executable unpacks itself before Python starts: slow on a cold CI runner.
START_SECONDS = 60.0
# The contract gives a stop 5 s; the rest is margin for a loaded runner.
STOP_SECONDS = 30.0
DRAIN_SECONDS = 30
TEST_KEY = "hb_test_smoke"
SINK = "smoke"


def say(line: str) -> None:
    # Flushed at once: CI shows the steps in order with the failure's report on stderr.
    print(line, flush=True)


class SmokeFailure(Exception):
    """A step did not do what it must; the message says which and what it saw."""


def request(url: str, method: str = "GET", body: Any = None, key: str | None = None) -> Any:
    """One JSON request; the decoded answer, or SmokeFailure with the status and body."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    call = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(call, timeout=DRAIN_SECONDS + 10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise SmokeFailure(f"{method} {url}: {exc.code} {exc.read()[:500]!r}") from exc


def verify_signature(body: str, headers: dict[str, str], secret: str) -> None:
    timestamp = headers.get("harbor-timestamp", "")
    if not timestamp.isdigit():
        raise SmokeFailure(f"no Harbor-Timestamp on the delivery: {headers}")
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body.encode(), hashlib.sha256
    ).hexdigest()
    given = [
        part.strip().removeprefix("v1=")
        for part in headers.get("harbor-signature", "").split(",")
        if part.strip().startswith("v1=")
    ]
    if not any(hmac.compare_digest(expected, signature) for signature in given):
        raise SmokeFailure(f"no valid v1 signature in {headers.get('harbor-signature')!r}")


class Emulator:
    """The executable, started with stdin as its lifeline and stdout read by a thread."""

    def __init__(self, binary: Path, stderr: IO[bytes]) -> None:
        self.process = subprocess.Popen(
            [str(binary), "start", "--port", "0", "--exit-with-stdin"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_ready(self) -> tuple[str, str]:
        """(version, url) from the ready line."""
        deadline = time.monotonic() + START_SECONDS
        seen: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise SmokeFailure(f"no ready line in {START_SECONDS:.0f} s: {seen}") from None
            if line is None:
                raise SmokeFailure(f"exited with {self.process.wait()} before ready: {seen}")
            seen.append(line)
            if match := READY_LINE.fullmatch(line):
                return match.group(1), match.group(2)

    def stop(self, how: str) -> int:
        if how == "sigterm":
            self.process.send_signal(signal.SIGTERM)
        else:
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            return self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            raise SmokeFailure(f"still running {STOP_SECONDS:.0f} s after {how}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_SECONDS)


def smoke(binary: Path, stop: str, stderr: IO[bytes]) -> None:
    printed = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=START_SECONDS
    )
    if printed.returncode != 0:
        raise SmokeFailure(f"--version exited with {printed.returncode}: {printed.stderr}")
    say(f"ok: {printed.stdout.strip()}")

    emulator = Emulator(binary, stderr)
    try:
        version, url = emulator.wait_ready()
        say(f"ok: ready, version {version}, at {url}")
        if not printed.stdout.strip().endswith(f"version {version}"):
            raise SmokeFailure(f"--version said {printed.stdout.strip()!r}, the server {version}")

        health = request(f"{url}/_control/health")
        if health.get("status") != "ok" or health.get("version") != version:
            raise SmokeFailure(f"/_control/health: {health}")
        say("ok: /_control/health")

        webhook = request(
            f"{url}/v1/webhooks",
            "POST",
            {"url": f"{url}/_sink/{SINK}", "events": ["order.*"]},
            key=TEST_KEY,
        )
        event = request(
            f"{url}/v1/events",
            "POST",
            {"type": "order.paid", "payload": {"order_id": "ord_smoke"}},
            key=TEST_KEY,
        )
        drained = request(
            f"{url}/_control/deliveries/drain", "POST", {"timeout_seconds": DRAIN_SECONDS}
        )
        if drained.get("drained") is not True:
            raise SmokeFailure(f"deliveries not drained in {DRAIN_SECONDS} s: {drained}")
        arrived = request(f"{url}/_control/sinks/{SINK}")["data"]
        if len(arrived) != 1:
            raise SmokeFailure(f"the sink holds {len(arrived)} requests, not 1: {arrived}")
        delivery = arrived[0]
        if json.loads(delivery["body"]).get("data", {}).get("id") != event["id"]:
            raise SmokeFailure(f"the sink got {delivery['body'][:300]}, not event {event['id']}")
        verify_signature(delivery["body"], delivery["headers"], webhook["secret"])
        say(f"ok: {event['id']} delivered to /_sink/{SINK} with a valid signature")

        status = emulator.stop(stop)
        if status != 0:
            raise SmokeFailure(f"exited with status {status} after {stop}, not 0")
        say(f"ok: stopped by {stop}, exit status 0")
    finally:
        emulator.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", type=Path, help="the harbor-emulator executable")
    parser.add_argument(
        "--stop",
        choices=["sigterm", "stdin"],
        default="stdin" if os.name == "nt" else "sigterm",
        help="how to stop it (default: stdin on Windows, sigterm elsewhere)",
    )
    options = parser.parse_args(argv)
    if options.stop == "sigterm" and os.name == "nt":
        parser.error("Windows has no SIGTERM to send; use --stop stdin")
    with tempfile.TemporaryFile() as stderr:
        try:
            smoke(options.binary.resolve(), options.stop, stderr)
        except (SmokeFailure, OSError, subprocess.SubprocessError) as exc:
            stderr.seek(0)
            log = stderr.read().decode(errors="replace")
            print(f"FAILED: {exc}\n--- the emulator's stderr ---\n{log}", file=sys.stderr)
            return 1
    say("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
