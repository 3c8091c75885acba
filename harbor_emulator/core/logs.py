"""The server's log: one line per request, one per delivery attempt, as text or JSON.

`log_request` logs every request on `harbor_emulator.access`; `delivery_attempt`
logs every recorded attempt on `harbor_emulator.delivery`. Both log a small entry object
rather than a formatted string, so nothing is formatted unless a handler emits the record,
and the JSON formatter reads the fields instead of parsing a message. `configure_logging`
installs the one stderr handler, in the format `Config.log_format` names.

One clock, one format: every line, uvicorn's and warnings included, starts with the time of
the emulator clock when it was written (`2026-05-25T00:50:11.100Z`, the clock of every
`*_at` in the API and of the delivery lines' retry times), then its level and its source,
in text as in JSON. Lines written before the app exists read a fresh clock (host time).

Which requests are logged at INFO: the API (`/v1`), the control plane (`/_control`) and the
built-in sinks (`/_sink`): the requests a user or a test made, and what the sinks received.
The dashboard's pages, which poll every two seconds, and its static files are logged at
DEBUG, so an open browser tab does not drown the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, NamedTuple, TextIO

from starlette.types import Scope

from .clock import Clock, format_ms

access_log = logging.getLogger("harbor_emulator.access")
delivery_log = logging.getLogger("harbor_emulator.delivery")

_INFO_PREFIXES = ("/v1/", "/_control/", "/_sink/")


# Not frozen: one is made per request, and a frozen dataclass's __init__ (an
# object.__setattr__ per field) costs four times as much.
@dataclass(slots=True)
class RequestEntry:
    method: str
    path: str
    query: str
    status: int
    duration_ms: float
    request_id: str | None

    def __str__(self) -> str:
        return render_text(self, colour=False)

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event": "request",
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "request_id": self.request_id,
        }
        if self.query:
            out["query"] = self.query
        return out


class AttemptEntry(NamedTuple):
    delivery_id: str
    endpoint_id: str
    url: str
    attempt: int
    response_code: int | None
    error: str | None
    duration_ms: int
    # "succeeded", "failed", or "pending" with a retry at `next_attempt_ms`.
    outcome: str
    attempted_ms: int
    next_attempt_ms: int | None

    def __str__(self) -> str:
        return render_text(self, colour=False)

    def fields(self) -> dict[str, Any]:
        return {
            "event": "delivery_attempt",
            "delivery_id": self.delivery_id,
            "endpoint_id": self.endpoint_id,
            "url": self.url,
            "attempt": self.attempt,
            "response_code": self.response_code,
            "error": self.error,
            "duration_ms": self.duration_ms,
            "outcome": self.outcome,
            # Emulator time, unlike the line's `time`: they part once the clock is moved.
            "attempted_at": format_ms(self.attempted_ms),
            "next_attempt_at": format_ms(self.next_attempt_ms),
        }


def request_level(path: str) -> int:
    """The level of a request's line: INFO for what a user, a test or a sink did."""
    return logging.INFO if path.startswith(_INFO_PREFIXES) else logging.DEBUG


def log_request(
    scope: Scope, path: str, level: int, status: int, started: float, request_id: str | None
) -> None:
    """Log one request's line once its response is sent; `path` is the scope's as it came
    in and `started` the request's `perf_counter`.

    `edge.EdgeMiddleware` calls it (when `request_level` is enabled) from outside
    everything else a request runs through, so `status` is the final one: refusals and
    internal errors included.
    """
    # As received (still percent-encoded): a decoded %0A would break the line.
    raw_path: bytes | None = scope.get("raw_path")
    entry = RequestEntry(
        scope["method"],
        raw_path.decode("latin-1") if raw_path else path,
        scope["query_string"].decode("latin-1"),
        status,
        round((time.perf_counter() - started) * 1000, 1),
        request_id,
    )
    log_entry(access_log, level, entry)


# -- formatting ----------------------------------------------------------------------------
_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_BOLD = "\x1b[1m"
_GREEN = "\x1b[32m"
_YELLOW = "\x1b[33m"
_RED = "\x1b[31m"
_CYAN = "\x1b[36m"
_LEVEL_COLOURS = {"WARNING": _YELLOW, "ERROR": _RED, "CRITICAL": _RED}


