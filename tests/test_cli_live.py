"""`listen` and `tail`: the live commands, as real subprocesses against a real emulator and a
real receiver on 127.0.0.1. Every wait reads what the command printed, bounded, and fails
with what it saw."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

import httpx
import pytest

from harbor_emulator.signing import verify
from tests.conftest import Emulator
from tests.test_cli import closed_port_url

WAIT_SECONDS = 60


class Live:
    """`harbor-emulator ARGS` running in the background; its output read line by line."""

    def __init__(self, *args: str, url: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOR_")}
        env["HARBOR_EMULATOR_URL"] = url
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harbor_emulator.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._ended = False
        self._lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        assert self.process.stdout is not None and self.process.stderr is not None
        for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr)):
            threading.Thread(target=self._read, args=(name, stream), daemon=True).start()

    def _read(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put((name, line.rstrip("\n")))
        self._lines.put((name, None))

    def wait_line(self, matches: Callable[[str], bool], stream: str = "stdout") -> str:
        """The first line of `stream` from now on that `matches`."""
        seen = self.stdout if stream == "stdout" else self.stderr
        for line in seen:
            if matches(line):
                return line
        while True:
            try:
                name, line = self._lines.get(timeout=WAIT_SECONDS)
            except queue.Empty:
                raise AssertionError(
                    f"no matching line in {WAIT_SECONDS}s; stdout {self.stdout}, "
                    f"stderr {self.stderr}"
                ) from None
            if line is None:
                if name == stream:
                    raise AssertionError(
                        f"{stream} ended (exit {self.process.wait(5)}); stdout {self.stdout}, "
                        f"stderr {self.stderr}"
                    )
                continue
            (self.stdout if name == "stdout" else self.stderr).append(line)
            if name == stream and matches(line):
                return line

    def stop(self) -> int:
        """SIGTERM, then the exit status, once both streams are read to their end."""
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=WAIT_SECONDS)
        self._read_to_the_end()
        return status

    def _read_to_the_end(self) -> None:
        if self._ended:
            return
        ended = 0
        while ended < 2:
            name, line = self._lines.get(timeout=WAIT_SECONDS)
            if line is None:
                ended += 1
            else:
                (self.stdout if name == "stdout" else self.stderr).append(line)
        self._ended = True
        for stream in (self.process.stdout, self.process.stderr):
            assert stream is not None
            stream.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=WAIT_SECONDS)
        self._read_to_the_end()


@pytest.fixture
def live() -> Any:
    started: list[Live] = []

    def start(*args: str, url: str) -> Live:
        started.append(Live(*args, url=url))
        return started[-1]

    yield start
    for command in started:
        command.kill()


def _post(emulator: Emulator, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    with emulator.api(key) as api:
        response = api.post(path, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_listen_forwards_signed_deliveries_and_removes_its_webhook_on_sigterm(
    emulator: Emulator, receiver: Any, live: Any
) -> None:
    listen = live(
        "listen",
        "--forward-to",
        f"{receiver.url}/hook",
        "--events",
        "order.*",
        "--workspace",
        "ws_listen",
        url=emulator.url,
    )
    ready = listen.wait_line(lambda line: "whsec_" in line)
    assert listen.stdout == [ready], "the secret comes first"
    found = re.search(r"secret is (whsec_[A-Za-z0-9_-]+) \((wh_\w+) in ws_listen", ready)
    assert found, ready
    secret, webhook_id = found.groups()

    # Same workspace, a type the webhook's pattern leaves out: never delivered.
    skipped = _post(
        emulator,
        "/v1/events",
        {"type": "user.created", "payload": {}, "workspace_id": "ws_listen"},
        "hb_test_cli",
    )
    event = _post(
        emulator,
        "/v1/events",
        {"type": "order.paid", "payload": {"n": 1}, "workspace_id": "ws_listen"},
        "hb_test_cli",
    )
    receiver.wait_for(1)
    [arrived] = receiver.requests
    verify(arrived.body, arrived.headers, secret)  # raises unless signed with that secret
    envelope = json.loads(arrived.body)
    assert arrived.path == "/hook"
    assert (envelope["type"], envelope["data"]["payload"]) == ("order.paid", {"n": 1})

    line = listen.wait_line(lambda line: event["id"] in line)
    assert re.search(rf"attempt 1  order\.paid {event['id']} -> {webhook_id}  200  \d+ms", line)
    assert emulator.control("POST", "/deliveries/drain").json()["drained"] is True
    assert len(receiver.requests) == 1 and skipped["id"] not in "".join(listen.stdout)

    assert listen.stop() == 0
    assert f"removed {webhook_id}" in listen.stderr
    with emulator.api("hb_test_cli") as api:
        gone = api.get(f"/v1/webhooks/{webhook_id}")
    assert gone.status_code == 404, gone.text


def test_listen_prints_the_cause_of_a_failed_attempt(emulator: Emulator, live: Any) -> None:
    listen = live("--json", "listen", "--forward-to", closed_port_url(), url=emulator.url)
    webhook = json.loads(listen.wait_line(lambda line: line.startswith("{")))
    assert webhook["secret"].startswith("whsec_") and webhook["events"] == ["*"]
    # The default workspace is the newest endpoint's, as trigger's: this webhook's own.
    _post(emulator, "/v1/events", {"type": "a.b", "payload": {}}, "hb_test_cli")
    attempt = json.loads(listen.wait_line(lambda line: '"delivery_attempt"' in line))
    assert (attempt["endpoint_id"], attempt["error"]) == (webhook["id"], "connection_error")
    assert "Connection refused" in attempt["error_detail"]
    assert listen.stop() == 0
    assert emulator.control("GET", "/endpoints").json()["data"] == []


def _hooks(emulator: Emulator) -> tuple[str, str]:
    """A webhook to a sink (answers 200) and one to a closed port (refused), in ws_tail."""
    made = [
        _post(
            emulator,
            "/v1/webhooks",
            {"url": url, "events": ["*"], "workspace_id": "ws_tail"},
            "hb_test_tail",
        )["id"]
        for url in (f"{emulator.url}/_sink/tail", closed_port_url())
    ]
    return made[0], made[1]


def _event(emulator: Emulator, event_type: str) -> str:
    body = {"type": event_type, "payload": {}, "workspace_id": "ws_tail"}
    return _post(emulator, "/v1/events", body, "hb_test_tail")["id"]


def test_tail_shows_each_event_and_each_attempt_with_its_outcome(
    emulator: Emulator, live: Any
) -> None:
    delivered, refused = _hooks(emulator)
    tail = live("tail", url=emulator.url)
    tail.wait_line(lambda line: line.startswith("tailing"), stream="stderr")
    event_id = _event(emulator, "order.paid")
    line = tail.wait_line(lambda line: " event " in line)
    assert re.fullmatch(rf"\S+Z  event  order\.paid {event_id}  in ws_tail", line), line
    ok = tail.wait_line(lambda line: f"-> {delivered}" in line)
    assert re.search(rf"attempt 1  order\.paid {event_id} -> {delivered}  200  \d+ms", ok)
    failed = tail.wait_line(lambda line: f"-> {refused}" in line)
    assert "  connection_error: Connection refused by 127.0.0.1:" in failed, failed
    assert failed.endswith("delivery pending")
    assert tail.stop() == 0


def test_tail_narrowed_to_attempts_or_to_requests(emulator: Emulator, live: Any) -> None:
    delivered, _ = _hooks(emulator)
    attempts = live("--json", "tail", "--deliveries", url=emulator.url)
    requests = live("logs", "tail", "--requests", url=emulator.url)
    for command in (attempts, requests):
        command.wait_line(lambda line: line.startswith("tailing"), stream="stderr")
    # Each poll reads events before attempts: once the line of a later event (or attempt)
    # is out, any line of the earlier one would be too.
    first, second = _event(emulator, "one.first"), None
    attempts.wait_line(lambda line: first in line and delivered in line)
    second = _event(emulator, "two.second")
    attempts.wait_line(lambda line: second in line and delivered in line)
    requests.wait_line(lambda line: second in line)
    third = _event(emulator, "three.third")
    requests.wait_line(lambda line: third in line)

    objects = [json.loads(line) for line in attempts.stdout]
    assert {o["object"] for o in objects} == {"delivery_attempt"}
    assert {o["event_id"] for o in objects} == {first, second}
    assert [line.split()[2:4] for line in requests.stdout] == [
        ["one.first", first],
        ["two.second", second],
        ["three.third", third],
    ]
    for command in (attempts, requests):
        assert command.stop() == 0


def test_attempts_feed_starts_again_after_a_reset(emulator: Emulator) -> None:
    _hooks(emulator)
    _event(emulator, "before.reset")
    assert emulator.control("POST", "/deliveries/drain").json()["drained"] is True
    before = emulator.control("GET", "/attempts", params={"after_sequence": "latest"}).json()
    assert before["data"] == [] and before["latest_sequence"] >= 2
    emulator.control("POST", "/reset")
    after = httpx.get(f"{emulator.url}/_control/attempts").json()
    assert (after["data"], after["latest_sequence"]) == ([], 0)
