import asyncio
import ipaddress
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harbor_emulator.core.errors import HarborError
from harbor_emulator.domain.urls import classify_host, is_public_address, validate_url

OK = "ok"
PUBLIC_IP_URL = "https://93.184.216.34/hook"

Resolver = Callable[..., Coroutine[Any, Any, list[tuple[Any, ...]]]]


def run(coro: Coroutine[Any, Any, Any], resolver: Resolver | None = None) -> Any:
    """Run `coro` on a fresh loop whose getaddrinfo is `resolver` (the real one if None)."""

    def loop_factory() -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        if resolver is not None:
            loop.getaddrinfo = resolver  # type: ignore[method-assign]
        return loop

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coro)


def outcome(url: object, *, livemode: bool, resolver: Resolver | None = None, **kwargs: Any) -> str:
    try:
        result = run(validate_url(url, livemode=livemode, **kwargs), resolver)
    except HarborError as error:
        assert error.param == kwargs.get("param", "url")
        return error.code
    assert result == url
    return OK


async def no_lookup(*args: object, **kwargs: object) -> list[tuple[Any, ...]]:
    raise AssertionError(f"unexpected DNS lookup {args}")


def answers(*addresses: str) -> Resolver:
    async def resolve(host: str, port: int, **kwargs: object) -> list[tuple[Any, ...]]:
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port),
            )
            for address in addresses
        ]

    return resolve


def long_url(length: int) -> str:
    return PUBLIC_IP_URL + "/" + "a" * (length - len(PUBLIC_IP_URL) - 1)


# (url, test mode, live mode); no case here may reach DNS.
TABLE = [
    ("http://127.0.0.1", OK, "invalid_url"),
    ("http://[::1]", OK, "invalid_url"),
    ("http://10.0.0.1", OK, "invalid_url"),
    ("http://169.254.169.254", OK, "invalid_url"),
    ("http://0x7f.1", OK, "invalid_url"),
    ("http://2130706433", OK, "invalid_url"),
    # httpx, the sender, refuses dotted quads with leading zeros: unusable in test mode.
    ("http://0177.0.0.1", "invalid_url", "invalid_url"),
    ("https://127.0.0.1", OK, "url_not_reachable"),
    ("https://[::1]", OK, "url_not_reachable"),
    ("https://10.0.0.1", OK, "url_not_reachable"),
    ("https://172.16.5.4", OK, "url_not_reachable"),
    ("https://192.168.1.1", OK, "url_not_reachable"),
    ("https://169.254.169.254", OK, "url_not_reachable"),
    ("https://0x7f.1", OK, "url_not_reachable"),
    ("https://2130706433", OK, "url_not_reachable"),
    ("https://0177.0.0.1", "invalid_url", "url_not_reachable"),
    ("https://0135.0270.0330.042/hook", "invalid_url", "invalid_url"),  # 93.184.216.34
    ("https://127.1", OK, "url_not_reachable"),
    ("https://0xa9.0xfe.0xa9.0xfe/latest/meta-data", OK, "url_not_reachable"),
    ("https://127.0.0.1./", OK, "url_not_reachable"),
    ("https://0", OK, "url_not_reachable"),
    ("https://0.0.0.0:8080", OK, "url_not_reachable"),
    ("https://[::]", OK, "url_not_reachable"),
    ("https://[fe80::1]", OK, "url_not_reachable"),
    ("https://[fc00::1]", OK, "url_not_reachable"),
    ("https://[::ffff:127.0.0.1]/", OK, "url_not_reachable"),
    ("https://[::ffff:7f00:1]/", OK, "url_not_reachable"),
    ("https://[64:ff9b::a00:1]/", OK, "url_not_reachable"),
    ("https://224.0.0.1", OK, "url_not_reachable"),
    ("https://[ff02::1]", OK, "url_not_reachable"),
    ("https://100.64.0.1", OK, "url_not_reachable"),
    ("https://240.0.0.1", OK, "url_not_reachable"),
    ("https://255.255.255.255", OK, "url_not_reachable"),
    ("https://192.0.2.10", OK, "url_not_reachable"),
    ("https://localhost", OK, "url_not_reachable"),
    ("https://LocalHost.:8443/x", OK, "url_not_reachable"),
    ("https://api.localhost/hook", OK, "url_not_reachable"),
    # IDNA maps the ideographic full stop to ".": this host is 127.0.0.1 to the sender.
    ("https://127\u30020\u30020\u30021/", OK, "url_not_reachable"),
    (PUBLIC_IP_URL, OK, OK),
    ("HTTPS://93.184.216.34", OK, OK),
    ("https://93.184.216.34:8443/hook?x=1#frag", OK, OK),
    ("https://user:pass@93.184.216.34/hook", OK, OK),
    ("https://[2606:4700:4700::1111]/hook", OK, OK),
    ("https://[::ffff:93.184.216.34]/", OK, OK),
    ("https://1558767650/", OK, OK),  # 92.233.61.34 in decimal
    ("https://93.184.216.34:/", OK, OK),  # an empty port is the default, as in browsers
    ("ftp://x", "invalid_url", "invalid_url"),
    ("ftp://93.184.216.34", "invalid_url", "invalid_url"),
    ("https://", "invalid_url", "invalid_url"),
    ("https:///path", "invalid_url", "invalid_url"),
    ("https:93.184.216.34", "invalid_url", "invalid_url"),
    ("//93.184.216.34/hook", "invalid_url", "invalid_url"),
    ("/hook", "invalid_url", "invalid_url"),
    ("", "invalid_url", "invalid_url"),
    ("93.184.216.34", "invalid_url", "invalid_url"),
    ("https://user@/hook", "invalid_url", "invalid_url"),
    ("https://:443/hook", "invalid_url", "invalid_url"),
    (long_url(2048), OK, OK),
    (long_url(2049), "invalid_url", "invalid_url"),
    ("https://exa mple.com", "invalid_url", "invalid_url"),
    ("https://example.com/a b", "invalid_url", "invalid_url"),
    (" https://93.184.216.34", "invalid_url", "invalid_url"),
    ("https://93.184.216.34/\n", "invalid_url", "invalid_url"),
    ("https://93.184.216.34/\x00", "invalid_url", "invalid_url"),
    ("https://93.184.216.34/\x7f", "invalid_url", "invalid_url"),
    ("https://93.184.216.34/\ud800", "invalid_url", "invalid_url"),
    ("https://93.184.216.34\\@127.0.0.1/", "invalid_url", "invalid_url"),
    ("https://example.com:http/", "invalid_url", "invalid_url"),
    ("https://example.com:+443/", "invalid_url", "invalid_url"),
    ("https://example.com:0/", "invalid_url", "invalid_url"),
    ("https://example.com:65536/", "invalid_url", "invalid_url"),
    ("https://example.com:4\u0664\u0663/", "invalid_url", "invalid_url"),
    ("https://example.com:443:443/", "invalid_url", "invalid_url"),
    ("https://[::1/", "invalid_url", "invalid_url"),
    ("https://[::1]x/", "invalid_url", "invalid_url"),
    ("https://[example.com]/", "invalid_url", "invalid_url"),
    ("https://[fe80::1%25eth0]/", "invalid_url", "invalid_url"),
    ("https://a..b/", "invalid_url", "invalid_url"),
    ("https://exa%6Dple.com/", "invalid_url", "invalid_url"),
    ("https://exa<mple.com/", "invalid_url", "invalid_url"),
    ("https://xn--zz.com/", "invalid_url", "invalid_url"),
    ("https://example.123/", "invalid_url", "invalid_url"),
    ("https://1.2.3.09/", "invalid_url", "invalid_url"),
    ("https://1.2.3.4.5/", "invalid_url", "invalid_url"),
    ("https://256.0.0.1/", "invalid_url", "invalid_url"),
    ("http://", "invalid_url", "invalid_url"),
]


