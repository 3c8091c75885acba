"""The soak's share of the contract's Limits: alias bombs, a second process on the same
database, the clock's end, and what hostile receivers may cost (memory, other requests).

Kept apart from scripts/soak.py, which owns the writers and the checks of what was
acknowledged; these probes only add load and figures, and name their own violations.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _soak_process import clean_env, start_command

if TYPE_CHECKING:
    from soak import Soak

# Refused documents (contract, Limits: Documents): aliases that recurse, nine levels of
# nine aliases (a billion laughs) under a key the schema doesn't know, and an expansion of
# just over ten times the document's own size.
ALIAS_BOMBS = {
    "recursive": "x: &a [*a]\n",
    "billion_laughs": "lol0: &l0 [lol]\n"
    + "".join(f"lol{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]\n" for n in range(1, 10)),
    "wide": "a: &a [" + ", ".join(["x"] * 60) + "]\nb: [" + ", ".join(["*a"] * 40) + "]\n",
}
# Generous: the contract decides a bomb within a second; a soaked 2-core machine queues it
# behind resets and day-long advances. Past this, something held it.
BOMB_SECONDS = 10.0
SECOND_PROCESS_SECONDS = 30.0
END_OF_TIME = "9999-12-31T23:59:59Z"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
HOSTILE_FAILING = ("endless_headers", "endless_status", "interim")


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Limits:
    """Probes run beside the soak's writers; `report()` adds their figures to the summary."""

    def __init__(self, soak: Soak, max_rss_mb: float) -> None:
        self.soak = soak
        self.max_rss_mb = max_rss_mb
        self.violations: list[str] = []
        self.bombs: dict[str, int] = {}
        self.bomb_seconds: list[float] = []
        self.second_processes: dict[str, int] = {}
        self.clock_end: dict[str, int] = {}
        self.health_ms: list[float] = []
        self.rss_mb: list[float] = []
        # Set from parking the clock at its end until the reset after it is acknowledged:
        # advances meanwhile rightly answer 400.
        self.at_clock_end = False

    # -- alias bombs -----------------------------------------------------------------------
    async def alias_bomber(self) -> None:
        soak = self.soak
        names = list(ALIAS_BOMBS)
        n = 0
        while not soak.stop.is_set():
            await asyncio.sleep(soak.rng.uniform(1.0, 3.0))
            name = names[n % len(names)]
            n += 1
            started = time.monotonic()
            response = await soak.call(
                "POST",
                "/_control/fixtures",
                content=ALIAS_BOMBS[name].encode(),
                headers={"Content-Type": "application/yaml"},
                timeout=60,
            )
            elapsed = time.monotonic() - started
            if response is None:
                continue  # cut off by a kill
            code = _error_code(response)
            self.bomb_seconds.append(elapsed)
            if response.status_code == 400 and code == "invalid_fixtures":
                self.bombs[name] = self.bombs.get(name, 0) + 1
                if elapsed > BOMB_SECONDS:
                    self.violations.append(f"alias bomb {name} refused only after {elapsed:.1f} s")
            elif response.status_code < 500:
                self.violations.append(
                    f"alias bomb {name}: {response.status_code} {response.text[:200]!r}"
                )

    # -- a second process on the same database ---------------------------------------------
    async def second_process(self) -> None:
        """Now and then `start --db` on the served file: it must exit 2 naming the pid."""
        soak = self.soak
        while not soak.stop.is_set():
            await asyncio.sleep(soak.rng.uniform(2.0, 5.0))
            if soak.stop.is_set():
                return
            # Under the lock the killer neither kills nor restarts: the pid stays the server's.
            async with soak.process_lock:
                await soak.emulator.up.wait()
                pid = soak.emulator.pid
                if pid is None or soak.emulator.exited_on_its_own() is not None:
                    continue
                outcome = await self._try_second(pid)
            self.second_processes[outcome] = self.second_processes.get(outcome, 0) + 1

    async def _try_second(self, pid: int) -> str:
        process = await asyncio.create_subprocess_exec(
            *start_command(self.soak.db_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(),
        )
        try:
            async with asyncio.timeout(SECOND_PROCESS_SECONDS):
                out, err = await process.communicate()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            self.violations.append(
                f"a second `start --db` on the served file ran {SECOND_PROCESS_SECONDS:.0f} s "
                "without exiting"
            )
            return "still running"
        text = (out + err).decode(errors="replace")
        if process.returncode == 2 and str(pid) in text:
            return "refused"
        self.violations.append(
            f"a second `start --db` on the served file (pid {pid}) exited "
            f"{process.returncode}: {text.strip()[-300:]!r}"
        )
        return f"exit {process.returncode}"

    # -- the clock's end -------------------------------------------------------------------
    async def clock_end_move(self) -> None:
        """Park the clock at its end, running: it must stop there and serve on.

        Called by the resetter between two epochs (the reset that follows brings the clock
        back, and clears `at_clock_end` once acknowledged), so no acknowledged write of a
        checked epoch meets year 9999.
        """
        soak = self.soak
        self.at_clock_end = True
        # Idempotency keys and every retry fall due: the writers must know the clock moved.
        soak.advanced_seconds += 10**12
        # No kill meanwhile (the killer waits for the lock): with one every few seconds the
        # steps would rarely all be answered. Restarts at the end are the kills' business.
        ok = False
        async with soak.process_lock:
            try:
                async with asyncio.timeout(60):
                    ok = await self._clock_end_steps()
            except TimeoutError:
                self.violations.append("clock end: its steps took more than 60 s")
        key = "done" if ok else "cut off"
        self.clock_end[key] = self.clock_end.get(key, 0) + 1

    async def _clock_end_steps(self) -> bool:
        soak = self.soak
        for path, body in (
            ("/_control/clock/set", {"now": "9999-12-31T23:59:58Z"}),
            ("/_control/clock/unfreeze", None),
        ):
            response = await soak.call("POST", path, body=body)
            if response is None:
                return False
            if response.status_code != 200:
                self.violations.append(f"clock end: {path} -> {response.status_code}")
                return False
        deadline = time.monotonic() + 10
        while True:
            response = await soak.call("GET", "/_control/clock")
            if response is None:
                return False
            if response.status_code == 200 and response.json()["now"] == END_OF_TIME:
                break
            if time.monotonic() > deadline:
                self.violations.append(f"clock end: the clock read {response.text[:120]!r}")
                return False
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.2)
        body = {"workspace_id": "ws_soakend", "type": "soak.clock.end", "payload": {}}
        event = await soak.call("POST", "/v1/events", key="hb_test_soakend", body=body)
        clock = await soak.call("GET", "/_control/clock")
        if event is None or clock is None:
            return False
        if clock.status_code != 200 or clock.json()["now"] != END_OF_TIME:
            self.violations.append(f"clock end: it did not stay there: {clock.text[:120]!r}")
        if event.status_code == 201:
            created = event.json().get("created_at", "")
            if not TIMESTAMP.fullmatch(created) or not created.startswith("9999-12-31T"):
                self.violations.append(f"clock end: an event created at {created!r}")
        elif event.status_code < 500:
            self.violations.append(f"clock end: POST /v1/events -> {event.status_code}")
        return True

    # -- what the emulator costs meanwhile -------------------------------------------------
    async def prober(self) -> None:
        """Health's latency and the emulator's memory, every 200 ms, whatever else goes on."""
        soak = self.soak
        while not soak.stop.is_set():
            await asyncio.sleep(0.2)
            pid = soak.emulator.pid
            if pid is not None:
                rss = _rss_mb(pid)
                if rss is not None:
                    self.rss_mb.append(rss)
            if not soak.emulator.up.is_set():
                continue
            started = time.monotonic()
            response = await soak.call("GET", "/_control/health", timeout=30)
            if response is not None and response.status_code == 200:
                self.health_ms.append((time.monotonic() - started) * 1000)

    # -- checks and figures ----------------------------------------------------------------
    def check_hostile_deliveries(self, state: dict[str, Any]) -> dict[str, int]:
        """Attempts to hostile receivers: a split answer's 200 counts; the others fail."""
        kinds = {}
        for hook in state.get("webhooks", []):
            match = re.search(r"/hooks/(\w+)$", hook.get("url", ""))
            if match:
                kinds[hook["id"]] = match.group(1)
        counts: dict[str, int] = {}
        for delivery in state.get("deliveries", []):
            kind = kinds.get(delivery.get("webhook_id", ""))
            if kind not in (*HOSTILE_FAILING, "split"):
                continue
            for attempt in delivery.get("attempts", []):
                counts[kind] = counts.get(kind, 0) + 1
                code, error = attempt.get("response_code"), attempt.get("error")
                wrong = (
                    (code != 200 or error is not None)
                    if kind == "split"
                    else (code is not None or error is None)
                )
                if wrong:
                    self.violations.append(
                        f"attempt {attempt.get('id')} to the {kind} receiver recorded "
                        f"response_code {code}, error {error}"
                    )
            if kind in HOSTILE_FAILING and delivery.get("status") == "succeeded":
                self.violations.append(f"delivery {delivery['id']} to {kind} succeeded")
        return counts

    def report(self) -> dict[str, Any]:
        rss_max = max(self.rss_mb, default=0.0)
        if rss_max > self.max_rss_mb:
            self.violations.append(
                f"the emulator's memory reached {rss_max:.0f} MB (bound {self.max_rss_mb:.0f})"
            )
        if self.soak.seconds >= 10 and not self.bombs:
            self.violations.append("no alias bomb was refused")
        return {
            "alias_bombs_refused": self.bombs,
            "alias_bomb_seconds_max": round(max(self.bomb_seconds, default=0.0), 3),
            "second_process": self.second_processes,
            "clock_end_moves": self.clock_end,
            "health_ms": {
                "n": len(self.health_ms),
                "p50": round(_percentile(self.health_ms, 0.5), 1),
                "p99": round(_percentile(self.health_ms, 0.99), 1),
                "max": round(max(self.health_ms, default=0.0), 1),
            },
            "rss_mb_max": round(rss_max, 1),
        }


def _rss_mb(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None  # not Linux, or the process just ended
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(match.group(1)) / 1024 if match else None


def _error_code(response: Any) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
