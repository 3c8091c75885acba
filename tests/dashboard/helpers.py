"""Reading the dashboard's HTML in plain-HTTP tests: the error shown next to a field."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

_FIELD_ERROR = re.compile(
    r'data-testid="error(?:-(?P<param>[^"]+))?"><code>(?P<code>[^<]+)</code> (?P<message>[^<]*)'
)


def shown_errors(page: httpx.Response) -> list[dict[str, Any]]:
    """Every error the page shows: the field it sits next to (None: above the form)."""
    return [
        {
            "param": match["param"],
            "code": html.unescape(match["code"]),
            "message": html.unescape(match["message"]).strip(),
        }
        for match in _FIELD_ERROR.finditer(page.text)
    ]


def assert_same_error(page: httpx.Response, api: httpx.Response) -> None:
    """The page shows the API's error, code and message, next to the API's `param`."""
    expected = api.json()["error"]
    assert page.status_code == api.status_code, page.text
    errors = shown_errors(page)
    assert len(errors) == 1, errors
    shown = errors[0]
    assert (shown["code"], shown["message"]) == (expected["code"], expected["message"])
    if shown["param"] is not None:
        assert shown["param"] == expected["param"]
