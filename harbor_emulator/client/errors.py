"""What the client raises: the emulator's error answers, and an emulator it cannot reach."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")


class HarborAPIError(Exception):
    """An error answer from the emulator: `{"error": {code, message, param, request_id}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        param: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.request_id = request_id
        super().__init__(f"{code}: {message}")


class EmulatorUnreachable(ConnectionError):
    """Nothing answered at the emulator's URL (not started, wrong port, or stopped)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(f"cannot reach the emulator at {url}: {reason}")


def api_error(response: httpx.Response) -> HarborAPIError:
    return error_answer(
        response.status_code,
        response.content,
        response.reason_phrase,
        response.headers.get("harbor-request-id"),
    )


def error_answer(
    status: int, body: bytes, reason: str, request_id: str | None = None
) -> HarborAPIError:
    """The HarborAPIError an error answer stands for, whichever HTTP client received it."""
    try:
        error = json.loads(body)["error"]
        return HarborAPIError(
            status,
            str(error["code"]),
            str(error["message"]),
            error.get("param"),
            error.get("request_id"),
        )
    except (ValueError, KeyError, TypeError):
        # Not the emulator's error shape (e.g. a proxy in between): keep what there is.
        text = body.decode("utf-8", "replace")
        return HarborAPIError(status, f"http_{status}", text[:200] or reason, None, request_id)


def poll_until_reachable(call: Callable[[], T], timeout: float) -> T:
    """`call()` until it does not raise EmulatorUnreachable; re-raise that after `timeout`
    seconds. Polling is the only way to see a process come up; it backs off to 0.25 s."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        try:
            return call()
        except EmulatorUnreachable:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.25)