@pytest.mark.parametrize(("url", "test_mode", "live_mode"), TABLE)
def test_url_table(url: str, test_mode: str, live_mode: str) -> None:
    assert outcome(url, livemode=False, resolver=no_lookup) == test_mode
    assert outcome(url, livemode=True, resolver=no_lookup) == live_mode


def test_url_lengths_are_exact() -> None:
    assert len(long_url(2048)) == 2048
    assert len(long_url(2049)) == 2049


@pytest.mark.parametrize("value", [None, 42, b"https://93.184.216.34", ["https://x"], {}])
def test_non_string_url_is_invalid(value: object) -> None:
    assert outcome(value, livemode=False) == "invalid_url"
    assert outcome(value, livemode=True) == "invalid_url"


def test_error_names_the_given_param() -> None:
    with pytest.raises(HarborError) as caught:
        run(validate_url("ftp://x", livemode=False, param="destinations[2].url"))
    assert (caught.value.code, caught.value.param) == ("invalid_url", "destinations[2].url")
    assert outcome("https://10.0.0.1", livemode=True, param="webhooks[0].url") == (
        "url_not_reachable"
    )


def test_test_mode_never_looks_up_names() -> None:
    for url in ["http://does-not-exist.invalid", "https://intranet", "http://localhost:3000/x"]:
        assert outcome(url, livemode=False, resolver=no_lookup) == OK


def test_live_http_is_invalid_before_any_lookup() -> None:
    assert outcome("http://does-not-exist.invalid", livemode=True, resolver=no_lookup) == (
        "invalid_url"
    )
    assert outcome("http://93.184.216.34/hook", livemode=True, resolver=no_lookup) == "invalid_url"


