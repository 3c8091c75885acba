"""Hostile receivers (issue 25, contract "Limits: Receivers"): a response head over 64 KiB or
1,000 lines, more than 16 interim responses, or a response begun and not finished within the
delivery timeout is a failed attempt, `connection_error`, whose cause on the dashboard names
the limit; bytes after the first response are ignored and its connection is not reused; and
while such receivers are delivered to, everything else is served as if they were not there.

The receivers are raw sockets on 127.0.0.1 (tests/delivery/hostile.py); deliveries are moved
by the control API's drain, never by sleeping.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harbor_emulator.delivery import plainhttp
from harbor_emulator.delivery.plainhttp import (
    MAX_HEAD_BYTES,
    MAX_HEAD_LINES,
    MAX_INTERIM_RESPONSES,
    DeliveryTransport,
    ReceiverLimitError,
)
from tests.conftest import TEST_KEY, Emulator
from tests.delivery.hostile import OK, HostileReceiver

TIMEOUT_SECONDS = 1.0
# A flood far past every limit, yet bounded: an emulator without the limits (main before
# issue 25) holds it all, and the test run should survive showing that.
FLOOD_BYTES = 16 * 1024 * 1024


@pytest.fixture(scope="module")
def impatient(emulator_factory: Any) -> Emulator:
    return emulator_factory(delivery_timeout_seconds=TIMEOUT_SECONDS)


def _attempt(emulator: Emulator, url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A webhook to `url`, one event, drained: (its delivery, its one attempt)."""
    with emulator.api() as api:
        api.post("/v1/webhooks", json={"url": url, "events": ["*"]}).raise_for_status()
        api.post("/v1/events", json={"type": "order.paid", "payload": {}}).raise_for_status()
        emulator.drain()
        [delivery] = api.get("/v1/deliveries").json()["data"]
        [attempt] = api.get(f"/v1/deliveries/{delivery['id']}/attempts").json()["data"]
    return delivery, attempt


def _cause(emulator: Emulator, delivery_id: str) -> str:
    page = httpx.get(f"{emulator.url}/webhooks/deliveries/{delivery_id}", timeout=30).text
    found = re.search(r'data-testid="cause">([^<]*)<', page)
    assert found, page
    return html.unescape(found[1])


LIMITS = {
    "headers": "sent a response head over 64 KiB, the limit for a status line and headers",
    "status": "sent a response head over 64 KiB, the limit for a status line and headers",
    "lines": "sent a response head over 1,000 lines, the limit for a status line and headers",
    "interim": "sent more than 16 interim (1xx) responses, the limit before a final one",
}


@pytest.mark.parametrize("kind", LIMITS)
def test_a_head_or_interim_flood_is_cut_off_at_its_limit(impatient: Emulator, kind: str) -> None:
    impatient.reset()
    receiver = HostileReceiver(kind, flood_bytes=FLOOD_BYTES)
    try:
        delivery, attempt = _attempt(impatient, receiver.url)
    finally:
        receiver.close()
    assert (attempt["error"], attempt["response_code"]) == ("connection_error", None)
    # Cut off at the limit (the cause says which), not at the timeout.
    expected = f"127.0.0.1:{receiver.port} {LIMITS[kind]}; the attempt was cut off there."
    assert _cause(impatient, delivery["id"]) == expected


def test_a_trickled_response_ends_at_the_timeout_in_wall_time(impatient: Emulator) -> None:
    impatient.reset()
    receiver = HostileReceiver("trickle")  # a byte every 100 ms, never a whole head
    try:
        started = time.monotonic()
        delivery, attempt = _attempt(impatient, receiver.url)
        elapsed = time.monotonic() - started
    finally:
        receiver.close()
    assert (attempt["error"], attempt["response_code"]) == ("connection_error", None)
    # The timeout as wall time, however long the trickle would go on (30 s); generous above
    # for a loaded machine, and a little below: duration_ms is truncated, and timed by
    # another clock than the loop's timeout.
    assert TIMEOUT_SECONDS * 1000 - 50 <= attempt["duration_ms"] < TIMEOUT_SECONDS * 1000 + 1000
    assert elapsed < TIMEOUT_SECONDS + 5
    assert _cause(impatient, delivery["id"]) == (
        f"127.0.0.1:{receiver.port} sent part of a response but not all of it within 1 s, "
        "the delivery timeout (wall time, however the bytes trickle in)."
    )


