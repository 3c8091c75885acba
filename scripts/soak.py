#!/usr/bin/env python3
"""Soak the emulator under hostile conditions for N seconds, then check nothing was lost.

    scripts/soak.py --seconds 120            # what to quote in a note
    scripts/soak.py --seconds 15 --json      # what tests/test_soak.py runs

One real emulator process (`python -m harbor_emulator.cli start --port 0 --db FILE`) is
driven at once by: event writers (some with an Idempotency-Key, retried with the same body),
an endpoint churner (create webhooks, pause, resume, delete), fixture loads with given ids,
clock advances from a second to a day, resets, SIGKILL and restart on the same --db every
few seconds, webhook receivers that hang, reset, answer 500, trickle or behave, hostile
receivers (headers or a status line without end, 100 Continue for ever, a 200 followed by a
second response), and one spell of disk-full on a small tmpfs when one can be mounted (root;
otherwise the summary says why it was skipped). The contract's Limits are probed meanwhile
(scripts/_soak_limits.py): YAML alias bombs must be refused, a second `start` on the same
--db must exit 2 naming the server's pid, the clock is parked at its end
(9999-12-31T23:59:59Z, running) before every other reset, and health's latency and the
emulator's memory are sampled throughout. Then it stops the writers and checks.

Terms, exactly as counted:

- **Acknowledged write**: a write that got a 2xx answer. An event counts once per event id,
  however many idempotent retries it took; a fixtures load counts each event it carried; an
  endpoint create, PATCH or DELETE counts once. A request that got no answer (the emulator
  was killed, the connection broke) or a non-2xx is not acknowledged, whether or not it took
  effect.
- **Epoch**: the span between two resets. A write is *checked* when it was sent after the
  previous reset was acknowledged and acknowledged before the next reset was sent; a write
  that overlaps a reset may legitimately land before it (and be wiped) or after it, so it is
  counted as *ambiguous* and not checked. Before each reset the script exports the state and
  checks every checked write of the ending epoch acknowledged before that export; the last
  epoch is checked at the end, through `GET /_control/export` and `GET /v1/events/{id}`.
- **Lost**: a checked write whose effect is absent at its check: an event not there, an
  endpoint not there or not in the state of its last acknowledged change (endpoints whose
  later change went unanswered are not checked). **Corrupted**: an event there with another
  payload, type or workspace.
- **Other 5xx**: any answer >= 500 but a 503 whose error code is `storage_unavailable` and
  which carries `Retry-After`.
- **Stuck delivery**: after the final phase (writers stopped, every paused endpoint resumed,
  drain, clock advanced 73 h — past the 72 h the default retry schedule lasts —, drain
  again) a delivery whose status is `pending` and whose `next_attempt_at` is null or not
  after the clock's now (due but never attempted), or whose `created_at` is 72 h or more
  before now (it outlived every retry).
- **Inconsistent attempts**: a delivery whose attempt numbers are not exactly 1..n, whose
  `attempt_count` is not n, or whose attempts are not in time order.

Any of lost, corrupted, other 5xx, stuck, inconsistent attempts, a broken idempotent retry,
lost clock updates (16 concurrent advances of 60 s on a frozen clock must move it 960 s),
a failed `PRAGMA integrity_check`, an emulator that died on its own or did not serve again
after the disk-full spell without a restart, makes the exit status 1. So do an alias bomb
not refused (or refused after 10 s), a second process that serves or does not exit 2 naming
the pid, a clock that does not stop at its end, an attempt to a hostile receiver recorded as
anything but a failure (the split answer's 200 as anything but a success), and the
emulator's memory above --max-rss-mb.
"""

from __future__ import annotations

import sys

try:
    import httpx

    import harbor_emulator  # noqa: F401  (the emulator must be importable by this Python)
except ImportError:  # run as `scripts/soak.py` with a system Python: use the project's venv
    import os
    from pathlib import Path

    _venv = Path(__file__).resolve().parent.parent / ".venv"
    if (_venv / "bin" / "python").exists() and Path(sys.prefix).resolve() != _venv.resolve():
        os.execv(_venv / "bin" / "python", [str(_venv / "bin" / "python"), *sys.argv])
    sys.exit("soak.py needs httpx and harbor_emulator: run scripts/test once, or pip install -e .")

import argparse
import asyncio
import contextlib
import json
import random
import re
import shutil
import signal
import sqlite3
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from _soak_limits import Limits
from _soak_process import Emulator, EmulatorFailed, SmallDisk
from _soak_receivers import Receivers

DAY = 86400
# The default retry schedule gives up 72 h after the first attempt.
SCHEDULE_SECONDS = 72 * 3600
FINAL_ADVANCE_SECONDS = 73 * 3600
IDEMPOTENCY_SECONDS = DAY
# Clock advances: mostly small, now and then a day (every pending retry falls due).
ADVANCES = [(1, 30), (60, 25), (300, 20), (1800, 10), (3600, 8), (6 * 3600, 5), (DAY, 2)]
EVENT_TYPES = [
    ("soak.order.created", 35),
    ("soak.order.paid", 35),
    ("soak.user.signup", 20),
    ("soak.slow.tick", 10),
    ("soak.hostile.tick", 8),
]
# Which events each receiver gets: the slow ones (hang, trickle) only a tenth of them, so
# a day's advance costs seconds, not minutes.
PATTERNS = {
    "healthy": "*",
    "error500": "soak.order.*",
    "reset": "soak.order.*",
    "hang": "soak.slow.*",
    "trickle": "soak.slow.*",
    "endless_headers": "soak.hostile.*",
    "endless_status": "soak.hostile.*",
    "interim": "soak.hostile.*",
    "split": "soak.hostile.*",
}
TEXTS = [
    "plain",
    "café crème",
    "注文が完了しました",
    "שלום",
    "ship 🚢 emoji",
    'quote " backslash \\ newline \n tab \t',
    "\u2028line separator",
]
MAX_SAMPLES = 20
SAMPLES_PER_KIND = 2
ID_IN_PATH = re.compile(r"/(evt|wh|dest|dlv|sub)_[A-Za-z0-9]+")


