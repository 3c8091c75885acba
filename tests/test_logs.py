"""`harbor-emulator start` logs one line per request and per delivery attempt, as text or JSON.

Each test runs the CLI as a real process and reads its stderr as a user's terminal or a CI
log would get it.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import pty
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import httpx
import pytest

from harbor_emulator.core.logs import (
    LineHandler,
    RequestEntry,
    access_log,
    configure_logging,
    log_entry,
)
from tests.receiver import Receiver

KEY = {"Authorization": "Bearer hb_test_logs"}
ANSI = "\x1b["
WAIT_SECONDS = 60  # a deadline for a line that must come, not a timing assertion
# Every line's time, in both formats: the emulator clock, UTC, milliseconds.
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
TEXT_LINE = re.compile(
    rf"(?P<time>{STAMP}) (?P<level>debug|info|warning|error|critical) "
    r"(?P<source>\S+) (?P<message>.+)"
)


class Lines:
    """Lines of a stream, read on a thread so a test can wait for one without blocking."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        try:
            for raw in iter(stream.readline, b""):
                self._queue.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except OSError:
            pass  # a pty's reading end raises EIO once the process has exited
        self._queue.put(None)

    def wait_for(self, matches: Callable[[str], bool]) -> str:
        """The next line that matches; the lines skipped on the way stay in `seen`."""
        while True:
            try:
                line = self._queue.get(timeout=WAIT_SECONDS)
            except queue.Empty:
                raise AssertionError(f"no matching line; got {self.seen}") from None
            if line is None:
                raise AssertionError(f"the stream ended; got {self.seen}")
            self.seen.append(line)
            if matches(line):
                return line

    def rest(self) -> list[str]:
        """Every line left, once the process has exited."""
        while (line := self._queue.get(timeout=WAIT_SECONDS)) is not None:
            self.seen.append(line)
        return self.seen


@contextmanager
def emulator(
    *args: str, env: dict[str, str] | None = None, tty: bool = False
) -> Iterator[tuple[httpx.Client, Lines, subprocess.Popen[bytes]]]:
    """`start --port 0` with stderr on a pipe, or on a terminal (a pty) when `tty`."""
    # NO_COLOR only when the test sets it: the developer's own must not change the result.
    environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | (env or {})
    master = slave = None
    if tty:
        master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "harbor_emulator.cli", "start", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=slave if tty else subprocess.PIPE,
        env=environ,
    )
    if slave is not None:
        os.close(slave)
    stream = os.fdopen(master, "rb", buffering=0) if master is not None else process.stderr
    assert process.stdout is not None and stream is not None
    try:
        match = re.search(rb"listening on (http://\S+)", process.stdout.readline())
        assert match, "no URL line"
        with httpx.Client(base_url=match.group(1).decode(), headers=KEY) as client:
            yield client, Lines(stream), process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)
        process.stdout.close()
        stream.close()


def _request_line(response: httpx.Response) -> Callable[[str], bool]:
    request_id = response.headers["harbor-request-id"]
    return lambda line: request_id in line


def test_each_api_request_logs_method_path_status_ms_and_request_id() -> None:
    with emulator() as (api, lines, _):
        created = api.post("/v1/events", json={"type": "order.paid", "payload": {}})
        listed = api.get("/v1/events", params={"type": "order.paid", "limit": 10})
        missing = api.get("/v1/events/evt_missing")
        line = lines.wait_for(_request_line(created))
        assert re.fullmatch(
            rf"{STAMP} info access POST /v1/events 201 \d+(\.\d)?ms "
            + created.headers["harbor-request-id"],
            line,
        ), line
        line = lines.wait_for(_request_line(listed))
        assert " GET /v1/events?type=order.paid&limit=10 200 " in line
        line = lines.wait_for(_request_line(missing))
        assert " GET /v1/events/evt_missing 404 " in line
        # The path as sent: an encoded line break cannot forge a line of its own.
        forged = api.get("/v1/events/evt%0A00:00:00%20POST%20/v1/fake%20201")
        line = lines.wait_for(_request_line(forged))
        assert " GET /v1/events/evt%0A00:00:00%20POST%20/v1/fake%20201 404 " in line
        # stderr is a pipe here: no colour codes, and uvicorn's startup banner stays quiet.
        assert not any(ANSI in seen for seen in lines.seen)
        assert not any("Uvicorn running" in seen for seen in lines.seen)


