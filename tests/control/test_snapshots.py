"""Snapshots over HTTP: save, mutate, restore gives back the saved export, clock, sinks and
faults; restore is one step for concurrent writers and abandons attempts in flight; with
--db snapshots survive a restart (the CLI drives that one, as a real subprocess)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Emulator, error_of
from tests.receiver import Answer, Receiver
from tests.waiting import wait_until

KEY = "hb_test_snapshots"


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def test_save_mutate_restore_gives_the_saved_state_back(emulator: Emulator) -> None:
    with emulator.api(KEY) as api:
        hook = _ok(
            api.post("/v1/webhooks", json={"url": f"{emulator.url}/_sink/s", "events": ["*"]}),
            201,
        )
        _ok(api.post("/v1/events", json={"type": "a", "payload": {"n": 1}}), 201)
        _ok(emulator.control("POST", "/deliveries/drain", json={}))
        _ok(emulator.control("PUT", "/sinks/x", json={"responses": [{"status": 500}]}))
        script_before = _ok(emulator.control("GET", "/sinks/x"))
        fault = _ok(
            emulator.control(
                "POST",
                "/faults",
                json={"target": "delivery", "endpoint_id": hook["id"], "outcome": 503, "count": 2},
            ),
            201,
        )
        _ok(emulator.control("POST", "/clock/freeze"))
        saved = _ok(emulator.control("POST", "/snapshots", json={"name": "base"}), 201)
        assert saved["object"] == "snapshot" and saved["name"] == "base"
        assert saved["size_bytes"] > 0
        before = _ok(emulator.control("GET", "/export"))
        sinks_before = _ok(emulator.control("GET", "/sinks/s"))

        # Mutate everything a snapshot covers.
        _ok(api.post("/v1/events", json={"type": "b", "payload": {}}), 201)
        _ok(api.delete(f"/v1/webhooks/{hook['id']}"), 204)
        _ok(emulator.control("DELETE", "/faults"), 204)
        _ok(emulator.control("DELETE", "/sinks/s"), 204)
        _ok(emulator.control("DELETE", "/sinks/x"), 204)
        emulator.advance(3600)
        _ok(emulator.control("POST", "/clock/unfreeze"))

        restored = _ok(emulator.control("POST", "/snapshots/base/restore"))
        assert restored == saved
        assert _ok(emulator.control("GET", "/export")) == before
        assert _ok(emulator.control("GET", "/sinks/s")) == sinks_before
        assert _ok(emulator.control("GET", "/sinks/x")) == script_before
        faults = _ok(emulator.control("GET", "/faults"))["data"]
        assert [f["id"] for f in faults] == [fault["id"]]
        clock = _ok(emulator.control("GET", "/clock"))
        assert clock["frozen"] is True and clock["now"] == saved["created_at"]
        # The restored state works: the webhook (deleted meanwhile) is back and delivers.
        _ok(api.post("/v1/events", json={"type": "c", "payload": {}}), 201)

        listed = _ok(emulator.control("GET", "/snapshots"))
        assert [s["name"] for s in listed["data"]] == ["base"]
        assert _ok(emulator.control("DELETE", "/snapshots/base"), 204) is None
        missing = emulator.control("POST", "/snapshots/base/restore")
        assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
        assert emulator.control("DELETE", "/snapshots/base").status_code == 404
        bad = emulator.control("POST", "/snapshots", json={"name": "../etc"})
        assert bad.status_code == 400 and error_of(bad)["param"] == "name"
        absent = emulator.control("POST", "/snapshots", json={})
        assert absent.status_code == 400 and error_of(absent)["code"] == "missing_parameter"


def test_seeded_restore_repeats_what_followed_the_save(emulator_factory: Any) -> None:
    emulator = emulator_factory(seed=3)
    with emulator.api(KEY) as api:
        _ok(emulator.control("POST", "/snapshots", json={"name": "empty"}), 201)
        first = _ok(
            api.post("/v1/webhooks", json={"url": "https://example.com/h", "events": ["*"]}), 201
        )
        _ok(emulator.control("POST", "/snapshots/empty/restore"))
        again = _ok(
            api.post("/v1/webhooks", json={"url": "https://example.com/h", "events": ["*"]}), 201
        )
    assert again == first  # id, secret and timestamps
    assert first["created_at"] == "2026-01-01T00:00:00Z"


def test_restore_is_atomic_for_concurrent_writers_and_abandons_attempts_in_flight(
    emulator_factory: Any,
) -> None:
    emulator = emulator_factory(delivery_timeout_seconds=120)
    receiver = Receiver()
    receiver.always(Answer(kind="hang"))
    try:
        with emulator.api(KEY) as api:
            _ok(api.post("/v1/webhooks", json={"url": receiver.url, "events": ["order.*"]}), 201)
            _ok(emulator.control("POST", "/clock/freeze"))
            saved_event = _ok(api.post("/v1/events", json={"type": "order.a", "payload": {}}), 201)
            receiver.wait_for(1)  # its attempt is in flight (the receiver hangs)
            _ok(emulator.control("POST", "/snapshots", json={"name": "busy"}), 201)
            before = _ok(emulator.control("GET", "/export"))

            # After the save: another delivery in flight, and writers that never stop.
            other = _ok(api.post("/v1/events", json={"type": "order.b", "payload": {}}), 201)
            receiver.wait_for(2)
            writes: list[tuple[float, float, str]] = []
            stop = threading.Event()

            def writer() -> None:
                with emulator.api(KEY) as client:
                    while not stop.is_set():
                        started = time.monotonic()
                        response = client.post("/v1/events", json={"type": "noise", "payload": {}})
                        assert response.status_code == 201, response.text
                        writes.append((started, time.monotonic(), response.json()["id"]))

            threads = [threading.Thread(target=writer) for _ in range(3)]
            for thread in threads:
                thread.start()

            def progress() -> str:
                alive = sum(thread.is_alive() for thread in threads)
                return f"{len(writes)} writes, {alive} of 3 writers alive"

            wait_until(lambda: len(writes) >= 30, progress)
            restore_started = time.monotonic()
            _ok(emulator.control("POST", "/snapshots/busy/restore"))
            restore_done = time.monotonic()
            count_after = len(writes) + 30
            wait_until(lambda: len(writes) >= count_after, progress)
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
                assert not thread.is_alive(), progress()

            after = _ok(emulator.control("GET", "/export"))
            kept = {e["id"] for e in after["events"]} - {e["id"] for e in before["events"]}
            for started, finished, event_id in writes:
                if finished < restore_started:
                    assert event_id not in kept  # acknowledged before: wiped by the restore
                if started > restore_done:
                    assert event_id in kept  # sent after: kept
            assert kept <= {event_id for _, _, event_id in writes}
            assert other["id"] not in {e["id"] for e in after["events"]}
            after["events"] = [e for e in after["events"] if e["id"] not in kept]
            assert after == before

            # The abandoned attempt of the saved delivery is made again, and nothing of
            # the attempt abandoned for the vanished event was recorded.
            receiver.wait_for(3)
            delivery_ids = [r.headers["harbor-delivery-id"] for r in receiver.requests]
            assert delivery_ids[2] == delivery_ids[0]
            deliveries = _ok(api.get(f"/v1/deliveries?event_id={saved_event['id']}"))["data"]
            assert [d["id"] for d in deliveries] == [delivery_ids[0]]
    finally:
        receiver.close()


def _cli(url: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "harbor_emulator.cli", *args, "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _start(db: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harbor_emulator.cli",
            "start",
            "--port",
            "0",
            "--db",
            str(db),
            "--start-time",
            "2026-03-01T12:00:00Z",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    match = re.search(r"http://\S+", process.stdout.readline())
    assert match
    return process, match.group(0)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    assert process.wait(timeout=30) == 0
    assert process.stdout is not None
    process.stdout.close()


def test_snapshots_beside_the_db_survive_a_restart_through_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    process, url = _start(db)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}) as api:
            api.post("/v1/webhooks", json={"url": f"{url}/_sink/k", "events": ["*"]})
            api.post("/v1/events", json={"type": "a", "payload": {"n": 1}})
            api.post("/_control/deliveries/drain", json={})
            assert "saved base" in _cli(url, "snapshot", "save", "base")
            before = api.get("/_control/export").json()
    finally:
        _stop(process)
    assert (tmp_path / "state.db.snapshots" / "base.db").is_file()

    process, url = _start(db)
    try:
        with httpx.Client(base_url=url) as control:
            assert control.post("/_control/reset").status_code == 200
            listed = json.loads(_cli(url, "snapshot", "list", "--json"))
            assert [s["name"] for s in listed["data"]] == ["base"]
            assert "restored base" in _cli(url, "snapshot", "restore", "base")
            assert control.get("/_control/export").json() == before
            assert "deleted base" in _cli(url, "snapshot", "delete", "base")
            assert "no snapshots" in _cli(url, "snapshot", "list")
    finally:
        _stop(process)


# What SIGKILL during a save leaves: the copy half-written, with the journal SQLite keeps
# beside a file it is writing (a process killed mid-transaction, as the save's would be).
_KILLED_MID_SAVE = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=DELETE")
conn.execute("PRAGMA cache_size=1")  # spill to the file, so the journal is written too
conn.execute("CREATE TABLE copied (page BLOB)")
conn.execute("BEGIN IMMEDIATE")
conn.executemany("INSERT INTO copied VALUES (?)", [(os.urandom(4000),) for _ in range(200)])
conn.execute("UPDATE copied SET page = zeroblob(4000)")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_save_cut_short_by_a_crash_is_removed_at_the_next_start(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    snapshots = tmp_path / "state.db.snapshots"
    process, url = _start(db)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}) as api:
            _ok(api.post("/v1/events", json={"type": "a", "payload": {}}), 201)
            _ok(api.post("/_control/snapshots", json={"name": "base"}), 201)
            before = _ok(api.get("/_control/export"))
    finally:
        _stop(process)
    for name in ("base", "next"):  # an older save of the same name, and a new one
        partial = snapshots / f"{name}.partial"
        killed = subprocess.run([sys.executable, "-c", _KILLED_MID_SAVE, str(partial)])
        assert killed.returncode == -9
        assert partial.is_file() and Path(f"{partial}-journal").is_file()
    saved = (snapshots / "base.db").read_bytes()

    process, url = _start(db)
    try:
        assert sorted(p.name for p in snapshots.iterdir()) == ["base.db"]
        assert (snapshots / "base.db").read_bytes() == saved
        with httpx.Client(base_url=url) as control:
            listed = _ok(control.get("/_control/snapshots"))
            assert [s["name"] for s in listed["data"]] == ["base"]
            _ok(control.post("/_control/reset"))
            _ok(control.post("/_control/snapshots/base/restore"))
            assert _ok(control.get("/_control/export")) == before
            # A save of a name whose save was cut short works as any other.
            _ok(control.post("/_control/snapshots", json={"name": "next"}), 201)
    finally:
        _stop(process)
    assert sorted(p.name for p in snapshots.iterdir()) == ["base.db", "next.db"]


def test_a_snapshot_from_before_sinks_and_faults_were_stored_restores_them(
    tmp_path: Path,
) -> None:
    """An older version kept sinks and faults in the snapshot's JSON, not in tables."""
    db = tmp_path / "state.db"
    process, url = _start(db)
    try:
        with httpx.Client(base_url=url) as control:
            _ok(control.post("/_control/snapshots", json={"name": "old"}), 201)
            path = tmp_path / "state.db.snapshots" / "old.db"
            _make_it_older(path)
            _ok(control.post("/_control/snapshots/old/restore"))
            assert _ok(control.get("/_control/sinks"))["data"] == [
                {"object": "sink", "name": "legacy", "request_count": 1, "scripted_responses": 1}
            ]
            [received] = _ok(control.get("/_control/sinks/legacy"))["data"]
            assert (received["body"], received["path"]) == ("hi", "/_sink/legacy")
            [fault] = _ok(control.get("/_control/faults"))["data"]
            assert (fault["id"], fault["remaining"], fault["fired_count"]) == ("flt_old", 2, 1)
            assert control.post("/_sink/legacy").status_code == 503
            for status in (500, 500, 201):
                created = control.post(
                    "/v1/events",
                    json={"type": "x", "payload": {}},
                    headers={"Authorization": f"Bearer {KEY}"},
                )
                assert created.status_code == status
    finally:
        _stop(process)