def canonical(value: Any) -> str:
    """Exact JSON identity: keys sorted, true apart from 1, 1.5 apart from 1.50001."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def weighted(rng: random.Random, choices: list[tuple[Any, int]]) -> Any:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


@dataclass
class EventWrite:
    id: str
    workspace_id: str
    type: str
    payload: str  # canonical()
    epoch: int | None  # None: it overlapped a reset
    acked_at: float  # time.monotonic()
    via: str  # "api" | "fixtures"
    when: str  # when it was acknowledged, for the samples
    checked: bool = False


@dataclass
class EndpointRecord:
    id: str
    workspace_id: str
    epoch: int | None
    # "active" | "paused" | "deleted", or None once a change of it went unanswered
    expected: str | None
    acked_at: float
    when: str = ""
    may_be_deleted: bool = False
    # A change sent but not answered yet, and when the last change was sent: an export
    # taken meanwhile may show the state before or after it.
    busy: bool = False
    sent_at: float = 0.0


@dataclass
class Figures:
    counts: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)
    # "POST /v1/events" -> {"201": 1500, "503": 12, "no answer": 4}
    answers: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # "POST /v1/events 500 internal_error (disk-full)" -> 12
    failures: Counter[str] = field(default_factory=Counter)
    _kinds: Counter[str] = field(default_factory=Counter)

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def get(self, name: str) -> int:
        return self.counts.get(name, 0)

    def sample(self, text: str, kind: str = "") -> None:
        """Keep a few examples of each kind of problem, not twenty of the first one."""
        kind = kind or text[:40]
        self._kinds[kind] += 1
        if self._kinds[kind] <= SAMPLES_PER_KIND and len(self.samples) < MAX_SAMPLES:
            self.samples.append(text)


class Soak:
    def __init__(
        self, args: argparse.Namespace, workdir: Path, disk: SmallDisk | None, no_disk: str
    ):
        self.args = args
        self.seconds: float = args.seconds
        self.rng = random.Random(args.seed)
        self.tag = "".join(self.rng.choices("abcdefghjkmnpqrstvwxyz", k=6))
        db_dir = disk.path if disk else workdir
        self.db_path = db_dir / "soak.db"
        self.emulator = Emulator(self.db_path, workdir / "emulator.log", args.delivery_timeout)
        self.disk = disk
        self.disk_report: dict[str, Any] = (
            {"status": "pending"} if disk else {"status": "skipped", "reason": no_disk}
        )
        self.receivers = Receivers()
        self.limits = Limits(self, args.max_rss_mb)
        self.figures = Figures()
        self.violations: list[str] = []
        self.events: dict[str, EventWrite] = {}
        self.endpoints: dict[str, EndpointRecord] = {}
        # Reset bookkeeping: `epoch` counts resets begun; `resetting` spans a reset's first
        # send to its acknowledgement (it is retried through kills until acknowledged).
        self.epoch = 0
        self.resetting = False
        self.advanced_seconds = 0.0  # every advance begun, acknowledged or not
        self.stop = asyncio.Event()
        self.big_payloads = False
        self.in_spell = False
        self.process_lock = asyncio.Lock()
        self.client: httpx.AsyncClient
        self.serial = 0
        self.webhooks_made = 0
        self.started = 0.0

    # -- talking to the emulator ---------------------------------------------------------
    async def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> httpx.Response | None:
        """One request; None when it got no answer (refused, cut off by a kill, timed out)."""
        op = method + " " + ID_IN_PATH.sub(r"/{\1_id}", path)
        await self.emulator.up.wait()
        sent_headers = dict(headers or {})
        if key:
            sent_headers["Authorization"] = f"Bearer {key}"
        try:
            response = await self.client.request(
                method,
                self.emulator.url + path,
                json=body,
                content=content,
                headers=sent_headers,
                timeout=httpx.Timeout(timeout, connect=5.0),
            )
        except httpx.TimeoutException:
            self.figures.add("timeouts")
            self.figures.answers[op]["client timeout"] += 1
            return None
        except httpx.TransportError:
            self.figures.add("no_answer")
            self.figures.answers[op]["no answer"] += 1
            # Refused or cut off: the emulator is being killed or restarted; let it.
            await asyncio.sleep(0.05)
            return None
        self.figures.add("responses")
        self.figures.answers[op][str(response.status_code)] += 1
        self._classify(op, method, path, response)
        return response

    def _classify(self, op: str, method: str, path: str, response: httpx.Response) -> None:
        if response.status_code < 500:
            return
        code = _error_code(response)
        if (
            response.status_code == 503
            and code == "storage_unavailable"
            and response.headers.get("Retry-After")
        ):
            self.figures.add("status_503")
            if self.in_spell:
                self.figures.add("status_503_in_disk_full")
            return
        self.figures.add("status_5xx_other")
        if self.in_spell:
            self.figures.add("status_5xx_other_in_disk_full")
        kind = f"{op} {response.status_code} {code}" + (" (disk-full)" if self.in_spell else "")
        self.figures.failures[kind] += 1
        self.figures.sample(
            f"{method} {path} -> {response.status_code} {response.text[:300]!r}"
            + (" (during disk-full)" if self.in_spell else ""),
            kind,
        )

    def unexpected(self, what: str, response: httpx.Response) -> None:
        """A 4xx the script's own requests should never get: a bug on one side or the other."""
        if response.status_code >= 500:
            return  # counted by _classify
        self.figures.add("unexpected_4xx")
        self.figures.sample(f"{what} -> {response.status_code} {response.text[:300]!r}")

    async def backoff(self, response: httpx.Response | None) -> None:
        if response is not None and response.status_code == 503:
            retry_after = response.headers.get("Retry-After", "1")
            await asyncio.sleep(min(float(retry_after) if retry_after.isdigit() else 1.0, 1.0))

    def when(self) -> str:
        """Where the run stands, to tell which fault a lost write met."""
        return (
            f"acknowledged at {time.monotonic() - self.started:.1f} s, after "
            f"{self.figures.get('kills')} kills" + (", during disk-full" if self.in_spell else "")
        )

    def epoch_at_send(self) -> int | None:
        return None if self.resetting else self.epoch

    def epoch_at_ack(self, sent: int | None) -> int | None:
        """The epoch of a write sent in epoch `sent`, or None if a reset overlapped it."""
        return sent if sent is not None and sent == self.epoch and not self.resetting else None

    # -- writers -------------------------------------------------------------------------
    def payload(self, rng: random.Random) -> dict[str, Any]:
        self.serial += 1
        payload: dict[str, Any] = {
            "n": self.serial,
            "text": rng.choice(TEXTS),
            "amount": rng.randint(-(2**53), 2**53),
            "ratio": rng.choice([0.1, -2.5e-8, 1e300, 3.141592653589793, 0, -1]),
            "flag": rng.random() < 0.5,
            "nothing": None,
            "tags": [rng.choice(TEXTS) for _ in range(rng.randint(0, 3))],
            "nested": {"a": {"b": [1, {"c": rng.random()}]}, "empty": {}, "list": []},
        }
        if self.big_payloads:
            # Under the 256 KB limit, big enough to exhaust SQLite's free pages quickly.
            payload["blob"] = "x" * rng.randint(100_000, 200_000)
        return payload

    async def event_writer(self, n: int) -> None:
        rng = random.Random(f"{self.args.seed}-writer-{n}")
        key, workspace_id = f"hb_test_soak{n}", f"ws_soak{n}"
        while not self.stop.is_set():
            body = {
                "workspace_id": workspace_id,
                "type": weighted(rng, EVENT_TYPES),
                "payload": self.payload(rng),
            }
            if rng.random() < 0.4:
                await self.idempotent_event(key, body, f"soak-{self.tag}-{n}-{self.serial}")
            else:
                sent = self.epoch_at_send()
                response = await self.call("POST", "/v1/events", key=key, body=body)
                if response is not None and response.status_code == 201:
                    self.ack_event(response.json(), body, self.epoch_at_ack(sent), "api")
                elif response is not None and response.status_code < 500:
                    self.unexpected("POST /v1/events", response)
                await self.backoff(response)

    async def idempotent_event(self, key: str, body: dict[str, Any], idem: str) -> None:
        """Send until acknowledged (at most 8 tries), then once more: the same event back."""
        headers = {"Idempotency-Key": idem}
        first_sent_epoch, first_advanced = self.epoch_at_send(), self.advanced_seconds
        first_sent_at = time.monotonic()
        event_id = None
        for _ in range(8):
            response = await self.call("POST", "/v1/events", key=key, body=body, headers=headers)
            if response is not None and response.status_code in (200, 201):
                sent = first_sent_epoch
                event = response.json()
                event_id = event["id"]
                self.ack_event(event, body, self.epoch_at_ack(sent), "api")
                break
            if response is not None and _error_code(response) == "idempotency_key_in_use":
                await asyncio.sleep(0.2)  # an unanswered try is still running: legitimate
            elif response is not None and response.status_code < 500:
                self.unexpected("POST /v1/events (idempotent)", response)
                return
            await self.backoff(response)
            if self.stop.is_set():
                return
        if event_id is None:
            return
        for _ in range(8):
            response = await self.call("POST", "/v1/events", key=key, body=body, headers=headers)
            if response is not None and response.status_code in (200, 201):
                self.figures.add("idempotent_retries")
                replayed = response.headers.get("Idempotent-Replayed") == "true"
                self.figures.add("idempotent_replays" if replayed else "idempotent_new_events")
                again = response.json()
                if again["id"] != event_id:
                    self.ack_event(again, body, None, "api")
                    # Legitimate only if a reset or a clock move past 24 h came in between.
                    within = (
                        first_sent_epoch is not None
                        and self.epoch_at_ack(first_sent_epoch) is not None
                        and self.advanced_seconds
                        - first_advanced
                        + (time.monotonic() - first_sent_at)
                        < IDEMPOTENCY_SECONDS - 600
                    )
                    if within:
                        self.figures.add("idempotency_broken")
                        self.figures.sample(
                            f"Idempotency-Key {idem}: {event_id} then {again['id']}"
                        )
                return
            if (
                response is not None
                and response.status_code < 500
                and _error_code(response) != "idempotency_key_in_use"
            ):
                self.unexpected("POST /v1/events (idempotent retry)", response)
                return
            await self.backoff(response)
            if self.stop.is_set():
                return

    def ack_event(self, event: dict[str, Any], body: dict[str, Any], epoch: int | None, via: str):
        payload = canonical(body["payload"])
        if canonical(event.get("payload")) != payload or event.get("type") != body["type"]:
            self.figures.add("corrupted_in_answer")
            self.figures.sample(f"event {event.get('id')}: the answer's payload differs")
        if event["id"] in self.events:
            return  # a replay of one already counted
        self.figures.add("acked_events" if via == "api" else "acked_fixture_events")
        if self.in_spell:
            self.figures.add("acked_in_disk_full")
        self.events[event["id"]] = EventWrite(
            event["id"],
            body["workspace_id"],
            body["type"],
            payload,
            epoch,
            time.monotonic(),
            via,
            self.when(),
        )

    async def endpoint_churner(self) -> None:
        rng = random.Random(f"{self.args.seed}-endpoints")
        pools: dict[str, list[EndpointRecord]] = {}
        pool_epoch = self.epoch
        while not self.stop.is_set():
            if pool_epoch != self.epoch:
                pools, pool_epoch = {}, self.epoch  # a reset took them all
            n = rng.randrange(self.args.writers)
            key, workspace_id = f"hb_test_soak{n}", f"ws_soak{n}"
            pool = pools.setdefault(workspace_id, [])
            draw = rng.random()
            # A few live webhooks per workspace (one per receiver kind, roughly), well under
            # the 50-endpoint limit, mostly paused and resumed, now and then deleted.
            if len(pool) < 3 or (draw < 0.15 and len(pool) < 8):
                # Kinds in turn, not drawn: a short run still meets every receiver.
                kind = list(PATTERNS)[self.webhooks_made % len(PATTERNS)]
                self.webhooks_made += 1
                await self.create_webhook(key, workspace_id, kind, pool)
            elif draw < 0.35:
                record = pool.pop(rng.randrange(len(pool)))
                await self.change_endpoint(key, record, "deleted")
            else:
                record = rng.choice(pool)
                status = "paused" if record.expected == "active" else "active"
                await self.change_endpoint(key, record, status)
            await asyncio.sleep(rng.uniform(0.02, 0.2))

    async def create_webhook(
        self, key: str, workspace_id: str, kind: str, pool: list[EndpointRecord]
    ) -> None:
        body = {
            "workspace_id": workspace_id,
            "url": self.receivers.url(kind),
            "events": [PATTERNS[kind]],
            "description": f"soak {kind}",
        }
        sent = self.epoch_at_send()
        response = await self.call("POST", "/v1/webhooks", key=key, body=body)
        if response is None or response.status_code != 201:
            if response is not None and response.status_code < 500:
                self.unexpected("POST /v1/webhooks", response)
            await self.backoff(response)
            return
        epoch = self.epoch_at_ack(sent)
        record = EndpointRecord(
            response.json()["id"], workspace_id, epoch, "active", time.monotonic(), self.when()
        )
        self.endpoints[record.id] = record
        self.figures.add("acked_endpoint_changes")
        pool.append(record)

    async def change_endpoint(self, key: str, record: EndpointRecord, target: str) -> None:
        sent = self.epoch_at_send()
        record.busy, record.sent_at = True, time.monotonic()
        try:
            if target == "deleted":
                response = await self.call("DELETE", f"/v1/webhooks/{record.id}", key=key)
            else:
                response = await self.call(
                    "PATCH", f"/v1/webhooks/{record.id}", key=key, body={"status": target}
                )
        finally:
            record.busy = False
        if response is not None and response.status_code in (200, 204):
            self.figures.add("acked_endpoint_changes")
            epoch = self.epoch_at_ack(sent)
            if epoch is None or record.epoch != epoch:
                record.epoch = None  # a reset came in between: nothing to check
            record.expected, record.acked_at, record.when = target, time.monotonic(), self.when()
            record.may_be_deleted = target == "deleted"
            return
        if response is not None and response.status_code == 404:
            # Legitimate only if a reset came in between or a delete of it went unanswered.
            if (
                record.epoch is not None
                and record.epoch == self.epoch
                and not self.resetting
                and not record.may_be_deleted
            ):
                self.figures.add("lost_endpoints")
                self.figures.sample(f"{record.id}: acknowledged, then 404 with no reset")
            record.epoch = None
            return
        if response is not None and response.status_code < 500:
            self.unexpected(f"{'DELETE' if target == 'deleted' else 'PATCH'} webhook", response)
        # Unanswered: it may or may not have happened.
        record.expected = None
        record.may_be_deleted = record.may_be_deleted or target == "deleted"
        await self.backoff(response)

    async def fixture_loader(self) -> None:
        rng = random.Random(f"{self.args.seed}-fixtures")
        n = 0
        while not self.stop.is_set():
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            n += 1
            workspace_id = f"ws_soakfx{self.tag}{n}"
            events = [
                {
                    "id": f"evt_soakfx{self.tag}{n}x{i}",
                    "workspace_id": workspace_id,
                    "type": "soak.fixture.loaded",
                    "payload": self.payload(rng),
                }
                for i in range(3)
            ]
            document = {
                "workspaces": [{"id": workspace_id, "name": f"soak fixtures {n}"}],
                "webhooks": [
                    {
                        "id": f"wh_soakfx{self.tag}{n}",
                        "workspace_id": workspace_id,
                        "url": self.receivers.url("healthy"),
                        "events": ["*"],
                        "secret": "whsec_" + "".join(rng.choices("abcdef0123456789", k=40)),
                    }
                ],
                "events": events,
            }
            sent = self.epoch_at_send()
            response = await self.call("POST", "/_control/fixtures", body=document)
            if response is None or response.status_code != 201:
                if response is not None and response.status_code < 500:
                    self.unexpected("POST /_control/fixtures", response)
                await self.backoff(response)
                continue
            self.figures.add("fixture_loads")
            epoch = self.epoch_at_ack(sent)
            for event in events:
                self.ack_event(event, event, epoch, "fixtures")
            record = EndpointRecord(
                f"wh_soakfx{self.tag}{n}",
                workspace_id,
                epoch,
                "active",
                time.monotonic(),
                self.when(),
            )
            self.endpoints[record.id] = record
            self.figures.add("acked_endpoint_changes")

    async def clock_mover(self) -> None:
        rng = random.Random(f"{self.args.seed}-clock")
        while not self.stop.is_set():
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            seconds = weighted(rng, ADVANCES)
            self.advanced_seconds += seconds
            parked = self.limits.at_clock_end
            response = await self.call(
                "POST", "/_control/clock/advance", body={"seconds": seconds}, timeout=300
            )
            parked = parked or self.limits.at_clock_end
            if response is not None and response.status_code == 200:
                self.figures.add("clock_advances")
                self.figures.add("clock_advanced_seconds", seconds)
            elif response is not None and response.status_code == 400 and parked:
                self.figures.add("clock_advances_past_end")  # the clock is at its end
            elif response is not None and response.status_code < 500:
                self.unexpected("POST /_control/clock/advance", response)

    async def resetter(self) -> None:
        rng = random.Random(f"{self.args.seed}-resets")
        while True:
            with contextlib.suppress(TimeoutError):
                interval = max(4.0, rng.uniform(0.15, 0.3) * self.seconds)
                async with asyncio.timeout(interval):
                    await self.stop.wait()
            if self.stop.is_set():
                return
            await self.verify_epoch(final=False)
            self.epoch += 1
            self.resetting = True
            try:
                # Every other reset, park the clock at its end first: between epochs, so
                # no checked write meets year 9999, and the reset brings the clock back.
                if self.epoch % 2 == 1:
                    await self.limits.clock_end_move()
                # Retried through kills and faults until acknowledged: until then every
                # write is ambiguous, so the epoch must end with a known reset.
                deadline = time.monotonic() + 60
                while True:
                    response = await self.call("POST", "/_control/reset")
                    if response is not None and response.status_code == 200:
                        self.figures.add("resets")
                        break
                    if response is not None and response.status_code < 500:
                        self.unexpected("POST /_control/reset", response)
                        break
                    if time.monotonic() > deadline:
                        self.violations.append("a reset was not acknowledged for 60 s")
                        break
                    await self.backoff(response)
                    await asyncio.sleep(0.2)
            finally:
                self.resetting = False
                self.limits.at_clock_end = False

    async def killer(self) -> None:
        """SIGKILL and restart every few seconds; also notices an emulator that died alone."""
        rng = random.Random(f"{self.args.seed}-kills")
        next_kill = time.monotonic() + rng.uniform(*self.args.kill_every)
        while not self.stop.is_set():
            await asyncio.sleep(0.1)
            async with self.process_lock:
                status = self.emulator.exited_on_its_own()
                if status is not None:
                    self.emulator.up.clear()
                    self.figures.add("emulator_died")
                    self.violations.append(
                        f"the emulator exited on its own (status {status}); log tail:\n"
                        + self.emulator.log_tail(15)
                    )
                    await self.emulator.start()
                    self.figures.add("restarts")
                    continue
                if self.args.kill_every[1] <= 0 or time.monotonic() < next_kill:
                    continue
                await self.emulator.kill()
                self.figures.add("kills")
                await self.emulator.start()
                self.figures.add("restarts")
            next_kill = time.monotonic() + rng.uniform(*self.args.kill_every)

    # -- disk-full -----------------------------------------------------------------------
    async def disk_full_spell(self) -> None:
        if self.disk is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(2.0, 0.4 * self.seconds)):
                await self.stop.wait()
        if self.stop.is_set():
            self.disk_report = {"status": "skipped", "reason": "the run ended before the spell"}
            return
        report: dict[str, Any] = {"status": "done"}
        # No kill during the spell: it must recover without a restart.
        async with self.process_lock:
            await self.emulator.up.wait()
            pid = self.emulator.pid
            before_503 = self.figures.get("status_503_in_disk_full")
            before_5xx = self.figures.get("status_5xx_other_in_disk_full")
            before_acked = self.figures.get("acked_in_disk_full")
            self.big_payloads = self.in_spell = True
            started = time.monotonic()
            try:
                report["filler_bytes"] = await asyncio.to_thread(self.disk.fill)
                await asyncio.sleep(self.args.spell_seconds)
                # Fill again: SQLite may have freed pages of its own (WAL checkpoints).
                report["filler_bytes"] += await asyncio.to_thread(self.disk.fill)
                await asyncio.sleep(min(1.0, self.args.spell_seconds))
            finally:
                self.in_spell = False
                self.big_payloads = False
                self.disk.free()
            report["seconds"] = round(time.monotonic() - started, 1)
            report["writes_503"] = self.figures.get("status_503_in_disk_full") - before_503
            report["writes_other_5xx"] = (
                self.figures.get("status_5xx_other_in_disk_full") - before_5xx
            )
            report["writes_acked"] = self.figures.get("acked_in_disk_full") - before_acked
            report["recovered_without_restart"] = await self.recovered(pid, report)
        if report["writes_503"] + report["writes_other_5xx"] == 0:
            report["note"] = "no write met the full disk (SQLite still had room in its files)"
        self.disk_report = report
        if not report["recovered_without_restart"]:
            self.violations.append("after the disk-full spell the emulator did not accept writes")

    async def recovered(self, pid: int | None, report: dict[str, Any]) -> bool:
        """Does the same process accept a write within 20 s of space coming back?"""
        started = time.monotonic()
        body = {"workspace_id": "ws_soak0", "type": "soak.recovery", "payload": {"ok": True}}
        while time.monotonic() - started < 20:
            sent = self.epoch_at_send()
            response = await self.call("POST", "/v1/events", key="hb_test_soak0", body=body)
            if response is not None and response.status_code == 201:
                self.ack_event(response.json(), body, self.epoch_at_ack(sent), "api")
                report["recovery_seconds"] = round(time.monotonic() - started, 2)
                return self.emulator.pid == pid
            await asyncio.sleep(0.2)
        return False

    # -- checks --------------------------------------------------------------------------
    async def export(self) -> dict[str, Any] | None:
        for _ in range(20):
            response = await self.call("GET", "/_control/export", timeout=120)
            if response is not None and response.status_code == 200:
                return response.json()
            if response is not None and response.status_code < 500:
                self.unexpected("GET /_control/export", response)
            await self.backoff(response)
            await asyncio.sleep(0.2)
        return None

    async def verify_epoch(self, *, final: bool) -> dict[str, Any] | None:
        """Check every checked write of this epoch acknowledged before the export is sent."""
        epoch, cutoff = self.epoch, time.monotonic()
        events = [w for w in self.events.values() if w.epoch == epoch and w.acked_at < cutoff]
        expected = {
            r.id: (r, r.expected)
            for r in self.endpoints.values()
            if r.epoch == epoch and r.acked_at < cutoff and r.expected is not None and not r.busy
        }
        for write in events:
            write.checked = True
        self.figures.add("events_checked", len(events))
        state = await self.export()
        # An endpoint changed while the export ran may show either state: not checked.
        endpoints = [(r, e) for r, e in expected.values() if r.sent_at < cutoff]
        self.figures.add("endpoints_checked", len(endpoints))
        if state is None:
            self.figures.add("unverified", len(events) + len(endpoints))
            self.violations.append(f"epoch {epoch}: no export answered, writes unverified")
            return None
        stored = {e["id"]: e for e in state.get("events", [])}
        verdicts = {w.id: self.check_event(w, stored.get(w.id), "the export") for w in events}
        if final:
            for write, verdict in zip(events, await self.read_back(events), strict=True):
                if verdicts[write.id] == "found":
                    verdicts[write.id] = verdict
        for verdict in verdicts.values():
            self.figures.add(verdict)
        hooks = {w["id"]: w for w in state.get("webhooks", [])}
        for record, status in endpoints:
            hook = hooks.get(record.id)
            if status == "deleted":
                ok = hook is None or "deleted_at" in hook
            else:
                ok = hook is not None and "deleted_at" not in hook
                ok = ok and hook["status"] == status
            self.figures.add("found" if ok else "lost")
            if not ok:
                stored = (
                    {k: hook.get(k) for k in ("status", "updated_at", "deleted_at")}
                    if hook
                    else None
                )
                self.figures.sample(
                    f"{record.id}: expected {status} ({record.when}), stored {stored}",
                    "lost endpoint",
                )
        return state

    def check_event(self, write: EventWrite, stored: dict[str, Any] | None, where: str) -> str:
        """found, lost or corrupted (with a sample of what went wrong)."""
        if stored is None:
            self.figures.sample(
                f"{write.id} ({write.via}, {write.when}) absent from {where}", "lost"
            )
            return "lost"
        if (
            canonical(stored.get("payload")) != write.payload
            or stored.get("type") != write.type
            or stored.get("workspace_id") != write.workspace_id
        ):
            self.figures.sample(
                f"{write.id} ({write.when}) differs in {where}: {str(stored)[:200]}", "diff"
            )
            return "corrupted"
        return "found"

    async def read_back(self, writes: list[EventWrite]) -> list[str]:
        """GET /v1/events/{id} for each: the API, not only the export, must have them."""
        limit = asyncio.Semaphore(8)

        async def one(write: EventWrite) -> str:
            async with limit:
                for _ in range(5):
                    response = await self.call(
                        "GET", f"/v1/events/{write.id}", key="hb_test_soakreader"
                    )
                    if response is None or response.status_code >= 500:
                        await self.backoff(response)
                        continue
                    if response.status_code not in (200, 404):
                        self.unexpected("GET /v1/events/{id}", response)
                    stored = response.json() if response.status_code == 200 else None
                    verdict = self.check_event(write, stored, "GET /v1/events/{id}")
                    if verdict == "found":
                        self.figures.add("read_back")
                    return verdict
                return "unverified"

        return await asyncio.gather(*(one(write) for write in writes))

    async def final_phase(self) -> dict[str, Any]:
        report: dict[str, Any] = {}
        async with self.process_lock:
            if not self.emulator.up.is_set() or self.emulator.exited_on_its_own() is not None:
                await self.emulator.start()
                self.figures.add("restarts")
        state = await self.export()
        resumed = 0
        for hook in (state or {}).get("webhooks", []):
            if hook.get("status") == "paused" and "deleted_at" not in hook:
                response = await self.call(
                    "PATCH",
                    f"/v1/webhooks/{hook['id']}",
                    key="hb_test_soakreader",
                    body={"status": "active"},
                )
                record = self.endpoints.get(hook["id"])
                if response is not None and response.status_code == 200:
                    resumed += 1
                    if record is not None and record.expected is not None:
                        record.expected, record.acked_at = "active", time.monotonic()
                elif record is not None:
                    record.expected = None
        report["endpoints_resumed"] = resumed
        # A few writes of the final epoch, so the read-back through the API always has
        # something to read, even when a slow run's last reset came late.
        for n in range(10):
            body = {"workspace_id": "ws_soakfinal", "type": "soak.final", "payload": {"n": n}}
            sent = self.epoch_at_send()
            response = await self.call("POST", "/v1/events", key="hb_test_soakfinal", body=body)
            if response is not None and response.status_code == 201:
                self.ack_event(response.json(), body, self.epoch_at_ack(sent), "api")
        report["drained_before_advance"] = await self.drain()
        response = await self.call(
            "POST",
            "/_control/clock/advance",
            body={"seconds": FINAL_ADVANCE_SECONDS},
            timeout=600,
        )
        if response is None or response.status_code != 200:
            answer = response.status_code if response is not None else "no answer"
            self.violations.append(f"the final 73 h advance failed: {answer}")
        report["drained"] = await self.drain()
        if not report["drained"]:
            self.violations.append("the final drain did not finish within its timeout")
        state = await self.verify_epoch(final=True)
        if state is not None:
            report |= self.check_deliveries(state)
            report["hostile_attempts"] = self.limits.check_hostile_deliveries(state)
        report["clock_check"] = await self.clock_check()
        return report

    async def drain(self) -> bool:
        for _ in range(6):
            response = await self.call(
                "POST", "/_control/deliveries/drain", body={"timeout_seconds": 30}, timeout=60
            )
            if response is not None and response.status_code == 200 and response.json()["drained"]:
                return True
        return False

    def check_deliveries(self, state: dict[str, Any]) -> dict[str, Any]:
        now = parse_time(state["clock"]["now"])
        by_status: dict[str, int] = {}
        stuck = inconsistent = 0
        for delivery in state.get("deliveries", []):
            status = delivery["status"]
            by_status[status] = by_status.get(status, 0) + 1
            if status == "pending":
                next_at = delivery.get("next_attempt_at")
                if (
                    next_at is None
                    or parse_time(next_at) <= now
                    or parse_time(delivery["created_at"]) + SCHEDULE_SECONDS <= now
                ):
                    stuck += 1
                    self.figures.sample(f"stuck delivery: {json.dumps(delivery)[:300]}", "stuck")
            attempts = sorted(delivery.get("attempts", []), key=lambda a: a["attempt_number"])
            numbers = [a["attempt_number"] for a in attempts]
            times = [parse_time(a["attempted_at"]) for a in attempts]
            if (
                numbers != list(range(1, len(attempts) + 1))
                or delivery["attempt_count"] != len(attempts)
                or times != sorted(times)
            ):
                inconsistent += 1
                self.figures.sample(
                    f"attempts of {delivery['id']}: count {delivery['attempt_count']}, "
                    f"numbers {numbers}, times {[a['attempted_at'] for a in attempts]}",
                    "attempts",
                )
        return {
            "deliveries": by_status,
            "deliveries_stuck": stuck,
            "deliveries_with_inconsistent_attempts": inconsistent,
        }

    async def clock_check(self) -> dict[str, Any]:
        """16 concurrent advances of 60 s on a frozen clock move it exactly 960 s."""
        frozen = await self.call("POST", "/_control/clock/freeze")
        if frozen is None or frozen.status_code != 200:
            return {"done": False}
        before = parse_time(frozen.json()["now"])
        answers = await asyncio.gather(
            *(self.call("POST", "/_control/clock/advance", body={"seconds": 60}) for _ in range(16))
        )
        after_response = await self.call("GET", "/_control/clock")
        await self.call("POST", "/_control/clock/unfreeze")
        if after_response is None or after_response.status_code != 200:
            return {"done": False}
        acked = sum(1 for a in answers if a is not None and a.status_code == 200)
        moved = round(parse_time(after_response.json()["now"]) - before, 3)
        return {
            "done": True,
            "advances_acked": acked,
            "expected_seconds": 60 * acked,
            "moved_seconds": moved,
        }

    # -- the run -------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        self.started = time.monotonic()
        await self.receivers.start()
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self.client = httpx.AsyncClient(limits=limits, trust_env=False)
        try:
            await self.emulator.start()
            self.figures.add("starts")
            return await self._run()
        finally:
            await self.emulator.kill()
            await self.client.aclose()
            await self.receivers.close()

    async def _run(self) -> dict[str, Any]:
        workers = [
            *(asyncio.create_task(self.event_writer(n)) for n in range(self.args.writers)),
            asyncio.create_task(self.endpoint_churner()),
            asyncio.create_task(self.fixture_loader()),
            asyncio.create_task(self.clock_mover()),
            asyncio.create_task(self.resetter()),
            asyncio.create_task(self.killer()),
            asyncio.create_task(self.disk_full_spell()),
            asyncio.create_task(self.limits.alias_bomber()),
            asyncio.create_task(self.limits.second_process()),
            asyncio.create_task(self.limits.prober()),
        ]
        # Returns early only if a worker crashed (a bug of this script): then stop at once.
        await asyncio.wait(workers, timeout=self.seconds, return_when=asyncio.FIRST_EXCEPTION)
        self.stop.set()
        progress(f"{self.seconds:.0f} s of load done; stopping the writers")
        done, pending = await asyncio.wait(workers, timeout=120)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        progress("final phase: resume, drain, advance 73 h, drain, read back")
        final = await self.final_phase()
        status = await self.emulator.stop()
        final["graceful_stop_exit_status"] = status
        final["integrity_check"] = integrity_check(self.db_path)
        final["db_bytes"] = sum(p.stat().st_size for p in self.db_path.parent.glob("soak.db*"))
        return self.summary(final)

    def summary(self, final: dict[str, Any]) -> dict[str, Any]:
        f = self.figures
        acked = (
            f.get("acked_events") + f.get("acked_fixture_events") + f.get("acked_endpoint_changes")
        )
        summary = {
            "seconds": self.seconds,
            "seed": self.args.seed,
            "acknowledged_writes": acked,
            "acknowledged_events": f.get("acked_events"),
            "acknowledged_fixture_events": f.get("acked_fixture_events"),
            "acknowledged_endpoint_changes": f.get("acked_endpoint_changes"),
            "events_checked": f.get("events_checked"),
            "events_ambiguous": sum(1 for w in self.events.values() if w.epoch is None),
            "events_not_checked": sum(
                1 for w in self.events.values() if w.epoch is not None and not w.checked
            ),
            "endpoints_checked": f.get("endpoints_checked"),
            "found": f.get("found"),
            "read_back_through_api": f.get("read_back"),
            "lost": f.get("lost") + f.get("lost_endpoints"),
            "corrupted": f.get("corrupted") + f.get("corrupted_in_answer"),
            "unverified": f.get("unverified"),
            "responses": f.get("responses"),
            "status_5xx_other": f.get("status_5xx_other"),
            "status_503": f.get("status_503"),
            "unexpected_4xx": f.get("unexpected_4xx"),
            "unanswered_requests": f.get("no_answer") + f.get("timeouts"),
            "client_timeouts": f.get("timeouts"),
            "idempotent_retries": f.get("idempotent_retries"),
            "idempotent_replays": f.get("idempotent_replays"),
            "idempotency_broken": f.get("idempotency_broken"),
            "kills": f.get("kills"),
            "restarts": f.get("restarts"),
            "emulator_died": f.get("emulator_died"),
            "resets": f.get("resets"),
            "clock_advances": f.get("clock_advances"),
            "clock_advanced_seconds": f.get("clock_advanced_seconds"),
            "fixture_loads": f.get("fixture_loads"),
            "receiver_requests": dict(self.receivers.requests),
            "answers": {op: dict(c) for op, c in sorted(f.answers.items())},
            "failures_5xx": dict(f.failures.most_common()),
            "disk_full": self.disk_report,
            **self.limits.report(),
            **final,
        }
        summary["violations"] = self.violations + self.limits.violations + judge(summary)
        summary["samples"] = f.samples
        summary["log"] = str(self.emulator.log_path)
        return summary