def test_control_and_sink_requests_are_logged_and_static_files_are_not() -> None:
    with emulator() as (api, lines, _):
        css = api.get("/static/dashboard.css")
        health = api.get("/_control/health")
        sink = api.post("/_sink/orders", json={"hello": "sink"})
        assert css.status_code == health.status_code == sink.status_code == 200
        lines.wait_for(_request_line(health))
        lines.wait_for(_request_line(sink))
        # Requests are answered one after another, so the CSS line would have come first.
        assert not any("/static/" in seen for seen in lines.seen), lines.seen


def test_static_files_are_logged_at_debug() -> None:
    with emulator("--log-level", "debug") as (api, lines, _):
        css = api.get("/static/dashboard.css")
        assert " GET /static/dashboard.css 200 " in lines.wait_for(_request_line(css))


def test_no_request_lines_above_info() -> None:
    with emulator("--log-level", "warning") as (api, lines, process):
        api.post("/v1/events", json={"type": "order.paid", "payload": {}})
        api.get("/_control/health")
        process.terminate()
        process.wait(timeout=30)
        assert not any("/v1/events" in line or "/_control" in line for line in lines.rest())


def _webhook_to(api: httpx.Client, receiver: Receiver) -> str:
    response = api.post("/v1/webhooks", json={"url": f"{receiver.url}/hook", "events": ["*"]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_each_delivery_attempt_logs_endpoint_url_attempt_status_and_next_retry(
    receiver: Receiver,
) -> None:
    receiver.respond_with(500)  # then 200
    with emulator() as (api, lines, _):
        endpoint = _webhook_to(api, receiver)
        api.post("/v1/events", json={"type": "order.paid", "payload": {}})
        first = lines.wait_for(lambda line: " delivery " in line)
        assert re.fullmatch(
            rf"{STAMP} info delivery {endpoint} {receiver.url}/hook attempt 1 500 \d+ms, "
            r"next retry \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 5m\) dlv_\w+",
            first,
        ), first
        # Harbor's first retry is five minutes later: move the emulator clock there.
        assert api.post("/_control/clock/advance", json={"duration": "5m"}).status_code == 200
        second = lines.wait_for(lambda line: " delivery " in line)
        assert f" {endpoint} {receiver.url}/hook attempt 2 200 " in second
        assert second.split()[-2:] == ["succeeded", first.split()[-1]]


def test_json_format_is_one_object_per_line_with_the_fields(receiver: Receiver) -> None:
    receiver.respond_with(503)
    env = {"HARBOR_EMULATOR_LOG_FORMAT": "json"}
    with emulator(env=env) as (api, lines, process):
        endpoint = _webhook_to(api, receiver)
        created = api.post("/v1/events", json={"type": "order.paid", "payload": {}})
        attempt = json.loads(lines.wait_for(lambda line: '"delivery_attempt"' in line))
        process.terminate()
        process.wait(timeout=30)
        records = [json.loads(line) for line in lines.rest()]
    request = next(
        r for r in records if r.get("request_id") == created.headers["harbor-request-id"]
    )
    assert request.keys() >= {"time", "level", "logger"}
    assert _without(request, "time", "duration_ms") == {
        "level": "info",
        "logger": "harbor_emulator.access",
        "event": "request",
        "method": "POST",
        "path": "/v1/events",
        "status": 201,
        "request_id": created.headers["harbor-request-id"],
    }
    assert isinstance(request["duration_ms"], int | float)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", request["time"])
    assert attempt["delivery_id"].startswith("dlv_")
    for name in ("attempted_at", "next_attempt_at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", attempt[name])
    assert _without(
        attempt, "time", "duration_ms", "delivery_id", "attempted_at", "next_attempt_at"
    ) == {
        "level": "info",
        "logger": "harbor_emulator.delivery",
        "event": "delivery_attempt",
        "endpoint_id": endpoint,
        "url": f"{receiver.url}/hook",
        "attempt": 1,
        "response_code": 503,
        "error": None,
        "outcome": "pending",
    }


def _without(record: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in names}


def test_colour_on_a_terminal_unless_no_color() -> None:
    with emulator(tty=True) as (api, lines, _):
        created = api.post("/v1/events", json={"type": "order.paid", "payload": {}})
        assert "\x1b[32m201\x1b[0m" in lines.wait_for(_request_line(created))
    with emulator(tty=True, env={"NO_COLOR": "1"}) as (api, lines, _):
        created = api.post("/v1/events", json={"type": "order.paid", "payload": {}})
        assert ANSI not in lines.wait_for(_request_line(created))


class _CountingStream(io.StringIO):
    """Counts writes: the handler's promise is one write per turn of the event loop."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_line_handler_writes_a_loop_turns_lines_at_its_end_in_one_write() -> None:
    stream = _CountingStream()
    handler = LineHandler(stream)
    logger = logging.getLogger("harbor_emulator.tests.line_handler")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        written_during_turn: list[str] = []

        async def burst() -> None:
            for n in range(3):
                logger.warning("line %d", n)
            written_during_turn.append(stream.getvalue())
            await asyncio.sleep(0)  # ends the turn: the pending lines go out now
            await asyncio.sleep(0)

        asyncio.run(burst())
        assert written_during_turn == [""]
        assert stream.getvalue() == "line 0\nline 1\nline 2\n"
        assert stream.writes == 1

        # Off the loop (no loop running) a line is written at once.
        logger.warning("alone")
        assert stream.getvalue().endswith("line 2\nalone\n")
        assert stream.writes == 2

        # flush (what logging.shutdown calls at exit) writes a line still pending.
        async def last_words() -> None:
            logger.warning("last")
            assert stream.getvalue().endswith("alone\n")
            handler.flush()
            assert stream.getvalue().endswith("alone\nlast\n")

        asyncio.run(last_words())
        assert stream.writes == 3
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_direct_path_writes_what_logging_would_and_yields_to_other_handlers(
    log_format: str,
) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging._srcfile)
    saved_flags = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    entry = RequestEntry("POST", "/v1/events", "", 201, 1.5, "req_1")
    stream = io.StringIO()
    try:
        handler = configure_logging("info", log_format, stream=stream)
        log_entry(access_log, logging.INFO, entry)  # the only handler: the direct path
        others: list[logging.LogRecord] = []
        collector = logging.Handler()
        collector.emit = others.append  # type: ignore[method-assign]
        root.addHandler(collector)  # now the record must exist: logging's own path
        log_entry(access_log, logging.INFO, entry)
        handler.flush()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging._srcfile = saved[2]
        logging.logThreads, logging.logProcesses, logging.logMultiprocessing = saved_flags
    direct, through_logging = stream.getvalue().splitlines()
    assert [record.msg for record in others] == [entry]
    if log_format == "json":
        first, second = json.loads(direct), json.loads(through_logging)
        assert first.pop("time")[:19] and second.pop("time")[:19]
        assert (
            first
            == second
            == {
                "level": "info",
                "logger": "harbor_emulator.access",
                **entry.fields(),
            }
        )
    else:
        assert direct.split(" ", 1)[1] == through_logging.split(" ", 1)[1]
        assert direct.split(" ", 1)[1] == "info access POST /v1/events 201 1.5ms req_1"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_every_line_has_one_format_and_the_emulator_clocks_time(
    log_format: str, receiver: Receiver
) -> None:
    """uvicorn's lines included: after the clock is set to 2099, every line says 2099."""
    receiver.respond_with(500)  # then 200: an attempt line with a retry time, then another
    with emulator("--log-format", log_format) as (api, lines, process):
        _webhook_to(api, receiver)
        moved = api.post("/_control/clock/set", json={"now": "2099-01-01T00:00:00Z"})
        assert moved.status_code == 200, moved.text
        api.post("/v1/events", json={"type": "order.paid", "payload": {}})
        assert api.post("/_control/clock/advance", json={"duration": "5m"}).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT_SECONDS) == 0
        seen = lines.rest()
    parsed = [_parse(line, log_format) for line in seen]
    (set_at,) = [i for i, line in enumerate(parsed) if "/_control/clock/set" in line["message"]]
    sources = {line["source"] for line in parsed[set_at:]}
    assert {"access", "delivery", "uvicorn.error"} <= sources, seen
    shutdown = [line["message"] for line in parsed if line["source"] == "uvicorn.error"]
    assert "Application shutdown complete." in shutdown, seen
    # Host time is not 2099: a line stamped otherwise read another clock.
    late = [seen[i] for i, line in enumerate(parsed[set_at:], set_at) if line["time"][:4] != "2099"]
    assert not late, late
    attempts = [line for line in parsed if line["source"] == "delivery"]
    assert len(attempts) == 2, seen
    assert attempts[1]["time"].startswith("2099-01-01T00:05:00"), attempts


def _parse(line: str, log_format: str) -> dict[str, str]:
    """A line's time, level, source and message, whichever the format."""
    if log_format == "text":
        match = TEXT_LINE.fullmatch(line)
        assert match, f"not `<time> <level> <source> <message>`: {line!r}"
        return match.groupdict()
    record = json.loads(line)
    assert re.fullmatch(STAMP, record["time"]), line
    assert record["level"] in {"debug", "info", "warning", "error", "critical"}, line
    source = record["logger"].removeprefix("harbor_emulator.")
    message = record.get("message") or record.get("path") or record.get("url", "")
    return {"time": record["time"], "level": record["level"], "source": source, "message": message}
