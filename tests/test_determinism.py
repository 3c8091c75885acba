"""Seeded runs: the same requests against a fresh emulator process give the same bytes.

Two `harbor-emulator start --seed N` processes, one after the other on the same port (the
port is in every endpoint URL and in the Host header the sinks record), are driven by one
script: endpoints in both dialects, events, failures scripted on a sink, clock advances
through the retries, a signing key rotation, replays and random delivery faults. Every
response (status, every header, body) and every sink recording must be identical byte for
byte; another seed must differ.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import httpx
import pytest

KEY = "hb_test_determinism"
OFFSET = re.compile(rb'"offset_seconds":-?[0-9.e+-]+')
Exchange = tuple[str, int, list[tuple[bytes, bytes]], bytes]


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "harbor_emulator.cli", "start", "--log-level", "warning", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"http://\S+", line)
    if not match:
        process.kill()
        process.wait(timeout=30)
        pytest.fail(f"the emulator did not start: {line!r}")
    return process, match.group(0)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    assert process.wait(timeout=30) == 0
    assert process.stdout is not None
    process.stdout.close()


class Script:
    """Sends requests and keeps each raw exchange."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=60)
        self.exchanges: list[Exchange] = []

    def send(self, method: str, path: str, body: Any = None, key: str | None = KEY) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key and path.startswith("/v1") else {}
        response = self.http.request(method, path, json=body, headers=headers)
        assert response.status_code < 500, response.text
        label = f"{method} {path}"
        # The one field defined by host time: the clock's offset from it (docs/guarantees.md).
        content, offsets = OFFSET.subn(b'"offset_seconds":_', response.content)
        headers = [
            (name, value)
            for name, value in response.headers.raw
            if not (offsets and name.lower() == b"content-length")
        ]
        self.exchanges.append((label, response.status_code, headers, content))
        return response.json() if response.content else None


def _run(seed: int, port: str = "0") -> tuple[str, list[Exchange]]:
    process, url = _start("--seed", str(seed), "--port", port, "--rate-limit", "0")
    try:
        script = Script(url)
        with script.http:
            _drive(script)
        return url, script.exchanges
    finally:
        _stop(process)


def _drive(s: Script) -> None:
    drain = {"timeout_seconds": 30}
    webhook = s.send("POST", "/v1/webhooks", {"url": f"{s.url}/_sink/a", "events": ["order.*"]})
    destination = s.send(
        "POST", "/v1/destinations", {"url": f"{s.url}/_sink/b", "name": "Quickstart"}
    )
    s.send(
        "POST",
        "/v1/subscriptions",
        {"destination_id": destination["id"], "event_type": "order.paid"},
    )
    s.send("PUT", "/_control/sinks/b", {"responses": [{"status": 500}, {"status": 503}]})
    paid = s.send("POST", "/v1/events", {"type": "order.paid", "payload": {"order": "o_1"}})
    s.send("POST", "/_control/deliveries/drain", drain)
    # Through both retries of the destination's delivery.
    s.send("POST", "/_control/clock/advance", {"seconds": 7200})
    s.send("POST", f"/v1/webhooks/{webhook['id']}/signing-keys", {"expire_previous_in_seconds": 60})
    s.send("POST", "/v1/events", {"type": "order.shipped", "payload": {"order": "o_1"}})
    s.send("POST", "/_control/deliveries/drain", drain)
    s.send("POST", f"/v1/events/{paid['id']}/replay", {})
    s.send("POST", "/_control/deliveries/drain", drain)
    s.send(
        "POST",
        "/_control/faults",
        {"target": "delivery", "endpoint_id": webhook["id"], "outcome": 502, "probability": 0.5},
    )
    for number in range(6):
        s.send("POST", "/v1/events", {"type": "order.note", "payload": {"n": number}})
        s.send("POST", "/_control/deliveries/drain", drain)
    s.send("POST", "/_control/clock/advance", {"seconds": 86400})
    deliveries = s.send("GET", "/v1/deliveries?limit=100")
    first = deliveries["data"][-1]["id"]
    s.send("POST", f"/v1/deliveries/{first}/replay")
    s.send("POST", "/_control/deliveries/drain", drain)
    s.send("GET", "/v1/events?limit=2")
    for delivery in s.send("GET", "/v1/deliveries?limit=100")["data"]:
        s.send("GET", f"/v1/deliveries/{delivery['id']}/attempts")
    s.send("GET", "/_control/sinks/a")
    s.send("GET", "/_control/sinks/b")
    s.send("GET", "/_control/export")


def test_same_seed_same_bytes_other_seed_differs() -> None:
    url, first = _run(seed=7)
    port = url.rsplit(":", 1)[1]
    _, second = _run(seed=7, port=port)
    assert [e[0] for e in first] == [e[0] for e in second]
    for one, two in zip(first, second, strict=True):
        assert one == two, one[0]
    # The script did what it claims: retries, rotation, faults and replays all happened.
    sinks_a = httpx.Response(200, content=first[-3][3]).json()["data"]
    sinks_b = httpx.Response(200, content=first[-2][3]).json()["data"]
    assert [r["headers"]["harbor-attempt"] for r in sinks_b][:3] == ["1", "2", "3"]
    assert any("," in r["headers"]["harbor-signature"] for r in sinks_a)  # two keys signing
    assert len(sinks_a) >= 8
    attempts = [
        httpx.Response(200, content=e[3]).json()["data"] for e in first if e[0].endswith("attempts")
    ]
    errors = [a["response_code"] for group in attempts for a in group]
    assert 502 in errors and 200 in errors
    assert "2026-01-01T00:00:00Z" in first[0][3].decode()

    # A running emulator reset with {"seed": 7} repeats the fresh process exactly.
    process, url = _start("--port", port, "--rate-limit", "0")
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            auth = {"Authorization": f"Bearer {KEY}"}
            http.post("/v1/webhooks", json={"url": f"{url}/_sink/z", "events": ["*"]}, headers=auth)
            http.post("/v1/events", json={"type": "x", "payload": {}}, headers=auth)
            http.post("/_control/faults", json={"target": "api", "error_code": "internal_error"})
            bad = http.post("/_control/reset", json={"seed": "7"})
            assert bad.status_code == 400 and bad.json()["error"]["param"] == "seed"
            assert http.post("/_control/reset", json={"seed": 7}).status_code == 200
        script = Script(url)
        with script.http:
            _drive(script)
        assert script.exchanges == first
    finally:
        _stop(process)

    _, other = _run(seed=8, port=port)
    assert first[0][3] != other[0][3]
    assert first[-2][3] != other[-2][3]