def test_bytes_after_the_first_response_are_ignored_and_its_connection_not_reused(
    impatient: Emulator,
) -> None:
    impatient.reset()
    receiver = HostileReceiver("split")  # 200 "ok", then a 500 in the same write
    try:
        with impatient.api() as api:
            api.post("/v1/webhooks", json={"url": receiver.url, "events": ["*"]})
            for _ in range(2):
                api.post("/v1/events", json={"type": "order.paid", "payload": {}})
                impatient.drain()
            deliveries = api.get("/v1/deliveries").json()["data"]
            attempts = [
                api.get(f"/v1/deliveries/{d['id']}/attempts").json()["data"] for d in deliveries
            ]
    finally:
        receiver.close()
    assert [d["status"] for d in deliveries] == ["succeeded", "succeeded"]
    for [attempt] in attempts:
        assert (attempt["response_code"], attempt["response_body"]) == (200, "ok")
        assert attempt["error"] is None
    # Each delivery on a connection of its own: the confused one was dropped.
    assert (receiver.requests, receiver.connections) == (2, 2)


# -- the transport at each limit, exactly ------------------------------------------------------


def _head(total_bytes: int = 0, lines: int = 0) -> bytes:
    """A 200 head of exactly `total_bytes` bytes (blank line included) or `lines` lines."""
    start = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
    if lines:
        return start + b"X: y\r\n" * (lines - 2) + b"\r\n"
    pad = total_bytes - len(start) - len(b"X-Pad: \r\n\r\n")
    return start + b"X-Pad: " + b"p" * pad + b"\r\n\r\n"


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
EDGES = {
    "head of 64 KiB": (_head(total_bytes=MAX_HEAD_BYTES), True),
    "head one byte over": (_head(total_bytes=MAX_HEAD_BYTES + 1), False),
    "head of 1,000 lines": (_head(lines=MAX_HEAD_LINES), True),
    "head of 1,001 lines": (_head(lines=MAX_HEAD_LINES + 1), False),
    "16 interim responses": (CONTINUE * MAX_INTERIM_RESPONSES, True),
    "17 interim responses": (CONTINUE * (MAX_INTERIM_RESPONSES + 1), False),
}


@pytest.mark.parametrize(("prefix", "answered"), EDGES.values(), ids=EDGES.keys())
def test_each_limit_admits_its_value_and_refuses_one_more(prefix: bytes, answered: bool) -> None:
    answer = prefix + b"ok" if prefix.startswith(b"HTTP/1.1 200") else prefix + OK
    receiver = HostileReceiver("raw", answer=answer)

    async def exchange() -> int:
        transport = DeliveryTransport(keepalive_expiry=5, fallback=lambda: None)  # type: ignore[arg-type,return-value]
        try:
            request = httpx.Request("POST", receiver.url, content=b"{}")
            response = await transport.handle_async_request(request)
            assert await response.aread() == b"ok"
            await response.aclose()
            return response.status_code
        finally:
            await transport.aclose()

    try:
        if answered:
            assert asyncio.run(exchange()) == 200
        else:
            with pytest.raises(ReceiverLimitError):
                asyncio.run(exchange())
    finally:
        receiver.close()


class _Socket:
    """What a connection asks of its transport, without a socket: chunks are fed by hand."""

    def is_closing(self) -> bool:
        return False

    def writelines(self, data: object) -> None:
        pass

    def close(self) -> None:
        pass


def _read(chunks: list[bytes]) -> tuple[object, ...]:
    """A response fed to a connection chunk by chunk: (status, reason, headers, body,
    reusable), or raises what reading it raised."""

    async def main() -> tuple[object, ...]:
        connection = plainhttp._Connection("127.0.0.1", 80)
        connection.connection_made(_Socket())  # type: ignore[arg-type]
        connection.send(b"", b"")
        for chunk in chunks:
            connection.data_received(chunk)
        status, reason, _, headers = await connection.response_head()
        body = b"".join([chunk async for chunk in connection.body()])
        return status, reason, headers, body, connection.done_reading()

    return asyncio.run(main())


def _bytes(wire: bytes) -> list[bytes]:
    return [bytes([byte]) for byte in wire]


def test_a_head_cut_anywhere_between_chunks_reads_the_same() -> None:
    """Heads are cut at their blank line before llhttp sees them; a blank line (or any
    line) split between two reads, or a response read a byte at a time, must not matter."""
    final = b"HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok"
    wire = CONTINUE + b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + final
    expected = (200, b"OK", [(b"X-A", b"1"), (b"Content-Length", b"2")], b"ok", True)
    assert _read([wire]) == expected
    assert _read(_bytes(wire)) == expected
    for cut in range(1, len(wire)):
        assert _read([wire[:cut], wire[cut:]]) == expected, cut