def _status_colour(code: int | None) -> str:
    if code is None or code >= 500:
        return _RED
    if code >= 400:
        return _YELLOW
    if code >= 300:
        return _CYAN
    return _GREEN


def _paint(text: str, colour: str, enabled: bool) -> str:
    return f"{colour}{text}{_RESET}" if enabled else text


def _in(ms: int) -> str:
    """A delay as a person reads it: 30s, 5m, 2h30m, 1d2h."""
    seconds = max(0, round(ms / 1000))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds}s" if seconds else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def render_text(entry: RequestEntry | AttemptEntry, *, colour: bool) -> str:
    """One entry as a terminal line, without the time prefix."""
    if isinstance(entry, RequestEntry):
        path = f"{entry.path}?{entry.query}" if entry.query else entry.path
        status: int | str = entry.status
        request_id = entry.request_id or "-"
        if colour:  # a line per request: the plain case skips the painting calls
            status = _paint(str(status), _status_colour(entry.status), True)
            request_id = _paint(request_id, _DIM, True)
        return f"{entry.method} {path} {status} {entry.duration_ms:g}ms {request_id}"
    result = str(entry.response_code) if entry.error is None else entry.error
    result = _paint(result, _GREEN if entry.outcome == "succeeded" else _RED, colour)
    if entry.outcome == "pending" and entry.next_attempt_ms is not None:
        wait = _in(entry.next_attempt_ms - entry.attempted_ms)
        then = f"next retry {format_ms(entry.next_attempt_ms)} (in {wait})"
    else:
        then = _paint(entry.outcome, _BOLD, colour)
    return (
        f"{_paint(entry.endpoint_id, _CYAN, colour)} {entry.url} "
        f"attempt {entry.attempt} {result} {entry.duration_ms}ms, {then} "
        f"{_paint(entry.delivery_id, _DIM, colour)}"
    )


Entry = RequestEntry | AttemptEntry
_ENTRIES = (RequestEntry, AttemptEntry)


_MILLISECONDS = [f".{ms:03d}Z" for ms in range(1000)]


class LineFormatter(logging.Formatter):
    """What the two formats share: the time of every line, read from the emulator clock.

    The emulator's own records, uvicorn's and any library's all get it, so a log reads on
    one clock: the one `created_at`, `attempted_at` and `next_attempt_at` use, which parts
    from host time once the clock is moved. `record.created` (host time) is not used.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()  # until `LineHandler.follow` gives it the app's
        self._second, self._text = -1, ""

    def stamp(self) -> str:
        """`2026-05-25T00:50:11.100Z`: the clock's now, UTC, milliseconds."""
        now_ms = self.clock.now_ms()
        second, ms = divmod(now_ms, 1000)
        # At thousands of lines a second, strftime per line would be a fifth of the cost.
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._text + _MILLISECONDS[ms]

    def format_entry(self, entry: Entry, levelname: str, name: str) -> str:
        raise NotImplementedError

    def format_exception_of(self, record: logging.LogRecord) -> str | None:
        return self.formatException(record.exc_info) if record.exc_info else None


def source_of(name: str) -> str:
    """A logger's name as the text format shows it: `access`, `delivery`, `uvicorn.error`."""
    return name.removeprefix("harbor_emulator.")


class TextFormatter(LineFormatter):
    """`<time> <level> <source> <message>` for every line; a traceback follows its line."""

    def __init__(self, *, colour: bool) -> None:
        super().__init__()
        self.colour = colour
        self._prefixes: dict[tuple[str, str], str] = {}

    def _line(self, levelname: str, name: str, message: str) -> str:
        prefix = self._prefixes.get((levelname, name))
        if prefix is None:  # a few levels and loggers: made once each
            level = levelname.lower()
            if self.colour and levelname in _LEVEL_COLOURS:
                level = _paint(level, _LEVEL_COLOURS[levelname], True)
            prefix = self._prefixes[levelname, name] = f" {level} {source_of(name)} "
        return self.stamp() + prefix + message

    def format_entry(self, entry: Entry, levelname: str, name: str) -> str:
        return self._line(levelname, name, render_text(entry, colour=self.colour))

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.msg, _ENTRIES):
            message = render_text(record.msg, colour=self.colour)
        else:
            message = record.getMessage()
        line = self._line(record.levelname, record.name, message)
        exception = self.format_exception_of(record)
        return line if exception is None else f"{line}\n{exception}"


