"""`harbor-emulator chaos`, run as a real subprocess against a real emulator."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from harbor_emulator.client import Emulator as Client
from harbor_emulator.client import chaos_faults
from tests.conftest import Emulator
from tests.test_cli import harbor, ok


def _webhook(emulator: Emulator, api: httpx.Client, sink: str) -> str:
    response = api.post(
        "/v1/webhooks", json={"url": f"{emulator.url}/_sink/{sink}", "events": ["*"]}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _faults(emulator: Emulator) -> list[dict[str, Any]]:
    return list(emulator.control("GET", "/faults").json()["data"])


def test_chaos_adds_faults_that_bend_deliveries(emulator: Emulator, api: httpx.Client) -> None:
    webhook_id = _webhook(emulator, api, "cli-chaos")
    printed = ok(harbor("chaos", webhook_id, "--duplicate", "1", "--seed", "3", url=emulator.url))
    [line] = [row for row in printed.splitlines() if row.startswith("flt_")]
    assert line.split()[1:] == [webhook_id, "duplicate", "1", "3"]
    assert api.post("/v1/events", json={"type": "order.paid", "payload": {}}).status_code == 201
    emulator.drain()
    received = emulator.control("GET", "/sinks/cli-chaos").json()["data"]
    assert [r["headers"]["harbor-attempt"] for r in received] == ["1", "1"]
    assert len({r["headers"]["harbor-delivery-id"] for r in received}) == 1


def test_chaos_delay_draws_up_to_max_delay_and_clear_removes_only_chaos(
    emulator: Emulator,
) -> None:
    other = emulator.control(
        "POST",
        "/faults",
        json={"target": "delivery", "endpoint_id": "wh_keep", "outcome": "timeout"},
    ).json()
    created = json.loads(
        ok(
            harbor(
                "chaos",
                "wh_keep",
                "--ack-lost",
                "0.2",
                "--delay",
                "0.4",
                "--max-delay",
                "8 minutes",
                "--json",
                url=emulator.url,
            )
        )
    )["data"]
    assert [(f["outcome"], f["delay_seconds"]) for f in created] == [
        ("ack_lost", None),
        ("delay", 120),
        ("delay", 240),
        ("delay", 360),
        ("delay", 480),
    ]
    # Chained: each step fires with 0.1 overall (0.4 split in four), in consultation order.
    chained = [f["probability"] for f in created[1:]]
    reached = 1.0
    for probability in chained:
        assert reached * probability == pytest.approx(0.1)
        reached -= 0.1
    assert len(_faults(emulator)) == 6

    cleared = ok(harbor("chaos", "clear", "wh_keep", url=emulator.url))
    assert cleared.strip() == "removed 5 chaos faults of wh_keep"
    assert [f["id"] for f in _faults(emulator)] == [other["id"]]


def test_chaos_reports_bad_input_in_one_line(emulator: Emulator) -> None:
    cases = [
        (("chaos", "wh_x"), "Give at least one of"),
        (("chaos", "wh_x", "--delay", "0.5", "--max-delay", "soon"), "is not a duration"),
        (("chaos", "wh_x", "--delay", "0.5", "--max-delay", "4d"), "max_delay must be"),
        (("chaos", "not_an_endpoint", "--duplicate", "0.5"), "endpoint_id"),
        (("chaos", "clear"), "needs the ENDPOINT_ID"),
    ]
    for args, message in cases:
        result = harbor(*args, url=emulator.url)
        assert result.returncode != 0, args
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, (
            args,
            result.stderr,
        )
    assert harbor("chaos", "wh_x", "--ack-lost", "2", url=emulator.url).returncode == 2
    assert _faults(emulator) == []


def test_client_chaos_matches_the_command(emulator: Emulator) -> None:
    with Client(emulator.url) as client:
        created = client.faults.chaos("wh_py", ack_lost=0.5, duplicate=0.25, seed=11)
        assert [(f["outcome"], f["probability"], f["seed"]) for f in created] == [
            ("ack_lost", 0.5, 11),
            ("duplicate", 0.25, 12),
        ]
        assert client.faults.clear_chaos("wh_py") == 2
        assert client.faults.list() == []
    specs = chaos_faults("wh_py", delay=1, max_delay_seconds=2)
    # Steps that round to the same second merge: 1 s and 2 s, half each.
    assert [(s["delay_seconds"], s["probability"]) for s in specs] == [(1, 0.5), (2, 1.0)]
