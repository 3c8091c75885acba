"""Local security: what a browser on the same machine may not make the emulator do.

`LocalSecurity` checks, before any route runs (HARBOR_API.md, "Local security"):

1. the Host allow-list, which defeats DNS rebinding: a page on `evil.example` whose name
   now resolves to 127.0.0.1 still sends `Host: evil.example`;
2. cross-site writes to `/_control` and the dashboard, refused by `Origin` (or `Referer`);
3. JSON-only `/_control` bodies, so a browser can't send one without a CORS preflight,
   which the emulator never approves;
4. the `--control-token` on every `/_control` path, before routing can answer a redirect
   or a 404.

`/v1` is guarded by API keys, so only the Host check applies to it. `/_sink` receivers
stay open to any request: they only record what they get.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import Scope

from ..control.auth import CONTROL_TOKEN_CHECKED, token_matches, token_refusal
from ..core.errors import HarborError
from ..core.fixture_parsing import YAML_MEDIA_TYPES
from .config import Config

# `uvicorn --host` values that listen on every interface.
WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::", ""})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
FIXTURES_PATH = "/_control/fixtures"
DEFAULT_PORTS = {"http": 80, "https": 443}
# Distinct Host values seen are few (localhost, 127.0.0.1, a forwarded name); past this
# many the cache starts over rather than grow with junk.
MAX_CACHED_HOSTS = 256
_WANTED_HEADERS = frozenset(
    {
        b"host",
        b"origin",
        b"referer",
        b"sec-fetch-site",
        b"content-type",
        b"content-length",
        b"transfer-encoding",
        b"authorization",
    }
)


def split_host(value: str) -> tuple[str, int | None] | None:
    """`Host` (or an URL's authority) as (lowercase name without brackets, port or None);
    None when it is not a name and port at all."""
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    else:
        name, colon, port_text_or_empty = value.rpartition(":")
        if not colon:
            name, port_text = value, None
        elif ":" in name:  # an unbracketed IPv6 address is not a Host
            return None
        else:
            port_text = port_text_or_empty
    if port_text is not None and not (port_text.isascii() and port_text.isdigit()):
        return None
    # "localhost." is the same name as "localhost" to DNS.
    name = name[:-1] if name.endswith(".") else name
    if not name:
        return None
    return name, int(port_text) if port_text is not None else None


def is_loopback(name: str) -> bool:
    """`localhost`, 127/8, ::1 (also as an IPv4-mapped address)."""
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _normal_name(name: str) -> str:
    """One spelling per host: lowercase, no brackets or final dot, IPs in compressed form."""
    name = name.strip().lower().strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(name).compressed
    except ValueError:
        return name


class HostPolicy:
    """Which `Host` values the emulator answers: loopback, the address it serves on, and
    `--allowed-host` names (`*` for all). A wildcard bind allows all unless names are given."""

    def __init__(self, serving_host: str, allowed_hosts: Iterable[str] = ()) -> None:
        names = {_normal_name(name) for name in allowed_hosts if name.strip()}
        served = _normal_name(serving_host)
        self.allow_all = "*" in names or (not names and served in WILDCARD_ADDRESSES)
        if served not in WILDCARD_ADDRESSES:
            names.add(served)
        self.names = frozenset(names)
        self._seen: dict[str, bool] = {}

    def allows(self, host: str) -> bool:
        if self.allow_all:
            return True
        known = self._seen.get(host)
        if known is None:
            parsed = split_host(host)
            known = parsed is not None and (
                _normal_name(parsed[0]) in self.names or is_loopback(parsed[0])
            )
            if len(self._seen) >= MAX_CACHED_HOSTS:
                self._seen.clear()
            self._seen[host] = known
        return known


def same_origin(source: str, scheme: str, host: str) -> bool:
    """Whether the URL `source` (an Origin or Referer) has the origin `scheme://host`,
    comparing default ports as the browser does (`http://x` is `http://x:80`)."""
    try:
        parts = urlsplit(source)
        source_port = parts.port
    except ValueError:
        return False
    if parts.scheme.lower() != scheme or not parts.hostname:
        return False
    own = split_host(host)
    if own is None:
        return False
    default_port = DEFAULT_PORTS.get(scheme)
    return (parts.hostname.rstrip("."), source_port or default_port) == (
        own[0],
        own[1] or default_port,
    )


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


class LocalSecurity:
    """Decides, before any route runs, what a web page must not be able to make the
    emulator do. `edge.EdgeMiddleware` asks it first thing on every request."""

    def __init__(self, config: Config) -> None:
        self.hosts = HostPolicy(config.host, config.allowed_hosts)
        self.control_token = config.control_token or None

    def check(self, scope: Scope, path: str) -> HarborError | None:
        """The refusal for an HTTP request (`path` is its scope's), or None to let it in."""
        # `_under(path, "/v1")` spelt out: most requests are the API's.
        if path.startswith("/v1/") or path == "/v1":
            if self._api_host_allowed(scope):
                # The API's only check here is the Host (a page may not reach it under a
                # rebinding name); the rest is for /_control and the dashboard. Most
                # requests take this short way, which reads one header instead of six.
                return None
        elif _under(path, "/_sink"):
            return None
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            if raw_name in _WANTED_HEADERS:
                # The first of a repeated header, as Starlette's `Headers.get` reads it.
                headers.setdefault(raw_name.decode(), raw_value.decode("latin-1"))
        return self.refusal(scope, headers)

    def _api_host_allowed(self, scope: Scope) -> bool:
        for raw_name, raw_value in scope["headers"]:
            if raw_name == b"host":
                return self.hosts.allows(raw_value.decode("latin-1"))
        return True  # no Host: not a browser (see `refusal`)

    def refusal(self, scope: Scope, headers: dict[str, str]) -> HarborError | None:
        """The error this request gets before routing, or None to let it through."""
        host = headers.get("host")
        # A request without Host (HTTP/1.0) does not come from a browser: it can't be
        # a rebinding attack, and the server's own address stands for it.
        if host is not None and not self.hosts.allows(host):
            return _host_refusal(host)
        path, method = scope["path"], scope["method"]
        control = _under(path, "/_control")
        if (
            method not in SAFE_METHODS
            and not _under(path, "/v1")
            and _cross_site(scope, headers, host)
        ):
            return HarborError(
                "cross_site_request",
                "This request comes from another site's page (its Origin or Referer is not "
                "this emulator's); /_control and the dashboard accept writes only from "
                "themselves or from clients that send neither header.",
            )
        if control and self.control_token is not None:
            if not token_matches(headers.get("authorization", ""), self.control_token):
                return token_refusal()
            scope.setdefault("state", {})[CONTROL_TOKEN_CHECKED] = True
        if control and method in BODY_METHODS and _has_body(headers):
            media_type = _media_type(headers.get("content-type", ""))
            yaml = path == FIXTURES_PATH
            if not _accepted_media_type(media_type, yaml=yaml):
                accepted = "application/json or application/yaml" if yaml else "application/json"
                return HarborError(
                    "unsupported_media_type",
                    f"Send the body as {accepted} (got {media_type or 'no Content-Type'!r}).",
                )
        return None


def _host_refusal(host: str) -> HarborError:
    parsed = split_host(host)
    name = parsed[0] if parsed is not None else host
    return HarborError(
        "host_not_allowed",
        f"Host {host[:200]!r} is not allowed: the emulator answers loopback names, the "
        f"address it serves on and --allowed-host names. Start it with --allowed-host "
        f"{name[:200]} (or HARBOR_EMULATOR_ALLOWED_HOST) to allow this one.",
    )


def _cross_site(scope: Scope, headers: dict[str, str], host: str | None) -> bool:
    # Fetch metadata, where the browser sends it, says so outright; "same-site" is
    # another port or subdomain, which is another origin all the same.
    if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return True
    source = headers.get("origin")
    if source is None:
        source = headers.get("referer")
        if source is None:
            return False  # curl, SDKs and the CLI send neither
    # "null" (a sandboxed frame, a file: page) never matches.
    return host is None or not same_origin(source, scope["scheme"], host)


def _has_body(headers: dict[str, str]) -> bool:
    """Whether a body follows, from the headers alone: the stream is the route's to read."""
    if "transfer-encoding" in headers:
        return True
    length = headers.get("content-length", "").strip()
    return length.isascii() and length.isdigit() and int(length) > 0


def _accepted_media_type(media_type: str, *, yaml: bool) -> bool:
    if media_type == "application/json" or media_type.endswith("+json"):
        return True
    return yaml and media_type in YAML_MEDIA_TYPES