class JsonFormatter(LineFormatter):
    """One JSON object per line: `time`, `level`, `logger`, then the entry's fields or
    `message` (and `exception`, a traceback's text)."""

    def format_entry(self, entry: Entry, levelname: str, name: str) -> str:
        return self._line(levelname, name, entry.fields())

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.msg, _ENTRIES):
            fields = record.msg.fields()
        else:
            fields = {"message": record.getMessage()}
        exception = self.format_exception_of(record)
        if exception is not None:
            fields["exception"] = exception
        return self._line(record.levelname, record.name, fields)

    def _line(self, levelname: str, name: str, fields: dict[str, Any]) -> str:
        out: dict[str, Any] = {"time": self.stamp(), "level": levelname.lower(), "logger": name}
        out |= fields
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that writes the lines of one turn of the event loop in one go.

    At thousands of requests a second, a write and a flush per line (a system call each)
    were about a fifth of a small request's CPU. Lines logged during a turn of the loop are
    written at its end, so none is later than the turn that logged it; off the loop's
    thread, or with no loop running, a line is written at once. `flush` (logging calls it
    at exit) writes what is pending.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._queue(line)

    def emit_entry(self, entry: Entry, levelno: int, name: str) -> None:
        """Emit what `logging` would for a record of `entry`, without making the record."""
        formatter = self.formatter
        assert isinstance(formatter, LineFormatter)
        line = formatter.format_entry(entry, logging.getLevelName(levelno), name)
        with self.lock:  # type: ignore[union-attr]
            self._queue(line)

    def follow(self, clock: Clock) -> None:
        """Stamp every line from now on with `clock`, the emulator's (one clock per log)."""
        if isinstance(self.formatter, LineFormatter):
            self.formatter.clock = clock

    def _queue(self, line: str) -> None:
        """Called with the handler's lock held (logging holds it around `emit`)."""
        self._pending.append(line)
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_pending()
            return
        self._scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_pending()

    def _write_pending(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        text = self.terminator.join(self._pending) + self.terminator
        self._pending.clear()
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # stderr closed or gone (a closed pipe): the lines have nowhere to go


def log_entry(logger: logging.Logger, level: int, entry: Entry) -> None:
    """`logger.log(level, entry)`, by a shorter way when the outcome is the same.

    A request line through `logging` costs ~8% of a small request, most of it making a
    LogRecord that the one handler `configure_logging` installs turns straight into text.
    When that handler is the only one the record would reach (no filters, no other
    handlers on the way to the root), it gets the entry directly; in any other setup
    (tests' caplog, an embedding application's handlers) the record goes through logging.
    """
    if not logger.isEnabledFor(level):
        return
    handler = _sole_line_handler(logger)
    if handler is not None and level >= handler.level:
        handler.emit_entry(entry, level, logger.name)
    else:
        logger.log(level, entry)


def _sole_line_handler(logger: logging.Logger) -> LineHandler | None:
    node: logging.Logger | None = logger
    while node is not None:
        if node.filters:
            return None
        if node.handlers:
            if node.parent is not None or len(node.handlers) != 1:
                return None
            handler = node.handlers[0]
            if not isinstance(handler, LineHandler) or handler.filters:
                return None
            if not isinstance(handler.formatter, LineFormatter):
                return None
            return handler
        if not node.propagate:
            return None
        node = node.parent
    return None


def wants_colour(stream: TextIO) -> bool:
    """Colour only for a person: a terminal, and NO_COLOR (no-color.org) unset or empty."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def configure_logging(level: str, log_format: str, stream: TextIO | None = None) -> LineHandler:
    """Send every record at `level` and above to `stream` (stderr) in `log_format`.

    Replaces the root logger's handlers and trims what records collect: the CLI owns the
    process's logging.
    """
    stream = stream if stream is not None else sys.stderr
    handler = LineHandler(stream)
    formatter: LineFormatter
    if log_format == "json":
        formatter = JsonFormatter()
    else:
        formatter = TextFormatter(colour=wants_colour(stream))
    handler.setFormatter(formatter)
    # No formatter here shows a record's thread, process or source line: not collecting
    # them saves a quarter of each line's cost (the logging HOWTO, "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request it sends at INFO: the attempt line already says it, and
    # httpx's line costs ~2% of the delivery loop.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    return handler
