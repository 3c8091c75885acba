"""Endpoint URL validation: syntax in both modes, public reachability in live mode.

Contract (Endpoints, Details fixed here): an absolute http(s) URL with a host, at most 2,048
characters, else `invalid_url`. Test mode takes `http` and any host, loopback included, and
never looks anything up. Live mode rejects `http` first (`invalid_url`, whatever the host),
then hosts that are not publicly routable or do not resolve (`url_not_reachable`).

Decisions beyond the contract, chosen to match what browsers and libc would connect to:
- IPv4 hosts are read with inet_aton rules (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`),
  so a numeric trick is classified as the address it really is, never sent to DNS. A host
  whose last label is a number but is not a valid IPv4 address (`foo.123`, `1.2.3.09`) is
  `invalid_url`, as in the WHATWG URL standard.
- `localhost` and `*.localhost` are loopback without a lookup (RFC 6761).
- Userinfo (`https://user:pass@host/`) is allowed, for receivers behind basic auth.
- Backslashes, whitespace and control characters are `invalid_url`: parsers disagree on
  them, and the host we check must be the host the sender connects to. The URL is also
  parsed with httpx, the sender's parser, and must name the same host.
- Live mode checks the addresses at registration. It cannot stop a name from resolving to
  a private address later (DNS rebinding); the sender owns that.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import string
import unicodedata
import urllib.parse
from typing import NamedTuple

from harbor_emulator.core.errors import HarborError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048

_DEFAULT_PORTS = {"http": 80, "https": 443}
_REG_NAME_ASCII = frozenset(string.ascii_letters + string.digits + "-._")
_HEX_DIGITS = frozenset(string.hexdigits)
_OCTAL_DIGITS = frozenset("01234567")
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits (RFC 6052).
_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


async def validate_url(
    value: object,
    *,
    livemode: bool,
    param: str = "url",
    resolve_timeout_seconds: float = 2.0,
) -> str:
    """Return `value` unchanged if it is an acceptable endpoint URL, else raise HarborError.

    Raises `invalid_url` for anything malformed and, in live mode only, `url_not_reachable`
    for a host that is not public or does not resolve within `resolve_timeout_seconds`.
    """
    if not isinstance(value, str):
        raise _invalid(param, "url must be a string.")
    if len(value) > MAX_URL_LENGTH:
        raise _invalid(param, f"url must be at most {MAX_URL_LENGTH:,} characters.")
    target = _split(value, param)
    if livemode and target.scheme != "https":
        # The contract checks the scheme before the host: no lookup for an http URL.
        raise _invalid(param, "Live mode endpoints must use https.")
    if livemode:
        port = target.port or _DEFAULT_PORTS[target.scheme]
        await _require_public(target.host, port, param, resolve_timeout_seconds)
    if not target.sendable:
        # Checked last so that a live `https://0177.0.0.1` is reported as the loopback
        # address it is, not as a spelling problem.
        raise _invalid(
            param,
            "url's host cannot be used by the sender; write an IPv4 address as four decimal"
            " numbers without leading zeros, like 203.0.113.7.",
        )
    return value


def classify_host(host: str) -> IPAddress | None:
    """The IP address a URL host denotes, or None for a domain name.

    Takes IPv6 with or without brackets and IPv4 in every form inet_aton accepts (decimal,
    hex, octal, 1 to 4 parts). Raises ValueError for a host that ends in a number but is
    not a valid IPv4 address, which the URL standard rejects rather than looking up.
    """
    if host.startswith("[") and host.endswith("]"):
        return ipaddress.IPv6Address(host[1:-1])
    if ":" in host:
        return ipaddress.IPv6Address(host)
    return _parse_ipv4(host)


def is_public_address(address: IPAddress) -> bool:
    """Whether `address` is publicly routable unicast, looking inside IPv6 forms of IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        embedded = address.sixtofour
        if embedded is None and address in _NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not is_public_address(embedded):
            return False
        if address.is_site_local:
            return False
    # is_global alone lets multicast through on Python 3.11, so each class is named.
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )


class _Target(NamedTuple):
    scheme: str
    # The ASCII form the sender connects to: lower case, IDNA-encoded, IPv6 compressed and
    # without brackets.
    host: str
    port: int | None
    # False when httpx rejects a host that is otherwise valid: dotted quads with leading
    # zeros (`0177.0.0.1`), which libc and browsers read as octal.
    sendable: bool


def _split(value: str, param: str) -> _Target:
    """Parse a URL by our rules, which are stricter than any client's, or raise invalid_url."""
    for char in value:
        if char == "\\" or char.isspace() or unicodedata.category(char) in ("Cc", "Cs"):
            raise _invalid(param, "url must not contain spaces, backslashes or control characters.")
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        raise _invalid(param, "url is not a valid URL.") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise _invalid(param, "url must be an absolute http or https URL.")
    hostport = parts.netloc.rpartition("@")[2]
    if hostport.startswith("["):
        literal, bracket, port_part = hostport[1:].partition("]")
        if not bracket or (port_part and not port_part.startswith(":")):
            raise _invalid(param, "url has a malformed IPv6 host.")
        try:
            # A zone (`fe80::1%25eth0`) names an interface of this machine, not a host.
            if "%" in literal:
                raise ValueError(literal)
            host = ipaddress.IPv6Address(literal).compressed
        except ValueError:
            raise _invalid(param, "url has a malformed IPv6 host.") from None
        port_text = port_part[1:]
    else:
        host, _, port_text = hostport.partition(":")
        host = host.lower()
        _check_host_characters(host, param)
    port = _parse_port(port_text, param)
    sender_host = _sender_host(value, parts.scheme, host, param)
    sendable = sender_host is not None
    if sender_host is None:
        if not host.isascii():
            raise _invalid(param, "url's host is not a valid internationalized domain name.")
        sender_host = host
    if not hostport.startswith("["):
        # IDNA maps some characters to ASCII dots (`127。0。0。1` is 127.0.0.1), so the
        # name checks run on the form that is actually looked up.
        _check_host_characters(sender_host, param)
        _check_host_name(sender_host, param)
    return _Target(parts.scheme, sender_host, port, sendable)


