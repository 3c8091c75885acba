"""The "verify a signature" panel over plain HTTP: a picked attempt, a pasted request, a
tampered body, a stale timestamp, bad input, cross-site refusal, and its Python snippet
run against a real delivery."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harbor_emulator import signing
from tests.conftest import Emulator
from tests.dashboard.helpers import shown_errors

TEMPLATES = Path(__file__).resolve().parents[2] / "harbor_emulator" / "templates"


@pytest.fixture
def web(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=30, headers={"Origin": emulator.url}) as c:
        yield c


def _rotated_and_delivered(emulator: Emulator, api: httpx.Client) -> dict[str, Any]:
    """A webhook whose key was rotated (both valid), and one delivery to the sink."""
    webhook = api.post(
        "/v1/webhooks", json={"url": f"{emulator.url}/_sink/v", "events": ["order.*"]}
    ).json()
    rotated = api.post(
        f"/v1/webhooks/{webhook['id']}/signing-keys", json={"expire_previous_in_seconds": 3600}
    ).json()
    api.post("/v1/events", json={"type": "order.paid", "payload": {"n": 1}})
    emulator.control("POST", "/deliveries/drain", json={"timeout_seconds": 10})
    [delivery] = api.get("/v1/deliveries").json()["data"]
    [attempt] = api.get(f"/v1/deliveries/{delivery['id']}/attempts").json()["data"]
    [received] = emulator.control("GET", "/sinks/v").json()["data"]
    keys = api.get(f"/v1/webhooks/{webhook['id']}/signing-keys").json()["data"]
    return {
        "webhook": webhook,
        "old_secret": webhook["secret"],
        "new_secret": rotated["secret"],
        "new_key": rotated["id"],
        "keys": [key["id"] for key in keys],
        "attempt": attempt,
        "received": received,
    }


def _verdict(page: httpx.Response) -> str:
    found = re.search(r'data-testid="verdict">(.*?)</div>', page.text, re.S)
    assert found, page.text
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", found[1])).split())


def _signed_string(page: httpx.Response) -> str:
    found = re.search(r'<pre tabindex="0" data-testid="signed-string">(.*?)</pre>', page.text, re.S)
    assert found
    return html.unescape(found[1])


def _matched_keys(page: httpx.Response) -> list[str]:
    rows = re.findall(r'<tr data-key="([^"]+)">(.*?)</tr>', page.text, re.S)
    return [key for key, row in rows if "matches" in row]


def test_a_picked_attempt_is_verified_by_the_key_that_signed_it(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    world = _rotated_and_delivered(emulator, api)
    webhook_id = world["webhook"]["id"]
    page = web.get(f"/webhooks/{webhook_id}")
    assert f'<option value="{world["attempt"]["id"]}"' in page.text

    checked = web.post(
        f"/webhooks/{webhook_id}/verify", data={"attempt_id": world["attempt"]["id"]}
    )
    assert checked.status_code == 200, checked.text
    assert _verdict(checked) == f"Verified by key {world['new_key']}."
    # During the rotation the header carries both signatures: both keys match.
    assert sorted(_matched_keys(checked)) == sorted(world["keys"])
    received = world["received"]
    assert (
        _signed_string(checked) == f"{received['headers']['harbor-timestamp']}.{received['body']}"
    )


def test_a_pasted_request_and_a_tampered_one(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    world = _rotated_and_delivered(emulator, api)
    received = world["received"]
    form = {
        "timestamp": received["headers"]["harbor-timestamp"],
        "signature": received["headers"]["harbor-signature"],
        "body": received["body"],
    }
    url = f"/webhooks/{world['webhook']['id']}/verify"
    assert _verdict(web.post(url, data=form)).startswith("Verified by key")

    tampered = web.post(url, data={**form, "body": received["body"].replace("1", "2")})
    assert tampered.status_code == 200
    assert _verdict(tampered).startswith("No key of this endpoint made any of these signatures")
    assert _matched_keys(tampered) == []
    # Only the old key's signature: the old key verifies it.
    old_only = form["signature"].split(",")[1]
    assert _matched_keys(web.post(url, data={**form, "signature": old_only})) == [world["keys"][1]]


def test_a_stale_timestamp_matches_but_is_outside_the_tolerance(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    world = _rotated_and_delivered(emulator, api)
    body = '{"hello": "world"}'
    signature = signing.signature_header([world["new_secret"]], 1_000_000_000, body.encode())
    checked = web.post(
        f"/webhooks/{world['webhook']['id']}/verify",
        data={"timestamp": "1000000000", "signature": signature, "body": body},
    )
    verdict = _verdict(checked)
    assert verdict.startswith(f"Verified by key {world['new_key']}. But a receiver")
    assert "outside the tolerance" in verdict


@pytest.mark.parametrize(
    ("form", "param"),
    [
        ({"timestamp": "", "signature": "v1=ab", "body": "{}"}, "timestamp"),
        ({"timestamp": "12a", "signature": "v1=ab", "body": "{}"}, "timestamp"),
        ({"timestamp": "١٢٣", "signature": "v1=ab", "body": "{}"}, "timestamp"),
        ({"timestamp": "123", "signature": "t=1,v0=ab", "body": "{}"}, "signature"),
        ({"attempt_id": "att_missing"}, "attempt_id"),
    ],
)
def test_bad_input_is_shown_next_to_the_field(
    web: httpx.Client, emulator: Emulator, api: httpx.Client, form: dict[str, str], param: str
) -> None:
    webhook = api.post(
        "/v1/webhooks", json={"url": f"{emulator.url}/_sink/v", "events": ["order.*"]}
    ).json()
    page = web.post(f"/webhooks/{webhook['id']}/verify", data=form)
    assert page.status_code == 400
    [error] = shown_errors(page)
    assert (error["code"], error["param"]) == ("invalid_parameter", param)


def test_an_attempt_of_another_endpoint_is_refused(
    web: httpx.Client, emulator: Emulator, api: httpx.Client
) -> None:
    world = _rotated_and_delivered(emulator, api)
    other = api.post(
        "/v1/webhooks", json={"url": f"{emulator.url}/_sink/o", "events": ["x.*"]}
    ).json()
    page = web.post(f"/webhooks/{other['id']}/verify", data={"attempt_id": world["attempt"]["id"]})
    assert [e["param"] for e in shown_errors(page)] == ["attempt_id"]


def test_verify_from_another_site_is_refused(emulator: Emulator, api: httpx.Client) -> None:
    webhook = api.post(
        "/v1/webhooks", json={"url": f"{emulator.url}/_sink/v", "events": ["order.*"]}
    ).json()
    with httpx.Client(base_url=emulator.url, timeout=30) as client:
        refused = client.post(
            f"/webhooks/{webhook['id']}/verify",
            data={"timestamp": "1", "signature": "v1=a", "body": ""},
            headers={"Origin": "http://evil.example"},
        )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "cross_site_request"


def test_the_python_snippet_verifies_a_real_delivery(
    web: httpx.Client, emulator: Emulator, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _rotated_and_delivered(emulator, api)
    page = web.get(f"/webhooks/{world['webhook']['id']}").text
    snippets = {
        name: html.unescape(code)
        for name, code in re.findall(
            r'<pre tabindex="0" id="snippet-(\w+)" data-testid="snippet-\w+">(.*?)</pre>',
            page,
            re.S,
        )
    }
    # Shown exactly as written (the TypeScript's generics survive HTML escaping).
    for name, suffix in (("python", "py"), ("typescript", "ts")):
        written = (TEMPLATES / f"_snippet_verify_{suffix}.txt").read_text()
        assert snippets[name] == written.rstrip("\n")

    namespace: dict[str, Any] = {}
    exec(compile(snippets["python"], "snippet.py", "exec"), namespace)
    received = world["received"]
    body = received["body"].encode()
    for secret in (world["new_secret"], world["old_secret"]):
        monkeypatch.setenv("HARBOR_WEBHOOK_SECRET", secret)
        namespace["verify"](body, received["headers"])
    with pytest.raises(ValueError, match="no Harbor-Signature"):
        namespace["verify"](body + b" ", received["headers"])
    monkeypatch.setenv("HARBOR_WEBHOOK_SECRET", signing.new_secret())
    with pytest.raises(ValueError, match="no Harbor-Signature"):
        namespace["verify"](body, received["headers"])
