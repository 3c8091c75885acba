"""What the client raises: the emulator's error answers, and an emulator it cannot reach."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx


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
    try:
        error = response.json()["error"]
        return HarborAPIError(
            response.status_code,
            str(error["code"]),
            str(error["message"]),
            error.get("param"),
            error.get("request_id"),
        )
    except (ValueError, KeyError, TypeError):
        # Not the emulator's error shape (e.g. a proxy in between): keep what there is.
        return HarborAPIError(
            response.status_code,
            f"http_{response.status_code}",
            response.text[:200] or response.reason_phrase,
            None,
            response.headers.get("harbor-request-id"),
        )
