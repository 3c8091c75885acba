"""A seeded emulator restarted on its --db file makes ids above the stored ones: its id
streams start over from the seed, and the start reads the newest id of each kind."""

from __future__ import annotations

from pathlib import Path

from harbor_emulator.testing import EmulatorServer

KEY = "hb_test_newest"


def _make_event_and_webhook(server: EmulatorServer) -> tuple[str, str]:
    with server.client(api_key=KEY) as harbor:
        event = harbor.request("POST", "/v1/events", json={"type": "a.b", "payload": {}})
        webhook = harbor.request(
            "POST", "/v1/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["*"]}
        )
    return event["id"], webhook["id"]


def test_ids_made_after_a_seeded_restart_sort_above_the_stored_ones(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    with EmulatorServer(seed=7, db_path=db) as server:
        first = _make_event_and_webhook(server)
    with EmulatorServer(seed=7, db_path=db) as server:
        second = _make_event_and_webhook(server)
    for before, after in zip(first, second, strict=True):
        assert after > before, (before, after)
