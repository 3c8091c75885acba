"""--url/--control-token at any level, --json on every command, env vars in the help:
the CLI as a real subprocess against a real emulator."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Emulator
from tests.test_cli import closed_port_url, harbor, ok


def _now(emulator: Emulator) -> datetime:
    text = emulator.control("GET", "/clock").json()["now"]
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    "place",
    [
        ("--url", "{url}", "clock", "advance", "1h"),
        ("clock", "--url", "{url}", "advance", "1h"),
        ("clock", "advance", "--url", "{url}", "1h"),
        ("clock", "advance", "1h", "--url", "{url}"),
    ],
    ids=["before-the-group", "on-the-group", "before-the-argument", "at-the-end"],
)
def test_url_is_accepted_at_any_level(emulator: Emulator, place: tuple[str, ...]) -> None:
    emulator.control("POST", "/clock/freeze")
    before = _now(emulator)
    # HARBOR_EMULATOR_URL points nowhere: only the option can have found the emulator.
    args = [part.format(url=emulator.url) for part in place]
    out = ok(harbor(*args, url=closed_port_url()))
    assert out.endswith("(advanced 1h)\n")
    assert (_now(emulator) - before).total_seconds() == 3600


def test_the_url_given_last_wins(emulator: Emulator) -> None:
    out = harbor("--url", closed_port_url(), "health", "--url", emulator.url)
    assert ok(out).startswith("ok  version ")
    refused = harbor("--url", emulator.url, "health", "--url", closed_port_url())
    assert refused.returncode == 2


def test_top_level_commands_take_the_url_before_their_name(emulator: Emulator) -> None:
    assert ok(harbor("--url", emulator.url, "reset", url=closed_port_url())).startswith("reset")
    assert "no events" in ok(harbor("--url", emulator.url, "events", url=closed_port_url()))


@pytest.fixture(scope="module")
def guarded(emulator_factory: Any) -> Emulator:
    return emulator_factory(control_token="T")


@pytest.mark.parametrize(
    "place",
    [
        ("--control-token", "T", "clock", "show"),
        ("clock", "--control-token", "T", "show"),
        ("clock", "show", "--control-token", "T"),
    ],
)
def test_control_token_is_accepted_at_any_level(guarded: Emulator, place: tuple[str, ...]) -> None:
    assert "offset" in ok(harbor(*place, url=guarded.url))
    assert harbor("clock", "show", url=guarded.url).returncode == 1


def test_start_takes_the_control_token_before_its_name() -> None:
    from tests.test_cli_start import running

    with running("--port", "0", "--log-level", "warning", top=("--control-token", "T")) as (
        url,
        _,
    ):
        assert harbor("clock", "show", url=url).returncode == 1
        assert "offset" in ok(harbor("clock", "show", "--control-token", "T", url=url))


def test_every_command_prints_what_it_did(emulator: Emulator, tmp_path: Path) -> None:
    url = emulator.url
    assert "  frozen  offset " in ok(harbor("clock", "freeze", url=url))
    assert ok(harbor("drain", url=url)).strip() == "drained: no attempt due or in flight"
    assert ok(harbor("sinks", url=url)).strip() == "no sinks"
    assert ok(harbor("sinks", "clear", "orders", url=url)).strip() == "cleared sink orders"
    assert ok(harbor("faults", "clear", url=url)).strip() == "removed every fault"
    out = tmp_path / "state.yaml"
    assert ok(harbor("fixtures", "export", str(out), url=url)).startswith(f"exported to {out}: ")


def _json_of(*args: str, url: str) -> Any:
    result = harbor(*args, "--json", url=url)
    return json.loads(ok(result))


def test_json_is_the_apis_answer_for_every_command(emulator: Emulator, tmp_path: Path) -> None:
    url = emulator.url
    assert set(_json_of("clock", "show", url=url)) == {"now", "frozen", "offset_seconds"}
    assert _json_of("clock", "freeze", url=url)["frozen"] is True
    assert _json_of("clock", "advance", "90s", url=url)["frozen"] is True
    assert _json_of("clock", "set", "2099-01-01T00:00:00Z", url=url)["now"].startswith("2099")
    assert _json_of("clock", "unfreeze", url=url)["frozen"] is False
    assert _json_of("reset", url=url)["object"] == "reset"
    assert _json_of("drain", url=url) == {"drained": True, "pending": 0}
    assert _json_of("health", url=url)["status"] == "ok"

    doc = tmp_path / "ws.yaml"
    doc.write_text("workspaces:\n  - id: ws_json\n")
    [loaded] = _json_of("fixtures", "load", str(doc), url=url)
    assert (loaded["file"], loaded["loaded"]["workspaces"]) == (str(doc), 1)
    assert "ws_json" in [w["id"] for w in _json_of("fixtures", "export", url=url)["workspaces"]]

    event = _json_of("trigger", "a.b", url=url)
    assert (event["object"], event["type"]) == ("event", "a.b")
    for listing in (
        ("events",),
        ("deliveries",),
        ("sinks",),
        ("sinks", "list"),
        ("faults", "list"),
    ):
        page = _json_of(*listing, url=url)
        assert page["object"] == "list", listing
    assert _json_of("events", url=url)["data"][0]["id"] == event["id"]

    emulator.http.post("/_sink/s1", content=b"x")
    assert _json_of("sinks", "show", "s1", url=url)["data"][0]["body"] == "x"
    assert _json_of("sinks", "clear", "s1", url=url)["deleted"] is True
    fault = _json_of("faults", "add", "api", "--error-code", "internal_error", url=url)
    assert fault["id"].startswith("flt_")
    assert _json_of("faults", "clear", fault["id"], url=url) == {
        "object": "fault",
        "id": fault["id"],
        "deleted": True,
    }


def test_failures_are_one_line_on_stderr(emulator: Emulator) -> None:
    result = harbor("clock", "advance", "soon", url=emulator.url)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
    unreachable = harbor("events", url=closed_port_url())
    assert unreachable.returncode == 2
    assert len(unreachable.stderr.splitlines()) == 1


def test_help_names_the_environment_variables() -> None:
    top = ok(harbor("--help"))
    for name in ("HARBOR_EMULATOR_URL", "HARBOR_EMULATOR_CONTROL_TOKEN", "HARBOR_API_KEY"):
        assert name in top
    start = ok(harbor("start", "--help"))
    for name in ("HARBOR_EMULATOR_PORT", "HARBOR_EMULATOR_DB", "HARBOR_EMULATOR_FIXTURES"):
        assert name in start
    advance = ok(harbor("clock", "advance", "--help"))
    assert "HARBOR_EMULATOR_URL" in advance and "HARBOR_EMULATOR_CONTROL_TOKEN" in advance
    assert "HARBOR_API_KEY" in ok(harbor("trigger", "--help"))
