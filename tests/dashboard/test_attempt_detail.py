"""An attempt's detail on the delivery page, over plain HTTP against real receivers: the
cause of a connection error with the address tried (refused, DNS, TLS, reset), the timeout
that applied, the response headers, and "copy as curl" replayed with a real curl."""

from __future__ import annotations

import html
import re
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import skip_policy
from tests.conftest import Emulator
from tests.receiver import Answer

API_ATTEMPT_FIELDS = {
    "object",
    "id",
    "delivery_id",
    "attempt_number",
    "attempted_at",
    "duration_ms",
    "response_code",
    "response_body",
    "error",
}


class Resetter:
    """Accepts, reads the request, then resets the connection (RST, not FIN)."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close(self) -> None:
        self._server.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _attempt_of(emulator: Emulator, api: httpx.Client, url: str) -> tuple[str, dict[str, Any]]:
    """A webhook to `url`, one event, its first attempt made: (delivery id, API attempt)."""
    created = api.post("/v1/webhooks", json={"url": url, "events": ["order.*"]})
    assert created.status_code == 201, created.text
    api.post("/v1/events", json={"type": "order.paid", "payload": {"n": 1}})
    drained = emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 30})
    assert drained.json()["drained"] is True
    [delivery] = api.get("/v1/deliveries").json()["data"]
    [attempt] = api.get(f"/v1/deliveries/{delivery['id']}/attempts").json()["data"]
    # The API's attempt keeps the contract's shape and `error` values.
    assert set(attempt) <= API_ATTEMPT_FIELDS | {"request_id"}, attempt
    return delivery["id"], attempt


def _cause(emulator: Emulator, delivery_id: str) -> str:
    page = httpx.get(f"{emulator.url}/webhooks/deliveries/{delivery_id}", timeout=30)
    assert page.status_code == 200
    found = re.search(r'data-testid="cause">([^<]*)<', page.text)
    assert found, page.text
    return html.unescape(found[1])


@pytest.fixture
def web(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=30) as client:
        yield client


def test_refused_names_the_address(emulator: Emulator, api: httpx.Client) -> None:
    port = _closed_port()
    delivery_id, attempt = _attempt_of(emulator, api, f"http://127.0.0.1:{port}/hook")
    assert attempt["error"] == "connection_error"
    cause = _cause(emulator, delivery_id)
    assert cause.startswith(f"Connection refused by 127.0.0.1:{port}")


def test_dns_failure_names_the_host(emulator: Emulator, api: httpx.Client) -> None:
    delivery_id, attempt = _attempt_of(emulator, api, "http://no-such-host.invalid:8080/hook")
    assert attempt["error"] == "connection_error"
    assert _cause(emulator, delivery_id).startswith(
        "DNS lookup failed for no-such-host.invalid:8080"
    )


def test_tls_error_names_the_address(emulator: Emulator, api: httpx.Client) -> None:
    # https to the emulator's own plain-HTTP port: the handshake gets an HTTP answer.
    port = httpx.URL(emulator.url).port
    delivery_id, attempt = _attempt_of(emulator, api, f"https://127.0.0.1:{port}/_sink/tls")
    assert attempt["error"] == "connection_error"
    assert _cause(emulator, delivery_id).startswith(f"TLS handshake with 127.0.0.1:{port} failed")


def test_reset_names_the_address(emulator: Emulator, api: httpx.Client) -> None:
    resetter = Resetter()
    try:
        delivery_id, attempt = _attempt_of(emulator, api, f"http://127.0.0.1:{resetter.port}/h")
    finally:
        resetter.close()
    assert attempt["error"] == "connection_error"
    expected = f"Connection reset by 127.0.0.1:{resetter.port}"
    assert _cause(emulator, delivery_id).startswith(expected)


def test_timeout_shows_the_limit_that_applied(emulator_factory: Any, receiver: Any) -> None:
    slow = emulator_factory(delivery_timeout_seconds=1)
    receiver.respond_with(Answer(kind="hang"))
    with slow.api() as api:
        delivery_id, attempt = _attempt_of(slow, api, f"{receiver.url}/slow")
    assert attempt["error"] == "timeout"
    assert _cause(slow, delivery_id) == (
        f"No complete response from 127.0.0.1:{receiver.port} within 1 s (the delivery timeout)."
    )
    page = httpx.get(f"{slow.url}/webhooks/deliveries/{delivery_id}", timeout=30).text
    assert "of 1 s allowed" in page


def test_a_fault_says_no_request_was_sent(
    emulator: Emulator, api: httpx.Client, web: httpx.Client
) -> None:
    created = api.post(
        "/v1/webhooks", json={"url": f"{emulator.url}/_sink/f", "events": ["order.*"]}
    ).json()
    emulator.control(
        "POST",
        "/faults",
        json={"target": "delivery", "endpoint_id": created["id"], "outcome": "connection_error"},
    )
    api.post("/v1/events", json={"type": "order.paid", "payload": {}})
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    [delivery] = api.get("/v1/deliveries").json()["data"]
    assert _cause(emulator, delivery["id"]) == "Decided by a delivery fault: no request was sent."


def test_response_headers_and_timeout_of_a_success(
    emulator: Emulator, api: httpx.Client, web: httpx.Client, receiver: Any
) -> None:
    receiver.respond_with(Answer(status=202, headers={"X-Handler": "orders-v2"}))
    delivery_id, attempt = _attempt_of(emulator, api, f"{receiver.url}/ok")
    assert (attempt["error"], attempt["response_code"]) == (None, 202)
    page = web.get(f"/webhooks/deliveries/{delivery_id}").text
    assert "<th>X-Handler</th><td><code>orders-v2</code>" in page
    assert "of 10 s allowed" in page
    assert 'data-testid="cause"' not in page


def _curl_of(page: str) -> str:
    found = re.search(
        r'<pre tabindex="0" id="curl-att_[^"]+" data-testid="curl-command">(.*?)</pre>',
        page,
        re.S,
    )
    assert found, page
    return html.unescape(found[1])


@skip_policy.needs_tools("curl", install=skip_policy.CURL)
def test_copy_as_curl_reproduces_the_request(
    emulator: Emulator, api: httpx.Client, web: httpx.Client, receiver: Any
) -> None:
    # A type with non-ASCII and a quote, so quoting and encoding are tested too.
    created = api.post(
        "/v1/webhooks", json={"url": f"{receiver.url}/hook", "events": ["café.*"]}
    ).json()
    api.post("/v1/events", json={"type": "café.créé", "payload": {"q": 'it\'s "x" \\ $HOME'}})
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    receiver.wait_for(1)
    [delivery] = api.get("/v1/deliveries").json()["data"]
    command = _curl_of(web.get(f"/webhooks/deliveries/{delivery['id']}").text)
    assert command.rstrip().endswith(created["url"])

    subprocess.run(["bash", "-c", command], check=True, capture_output=True, timeout=30)
    receiver.wait_for(2)
    original, replayed = receiver.requests[0], receiver.requests[1]
    assert replayed.body == original.body
    assert replayed.path == original.path
    # Everything the emulator chose to send; transport headers are each client's own.
    transport = {"host", "accept", "accept-encoding", "connection", "content-length"}
    sent = {name: value for name, value in original.headers.items() if name not in transport}
    assert {n: v for n, v in replayed.headers.items() if n not in transport} == sent
    assert replayed.headers["content-length"] == original.headers["content-length"]
    assert "harbor-signature" in sent


@skip_policy.needs_tools("curl", install=skip_policy.CURL)
def test_copy_as_curl_to_a_sink_verifies_with_the_secret(
    emulator: Emulator, api: httpx.Client, web: httpx.Client
) -> None:
    from harbor_emulator import signing

    created = api.post(
        "/v1/webhooks", json={"url": f"{emulator.url}/_sink/first", "events": ["order.*"]}
    ).json()
    api.post("/v1/events", json={"type": "order.paid", "payload": {"n": 1}})
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    [delivery] = api.get("/v1/deliveries").json()["data"]
    command = _curl_of(web.get(f"/webhooks/deliveries/{delivery['id']}").text)
    # Against another URL: the command's last line is the URL.
    lines = command.splitlines()
    lines[-1] = f"  {emulator.url}/_sink/second"
    subprocess.run(["bash", "-c", "\n".join(lines)], check=True, capture_output=True, timeout=30)
    [got] = emulator.control("GET", "/sinks/second").json()["data"]
    expected = signing.signature_header(
        [created["secret"]], int(got["headers"]["harbor-timestamp"]), got["body"].encode()
    )
    assert got["headers"]["harbor-signature"] == expected
