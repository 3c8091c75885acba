"""What every dashboard page shares: templates, the login guard, forms and the selection.

The dashboard is the emulator's operator. Its actions call the same cores as /v1 and
/_control with an operator `Principal` (every scope, every workspace of the chosen mode),
so validation, errors and writes are the API's own.
"""

from __future__ import annotations

import functools
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..api.common import loads_json
from ..core.clock import format_ms
from ..core.errors import HarborError
from ..domain.auth import SCOPES, WORKSPACE_ID_PATTERN, Principal
from ..store import deliveries, workspaces

if TYPE_CHECKING:
    from jinja2 import Environment

Handler = Callable[[Request], Awaitable[Response]]

# Resolved from the package, never the working directory, so the one-file binary (which
# unpacks package data next to the modules) finds them too.
PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

COOKIE_NAME = "harbor_dashboard_token"
MAX_FORM_BYTES = 1024 * 1024
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
PAGE_SIZE = 50


def _pretty_json(value: Any) -> str:
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


ID_TAIL = 4


def _id_markup(object_id: str) -> Any:
    """An id with its last characters in bold: ids made in the same millisecond share all
    but their end (…QE6, …QE9), which is where the eye should go to tell them apart."""
    from markupsafe import Markup, escape

    head, tail = object_id[:-ID_TAIL], object_id[-ID_TAIL:]
    return Markup('<code class="oid">{}<b class="oid-tail">{}</b></code>').format(
        escape(head), escape(tail)
    )


@functools.cache
def environment() -> Environment:
    """Built on the first page served: Jinja2 stays off the start-up path."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Shorter than RFC 3339 on screen; the API and the exports keep the exact form.
    env.filters["ts"] = lambda ms: (format_ms(ms) or "—").replace("T", " ")
    env.filters["pretty"] = _pretty_json
    env.filters["oid"] = _id_markup
    env.globals["SCOPES"] = SCOPES
    return env


# -- selection: which workspace and mode a page shows ------------------------------------


def selection(request: Request) -> tuple[str | None, bool]:
    """(workspace_id or None for all, livemode) from `?workspace_id=` and `?mode=`."""
    workspace_id = request.query_params.get("workspace_id") or None
    if workspace_id is not None and not WORKSPACE_ID_PATTERN.fullmatch(workspace_id):
        workspace_id = None
    return workspace_id, request.query_params.get("mode") == "live"


def link(request: Request, path: str, **params: object) -> str:
    """`path` with the page's workspace and mode carried over, plus `params` (None drops)."""
    workspace_id, livemode = selection(request)
    query: dict[str, object] = {"workspace_id": workspace_id, "mode": "live" if livemode else None}
    query.update(params)
    kept = {name: value for name, value in query.items() if value not in (None, "")}
    return path + ("?" + urlencode(kept) if kept else "")


def operator(livemode: bool, workspace_id: str) -> Principal:
    """The dashboard's caller: all scopes, any workspace of the mode the page shows."""
    return Principal(
        key="dashboard",
        livemode=livemode,
        scopes=frozenset(SCOPES),
        workspace_id=workspace_id,
        any_workspace=True,
    )


# -- rendering ---------------------------------------------------------------------------


def marker_id(marker: tuple[int, int]) -> str:
    """A change marker (see store.deliveries.change_marker) as the live stream's event id."""
    return f"{marker[0]}.{marker[1]}"


async def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """A whole page: `render` plus the workspaces its header offers."""
    rows = await workspaces.list_all(request.app.state.db)
    marker = getattr(request.state, "live_marker", None)
    return render(request, template, status_code, workspaces=rows, live_marker=marker, **context)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    workspace_id, livemode = selection(request)
    state = request.app.state
    context.setdefault("workspaces", [])
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            link=lambda path, **params: link(request, path, **params),
            selected_workspace=workspace_id,
            livemode=livemode,
            mode="live" if livemode else "test",
            now=format_ms(state.clock.now_ms()),
            frozen=state.clock.frozen,
            protected=bool(state.config.control_token),
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def partial(request: Request) -> bool:
    """An htmx poll asks for the fragment only, not the whole page."""
    return request.headers.get("hx-request") == "true"


def redirect(request: Request, path: str, **params: object) -> Response:
    """Post/redirect/get back to a page of the same selection."""
    return RedirectResponse(link(request, path, **params), status_code=303)


def safe_next(value: str | None, default: str) -> str:
    """A local path to go back to; anything else (another host, `//x`) is ignored."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


# -- forms -------------------------------------------------------------------------------


async def read_form(request: Request) -> ImmutableMultiDict[str, str]:
    """An url-encoded form body, at most 1 MB (parsed here: no multipart dependency)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise HarborError("payload_too_large", "The form is larger than 1 MB.")
        chunks.append(chunk)
    body = b"".join(chunks)
    if body.strip() and media_type != FORM_MEDIA_TYPE:
        raise HarborError("unsupported_media_type", f"Send the form as {FORM_MEDIA_TYPE}.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HarborError("invalid_parameter", "The form is not valid UTF-8.") from None
    return ImmutableMultiDict(parse_qsl(text, keep_blank_values=True, max_num_fields=1000))


def given(form: Mapping[str, str], *names: str) -> dict[str, str]:
    """The fields that were filled in, stripped: a blank field means "not sent", as with
    the API, so a required blank field is the API's missing_parameter."""
    return {name: form[name].strip() for name in names if form.get(name, "").strip()}


def json_field(form: Mapping[str, str], name: str) -> Any:
    """A textarea holding JSON; bad JSON is invalid_json naming the field."""
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        return loads_json(text)
    except (ValueError, RecursionError) as exc:
        raise HarborError(
            "invalid_json", f"'{name}' is not valid JSON: {exc}", param=name
        ) from None


def number_field(value: str) -> float | int | str:
    """A number field as a number when it is one; otherwise the text, so the core's own
    validation rejects it with the API's message."""
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


# -- the guard ---------------------------------------------------------------------------


def token_ok(request: Request) -> bool:
    token = request.app.state.config.control_token
    if not token:
        return True
    given_token = request.cookies.get(COOKIE_NAME, "")
    # Constant-time, so the token can't be guessed a byte at a time from response times.
    return hmac.compare_digest(given_token.encode("utf-8", "replace"), token.encode("utf-8"))


def dashboard(handler: Handler) -> Handler:
    """Login check and Harbor errors as an HTML page. Cross-site posts never get here: the
    local-security check (edge.py) refuses them (and DNS-rebinding Hosts) before routing."""

    @wraps(handler)
    async def run(request: Request) -> Response:
        if not token_ok(request):
            if request.method == "GET" and not partial(request):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
            response = render(request, "login.html", 401, next=request.url.path, error=None)
            response.headers["HX-Redirect"] = "/login"
            return response
        if request.method == "GET" and not partial(request):
            # Read before the page's own reads: a change landing while it renders then
            # differs from this marker, and the live stream reports it at once.
            marker = await deliveries.change_marker(request.app.state.db)
            request.state.live_marker = marker_id(marker)
        try:
            return await handler(request)
        except HarborError as exc:
            return await page(request, "error.html", exc.status, error=exc, message=exc.message)

    return run


def login_cookie_params() -> dict[str, Any]:
    # Strict: the browser never sends the token along with a request another site starts.
    return {"httponly": True, "samesite": "strict", "path": "/"}