def judge(s: dict[str, Any]) -> list[str]:
    """The summary's figures that break a guarantee."""
    out = [
        f"{name} = {s.get(name)} (must be 0)"
        for name in (
            "lost",
            "corrupted",
            "unverified",
            "status_5xx_other",
            "unexpected_4xx",
            "idempotency_broken",
            "deliveries_stuck",
            "deliveries_with_inconsistent_attempts",
        )
        if s.get(name)
    ]
    clock = s.get("clock_check") or {}
    if not clock.get("done"):
        out.append("the clock check could not run")
    elif clock["moved_seconds"] != clock["expected_seconds"]:
        out.append(
            f"clock updates lost: {clock['advances_acked']} concurrent advances of 60 s "
            f"moved the frozen clock {clock['moved_seconds']} s"
        )
    if s.get("integrity_check") != "ok":
        out.append(f"PRAGMA integrity_check: {s.get('integrity_check')}")
    if s.get("graceful_stop_exit_status") != 0:
        out.append(f"SIGTERM stop ended with {s.get('graceful_stop_exit_status')} (expected 0)")
    if s["acknowledged_writes"] == 0:
        out.append("no write was acknowledged at all")
    return out


def integrity_check(db_path: Path) -> str:
    """PRAGMA integrity_check on the stopped emulator's file, opened read-only."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
            rows = db.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.Error as error:
        return f"could not run: {error}"
    return "ok" if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:10])


def _error_code(response: httpx.Response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def progress(message: str) -> None:
    print(f"soak: {message}", file=sys.stderr, flush=True)


def print_summary(s: dict[str, Any]) -> None:
    disk = s["disk_full"]
    if disk["status"] == "done":
        disk_line = (
            f"done: {disk['seconds']} s, {disk['writes_503']} writes answered 503, "
            f"{disk['writes_other_5xx']} another 5xx, "
            f"{disk['writes_acked']} acknowledged, recovered without restart: "
            f"{disk['recovered_without_restart']}"
            + (f" after {disk['recovery_seconds']} s" if "recovery_seconds" in disk else "")
            + (f" ({disk['note']})" if "note" in disk else "")
        )
    else:
        disk_line = f"skipped: {disk.get('reason')}"
    clock = s.get("clock_check") or {}
    lines = [
        f"acknowledged writes      {s['acknowledged_writes']} (events {s['acknowledged_events']}, "
        f"fixture events {s['acknowledged_fixture_events']}, endpoint changes "
        f"{s['acknowledged_endpoint_changes']})",
        f"  events checked         {s['events_checked']} (not checked: "
        f"{s['events_ambiguous']} overlapped a reset, {s['events_not_checked']} were "
        "acknowledged while the export before a reset ran)",
        f"  endpoints checked      {s['endpoints_checked']} (each in the state of its last "
        "acknowledged change)",
        f"writes found after run   {s['found']} (events read back via GET: "
        f"{s['read_back_through_api']})",
        f"lost                     {s['lost']}",
        f"corrupted                {s['corrupted']}",
        f"unverified               {s['unverified']}",
        f"5xx other than 503       {s['status_5xx_other']}",
        f"503 storage_unavailable  {s['status_503']}",
        f"unexpected 4xx           {s['unexpected_4xx']}",
        f"idempotent retries       {s['idempotent_retries']} (replayed "
        f"{s['idempotent_replays']}, broken {s['idempotency_broken']})",
        f"deliveries               {s.get('deliveries')}",
        f"deliveries stuck         {s.get('deliveries_stuck')}",
        f"inconsistent attempts    {s.get('deliveries_with_inconsistent_attempts')}",
        f"kills / restarts         {s['kills']} / {s['restarts']} (died alone: "
        f"{s['emulator_died']})",
        f"resets                   {s['resets']}",
        f"clock advances           {s['clock_advances']} ({s['clock_advanced_seconds']} s)",
        f"clock check              {clock}",
        f"fixture loads            {s['fixture_loads']}",
        f"receiver requests        {s['receiver_requests']}",
        f"disk-full spell          {disk_line}",
        f"alias bombs refused      {s['alias_bombs_refused']} (slowest "
        f"{s['alias_bomb_seconds_max']} s)",
        f"second process on --db   {s['second_process']}",
        f"clock parked at its end  {s['clock_end_moves']}",
        f"hostile receivers        attempts {s.get('hostile_attempts')}",
        f"health latency (ms)      {s['health_ms']}",
        f"emulator memory (max)    {s['rss_mb_max']} MB",
        f"integrity_check          {s['integrity_check']}",
        f"SIGTERM stop status      {s['graceful_stop_exit_status']}",
        f"unanswered requests      {s['unanswered_requests']} (cut off by kills; "
        f"client timeouts {s['client_timeouts']})",
    ]
    print("\n".join(lines))
    print("answers by operation:")
    for op, answers in s["answers"].items():
        print(f"  {op:40} {answers}")
    if s["failures_5xx"]:
        print("5xx other than 503, by kind:")
        for kind, n in s["failures_5xx"].items():
            print(f"  {n:6}  {kind}")
    for sample in s["samples"]:
        print(f"  sample: {sample}")
    for violation in s["violations"]:
        print(f"VIOLATION: {violation}")
    print("soak: FAILED" if s["violations"] else "soak: OK")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="load phase length")
    parser.add_argument("--seed", type=int, default=13, help="the script's own choices")
    parser.add_argument("--writers", type=int, default=4, help="concurrent event writers")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--delivery-timeout", type=float, default=0.5, help="the emulator's, in seconds"
    )
    parser.add_argument(
        "--kill-every",
        type=float,
        nargs=2,
        default=(2.5, 5.0),
        metavar=("MIN", "MAX"),
        help="seconds between SIGKILLs, drawn uniformly (0 0: never kill)",
    )
    parser.add_argument("--spell-seconds", type=float, default=3.0, help="disk-full length")
    parser.add_argument("--tmpfs-mb", type=int, default=256, help="size of the small disk")
    parser.add_argument("--no-disk-full", action="store_true", help="skip the disk-full spell")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (db, log)")
    parser.add_argument(
        "--max-rss-mb", type=float, default=400, help="the emulator's memory bound, in MB"
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.writers < 1:
        parser.error("--seconds must be > 0 and --writers >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="harbor-soak-"))
    disk, no_disk = None, "--no-disk-full"
    if not args.no_disk_full:
        disk, no_disk = SmallDisk.mount(workdir / "disk", args.tmpfs_mb)
    if disk is None:
        progress(f"disk-full spell skipped: {no_disk}")
    soak = Soak(args, workdir, disk, no_disk)
    summary: dict[str, Any] | None = None
    try:
        summary = asyncio.run(_main(soak))
    except EmulatorFailed as error:
        print(f"soak: {error}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("soak: interrupted; emulator stopped, disk unmounted", file=sys.stderr)
        return 130
    finally:
        soak.emulator.kill_now()
        keep = args.keep or summary is None or bool(summary["violations"])
        if disk is not None:
            if keep:  # the database, for a post-mortem, before the tmpfs goes
                for path in disk.path.glob("soak.db*"):
                    shutil.copy(path, workdir)
            problem = disk.unmount()
            if problem:
                print(f"soak: could not unmount {disk.path}: {problem}", file=sys.stderr)
        if keep:
            progress(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
    return 1 if summary["violations"] else 0


async def _main(soak: Soak) -> dict[str, Any]:
    # SIGTERM (a CI timeout, `timeout 60 scripts/soak.py`) cancels the run, so the
    # cleanup still stops the emulator and unmounts the disk.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await soak.run()


if __name__ == "__main__":
    sys.exit(main())
