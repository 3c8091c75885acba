"""The first five minutes on the command line: fixtures from several files, a trigger that
reaches the endpoint just made, and lists that show every workspace. Real subprocesses
against a real emulator."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Emulator
from tests.test_cli import harbor, ok


def _webhook(emulator: Emulator, key: str, workspace_id: str, sink: str) -> dict[str, Any]:
    response = httpx.post(
        f"{emulator.url}/v1/webhooks",
        headers={"Authorization": f"Bearer {key}"},
        json={"workspace_id": workspace_id, "url": f"{emulator.url}/_sink/{sink}", "events": ["*"]},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_trigger_reaches_the_newest_endpoint(emulator: Emulator) -> None:
    # The user's own key and workspaces, as in the quickstart; the CLI's key is another one.
    _webhook(emulator, "hb_test_mine", "ws_first", "first")
    newest = _webhook(emulator, "hb_test_mine", "ws_shop", "shop")

    out = ok(harbor("trigger", "order.paid", "--data", '{"n": 1}', url=emulator.url))
    assert re.fullmatch(
        rf"created evt_\w+ order\.paid in ws_shop \(the workspace of {newest['id']}, "
        r"the newest endpoint\): 1 delivery\n",
        out,
    ), out
    ok(harbor("drain", url=emulator.url))
    [received] = emulator.control("GET", "/sinks/shop").json()["data"]
    envelope = json.loads(received["body"])
    assert (envelope["type"], envelope["data"]["payload"]) == ("order.paid", {"n": 1})
    assert emulator.control("GET", "/sinks/first").json()["data"] == []


def test_trigger_prefers_a_destination_made_after_a_webhook(emulator: Emulator) -> None:
    _webhook(emulator, "hb_test_mine", "ws_hooks", "hooks")
    headers = {"Authorization": "Bearer hk_test_rest"}
    destination = httpx.post(
        f"{emulator.url}/v1/destinations",
        headers=headers,
        json={"url": f"{emulator.url}/_sink/dest", "workspace_id": "ws_rest"},
    ).json()
    subscribed = httpx.post(
        f"{emulator.url}/v1/subscriptions",
        headers=headers,
        json={"destination_id": destination["id"], "event_type": "*"},
    )
    assert subscribed.status_code == 201, subscribed.text
    out = ok(harbor("trigger", "user.created", url=emulator.url))
    assert (
        f"in ws_rest (the workspace of {destination['id']}, the newest endpoint): 1 delivery"
        in (out)
    )


def test_trigger_with_a_fixtures_key_stays_in_its_workspace(emulator: Emulator) -> None:
    emulator.control(
        "POST",
        "/fixtures",
        json={"api_keys": [{"key": "hb_test_fixed", "workspace_id": "ws_fixed"}]},
    )
    _webhook(emulator, "hb_test_mine", "ws_elsewhere", "elsewhere")
    out = ok(harbor("trigger", "a", "--key", "hb_test_fixed", url=emulator.url))
    assert " in ws_fixed (the key's own workspace): 0 deliveries" in out


def test_trigger_workspace_option_wins(emulator: Emulator) -> None:
    _webhook(emulator, "hb_test_mine", "ws_newest", "newest")
    out = ok(harbor("trigger", "a", "--workspace", "ws_chosen", url=emulator.url))
    assert " in ws_chosen (given with --workspace): 0 deliveries" in out


def test_lists_show_every_workspace_unless_narrowed(emulator: Emulator) -> None:
    _webhook(emulator, "hb_test_one", "ws_one", "one")
    _webhook(emulator, "hb_test_two", "ws_two", "two")
    for key, workspace in (("hb_test_one", "ws_one"), ("hb_test_two", "ws_two")):
        with emulator.api(key) as api:
            created = api.post(
                "/v1/events",
                json={"type": f"in.{workspace}", "payload": {}, "workspace_id": workspace},
            )
            assert created.status_code == 201, created.text

    events = ok(harbor("events", url=emulator.url)).splitlines()
    assert events[0].split() == ["ID", "TYPE", "WORKSPACE", "CREATED"]
    assert [line.split()[1:3] for line in events[1:]] == [
        ["in.ws_two", "ws_two"],
        ["in.ws_one", "ws_one"],
    ]
    rows = ok(harbor("deliveries", url=emulator.url)).splitlines()
    assert rows[0].split()[-2:] == ["WORKSPACE", "CAUSE"]
    # Delivered to the emulator's own sinks: no cause to show.
    assert sorted(line.split()[-2:][0] for line in rows[1:]) == ["ws_one", "ws_two"]

    narrowed = ok(harbor("deliveries", "--workspace", "ws_one", url=emulator.url)).splitlines()
    assert len(narrowed) == 2 and "in.ws_one" in narrowed[1] and "WORKSPACE" not in narrowed[0]
    page = json.loads(ok(harbor("events", "--workspace", "ws_two", "--json", url=emulator.url)))
    assert [e["type"] for e in page["data"]] == ["in.ws_two"]
    # --key reads through /v1: what that key sees. A key with no events sees none.
    keyed = harbor("events", "--key", "hb_test_two", "--workspace", "ws_two", url=emulator.url)
    assert [line.split()[1] for line in ok(keyed).splitlines()[1:]] == ["in.ws_two"]
    assert ok(harbor("events", "--key", "hb_test_nobody", url=emulator.url)).strip() == (
        "no events for hb_test_nobody"
    )
    with_key = ok(
        harbor(
            "deliveries",
            "--key",
            "hb_test_one",
            "--workspace",
            "ws_one",
            "--json",
            url=emulator.url,
        )
    )
    assert [d["event_type"] for d in json.loads(with_key)["data"]] == ["in.ws_one"]


def test_lists_page_with_a_cursor(emulator: Emulator) -> None:
    with emulator.api("hb_test_pages") as api:
        for n in range(3):
            api.post(
                "/v1/events", json={"type": f"e.{n}", "payload": {}, "workspace_id": f"ws_p{n}"}
            )
    first = ok(harbor("events", "--limit", "2", url=emulator.url)).splitlines()
    assert [line.split()[1] for line in first[1:3]] == ["e.2", "e.1"]
    more = re.fullmatch(r"more: --cursor (\S+)", first[-1])
    assert more, first
    rest = ok(harbor("events", "--limit", "2", "--cursor", more[1], url=emulator.url))
    assert [line.split()[1] for line in rest.splitlines()[1:]] == ["e.0"]


def test_fixtures_load_several_files_in_order(emulator: Emulator, tmp_path: Path) -> None:
    workspaces = tmp_path / "workspaces.yaml"
    workspaces.write_text(
        "workspaces:\n  - id: ws_a\n  - id: ws_b\napi_keys:\n"
        "  - {key: hb_test_cli_a, workspace_id: ws_a}\n"
        "  - {key: hb_test_cli_b, workspace_id: ws_b}\n"
    )
    endpoints = tmp_path / "endpoints.json"
    endpoints.write_text(
        json.dumps(
            {
                "webhooks": [
                    {"workspace_id": "ws_a", "url": "http://127.0.0.1:9/a", "events": ["*"]}
                ],
                "destinations": [
                    {
                        "workspace_id": "ws_b",
                        "url": "http://127.0.0.1:9/b",
                        "subscriptions": [{"event_type": "a.*"}, {"event_type": "b.*"}],
                    }
                ],
            }
        )
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("webhooks:\n  - url: http://127.0.0.1:9/c\n    workspace_id: ws_a\n")
    never = tmp_path / "never.yaml"
    never.write_text("workspaces:\n  - id: ws_never\n")

    result = harbor("fixtures", "load", str(workspaces), str(endpoints), url=emulator.url)
    assert ok(result).splitlines() == [
        f"loaded {workspaces}: 2 workspaces, 2 API keys",
        f"loaded {endpoints}: 2 workspaces, 1 webhook, 1 destination, 2 subscriptions",
    ]

    failed = harbor("fixtures", "load", str(never.parent / "x.yaml"), url=emulator.url)
    assert failed.returncode == 2  # a missing file is a usage error, before anything loads

    result = harbor("fixtures", "load", str(broken), str(never), url=emulator.url)
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {broken}: invalid_fixtures: webhooks[0]: ")
    workspace_ids = [w["id"] for w in emulator.control("GET", "/workspaces").json()["data"]]
    assert "ws_never" not in workspace_ids  # loading stopped at the invalid file
    assert {"ws_a", "ws_b"} <= set(workspace_ids)