def test_live_localhost_is_not_reachable_with_the_real_resolver() -> None:
    assert outcome("https://localhost", livemode=True) == "url_not_reachable"


def test_live_name_that_does_not_resolve_is_not_reachable_with_the_real_resolver() -> None:
    assert outcome("https://does-not-exist.invalid", livemode=True) == "url_not_reachable"


def test_live_public_ip_literal_is_accepted_with_the_real_resolver() -> None:
    assert outcome(PUBLIC_IP_URL, livemode=True) == OK


@pytest.mark.parametrize(
    ("addresses", "expected"),
    [
        (["93.184.216.34"], OK),
        (["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"], OK),
        (["127.0.0.1"], "url_not_reachable"),
        (["10.1.2.3"], "url_not_reachable"),
        # One private answer is enough: a client may connect to any of them.
        (["93.184.216.34", "192.168.0.10"], "url_not_reachable"),
        (["93.184.216.34", "fe80::1%eth0"], "url_not_reachable"),
        (["::ffff:169.254.169.254"], "url_not_reachable"),
        ([], "url_not_reachable"),
    ],
)
def test_live_names_need_every_resolved_address_public(addresses: list[str], expected: str) -> None:
    assert outcome("https://hooks.example.com/x", livemode=True, resolver=answers(*addresses)) == (
        expected
    )


def test_live_lookup_uses_the_idna_name_and_the_port() -> None:
    seen: list[tuple[str, int]] = []

    async def resolve(host: str, port: int, **kwargs: object) -> list[tuple[Any, ...]]:
        seen.append((host, port))
        return await answers("93.184.216.34")(host, port)

    assert outcome("https://B\u00fccher.example:8443/x", livemode=True, resolver=resolve) == OK
    assert outcome("https://hooks.example.com/x", livemode=True, resolver=resolve) == OK
    assert seen == [("xn--bcher-kva.example", 8443), ("hooks.example.com", 443)]


def test_live_lookup_failure_is_not_reachable() -> None:
    async def fail(*args: object, **kwargs: object) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    assert outcome("https://hooks.example.com", livemode=True, resolver=fail) == (
        "url_not_reachable"
    )


def test_slow_dns_times_out_as_not_reachable() -> None:
    async def hang(*args: object, **kwargs: object) -> list[tuple[Any, ...]]:
        await asyncio.sleep(60)
        raise AssertionError("not cancelled")

    async def timed() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(HarborError) as caught:
            await validate_url(
                "https://slow.example.com", livemode=True, resolve_timeout_seconds=0.05
            )
        assert caught.value.code == "url_not_reachable"
        return loop.time() - started

    assert run(timed(), hang) < 5


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0X7F.0X1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("10.0x10000", "10.1.0.0"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("127.0.0.1.", "127.0.0.1"),
        ("255.255.255.255", "255.255.255.255"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("example.com", None),
        ("localhost", None),
        ("0x7f.example", None),
        ("1.2.3.example", None),
        ("127.0.0.1x", None),
    ],
)
def test_classify_host(host: str, expected: str | None) -> None:
    address = classify_host(host)
    assert address == (None if expected is None else ipaddress.ip_address(expected))


@pytest.mark.parametrize(
    "host",
    ["1.2.3.4.5", "256.0.0.1", "1.16777216", "4294967296", "1.2.3.09", "0x1g.1", "a.1", "1..1"],
)
def test_classify_host_rejects_hosts_that_end_in_a_number(host: str) -> None:
    with pytest.raises(ValueError):
        classify_host(host)


def _ipv4_part(value: int, base: str) -> str:
    if base == "hex":
        return f"0x{value:x}"
    if base == "octal":
        return f"0{value:o}"
    return str(value)


@given(
    st.integers(min_value=1, max_value=4).flatmap(
        lambda count: st.lists(
            st.tuples(st.integers(0, 2**32 - 1), st.sampled_from(["dec", "hex", "octal"])),
            min_size=count,
            max_size=count,
        )
    )
)
def test_classify_host_agrees_with_inet_aton(parts: list[tuple[int, str]]) -> None:
    host = ".".join(_ipv4_part(value, base) for value, base in parts)
    try:
        libc = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        libc = None
    try:
        ours = classify_host(host)
    except ValueError:
        ours = None
    assert ours == libc


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:93.184.216.34", True),
        ("8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::", False),
        ("::1", False),
        ("fe80::1", False),
        ("fec0::1", False),
        ("fc00::1", False),
        ("fd12:3456::1", False),
        ("ff02::1", False),
        ("ff0e::1", False),
        ("2001:db8::1", False),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::7f00:1", False),
        ("2002:c0a8:101::1", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public