def _check_host_characters(host: str, param: str) -> None:
    if not host:
        raise _invalid(param, "url must have a host.")
    if any(char.isascii() and char not in _REG_NAME_ASCII for char in host):
        raise _invalid(param, "url has an invalid character in its host.")


def _check_host_name(host: str, param: str) -> None:
    labels = host.removesuffix(".").split(".")
    if any(not label for label in labels):
        raise _invalid(param, "url has an empty label in its host.")
    try:
        classify_host(host)
    except ValueError:
        raise _invalid(param, "url's host ends in a number but is not an IPv4 address.") from None


def _parse_port(text: str, param: str) -> int | None:
    if not text:
        return None  # `host:` means the default port, as browsers read it.
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= 65535:
        raise _invalid(param, "url has an invalid port.")
    return int(text)


def _sender_host(value: str, scheme: str, host: str, param: str) -> str | None:
    """The host httpx, the sender's parser, would connect to, or None if it rejects the URL.

    A URL httpx reads differently would reach a host we never checked: invalid_url.
    """
    # Imported here: the server imports this module at start, before anything needs httpx
    # (~25-60 ms of import; see delivery/sender.py).
    import httpx

    try:
        parsed = httpx.URL(value)
    except (httpx.InvalidURL, ValueError):
        return None
    try:
        parsed.host  # noqa: B018  decodes IDNA: a bad A-label raises here, not at send time
    except ValueError:  # idna errors are UnicodeError, a ValueError
        raise _invalid(param, "url's host is not a valid internationalized domain name.") from None
    sender_host = parsed.raw_host.decode("ascii").lower()
    if ":" in sender_host:
        sender_host = _compress_ipv6(sender_host)
    if parsed.scheme != scheme or (host.isascii() and sender_host != host):
        raise _invalid(param, "url is not a valid URL.")
    return sender_host


def _compress_ipv6(text: str) -> str:
    try:
        return ipaddress.IPv6Address(text).compressed
    except ValueError:
        return text


async def _require_public(host: str, port: int, param: str, timeout_seconds: float) -> None:
    address = classify_host(host)
    if address is not None:
        if not is_public_address(address):
            raise _unreachable(param, f"{host} is {address}, which is not a public address.")
        return
    name = host.removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        raise _unreachable(param, f"{host} is a loopback host.")
    addresses = await _resolve(host, port, timeout_seconds)
    if not addresses:
        raise _unreachable(param, f"{host} does not resolve.")
    for resolved in addresses:
        # One private answer is enough to reach inside: every answer must be public.
        if not is_public_address(resolved):
            raise _unreachable(param, f"{host} resolves to {resolved}, which is not public.")


async def _resolve(host: str, port: int, timeout_seconds: float) -> list[IPAddress]:
    """Every address `host` resolves to; empty if it does not resolve in time."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout_seconds
        )
    except (OSError, UnicodeError, TimeoutError):
        return []
    addresses: list[IPAddress] = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        # A link-local IPv6 answer carries a zone (`fe80::1%eth0`); the zone is irrelevant.
        addresses.append(ipaddress.ip_address(str(sockaddr[0]).partition("%")[0]))
    return addresses


def _parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """inet_aton / WHATWG reading of an IPv4 host, None if the host is a domain name."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # `127.0.0.1.` is still an address, as browsers read it
    if not _looks_numeric(parts[-1]):
        return None
    numbers = [_parse_ipv4_number(part) for part in parts]
    if len(numbers) > 4 or any(number is None for number in numbers):
        raise ValueError(f"{host!r} ends in a number but is not an IPv4 address")
    values = [number for number in numbers if number is not None]
    if any(number > 255 for number in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise ValueError(f"{host!r} is out of the IPv4 range")
    address = values[-1]
    for index, number in enumerate(values[:-1]):
        address += number << (8 * (3 - index))
    return ipaddress.IPv4Address(address)


def _looks_numeric(part: str) -> bool:
    # The URL standard's "ends in a number": such a host is an IPv4 address or an error.
    if part[:2] in ("0x", "0X"):
        return set(part[2:]) <= _HEX_DIGITS
    return part.isascii() and part.isdigit()


def _parse_ipv4_number(part: str) -> int | None:
    if part[:2] in ("0x", "0X"):
        digits = part[2:]
        if not set(digits) <= _HEX_DIGITS:
            return None
        return int(digits, 16) if digits else 0
    if not (part.isascii() and part.isdigit()):
        return None
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if set(part) <= _OCTAL_DIGITS else None
    return int(part)


def _invalid(param: str, message: str) -> HarborError:
    return HarborError("invalid_url", message, param=param)


def _unreachable(param: str, message: str) -> HarborError:
    return HarborError("url_not_reachable", message, param=param)
