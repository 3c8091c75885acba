"""Open-sandbox keys adopt the first workspace they name (contract, Authentication), kept
in the state: across restarts with --db, forgotten by reset, shown on Settings → API keys."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harbor_emulator.domain.auth import open_workspace_id
from harbor_emulator.testing import EmulatorServer
from tests.conftest import Emulator, error_of

SEED_WORKSPACE = "ws_018f3a2e4b9c"


def _api(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {key}"})


def _event(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/events", json={"type": "invoice.paid", "payload": {}, **body})
    assert response.status_code == 201, response.text
    return response.json()


def _listed_workspaces(api: httpx.Client) -> set[str]:
    return {e["workspace_id"] for e in api.get("/v1/events", params={"limit": 100}).json()["data"]}


def _open_key_rows(url: str) -> dict[str, str]:
    """Settings → API keys as a browser gets it: open-sandbox key -> workspace shown."""
    page = httpx.get(f"{url}/settings/api-keys", timeout=30)
    assert page.status_code == 200, page.text
    rows: dict[str, str] = {}
    for chunk in page.text.split('data-testid="open-sandbox-key"')[1:]:
        row = chunk.split("</tr>")[0]
        assert "open sandbox" in row
        codes = [part.split("</code>")[0] for part in row.split("<code")[1:]]
        key, workspace = (code.split(">", 1)[1] for code in codes[:2])
        rows[key] = workspace
    return rows


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[EmulatorServer]:
    server = EmulatorServer(db_path=str(tmp_path / "state.db"), rate_limit=0)
    server.start()
    yield server
    server.stop()


def _restart(server: EmulatorServer) -> str:
    server.stop()
    return server.start()


def test_the_readme_flow_lists_what_it_created(emulator: Emulator) -> None:
    """README "Try it" (seeds/001): create with workspace_id, then list without it."""
    with emulator.api("hb_test_xxxx") as api:
        created = api.post(
            "/v1/events",
            headers={"Idempotency-Key": "inv_0192ac4e8b1d-paid"},
            json={
                "workspace_id": SEED_WORKSPACE,
                "type": "invoice.paid",
                "payload": {"invoice_id": "inv_0192ac4e8b1d", "amount_cents": 4200},
            },
        )
        assert created.status_code == 201, created.text
        assert api.get(f"/v1/events/{created.json()['id']}").status_code == 200
        listed = api.get("/v1/events", params={"type": "invoice.paid", "limit": 10}).json()
        assert [e["id"] for e in listed["data"]] == [created.json()["id"]]
        # Everything else without workspace_id lands in and lists the adopted workspace too.
        hook = api.post("/v1/webhooks", json={"url": f"{emulator.url}/_sink/o", "events": ["*"]})
        assert hook.json()["workspace_id"] == SEED_WORKSPACE
        assert _event(api)["workspace_id"] == SEED_WORKSPACE
        # Naming another workspace still works, and does not move the default.
        assert _event(api, workspace_id="ws_other")["workspace_id"] == "ws_other"
        assert _listed_workspaces(api) == {SEED_WORKSPACE}
    assert _open_key_rows(emulator.url) == {"hb_test_xxxx": SEED_WORKSPACE}


def test_a_list_naming_a_workspace_adopts_it(emulator: Emulator) -> None:
    with emulator.api("hb_test_reader") as api:
        assert api.get("/v1/events", params={"workspace_id": "ws_q"}).json()["data"] == []
        assert _event(api)["workspace_id"] == "ws_q"
    assert "ws_q" in {w["id"] for w in emulator.control("GET", "/workspaces").json()["data"]}


def test_a_key_that_names_no_workspace_keeps_its_own(emulator: Emulator) -> None:
    key = "hb_test_loner"
    with emulator.api(key) as api:
        assert _event(api)["workspace_id"] == open_workspace_id(key)
        assert _event(api)["workspace_id"] == open_workspace_id(key)
    page = httpx.get(f"{emulator.url}/settings/api-keys", timeout=30).text
    assert "(until it names one)" in page
    assert _open_key_rows(emulator.url) == {key: open_workspace_id(key)}
    assert "No keys defined" not in page


def test_defined_keys_do_not_adopt(emulator: Emulator) -> None:
    created = emulator.control("POST", "/api_keys", json={"workspace_id": "ws_mine"}).json()
    with emulator.api(created["key"]) as api:
        assert error_of(api.get("/v1/events", params={"workspace_id": "ws_x"}))["code"] == (
            "workspace_not_found"
        )
        assert _event(api)["workspace_id"] == "ws_mine"
    assert _open_key_rows(emulator.url) == {}


def test_adoption_survives_a_restart_and_reset_forgets_it(file_server: EmulatorServer) -> None:
    key = "hb_test_durable"
    with _api(file_server.url, key) as api:
        first = _event(api, workspace_id="ws_kept")
    url = _restart(file_server)
    with _api(url, key) as api:
        assert [e["id"] for e in api.get("/v1/events").json()["data"]] == [first["id"]]
        assert _event(api)["workspace_id"] == "ws_kept"
    assert _open_key_rows(url) == {key: "ws_kept"}

    assert httpx.post(f"{url}/_control/reset", timeout=30).status_code == 200
    assert _open_key_rows(url) == {}
    with _api(url, key) as api:
        # Back to its hashed workspace, until it names one again: a new first.
        assert api.get("/v1/events").json()["data"] == []
        assert _event(api, workspace_id="ws_after")["workspace_id"] == "ws_after"
        assert _event(api)["workspace_id"] == "ws_after"
    url = _restart(file_server)
    assert _open_key_rows(url) == {key: "ws_after"}


def test_concurrent_first_requests_first_committed_wins(file_server: EmulatorServer) -> None:
    key, count = "hb_test_racer", 8
    named = [f"ws_race{n}" for n in range(count)]
    start = threading.Barrier(count, timeout=30)  # a racer that never arrives fails the rest
    results: list[httpx.Response | BaseException] = [RuntimeError("not run")] * count

    def first_request(index: int) -> None:
        with _api(file_server.url, key) as api:
            start.wait()
            try:
                results[index] = api.post(
                    "/v1/events",
                    json={"type": "a", "payload": {}, "workspace_id": named[index]},
                )
            except BaseException as exc:  # reported below, with the others
                results[index] = exc

    threads = [threading.Thread(target=first_request, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(r, httpx.Response) and r.status_code == 201 for r in results), results

    with _api(file_server.url, key) as api:
        # Every request used the workspace it named; one of them is now the key's default.
        [winner] = _listed_workspaces(api)
        assert winner in named
        assert _event(api)["workspace_id"] == winner
    assert _open_key_rows(file_server.url) == {key: winner}
    export = httpx.get(f"{file_server.url}/_control/export", timeout=30).json()
    assert export["open_sandbox_keys"] == [
        {
            "key": key,
            "workspace_id": winner,
            "first_seen_at": export["open_sandbox_keys"][0]["first_seen_at"],
        }
    ]
    # The same answer from the file after a restart: memory and store agree.
    url = _restart(file_server)
    with _api(url, key) as api:
        assert _event(api)["workspace_id"] == winner


def test_adoption_round_trips_through_export_and_load(emulator: Emulator) -> None:
    with emulator.api("hb_test_exported") as api:
        _event(api, workspace_id="ws_exported")
    with emulator.api("hb_test_unnamed") as api:
        api.get("/v1/events")
    emulator.control("DELETE", "/api_keys/hb_test_revoked")  # becomes a defined, revoked key
    exported = emulator.control("GET", "/export").json()
    seen = {entry["key"]: entry.get("workspace_id") for entry in exported["open_sandbox_keys"]}
    assert seen == {"hb_test_exported": "ws_exported", "hb_test_unnamed": None}
    assert [k["key"] for k in exported["api_keys"]] == ["hb_test_revoked"]

    emulator.reset()
    loaded = emulator.control("POST", "/fixtures", json=exported)
    assert loaded.status_code == 201, loaded.text
    assert loaded.json()["open_sandbox_keys"] == 2
    again = emulator.control("GET", "/export").json()
    assert {k: v for k, v in again.items() if k != "clock"} == {
        k: v for k, v in exported.items() if k != "clock"
    }
    with emulator.api("hb_test_exported") as api:
        assert _event(api)["workspace_id"] == "ws_exported"


def test_fixtures_may_set_an_open_key_s_workspace(emulator: Emulator) -> None:
    document = {"open_sandbox_keys": [{"key": "hb_test_preset", "workspace_id": "ws_preset"}]}
    assert emulator.control("POST", "/fixtures", json=document).status_code == 201
    with emulator.api("hb_test_preset") as api:
        assert _event(api)["workspace_id"] == "ws_preset"
    both = {
        "api_keys": [{"key": "hb_test_both", "workspace_id": "ws_a"}],
        "open_sandbox_keys": [{"key": "hb_test_both"}],
    }
    refused = emulator.control("POST", "/fixtures", json=both)
    assert error_of(refused)["code"] == "invalid_fixtures"
    assert error_of(refused)["param"] == "open_sandbox_keys[0]"


def test_an_undefined_live_key_is_told_how_to_get_one(emulator: Emulator) -> None:
    """seeds/003's hk_live_your_api_key: refused with the ways to make it, then made."""
    with emulator.api("hk_live_your_api_key") as live:
        refused = live.get("/v1/destinations")
        assert refused.status_code == 401
        error = error_of(refused)
        assert error["code"] == "invalid_api_key"
        for hint in ("--fixtures", "api_keys", "POST /_control/api_keys", '"mode": "live"'):
            assert hint in error["message"]
        assert "hk_test_" in error["message"]

        created = emulator.control(
            "POST", "/api_keys", json={"mode": "live", "key": "hk_live_your_api_key"}
        )
        assert created.status_code == 201, created.text
        assert created.json()["livemode"] is True
        listed = live.get("/v1/destinations")
        assert listed.status_code == 200 and listed.json()["data"] == []
        # Live mode's URL rules apply: https only.
        http_url = live.post("/v1/destinations", json={"url": "http://127.0.0.1:9/"})
        assert error_of(http_url)["code"] == "invalid_url"