@pytest.mark.parametrize(("prefix", "answered"), EDGES.values(), ids=EDGES.keys())
def test_the_limits_hold_for_a_response_read_a_byte_at_a_time(
    prefix: bytes, answered: bool
) -> None:
    wire = prefix + b"ok" if prefix.startswith(b"HTTP/1.1 200") else prefix + OK
    if answered:
        assert _read(_bytes(wire))[0] == 200
    else:
        with pytest.raises(ReceiverLimitError):
            _read(_bytes(wire))


# -- everything else while hostile receivers are delivered to -----------------------------------

HOSTILE_KINDS = ("headers", "lines", "status", "interim", "trickle")
ITERATIONS = 30
# Half the delivery timeout (2 s): a hostile receiver that held up the event loop, or the
# slot a healthy delivery needs, shows as a whole timeout; a loaded 2-core CI machine's
# scheduling noise (a few hundred ms at worst) does not.
LATENCY_BOUND_MS = 1000.0
RSS_BOUND_MB = 50.0  # growth over the whole run, far below one flood's worth
RSS_ABORT_MB = 1024.0  # an emulator without limits: stop before it takes the machine


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


@pytest.fixture
def emulator_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The emulator in a process of its own, so its RSS and latency are its own."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harbor_emulator.cli", "start", "--port", "0",
         "--delivery-timeout", "2", "--rate-limit", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        found = re.search(r"http://\S+", process.stdout.readline())
        assert found
        yield process, found[0]
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()


@pytest.fixture
def hostile_urls() -> Iterator[list[str]]:
    """One receiver of each hostile kind, in a process of its own (its floods then compete
    with the emulator for the CPU, as a real receiver would, not for the GIL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.delivery.hostile", *HOSTILE_KINDS],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        assert process.stdin is not None
        process.stdin.close()  # it stops serving when its stdin closes
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


def test_other_requests_and_deliveries_stay_fast_while_hostile_receivers_run(
    emulator_process: tuple[subprocess.Popen[str], str], hostile_urls: list[str]
) -> None:
    process, url = emulator_process
    healthy = HostileReceiver("ok")
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TEST_KEY}"}, timeout=60)
    try:
        hostile_ids = {
            api.post("/v1/webhooks", json={"url": hostile, "events": ["hostile.*"]}).json()["id"]
            for hostile in hostile_urls
        }
        api.post("/v1/webhooks", json={"url": healthy.url, "events": ["healthy.*"]})
        rss_before = _rss_mb(process.pid)
        figures: dict[str, dict[str, list[float]]] = {}
        rss_peak = rss_before
        sent = 0
        for phase in ("quiet", "hostile"):
            seen: dict[str, list[float]] = {"post": [], "health": [], "delivery": []}
            figures[phase] = seen
            for _ in range(ITERATIONS):
                if phase == "hostile":
                    # Each such event is one attempt at every hostile receiver.
                    api.post("/v1/events", json={"type": "hostile.x", "payload": {}})
                started = time.perf_counter()
                assert api.get("/_control/health").status_code == 200
                seen["health"].append(_ms(started))
                started = time.perf_counter()
                api.post("/v1/events", json={"type": "healthy.x", "payload": {}})
                seen["post"].append(_ms(started))
                sent += 1
                arrived = healthy.wait_for(sent, timeout=30)
                seen["delivery"].append((arrived - started) * 1000)
                rss_peak = max(rss_peak, _rss_mb(process.pid))
                assert rss_peak < RSS_ABORT_MB, f"emulator RSS {rss_peak:.0f} MB: stopped"
        drained = api.post("/_control/deliveries/drain", json={"timeout_seconds": 60}).json()
        assert drained["drained"] is True
        exported = api.get("/_control/export").json()["deliveries"]
        errors = [a["error"] for d in exported if d["webhook_id"] in hostile_ids
                  for a in d["attempts"]]  # fmt: skip
    finally:
        api.close()
        healthy.close()
    report = {
        phase: {what: f"max {max(v):.1f} ms, median {sorted(v)[len(v) // 2]:.1f} ms"
                for what, v in seen.items()}
        for phase, seen in figures.items()
    } | {"rss_mb": f"{rss_before:.0f} before, {rss_peak:.0f} at most"}  # fmt: skip
    for what, values in figures["hostile"].items():
        assert max(values) < LATENCY_BOUND_MS, (what, report)
    assert rss_peak - rss_before < RSS_BOUND_MB, report
    assert errors == ["connection_error"] * len(HOSTILE_KINDS) * ITERATIONS, report