def _make_it_older(path: Path) -> None:
    """Rewrite a snapshot as version 6 wrote it: no sink or fault tables, both in the JSON."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(
            "DROP TABLE sink_requests; DROP TABLE sink_script; DROP TABLE sinks;"
            "DROP TABLE faults; ALTER TABLE attempts DROP COLUMN chaos;"
            "ALTER TABLE deliveries DROP COLUMN chaos_delay_seconds;"
            "PRAGMA user_version = 6;"
        )
        [row] = conn.execute("SELECT value FROM meta WHERE key = 'snapshot'").fetchall()
        stored = json.loads(row[0])
        stored["memory"]["sinks"] = {
            "legacy": {
                "received_count": 1,
                "requests": [
                    {
                        "method": "POST",
                        "path": "/_sink/legacy",
                        "headers": {},
                        "body": "aGk=",
                        "received_ms": 0,
                        "truncated": False,
                    }
                ],
                "script": [{"status": 503, "delay_ms": 0, "body": "no", "headers": {}}],
            }
        }
        stored["memory"]["faults"] = [
            {
                "id": "flt_old",
                "target": "api",
                "created_ms": 0,
                "method": "POST",
                "path": "/v1/events",
                "error_code": "internal_error",
                "retry_after_ms": None,
                "endpoint_id": None,
                "outcome": None,
                "remaining": 2,
                "probability": None,
                "seed": None,
                "fired_count": 1,
                "rng": None,
            }
        ]
        conn.execute("UPDATE meta SET value = ? WHERE key = 'snapshot'", (json.dumps(stored),))
        conn.commit()
    finally:
        conn.close()
